//! The gateway's accept loop: blocking, single-threaded, one connection at a
//! time, as the study's gateway. Generic over the body [`Transform`], so
//! `gateway-host` runs this same loop with a Wasm transform.
//!
//! Keep-alive policy. The study's gateway answered one request per
//! connection, and so does this one by default: the response says
//! `Connection: close` and the socket is closed. Only a request that
//! explicitly sends `Connection: keep-alive` (HTTP/1.0 or 1.1) keeps the
//! connection, for up to `--keepalive-max-requests` requests; between them
//! the server waits at most `--keepalive-idle-ms` for the next head to start
//! (then `--read-timeout-ms` applies), so an idle client cannot starve the
//! connections queued behind it. The response that ends a connection says
//! `Connection: close`, and every error response ends it. `wrk` sends
//! HTTP/1.1 without a `Connection` header, so under wrk every request gets its
//! own connection, as in the study.
//!
//! Timeouts. The first request's head must arrive within `--read-timeout-ms`
//! of the accept, or the connection is dropped without an answer; a response
//! write may block at most `--write-timeout-ms`. A silent or slow client thus
//! holds the (single) server for at most the read timeout.

use std::io::{self, Read};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::panic::{self, AssertUnwindSafe};
use std::time::{Duration, Instant};

use crate::config::ServerArgs;
use crate::handlers;
use crate::http::{write_response, Method, Request, RequestError, RequestReader, Response};
use crate::listen::{accept_next, bind_announced};
use crate::transform::Transform;

/// After an error answer, how long (at most) to drain what the client is
/// still sending, and how much of it.
const LINGER_TIME: Duration = Duration::from_millis(100);
const LINGER_BYTES: usize = 64 * 1024;

/// Binds `args.listen` and prints `listening on <actual addr>` on stdout.
pub fn bind(args: &ServerArgs) -> io::Result<TcpListener> {
    bind_announced(args.listen)
}

/// Serves connections one at a time until the listener itself fails.
pub fn serve(
    listener: TcpListener,
    args: &ServerArgs,
    transform: &mut dyn Transform,
) -> io::Result<()> {
    loop {
        let stream = accept_next(&listener)?;
        serve_connection(stream, args, transform);
    }
}

/// [`bind`], then [`serve`].
pub fn run(args: &ServerArgs, transform: &mut dyn Transform) -> io::Result<()> {
    serve(bind(args)?, args, transform)
}

fn serve_connection(stream: TcpStream, args: &ServerArgs, transform: &mut dyn Transform) {
    // Best effort: a socket that refuses an option is still served.
    let _ = stream.set_nodelay(true);
    let _ = stream.set_write_timeout(nonzero(args.write_timeout()));
    let mut reader = RequestReader::new();
    let mut served: u32 = 0;
    loop {
        let idle = (served > 0).then(|| args.keepalive_idle());
        let request = match reader.read_request(&stream, args.read_timeout(), idle) {
            Ok(request) => request,
            Err(e) => return reject(&stream, &e, args.read_timeout()),
        };
        served += 1;
        calibration_delay(args.calibration_delay_us);
        calibration_spin(args.calibration_spin);
        let response = handle(&request, args, transform);
        let keep_alive = request.asks_keep_alive()
            && served < args.keepalive_max_requests
            && !response.is_error();
        let written = write_response(&mut &stream, &response, request.method, keep_alive);
        if written.is_err() || !keep_alive {
            return;
        }
    }
}

/// Runs the workload; a panic becomes a 500 (the default hook has already
/// printed it on stderr) and the gateway goes on.
fn handle(request: &Request, args: &ServerArgs, transform: &mut dyn Transform) -> Response {
    panic::catch_unwind(AssertUnwindSafe(|| {
        handlers::respond(request, args, transform)
    }))
    .unwrap_or_else(|_| Response::text(500, "internal error: the request handler panicked"))
}

/// Answers a request that could not be read (if it gets an answer at all),
/// then closes. The answer is followed by a half-close and a short, bounded
/// drain of what the client is still sending: closing with unread input makes
/// the kernel send a reset, which can destroy the answer before the client
/// reads it (an oversized head, say, is rejected before it is all read).
pub fn reject(stream: &TcpStream, error: &RequestError, read_timeout: Duration) {
    let Some(response) = error.response() else {
        return;
    };
    if write_response(&mut &*stream, &response, Method::Get, false).is_err() {
        return;
    }
    let _ = stream.shutdown(Shutdown::Write);
    let deadline = Instant::now() + LINGER_TIME.min(read_timeout);
    let mut sink = [0u8; 4096];
    let mut drained = 0;
    while drained < LINGER_BYTES {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return;
        }
        match (&*stream).read(&mut sink) {
            Ok(0) | Err(_) => return,
            Ok(n) => drained += n,
        }
    }
}

/// The calibration knob (`--calibration-delay-us`, off by default): a busy
/// wait, not a sleep, so it costs CPU time like real per-request work would.
fn calibration_delay(micros: u64) {
    if micros == 0 {
        return;
    }
    let until = Instant::now() + Duration::from_micros(micros);
    while Instant::now() < until {
        std::hint::spin_loop();
    }
}

/// The instruction-count calibration knob (`--calibration-spin`, off by
/// default): `iterations` rounds of a fixed xorshift step, each a constant
/// number of instructions whatever the clock or the machine load, so head's
/// extra work is exactly proportional to N. `black_box` keeps the optimizer
/// from folding the loop away. Returns the state so a test can see it ran.
#[inline(never)]
fn calibration_spin(iterations: u64) -> u64 {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..iterations {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x = std::hint::black_box(x);
    }
    x
}

/// A zero timeout is an error for the socket API; treat it as "none".
fn nonzero(timeout: Duration) -> Option<Duration> {
    (!timeout.is_zero()).then_some(timeout)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transform::TransformError;

    struct Panicking;

    impl Transform for Panicking {
        fn name(&self) -> &str {
            "panicking"
        }
        fn apply(&mut self, _body: &[u8]) -> Result<Vec<u8>, TransformError> {
            panic!("deliberate panic in a test transform");
        }
    }

    #[test]
    fn a_panicking_workload_is_a_500() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            server: ServerArgs,
        }
        let args = Cli::parse_from(["test"]).server;
        let (request, _) = crate::http::parse_head(b"GET / HTTP/1.1\r\n\r\n")
            .unwrap()
            .unwrap();
        let response = handle(&request, &args, &mut Panicking);
        assert_eq!(response.status, 500);
        assert!(String::from_utf8(response.body)
            .unwrap()
            .contains("panicked"));
    }

    #[test]
    fn calibration_spin_runs_its_iterations() {
        assert_eq!(calibration_spin(0), 0x9E37_79B9_7F4A_7C15);
        assert_ne!(calibration_spin(1), calibration_spin(0));
        assert_ne!(calibration_spin(1000), calibration_spin(999));
    }

    #[test]
    fn calibration_delay_busy_waits_at_least_that_long() {
        let started = Instant::now();
        calibration_delay(2000);
        assert!(started.elapsed() >= Duration::from_micros(2000));
    }
}
