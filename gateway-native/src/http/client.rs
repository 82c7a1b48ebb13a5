//! Client side of [`crate::http`]: read one response, its head, then a body
//! framed by `Content-Length` or by the end of the connection. The proxy
//! reads its upstream's answer with it; the tests of both crates read the
//! servers' answers with it, so there is one response parser.

use std::io::{self, Read};

use super::request::MAX_HEAD_BYTES;

/// Most header fields in a response; more is a malformed response.
pub const MAX_RESPONSE_HEADERS: usize = 64;
/// Largest response body read; a larger one is [`ClientError::TooLarge`], so
/// a runaway upstream cannot grow the gateway without bound.
pub const MAX_RESPONSE_BODY_BYTES: usize = 1024 * 1024;

/// A response as read by a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientResponse {
    pub status: u16,
    pub reason: String,
    /// In the order received; names as sent.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl ClientResponse {
    /// The first header of that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The server said it will close the connection after this response.
    pub fn closes_connection(&self) -> bool {
        self.header("connection").is_some_and(|v| {
            v.split(',')
                .any(|token| token.trim().eq_ignore_ascii_case("close"))
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// A socket error; a timeout is one of these (see [`Self::is_timeout`]).
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("connection closed before a complete response")]
    Closed,
    #[error("malformed response: {0}")]
    Malformed(String),
    #[error("response body larger than {MAX_RESPONSE_BODY_BYTES} bytes")]
    TooLarge,
}

impl ClientError {
    /// A read or write timed out (Linux reports an expired socket timeout as
    /// `WouldBlock`).
    pub fn is_timeout(&self) -> bool {
        matches!(self, ClientError::Io(e)
            if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut))
    }
}

enum Framing {
    None,
    Length(usize),
    UntilClose,
}

/// Reads responses from one connection. Bytes read past a response stay
/// buffered for the next one, so a keep-alive client keeps one reader.
#[derive(Debug, Default)]
pub struct ResponseReader {
    buf: Vec<u8>,
}

impl ResponseReader {
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads one response. `head_request`: the request was HEAD, so no body
    /// follows whatever `Content-Length` says.
    pub fn read_response<R: Read>(
        &mut self,
        r: &mut R,
        head_request: bool,
    ) -> Result<ClientResponse, ClientError> {
        let (mut response, head_len, framing) = loop {
            if let Some(parsed) = parse_head(&self.buf, head_request)? {
                break parsed;
            }
            if self.buf.len() >= MAX_HEAD_BYTES {
                return Err(ClientError::Malformed(format!(
                    "head larger than {MAX_HEAD_BYTES} bytes"
                )));
            }
            if self.fill(r)? == 0 {
                return Err(ClientError::Closed);
            }
        };
        self.buf.drain(..head_len);
        response.body = match framing {
            Framing::None => Vec::new(),
            Framing::Length(len) => {
                if len > MAX_RESPONSE_BODY_BYTES {
                    return Err(ClientError::TooLarge);
                }
                while self.buf.len() < len {
                    if self.fill(r)? == 0 {
                        return Err(ClientError::Closed);
                    }
                }
                self.buf.drain(..len).collect()
            }
            Framing::UntilClose => {
                while self.fill(r)? > 0 {
                    if self.buf.len() > MAX_RESPONSE_BODY_BYTES {
                        return Err(ClientError::TooLarge);
                    }
                }
                std::mem::take(&mut self.buf)
            }
        };
        Ok(response)
    }

    /// One read appended to the buffer; 0 at end of stream.
    fn fill<R: Read>(&mut self, r: &mut R) -> io::Result<usize> {
        const CHUNK: usize = 4096;
        let old_len = self.buf.len();
        self.buf.resize(old_len + CHUNK, 0);
        let result = loop {
            match r.read(&mut self.buf[old_len..]) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => break other,
            }
        };
        self.buf.truncate(old_len + *result.as_ref().unwrap_or(&0));
        result
    }
}

/// Reads one response from a connection the server will close after it
/// (`Connection: close`), e.g. the proxy's upstream connection.
pub fn read_response<R: Read>(r: &mut R) -> Result<ClientResponse, ClientError> {
    ResponseReader::new().read_response(r, false)
}

