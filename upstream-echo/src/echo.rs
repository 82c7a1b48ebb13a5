//! The echo server's connections: a thread each, HTTP's own keep-alive
//! default (HTTP/1.1 persists unless `Connection: close`), and a read timeout
//! that ends idle or dead connections and so bounds the threads they hold.

use std::io;
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use gateway_native::http::{write_response, RequestReader, Response, MAX_HEAD_BYTES};
use gateway_native::listen::accept_next;
use gateway_native::log::warn;
use gateway_native::server::reject;

/// The head limit here: the gateway's [`MAX_HEAD_BYTES`] plus room for what
/// it adds when it forwards (its request line and `Host`/`Connection`
/// headers), so a request that fits the gateway's limit always fits this one
/// and the 431 a client meets is the gateway's own.
pub const MAX_FORWARDED_HEAD_BYTES: usize = 2 * MAX_HEAD_BYTES;

pub struct Config {
    /// The body of every answer.
    pub text: Vec<u8>,
    /// Slept before each answer.
    pub delay: Duration,
    /// For a request to arrive, and between keep-alive requests.
    pub read_timeout: Duration,
}

/// Accepts forever, one thread per connection; returns only when the
/// listener itself fails.
pub fn serve(listener: &TcpListener, config: Arc<Config>) -> io::Result<()> {
    loop {
        let stream = accept_next(listener)?;
        let config = Arc::clone(&config);
        let spawned = thread::Builder::new()
            .name("echo-conn".into())
            .spawn(move || serve_connection(stream, &config));
        if let Err(e) = spawned {
            // Out of threads: the connection is dropped (the client sees a
            // close) and accepting resumes after a breath.
            warn(format_args!("cannot start a connection thread: {e}"));
            thread::sleep(Duration::from_millis(1));
        }
    }
}

fn serve_connection(stream: TcpStream, config: &Config) {
    let _ = stream.set_nodelay(true);
    // A client that stops reading is as dead as one that stops sending.
    let _ = stream.set_write_timeout(Some(config.read_timeout).filter(|t| !t.is_zero()));
    let mut reader = RequestReader::with_head_limit(MAX_FORWARDED_HEAD_BYTES);
    let mut first = true;
    loop {
        let idle = (!first).then_some(config.read_timeout);
        let request = match reader.read_request(&stream, config.read_timeout, idle) {
            Ok(request) => request,
            Err(e) => return reject(&stream, &e, config.read_timeout),
        };
        first = false;
        if !config.delay.is_zero() {
            thread::sleep(config.delay);
        }
        let keep_alive = request.persistent();
        let response = Response::ok(config.text.clone());
        let written = write_response(&mut &stream, &response, request.method, keep_alive);
        if written.is_err() || !keep_alive {
            return;
        }
    }
}
