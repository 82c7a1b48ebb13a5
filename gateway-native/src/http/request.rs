//! Server side of [`crate::http`]: reading one request head from a connection
//! within the size limits and deadlines, and the typed errors (as tiny-http
//! does) that decide the status code of the answer.

use std::io::{self, Read};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use super::response::Response;

/// Largest request head (request line, headers and the blank line). The head
/// is read into a buffer of exactly this size; a longer one is a 431.
pub const MAX_HEAD_BYTES: usize = 8 * 1024;
/// Most header fields in one request; more is a 431.
pub const MAX_HEADERS: usize = 32;
/// Largest request body accepted. No workload reads a body, so an accepted
/// one is read and discarded (keeping the connection in sync); a larger
/// `Content-Length` is a 413.
pub const MAX_BODY_BYTES: u64 = 64 * 1024;

/// The methods the gateway serves; any other is a 405.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
}

/// A parsed request head. The body, if any, has already been discarded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: Method,
    /// The target in origin form: the path and an optional `?query`.
    pub target: String,
    /// `0` for HTTP/1.0, `1` for HTTP/1.1.
    pub minor_version: u8,
    /// A `Connection` header lists `keep-alive`.
    pub connection_keep_alive: bool,
    /// A `Connection` header lists `close`.
    pub connection_close: bool,
    /// The length of the (discarded) body; 0 without `Content-Length`.
    pub content_length: u64,
}

impl Request {
    /// The target without its query.
    pub fn path(&self) -> &str {
        self.target
            .split_once('?')
            .map_or(self.target.as_str(), |(path, _)| path)
    }

    /// The query, without the `?`.
    pub fn query(&self) -> Option<&str> {
        self.target.split_once('?').map(|(_, query)| query)
    }

    /// The client explicitly asked for a persistent connection, which is
    /// what the gateway's opt-in keep-alive policy looks at.
    pub fn asks_keep_alive(&self) -> bool {
        self.connection_keep_alive && !self.connection_close
    }

    /// HTTP's own default (RFC 9112 section 9.3): HTTP/1.1 persists unless it
    /// says `close`, HTTP/1.0 only when it says `keep-alive`. upstream-echo
    /// follows this, as a real upstream would.
    pub fn persistent(&self) -> bool {
        if self.connection_close {
            false
        } else {
            self.minor_version >= 1 || self.connection_keep_alive
        }
    }
}

/// Why no request could be read. [`RequestError::status`] says which answer,
/// if any, the client gets; the connection is closed either way.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// The client closed the connection before a complete head (this is also
    /// how a keep-alive connection normally ends).
    #[error("connection closed by the client")]
    Closed,
    /// No complete request before the deadline.
    #[error("timed out waiting for the request")]
    TimedOut,
    /// The socket failed, e.g. a reset.
    #[error("read failed: {0}")]
    Io(#[source] io::Error),
    /// Over the reader's head limit ([`MAX_HEAD_BYTES`] for the gateway).
    #[error("request head larger than {0} bytes")]
    HeadTooLarge(usize),
    #[error("more than {MAX_HEADERS} header fields")]
    TooManyHeaders,
    #[error("malformed request: {0}")]
    Malformed(String),
    #[error("method {0} not allowed: this gateway serves GET and HEAD")]
    MethodNotAllowed(String),
    #[error("Transfer-Encoding is not supported: send no body, or one framed by Content-Length")]
    TransferEncodingUnsupported,
    #[error("invalid Content-Length")]
    BadContentLength,
    #[error("body of {0} bytes is larger than the limit of {MAX_BODY_BYTES} bytes")]
    BodyTooLarge(u64),
}

impl RequestError {
    /// The status to answer with, or `None` when the client is gone or silent
    /// and the connection is dropped without an answer.
    pub fn status(&self) -> Option<u16> {
        match self {
            RequestError::Closed | RequestError::TimedOut | RequestError::Io(_) => None,
            RequestError::HeadTooLarge(_) | RequestError::TooManyHeaders => Some(431),
            RequestError::Malformed(_) | RequestError::BadContentLength => Some(400),
            RequestError::MethodNotAllowed(_) => Some(405),
            RequestError::BodyTooLarge(_) => Some(413),
            RequestError::TransferEncodingUnsupported => Some(501),
        }
    }

