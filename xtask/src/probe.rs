//! A one-shot blocking HTTP GET, for health checks, readiness polling and
//! tests. Not the load generator: that one lives in `load/`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// Status and body of one response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// `GET path` on a fresh connection with `Connection: close`.
pub fn get(addr: SocketAddr, path: &str, timeout: Duration) -> Result<Reply> {
    let mut stream = TcpStream::connect_timeout(&addr, timeout)
        .with_context(|| format!("connecting to {addr}"))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    stream.set_nodelay(true)?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .with_context(|| format!("reading the answer to GET {path} from {addr}"))?;
    parse(&raw)
}

/// Parse a whole `Connection: close` response.
pub fn parse(raw: &[u8]) -> Result<Reply> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut headers);
    let head_len = match response.parse(raw).context("malformed HTTP response")? {
        httparse::Status::Complete(n) => n,
        httparse::Status::Partial => bail!("truncated HTTP response ({} bytes)", raw.len()),
    };
    let status = response.code.context("response without a status")?;
    let mut body = raw[head_len..].to_vec();
    if let Some(len) = response
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
        .and_then(|h| {
            std::str::from_utf8(h.value)
                .ok()?
                .trim()
                .parse::<usize>()
                .ok()
        })
    {
        if body.len() < len {
            bail!("body shorter than Content-Length ({} < {len})", body.len());
        }
        body.truncate(len);
    }
    Ok(Reply { status, body })
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

    #[test]
    fn parses_a_response_and_cuts_at_content_length() {
        let reply = parse(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloEXTRA").unwrap();
        assert_eq!(reply.status, 200);
        assert_eq!(reply.text(), "hello");
    }

    #[test]
    fn a_truncated_response_is_an_error() {
        assert!(parse(b"HTTP/1.1 200 OK\r\nContent-Le").is_err());
        assert!(parse(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nhi").is_err());
    }
}
