//! A one-shot blocking HTTP GET, for health checks, readiness polling and
//! tests. Not the load generator: that one lives in `load/`.

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use gateway_native::http::ResponseReader;

/// Status, headers and body of one response: the gateway crate's client
/// type, so the project has one response parser.
pub use gateway_native::http::ClientResponse as Reply;

/// `GET path` on a fresh connection with `Connection: close`; the answer is
/// read up to its `Content-Length` (or to the close).
pub fn get(addr: SocketAddr, path: &str, timeout: Duration) -> Result<Reply> {
    let mut stream = TcpStream::connect_timeout(&addr, timeout)
        .with_context(|| format!("connecting to {addr}"))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    stream.set_nodelay(true)?;
    // One write: `write!` on the socket would send each formatted piece as
    // its own segment (TCP_NODELAY), and a server that reads between them
    // parses a partial head and reads again (timing in cold start, and
    // instructions a request that vary with scheduling).
    let head = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(head.as_bytes())?;
    ResponseReader::new()
        .read_response(&mut stream, false)
        .with_context(|| format!("reading the answer to GET {path} from {addr}"))
}

/// Poll `GET path` until it answers 200, every `interval`, for at most
/// `timeout`. Returns the time of the first 200.
pub fn wait_ok(
    addr: SocketAddr,
    path: &str,
    interval: Duration,
    timeout: Duration,
) -> Result<Instant> {
    let deadline = Instant::now() + timeout;
    loop {
        let last = match get(addr, path, Duration::from_millis(500)) {
            Ok(reply) if reply.status == 200 => return Ok(Instant::now()),
            Ok(reply) => format!("status {}", reply.status),
            Err(e) => format!("{e:#}"),
        };
        if Instant::now() >= deadline {
            bail!("GET {path} on {addr} gave no 200 within {timeout:?} (last: {last})");
        }
        std::thread::sleep(interval);
    }
}

/// A port that was free a moment ago, for things that must be told a port up
/// front (a Docker `-p`); processes of ours bind port 0 instead.
pub fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::net::TcpListener;

    /// The whole head in the first read the server makes, however early.
    #[test]
    fn the_request_is_sent_in_one_write() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut buf = [0u8; 1024];
            let n = conn.read(&mut buf).unwrap();
            let first = String::from_utf8_lossy(&buf[..n]).into_owned();
            conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                .unwrap();
            first
        });
        let reply = get(addr, "/health", Duration::from_secs(5)).unwrap();
        assert_eq!(reply.status, 200);
        let first = server.join().unwrap();
        assert_eq!(
            first,
            format!("GET /health HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")
        );
    }
}
