//! The listening socket, shared by the gateway and upstream-echo: bind with a
//! deep accept queue, announce the bound address, and accept without ever
//! giving up on a transient error.

use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::thread;
use std::time::{Duration, Instant};

use crate::log::warn;

/// Accept-queue length asked of `listen(2)`; the kernel caps it at
/// `net.core.somaxconn` (4096 on current kernels). std asks for 128, which
/// overflows at the throughput suite's 200+ connections: the dropped SYNs come
/// back after a 1 s retransmit and would show up as the gateway's latency.
pub const LISTEN_BACKLOG: i32 = 4096;

/// What [`bind_announced`] prints before the address.
pub const ANNOUNCEMENT: &str = "listening on ";

/// The address in a line printed by [`bind_announced`], for a parent (the
/// xtask, a test) that started a server on port 0.
pub fn parse_announcement(line: &str) -> Option<SocketAddr> {
    line.trim_end().strip_prefix(ANNOUNCEMENT)?.parse().ok()
}

/// Binds `addr`, then prints `listening on <actual addr>` on stdout and
/// flushes, so a parent that passed port 0 learns the port from that line.
pub fn bind_announced(addr: SocketAddr) -> io::Result<TcpListener> {
    let listener = TcpListener::bind(addr)?;
    // listen(2) again on a listening socket only updates its backlog.
    // SAFETY: the descriptor belongs to `listener`, alive for this call.
    if unsafe { libc::listen(listener.as_raw_fd(), LISTEN_BACKLOG) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let local = listener.local_addr()?;
    let mut stdout = io::stdout().lock();
    // A parent that does not read stdout must not stop the server.
    let _ = writeln!(stdout, "{ANNOUNCEMENT}{local}").and_then(|()| stdout.flush());
    Ok(listener)
}

/// The next connection. Transient accept errors are logged (at most once a
/// second) and retried; when descriptors or memory run out (EMFILE, ENFILE,
/// ENOBUFS, ENOMEM) it sleeps 1 ms first so the loop does not spin. Only an
/// error that means the listener itself is broken is returned.
pub fn accept_next(listener: &TcpListener) -> io::Result<TcpStream> {
    let mut last_logged: Option<Instant> = None;
    let mut suppressed = 0u64;
    loop {
        let error = match listener.accept() {
            Ok((stream, _)) => return Ok(stream),
            Err(e) => e,
        };
        let code = error.raw_os_error().unwrap_or(0);
        if matches!(
            code,
            libc::EBADF | libc::EINVAL | libc::ENOTSOCK | libc::EOPNOTSUPP | libc::EFAULT
        ) {
            return Err(error);
        }
        if last_logged.is_none_or(|at| at.elapsed() >= Duration::from_secs(1)) {
            warn(format_args!(
                "accept failed: {error} ({suppressed} similar suppressed)"
            ));
            last_logged = Some(Instant::now());
            suppressed = 0;
        } else {
            suppressed += 1;
        }
        if matches!(
            code,
            libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM
        ) {
            thread::sleep(Duration::from_millis(1));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bind_reports_the_real_port_and_accepts() {
        let listener = bind_announced("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        assert_ne!(addr.port(), 0);
        let client = TcpStream::connect(addr).unwrap();
        let accepted = accept_next(&listener).unwrap();
        assert_eq!(accepted.peer_addr().unwrap(), client.local_addr().unwrap());
    }

    #[test]
    fn announcement_round_trips() {
        let addr: SocketAddr = "127.0.0.1:18081".parse().unwrap();
        let line = format!("{ANNOUNCEMENT}{addr}\n");
        assert_eq!(parse_announcement(&line), Some(addr));
        assert_eq!(parse_announcement("something else"), None);
    }
}