    /// The answer for [`RequestError::status`]: the message as the body, and
    /// `Allow` on a 405 as RFC 9110 requires.
    pub fn response(&self) -> Option<Response> {
        let status = self.status()?;
        let mut response = Response::text(status, self.to_string());
        if status == 405 {
            response.extra_headers = &[("Allow", "GET, HEAD")];
        }
        Some(response)
    }
}

/// Parses a complete request head at the start of `buf`: `Ok(None)` while
/// more bytes are needed, else the request and the head's length in bytes.
/// Checks in order: syntax and header count, method, target, framing.
pub fn parse_head(buf: &[u8]) -> Result<Option<(Request, usize)>, RequestError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut headers);
    let head_len = match parsed.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(RequestError::TooManyHeaders),
        Err(e) => return Err(RequestError::Malformed(e.to_string())),
    };
    // httparse fills all three on Complete; the `else` is for the type system.
    let (Some(method), Some(target), Some(minor_version)) =
        (parsed.method, parsed.path, parsed.version)
    else {
        return Err(RequestError::Malformed("incomplete request line".into()));
    };
    let method = match method {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        other => return Err(RequestError::MethodNotAllowed(other.to_owned())),
    };
    if !target.starts_with('/') {
        return Err(RequestError::Malformed(
            "the request target must be a path starting with '/'".into(),
        ));
    }

    let mut transfer_encoding = false;
    let mut bad_length = false;
    let mut content_length: Option<u64> = None;
    let mut connection_keep_alive = false;
    let mut connection_close = false;
    for header in parsed.headers.iter() {
        if header.name.eq_ignore_ascii_case("transfer-encoding") {
            transfer_encoding = true;
        } else if header.name.eq_ignore_ascii_case("content-length") {
            match parse_content_length(header.value) {
                // Repeated lengths must agree (RFC 9112 section 6.3), else the
                // body's end is ambiguous: a request-smuggling shape.
                Some(n) if content_length.is_none_or(|prev| prev == n) => content_length = Some(n),
                _ => bad_length = true,
            }
        } else if header.name.eq_ignore_ascii_case("connection") {
            for token in header.value.split(|&b| b == b',') {
                let token = token.trim_ascii();
                connection_keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
                connection_close |= token.eq_ignore_ascii_case(b"close");
            }
        }
    }
    if transfer_encoding {
        return Err(RequestError::TransferEncodingUnsupported);
    }
    if bad_length {
        return Err(RequestError::BadContentLength);
    }
    let content_length = content_length.unwrap_or(0);
    if content_length > MAX_BODY_BYTES {
        return Err(RequestError::BodyTooLarge(content_length));
    }

    let request = Request {
        method,
        target: target.to_owned(),
        minor_version,
        connection_keep_alive,
        connection_close,
        content_length,
    };
    Ok(Some((request, head_len)))
}

/// `Content-Length`: a decimal number, optionally surrounded by whitespace.
fn parse_content_length(value: &[u8]) -> Option<u64> {
    parse_decimal(value.trim_ascii())
}

/// The one rule for every number a request carries (`Content-Length`, the
/// `iters` query parameter): ASCII digits only, so `+5`, `-1`, `0x10`, ` 5`
/// and the empty string are all invalid; `None` also when it overflows u64.
/// (`str::parse::<u64>` alone would take `+5`.)
pub fn parse_decimal(value: &[u8]) -> Option<u64> {
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(value).ok()?.parse().ok()
}

/// Reads requests from one connection into a fixed buffer whose size is the
/// head limit ([`MAX_HEAD_BYTES`] unless [`RequestReader::with_head_limit`]).
/// Bytes past a request (a pipelined next one) are kept for the next call, so
/// use one reader per connection.
pub struct RequestReader {
    buf: Box<[u8]>,
    /// `buf[start..end]` has been read but not consumed.
    start: usize,
    end: usize,
}

impl Default for RequestReader {
    fn default() -> Self {
        Self::new()
    }
}

