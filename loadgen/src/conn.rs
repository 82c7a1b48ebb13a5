//! One client connection's state machine: connect, write the request, read
//! and frame the response. It owns its socket and read buffer (allocated once
//! and reused) and reports what happened; the event loop decides what comes
//! next (record, reconnect, back off, pick the next request).

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::event::Event;
use mio::net::TcpStream;
use mio::{Interest, Registry, Token};

use super::http::{Done, Progress, ResponseParser};
use super::stats::ErrorKind;

/// Enough for any gateway's response head; bodies stream through it.
const READ_BUF: usize = 8 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum State {
    /// No request in flight; the socket, if any, is an idle keep-alive one.
    Free,
    /// A connect failed; no socket until this instant.
    Backoff(Instant),
    Connecting,
    Writing,
    Reading,
}

/// The outcome of driving a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Step {
    Pending,
    Done(Done),
    Failed(ErrorKind),
}

/// What every connection of a run talks to.
pub(super) struct Target<'a> {
    pub addr: SocketAddr,
    pub request: &'a [u8],
    pub timeout: Duration,
}

pub(super) struct Conn {
    stream: Option<TcpStream>,
    pub(super) state: State,
    /// When the in-flight request's latency clock started.
    pub(super) origin: Instant,
    /// When the in-flight request times out.
    pub(super) deadline: Instant,
    /// Has any request on this connection had an outcome yet?
    pub(super) answered: bool,
    written: usize,
    buf: Box<[u8]>,
    len: usize,
    parser: ResponseParser,
}

impl Conn {
    pub(super) fn new(now: Instant) -> Self {
        Conn {
            stream: None,
            state: State::Free,
            origin: now,
            deadline: now,
            answered: false,
            written: 0,
            buf: vec![0; READ_BUF].into_boxed_slice(),
            len: 0,
            parser: ResponseParser::new(),
        }
    }

    pub(super) fn has_socket(&self) -> bool {
        self.stream.is_some()
    }

    pub(super) fn in_flight(&self) -> bool {
        matches!(
            self.state,
            State::Connecting | State::Writing | State::Reading
        )
    }

