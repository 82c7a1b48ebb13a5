//! The proxy workload's upstream call: `GET <target>` on a fresh connection
//! with `Connection: close`, as the study's gateway did (no pool), under one
//! timeout for connect, write and each read. What goes wrong is either the
//! upstream failing (502) or being slower than the timeout (504).

use std::io::{self, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

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
    /// Connect or a read/write took longer than `--upstream-timeout-ms`: 504.
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
    let io_error = |source: io::Error| classify_io(addr, timeout, source);

    let mut stream = TcpStream::connect_timeout(&addr, timeout).map_err(io_error)?;
    stream.set_read_timeout(Some(timeout)).map_err(io_error)?;
    stream.set_write_timeout(Some(timeout)).map_err(io_error)?;
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