impl RequestReader {
    pub fn new() -> Self {
        Self::with_head_limit(MAX_HEAD_BYTES)
    }

    /// A reader that takes heads of up to `limit` bytes. upstream-echo
    /// takes more than the gateway, which adds its own headers when it
    /// forwards: the gateway's limit is then the one a client meets.
    pub fn with_head_limit(limit: usize) -> Self {
        RequestReader {
            buf: vec![0; limit.max(1)].into_boxed_slice(),
            start: 0,
            end: 0,
        }
    }

    /// Reads the next request head and discards its body.
    ///
    /// Deadlines: with `idle = None` (the first request on a connection) the
    /// whole head must arrive within `read_timeout` of this call. With
    /// `idle = Some(d)` (between keep-alive requests) the head must start
    /// within `d`, and then be complete within `read_timeout` of its first
    /// byte. A deadline is for the whole head, not per read, so a client
    /// trickling a byte at a time cannot hold the connection longer. The body
    /// gets `read_timeout` from the end of the head.
    pub fn read_request(
        &mut self,
        stream: &TcpStream,
        read_timeout: Duration,
        idle: Option<Duration>,
    ) -> Result<Request, RequestError> {
        self.compact();
        let head_deadline = if self.end > 0 {
            // A pipelined request has already started.
            Instant::now() + read_timeout
        } else {
            let waiting_since = Instant::now();
            let first_byte_by = waiting_since + idle.unwrap_or(read_timeout);
            self.end = read_by(stream, &mut self.buf, first_byte_by)?;
            match idle {
                None => waiting_since + read_timeout,
                Some(_) => Instant::now() + read_timeout,
            }
        };
        loop {
            if let Some((request, head_len)) = parse_head(&self.buf[..self.end])? {
                self.start = head_len;
                let body_deadline = Instant::now() + read_timeout;
                self.discard_body(stream, request.content_length, body_deadline)?;
                return Ok(request);
            }
            if self.end == self.buf.len() {
                return Err(RequestError::HeadTooLarge(self.buf.len()));
            }
            self.end += read_by(stream, &mut self.buf[self.end..], head_deadline)?;
        }
    }

    /// Moves unconsumed bytes to the front so the next head has the whole
    /// buffer.
    fn compact(&mut self) {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
    }

    fn discard_body(
        &mut self,
        stream: &TcpStream,
        len: u64,
        deadline: Instant,
    ) -> Result<(), RequestError> {
        let buffered = (self.end - self.start) as u64;
        let from_buffer = buffered.min(len);
        self.start += from_buffer as usize;
        let mut left = len - from_buffer;
        while left > 0 {
            // The buffer is empty here. Read no further than this body, so a
            // pipelined request stays in the socket for the next call.
            self.start = 0;
            self.end = 0;
            let want = left.min(MAX_HEAD_BYTES as u64) as usize;
            left -= read_by(stream, &mut self.buf[..want], deadline)? as u64;
        }
        Ok(())
    }
}