fn parse_head(
    buf: &[u8],
    head_request: bool,
) -> Result<Option<(ClientResponse, usize, Framing)>, ClientError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_RESPONSE_HEADERS];
    let mut parsed = httparse::Response::new(&mut headers);
    let head_len = match parsed.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(ClientError::Malformed(e.to_string())),
    };
    let status = parsed.code.unwrap_or(0);
    // We never send `Expect` or `Upgrade`, so an interim answer is a broken
    // peer, not something to wait past.
    if status < 200 {
        return Err(ClientError::Malformed(format!(
            "unexpected status {status}"
        )));
    }
    let headers: Vec<(String, String)> = parsed
        .headers
        .iter()
        .map(|h| {
            let value = String::from_utf8_lossy(h.value).into_owned();
            (h.name.to_owned(), value)
        })
        .collect();
    let response = ClientResponse {
        status,
        reason: parsed.reason.unwrap_or("").to_owned(),
        headers,
        body: Vec::new(),
    };

    let framing = if head_request || status == 204 || status == 304 {
        Framing::None
    } else if response.header("transfer-encoding").is_some() {
        return Err(ClientError::Malformed(
            "Transfer-Encoding is not supported".into(),
        ));
    } else if let Some(value) = response.header("content-length") {
        let value = value.trim();
        if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ClientError::Malformed(format!(
                "invalid Content-Length {value:?}"
            )));
        }
        // Digits that overflow usize are larger than any limit anyway.
        Framing::Length(value.parse().unwrap_or(usize::MAX))
    } else {
        Framing::UntilClose
    };
    Ok(Some((response, head_len, framing)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands out at most `step` bytes per read, to exercise
    /// responses split across reads.
    struct Trickle<'a> {
        data: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.step.min(buf.len()).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    #[test]
    fn reads_a_body_by_content_length_and_keeps_the_rest() {
        let data = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: keep-alive\r\n\r\nabc\
                     HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\nConnection: close\r\n\r\nno";
        let mut r = Trickle { data, step: 7 };
        let mut reader = ResponseReader::new();
        let first = reader.read_response(&mut r, false).unwrap();
        assert_eq!((first.status, first.body_text().as_str()), (200, "abc"));
        assert_eq!(first.reason, "OK");
        assert!(!first.closes_connection());
        let second = reader.read_response(&mut r, false).unwrap();
        assert_eq!((second.status, second.body_text().as_str()), (404, "no"));
        assert!(second.closes_connection());
        assert!(matches!(
            reader.read_response(&mut r, false),
            Err(ClientError::Closed)
        ));
    }

    #[test]
    fn reads_to_eof_without_content_length() {
        let mut r: &[u8] = b"HTTP/1.0 200 OK\r\n\r\nuntil the end";
        assert_eq!(read_response(&mut r).unwrap().body_text(), "until the end");
    }

    #[test]
    fn head_response_has_no_body() {
        let data = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx";
        let mut r: &[u8] = data;
        let mut reader = ResponseReader::new();
        let head = reader.read_response(&mut r, true).unwrap();
        assert_eq!(head.header("CONTENT-LENGTH"), Some("5"));
        assert!(head.body.is_empty());
        assert_eq!(
            reader.read_response(&mut r, false).unwrap().body_text(),
            "x"
        );
    }

    #[test]
    fn truncated_body_is_closed() {
        let mut r: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort";
        assert!(matches!(read_response(&mut r), Err(ClientError::Closed)));
    }

    #[test]
    fn garbage_and_unsupported_framing_are_malformed() {
        for data in [
            &b"SSH-2.0-OpenSSH\r\n\r\n"[..],
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
            b"HTTP/1.1 100 Continue\r\n\r\n",
        ] {
            let mut r = data;
            let err = read_response(&mut r).unwrap_err();
            assert!(matches!(err, ClientError::Malformed(_)), "{err:?}");
        }
    }

    #[test]
    fn oversized_body_is_refused_before_reading_it() {
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
            MAX_RESPONSE_BODY_BYTES + 1
        );
        let mut r = head.as_bytes();
        assert!(matches!(read_response(&mut r), Err(ClientError::TooLarge)));
    }

    #[test]
    fn timeouts_are_recognised() {
        assert!(ClientError::Io(io::ErrorKind::WouldBlock.into()).is_timeout());
        assert!(ClientError::Io(io::ErrorKind::TimedOut.into()).is_timeout());
        assert!(!ClientError::Io(io::ErrorKind::ConnectionReset.into()).is_timeout());
        assert!(!ClientError::Closed.is_timeout());
    }
}