    /// Start a request whose latency clock started at `origin`: reuse the
    /// idle keep-alive socket, or open one (registered once for both
    /// directions; epoll is edge-triggered, so it is never re-registered).
    pub(super) fn begin(
        &mut self,
        registry: &Registry,
        token: Token,
        target: &Target,
        origin: Instant,
        now: Instant,
    ) -> Step {
        self.origin = origin;
        self.deadline = now + target.timeout;
        self.written = 0;
        self.len = 0;
        self.parser.reset();
        if self.stream.is_some() {
            self.state = State::Writing;
            return self.write(target.request);
        }
        let mut stream = match TcpStream::connect(target.addr) {
            Ok(s) => s,
            Err(_) => return Step::Failed(ErrorKind::Connect),
        };
        // No TCP_NODELAY: a request is one write, sent when nothing of ours is
        // unacknowledged (the previous response acknowledged it), so Nagle
        // never holds it, and the setsockopt would cost a syscall per request.
        if registry
            .register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)
            .is_err()
        {
            return Step::Failed(ErrorKind::Connect);
        }
        self.stream = Some(stream);
        self.state = State::Connecting;
        Step::Pending
    }

    /// Drive the connection after a readiness event.
    pub(super) fn on_event(&mut self, ev: &Event, request: &[u8]) -> Step {
        // Errors and hang-ups surface through the read or write that follows.
        let readable = ev.is_readable() || ev.is_read_closed() || ev.is_error();
        let writable = ev.is_writable() || ev.is_write_closed() || ev.is_error();
        match self.state {
            // An idle keep-alive socket became readable: the server closed it
            // (idle timeout) or sent something unasked; it is unusable either way.
            State::Free => {
                if readable {
                    self.close();
                }
                return Step::Pending;
            }
            State::Backoff(_) => return Step::Pending,
            State::Connecting => {
                if !writable {
                    return Step::Pending;
                }
                // No getsockopt(SO_ERROR) per connection: a failed connect
                // makes the first write fail, and `write` says which way.
                self.state = State::Writing;
                let step = self.write(request);
                if step != Step::Pending {
                    return step;
                }
            }
            State::Writing => {
                if writable {
                    let step = self.write(request);
                    if step != Step::Pending {
                        return step;
                    }
                }
            }
            State::Reading => {}
        }
        // A server may answer (an error) before reading the whole request.
        if readable && matches!(self.state, State::Writing | State::Reading) {
            return self.read();
        }
        Step::Pending
    }

    /// Close the socket (dropping it removes it from epoll) and forget any
    /// buffered bytes.
    pub(super) fn close(&mut self) {
        if let Some(stream) = self.stream.take() {
            abortive_close(&stream);
        }
        self.len = 0;
    }

    fn write(&mut self, request: &[u8]) -> Step {
        let stream = self.stream.as_mut().expect("writing without a socket");
        while self.written < request.len() {
            match stream.write(&request[self.written..]) {
                Ok(0) => return Step::Failed(ErrorKind::Write),
                Ok(n) => self.written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Step::Pending,
                // Writable fired before the handshake finished: keep waiting.
                Err(e) if e.kind() == io::ErrorKind::NotConnected && self.written == 0 => {
                    self.state = State::Connecting;
                    return Step::Pending;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // Nothing sent yet on a new socket: the connect itself failed
                // (refused, unreachable), or the server reset it at once.
                Err(e) if self.written == 0 && self.connecting_error(&e) => {
                    return Step::Failed(if e.kind() == io::ErrorKind::ConnectionReset {
                        ErrorKind::Read
                    } else {
                        ErrorKind::Connect
                    })
                }
                Err(_) => return Step::Failed(ErrorKind::Write),
            }
        }
        self.state = State::Reading;
        Step::Pending
    }

    /// Is `e`, from the first write on a socket, the connect's failure?
    fn connecting_error(&self, e: &io::Error) -> bool {
        matches!(
            e.kind(),
            io::ErrorKind::ConnectionRefused
                | io::ErrorKind::ConnectionReset
                | io::ErrorKind::HostUnreachable
                | io::ErrorKind::NetworkUnreachable
                | io::ErrorKind::TimedOut
                | io::ErrorKind::AddrNotAvailable
        ) || e.raw_os_error() == Some(libc::ECONNREFUSED)
    }

    fn read(&mut self) -> Step {
        let stream = self.stream.as_mut().expect("reading without a socket");
        loop {
            match stream.read(&mut self.buf[self.len..]) {
                Ok(0) => {
                    return match self.parser.at_eof() {
                        Ok(done) => Step::Done(done),
                        Err(_) => Step::Failed(ErrorKind::Read),
                    }
                }
                Ok(n) => {
                    self.len += n;
                    let (used, progress) = match self.parser.advance(&self.buf[..self.len]) {
                        Ok(r) => r,
                        Err(_) => return Step::Failed(ErrorKind::Read),
                    };
                    self.buf.copy_within(used..self.len, 0);
                    self.len -= used;
                    match progress {
                        Progress::Complete(done) => return Step::Done(done),
                        // A head (or chunk line) larger than the buffer.
                        Progress::Partial if self.len == self.buf.len() => {
                            return Step::Failed(ErrorKind::Read)
                        }
                        Progress::Partial => {}
                    }
                    // Incomplete: read on to WouldBlock, as edge-triggered
                    // epoll requires (an EOF that came with the data raises
                    // no further edge).
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Step::Pending,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Step::Failed(ErrorKind::Read),
            }
        }
    }
}

/// Close with a reset (SO_LINGER 0) instead of a FIN: neither side keeps a
/// TIME_WAIT entry, so at tens of thousands of connections per second on
/// loopback a reused client port never meets an old connection's TIME_WAIT
/// (which costs a 1 s SYN retransmit), and the kernel does less per close.
fn abortive_close(stream: &TcpStream) {
    use std::os::fd::AsRawFd;
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: a valid socket fd and a correctly sized option value.
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
}