/// One read that gives up at `deadline`. The socket timeout is set to the
/// time left before every read, which is what makes the deadline absolute.
fn read_by(
    mut stream: &TcpStream,
    buf: &mut [u8],
    deadline: Instant,
) -> Result<usize, RequestError> {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(RequestError::TimedOut);
        }
        stream
            .set_read_timeout(Some(left))
            .map_err(RequestError::Io)?;
        match stream.read(buf) {
            Ok(0) => return Err(RequestError::Closed),
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            // Linux reports an expired SO_RCVTIMEO as EAGAIN (WouldBlock).
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err(RequestError::TimedOut)
            }
            Err(e) => return Err(RequestError::Io(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::net::TcpListener;

    fn status_of(head: &[u8]) -> Option<u16> {
        match parse_head(head) {
            Ok(_) => None,
            Err(e) => e.status(),
        }
    }

    fn parsed(head: &str) -> Request {
        let (request, len) = parse_head(head.as_bytes()).unwrap().unwrap();
        assert_eq!(len, head.len());
        request
    }

    #[test]
    fn parses_a_plain_get() {
        let r = parsed("GET /compute?iters=3 HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(r.method, Method::Get);
        assert_eq!(r.path(), "/compute");
        assert_eq!(r.query(), Some("iters=3"));
        assert_eq!(r.minor_version, 1);
        assert!(!r.asks_keep_alive());
        assert!(r.persistent());
    }

    #[test]
    fn connection_tokens_are_a_case_insensitive_list() {
        let r = parsed("HEAD / HTTP/1.0\r\nConnection: Upgrade, Keep-Alive\r\n\r\n");
        assert_eq!(r.method, Method::Head);
        assert!(r.asks_keep_alive());
        assert!(r.persistent());
        let r = parsed("GET / HTTP/1.1\r\nConnection: close\r\n\r\n");
        assert!(!r.persistent());
        let r = parsed("GET / HTTP/1.0\r\n\r\n");
        assert!(!r.persistent());
    }

    #[test]
    fn partial_head_needs_more() {
        assert!(parse_head(b"GET / HTTP/1.1\r\nHost: x\r\n")
            .unwrap()
            .is_none());
        assert!(parse_head(b"").unwrap().is_none());
    }

    #[test]
    fn malformed_request_line_is_400() {
        assert_eq!(status_of(b"GARBAGE\r\n\r\n"), Some(400));
        assert_eq!(status_of(b"GET / HTTP/9.9\r\n\r\n"), Some(400));
        assert_eq!(status_of(b"GET\t/ HTTP/1.1\r\n\r\n"), Some(400));
    }

    #[test]
    fn malformed_header_is_400() {
        assert_eq!(
            status_of(b"GET / HTTP/1.1\r\nNo colon here\r\n\r\n"),
            Some(400)
        );
        assert_eq!(
            status_of(b"GET / HTTP/1.1\r\nBad Name: x\r\n\r\n"),
            Some(400)
        );
    }

    #[test]
    fn target_not_in_origin_form_is_400() {
        assert_eq!(
            status_of(b"GET http://example/ HTTP/1.1\r\n\r\n"),
            Some(400)
        );
        assert_eq!(status_of(b"GET * HTTP/1.1\r\n\r\n"), Some(400));
    }

    #[test]
    fn too_many_headers_is_431() {
        let mut head = String::from("GET / HTTP/1.1\r\n");
        for i in 0..=MAX_HEADERS {
            head.push_str(&format!("X-H{i}: v\r\n"));
        }
        head.push_str("\r\n");
        assert_eq!(status_of(head.as_bytes()), Some(431));
    }

    #[test]
    fn exactly_max_headers_is_fine() {
        let mut head = String::from("GET / HTTP/1.1\r\n");
        for i in 0..MAX_HEADERS {
            head.push_str(&format!("X-H{i}: v\r\n"));
        }
        head.push_str("\r\n");
        parsed(&head);
    }

    #[test]
    fn other_methods_are_405_with_allow() {
        for method in ["POST", "PUT", "DELETE", "OPTIONS", "get"] {
            let head = format!("{method} / HTTP/1.1\r\n\r\n");
            let err = parse_head(head.as_bytes()).unwrap_err();
            assert_eq!(err.status(), Some(405), "{method}");
            let response = err.response().unwrap();
            assert_eq!(response.extra_headers, &[("Allow", "GET, HEAD")]);
        }
    }

    #[test]
    fn transfer_encoding_is_501_whatever_its_value() {
        let err = parse_head(b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n").unwrap_err();
        assert_eq!(err.status(), Some(501));
        assert!(err.to_string().contains("not supported"));
        // Even beside a valid Content-Length (a request-smuggling shape).
        let head = b"GET / HTTP/1.1\r\nContent-Length: 3\r\ntransfer-encoding: identity\r\n\r\n";
        assert_eq!(status_of(head), Some(501));
    }

    #[test]
    fn bad_content_length_is_400() {
        for value in [
            "abc",
            "-1",
            "+5",
            "",
            "1 2",
            "0x10",
            "99999999999999999999999",
        ] {
            let head = format!("GET / HTTP/1.1\r\nContent-Length: {value}\r\n\r\n");
            assert_eq!(status_of(head.as_bytes()), Some(400), "{value:?}");
        }
        let conflicting = b"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n";
        assert_eq!(status_of(conflicting), Some(400));
        let repeated = "GET / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n";
        assert_eq!(parsed(repeated).content_length, 2);
    }

    #[test]
    fn body_over_the_limit_is_413() {
        let head = format!(
            "GET / HTTP/1.1\r\nContent-Length: {}\r\n\r\n",
            MAX_BODY_BYTES + 1
        );
        assert_eq!(status_of(head.as_bytes()), Some(413));
        let head = format!("GET / HTTP/1.1\r\nContent-Length: {MAX_BODY_BYTES}\r\n\r\n");
        assert_eq!(parsed(&head).content_length, MAX_BODY_BYTES);
    }

    #[test]
    fn io_outcomes_have_no_answer() {
        assert_eq!(RequestError::Closed.status(), None);
        assert_eq!(RequestError::TimedOut.status(), None);
        assert!(RequestError::TimedOut.response().is_none());
        let reset = io::Error::from(io::ErrorKind::ConnectionReset);
        assert_eq!(RequestError::Io(reset).status(), None);
    }

    /// A connected loopback pair: (client side, server side).
    fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        (client, server)
    }

    const T: Duration = Duration::from_secs(2);

    #[test]
    fn reader_keeps_pipelined_requests_and_skips_bodies() {
        let (mut client, server) = pair();
        client
            .write_all(b"GET /a HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET /b HTTP/1.1\r\n\r\n")
            .unwrap();
        let mut reader = RequestReader::new();
        assert_eq!(reader.read_request(&server, T, None).unwrap().target, "/a");
        assert_eq!(
            reader.read_request(&server, T, Some(T)).unwrap().target,
            "/b"
        );
        drop(client);
        assert!(matches!(
            reader.read_request(&server, T, Some(T)),
            Err(RequestError::Closed)
        ));
    }

    #[test]
    fn reader_reads_a_body_that_arrives_later() {
        let (mut client, server) = pair();
        let writer = std::thread::spawn(move || {
            client
                .write_all(b"GET /a HTTP/1.1\r\nContent-Length: 20000\r\n\r\n")
                .unwrap();
            std::thread::sleep(Duration::from_millis(20));
            client.write_all(&[b'x'; 20000]).unwrap();
            client.write_all(b"GET /b HTTP/1.1\r\n\r\n").unwrap();
            client
        });
        let mut reader = RequestReader::new();
        assert_eq!(reader.read_request(&server, T, None).unwrap().target, "/a");
        assert_eq!(
            reader.read_request(&server, T, Some(T)).unwrap().target,
            "/b"
        );
        drop(writer.join().unwrap());
    }

    #[test]
    fn reader_rejects_a_head_over_8k_with_431() {
        let (mut client, server) = pair();
        let mut head = b"GET / HTTP/1.1\r\nX-Big: ".to_vec();
        head.resize(MAX_HEAD_BYTES + 100, b'a');
        client.write_all(&head).unwrap();
        let err = RequestReader::new()
            .read_request(&server, T, None)
            .unwrap_err();
        assert_eq!(err.status(), Some(431));
    }

    #[test]
    fn reader_times_out_a_half_request_at_the_deadline() {
        let (mut client, server) = pair();
        client.write_all(b"GET / HTTP/1.1\r\nHo").unwrap();
        let started = Instant::now();
        let timeout = Duration::from_millis(150);
        let err = RequestReader::new()
            .read_request(&server, timeout, None)
            .unwrap_err();
        assert!(matches!(err, RequestError::TimedOut), "{err:?}");
        let waited = started.elapsed();
        assert!(waited >= timeout && waited < timeout * 4, "{waited:?}");
    }

    #[test]
    fn reader_idle_wait_is_shorter_than_the_read_timeout() {
        let (_client, server) = pair();
        let started = Instant::now();
        let idle = Duration::from_millis(50);
        let err = RequestReader::new()
            .read_request(&server, Duration::from_secs(5), Some(idle))
            .unwrap_err();
        assert!(matches!(err, RequestError::TimedOut), "{err:?}");
        assert!(started.elapsed() < Duration::from_secs(1));
    }
}
