//! The proxy workload's upstream call: `GET <target>` on a fresh connection
//! with `Connection: close`, as the study's gateway did (no pool), under one
//! deadline for the whole exchange (connect, write and every read), so an
//! upstream trickling a byte at a time cannot hold the single-threaded gateway
//! past it. What goes wrong is either the upstream failing (502) or being
//! slower than the deadline (504).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::config::ServerArgs;
use crate::http::{read_response, ClientError, ClientResponse};

#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// Refused, reset, unreachable: 502.
    #[error("upstream {addr} failed: {source}")]
    Failed {
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },
    /// Closed early or answered something that is not HTTP: 502.
    #[error("upstream {addr} sent a bad response: {reason}")]
    BadResponse { addr: SocketAddr, reason: String },
    /// The exchange took longer than `--upstream-timeout-ms`: 504.
    #[error("upstream {addr} did not answer within {after_ms} ms")]
    Timeout { addr: SocketAddr, after_ms: u64 },
}

impl ProxyError {
    pub fn status(&self) -> u16 {
        match self {
            ProxyError::Failed { .. } | ProxyError::BadResponse { .. } => 502,
            ProxyError::Timeout { .. } => 504,
        }
    }
}

/// Forwards `GET target` to `args.upstream` and returns its answer as is.
pub fn forward(target: &str, args: &ServerArgs) -> Result<ClientResponse, ProxyError> {
    let addr = args.upstream;
    let timeout = args.upstream_timeout();
    let deadline = Instant::now() + timeout;
    let io_error = |source: io::Error| classify_io(addr, timeout, source);

    let stream = TcpStream::connect_timeout(&addr, timeout).map_err(io_error)?;
    let mut stream = DeadlineStream { stream, deadline };
    let request = format!("GET {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).map_err(io_error)?;
    read_response(&mut stream).map_err(|e| match e {
        ClientError::Io(source) => io_error(source),
        other => ProxyError::BadResponse {
            addr,
            reason: other.to_string(),
        },
    })
}

/// A socket whose every read and write may only use the time left before one
/// deadline: the socket timeout is set to what is left before each call.
struct DeadlineStream {
    stream: TcpStream,
    deadline: Instant,
}

impl DeadlineStream {
    fn arm(&self, set: impl Fn(&TcpStream, Option<Duration>) -> io::Result<()>) -> io::Result<()> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        set(&self.stream, Some(left))
    }
}

impl Read for DeadlineStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.arm(TcpStream::set_read_timeout)?;
        self.stream.read(buf)
    }
}

impl Write for DeadlineStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.arm(TcpStream::set_write_timeout)?;
        self.stream.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}

fn classify_io(addr: SocketAddr, timeout: Duration, source: io::Error) -> ProxyError {
    // An expired socket timeout is EAGAIN (WouldBlock) on Linux; a connect
    // timeout is TimedOut.
    if matches!(
        source.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    ) {
        ProxyError::Timeout {
            addr,
            after_ms: timeout.as_millis() as u64,
        }
    } else {
        ProxyError::Failed { addr, source }
    }
}
