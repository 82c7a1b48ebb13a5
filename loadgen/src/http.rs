//! HTTP/1.1 on the wire for the load generator: the request bytes (built once
//! per run, so the hot path never formats) and an incremental response parser
//! that works on the caller's buffer and never allocates.

/// The request every connection sends, like wrk's default: no `Connection`
/// header unless `keep_alive` asks for `Connection: keep-alive`.
pub fn build_request(path: &str, host: &str, keep_alive: bool) -> Vec<u8> {
    let connection = if keep_alive {
        "Connection: keep-alive\r\n"
    } else {
        ""
    };
    format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n{connection}\r\n").into_bytes()
}

/// A response was complete.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Done {
    pub status: u16,
    /// The server will close (or has closed) the connection after it.
    pub close: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    Partial,
    Complete(Done),
}

/// Not a response we can frame: bad head, bad chunking, EOF mid-body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Malformed;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Head,
    Length(u64),
    ChunkSize,
    ChunkData(u64),
    ChunkDataEnd,
    Trailer,
    UntilEof,
    Done,
}

/// Headers beyond this many make the response malformed; gateways send a few.
const MAX_HEADERS: usize = 64;

/// Frames one response at a time. The caller owns the bytes: it appends what
/// it reads, calls [`ResponseParser::advance`], and drops the consumed prefix.
/// Body bytes are consumed as they arrive, so a small buffer serves any body.
#[derive(Debug)]
pub struct ResponseParser {
    state: State,
    status: u16,
    close: bool,
}

impl Default for ResponseParser {
    fn default() -> Self {
        Self::new()
    }
}

impl ResponseParser {
    pub fn new() -> Self {
        ResponseParser {
            state: State::Head,
            status: 0,
            close: false,
        }
    }

    /// Ready for the next response on the same connection.
    pub fn reset(&mut self) {
        *self = Self::new();
    }

    /// Parse what `buf` holds. Returns how many leading bytes were consumed
    /// (the caller drops them) and whether the response is complete. A
    /// `Partial` that consumed nothing needs more bytes in the same buffer
    /// (a head or chunk-size line split across reads).
    pub fn advance(&mut self, buf: &[u8]) -> Result<(usize, Progress), Malformed> {
        let mut pos = 0;
        loop {
            let rest = &buf[pos..];
            match self.state {
                State::Head => match self.head(rest)? {
                    Some(n) => pos += n,
                    None => return Ok((pos, Progress::Partial)),
                },
                State::Length(left) | State::ChunkData(left) => {
                    if rest.is_empty() {
                        return Ok((pos, Progress::Partial));
                    }
                    let take = left.min(rest.len() as u64);
                    pos += take as usize;
                    let left = left - take;
                    self.state = match (self.state, left) {
                        (State::Length(_), 0) => State::Done,
                        (State::Length(_), _) => State::Length(left),
                        (_, 0) => State::ChunkDataEnd,
                        _ => State::ChunkData(left),
                    };
                }
                State::ChunkSize => match httparse::parse_chunk_size(rest) {
                    Ok(httparse::Status::Complete((n, 0))) => {
                        pos += n;
                        self.state = State::Trailer;
                    }
                    Ok(httparse::Status::Complete((n, size))) => {
                        pos += n;
                        self.state = State::ChunkData(size);
                    }
                    Ok(httparse::Status::Partial) => return Ok((pos, Progress::Partial)),
                    Err(_) => return Err(Malformed),
                },
                State::ChunkDataEnd => {
                    if rest.len() < 2 {
                        return Ok((pos, Progress::Partial));
                    }
                    if &rest[..2] != b"\r\n" {
                        return Err(Malformed);
                    }
                    pos += 2;
                    self.state = State::ChunkSize;
                }
                // Trailer fields are skipped line by line up to the empty line.
                State::Trailer => match rest.iter().position(|&b| b == b'\n') {
                    Some(i) => {
                        pos += i + 1;
                        if rest[..i]
                            .strip_suffix(b"\r")
                            .unwrap_or(&rest[..i])
                            .is_empty()
                        {
                            self.state = State::Done;
                        }
                    }
                    None => return Ok((pos, Progress::Partial)),
                },
                State::UntilEof => return Ok((buf.len(), Progress::Partial)),
                State::Done => {
                    return Ok((
                        pos,
                        Progress::Complete(Done {
                            status: self.status,
                            close: self.close,
                        }),
                    ))
                }
            }
        }
    }

    /// The peer closed the connection: complete only if the body was
    /// delimited by EOF (no Content-Length, not chunked).
    pub fn at_eof(&self) -> Result<Done, Malformed> {
        match self.state {
            State::UntilEof | State::Done => Ok(Done {
                status: self.status,
                close: true,
            }),
            _ => Err(Malformed),
        }
    }

    /// Parse a complete head at the start of `buf`, choose how the body is
    /// framed, and return the head's length; `None` if the head is partial.
    fn head(&mut self, buf: &[u8]) -> Result<Option<usize>, Malformed> {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut resp = httparse::Response::new(&mut headers);
        let n = match resp.parse(buf) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(_) => return Err(Malformed),
        };
        let status = resp.code.ok_or(Malformed)?;
        // HTTP/1.0 closes unless it says keep-alive; 1.1 stays open unless
        // it says close.
        let mut close = resp.version != Some(1);
        let mut length: Option<u64> = None;
        let mut chunked = false;
        for h in resp.headers.iter() {
            if h.name.eq_ignore_ascii_case("connection") {
                for token in h.value.split(|&b| b == b',').map(<[u8]>::trim_ascii) {
                    if token.eq_ignore_ascii_case(b"close") {
                        close = true;
                    } else if token.eq_ignore_ascii_case(b"keep-alive") && resp.version == Some(0) {
                        close = false;
                    }
                }
            } else if h.name.eq_ignore_ascii_case("content-length") {
                let v = parse_length(h.value.trim_ascii()).ok_or(Malformed)?;
                // Differing duplicates are the classic smuggling ambiguity.
                if length.is_some_and(|l| l != v) {
                    return Err(Malformed);
                }
                length = Some(v);
            } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = h
                    .value
                    .rsplit(|&b| b == b',')
                    .next()
                    .is_some_and(|t| t.trim_ascii().eq_ignore_ascii_case(b"chunked"));
            }
        }
        // Interim responses (100 Continue, 103 Early Hints) precede the real one.
        if (100..200).contains(&status) {
            if status == 101 {
                return Err(Malformed);
            }
            return Ok(Some(n));
        }
        self.status = status;
        self.close = close;
        self.state = if status == 204 || status == 304 {
            State::Done
        } else if chunked {
            State::ChunkSize
        } else {
            match length {
                Some(0) => State::Done,
                Some(l) => State::Length(l),
                None => {
                    self.close = true;
                    State::UntilEof
                }
            }
        };
        Ok(Some(n))
    }
}

fn parse_length(v: &[u8]) -> Option<u64> {
    if v.is_empty() || v.len() > 19 || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(
        v.iter()
            .fold(0u64, |acc, &d| acc * 10 + u64::from(d - b'0')),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feed `bytes` in pieces of `step`, the way reads arrive, keeping the
    /// unconsumed tail like the connection does.
    fn feed(bytes: &[u8], step: usize) -> Result<Option<Done>, Malformed> {
        let mut p = ResponseParser::new();
        let mut buf = Vec::new();
        for piece in bytes.chunks(step) {
            buf.extend_from_slice(piece);
            let (used, progress) = p.advance(&buf)?;
            buf.drain(..used);
            if let Progress::Complete(d) = progress {
                return Ok(Some(d));
            }
        }
        Ok(None)
    }

    #[test]
    fn request_has_no_connection_header_unless_keep_alive() {
        assert_eq!(
            build_request("/", "h:1", false),
            b"GET / HTTP/1.1\r\nHost: h:1\r\n\r\n"
        );
        assert_eq!(
            build_request("/x?y=1", "h", true),
            b"GET /x?y=1 HTTP/1.1\r\nHost: h\r\nConnection: keep-alive\r\n\r\n"
        );
    }

    #[test]
    fn content_length_in_any_split() {
        let r = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello";
        for step in [1, 2, 7, r.len()] {
            assert_eq!(
                feed(r, step),
                Ok(Some(Done {
                    status: 200,
                    close: true
                })),
                "step {step}"
            );
        }
        // One byte short is not complete.
        assert_eq!(feed(&r[..r.len() - 1], 3), Ok(None));
    }

    #[test]
    fn keep_alive_defaults_by_version() {
        let r11 = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
        assert!(!feed(r11, 100).unwrap().unwrap().close);
        let r10 = b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n";
        assert!(feed(r10, 100).unwrap().unwrap().close);
        let r10ka = b"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n";
        assert!(!feed(r10ka, 100).unwrap().unwrap().close);
    }

    #[test]
    fn chunked_with_extension_and_trailer() {
        let r = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
                  5;x=y\r\nhello\r\n1\r\n!\r\n0\r\nX-Trailer: 1\r\n\r\n";
        for step in [1, 4, r.len()] {
            assert_eq!(
                feed(r, step),
                Ok(Some(Done {
                    status: 200,
                    close: false
                }))
            );
        }
        let bad = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n";
        assert_eq!(feed(bad, 100), Err(Malformed));
    }

    #[test]
    fn body_until_eof_completes_only_at_eof() {
        let mut p = ResponseParser::new();
        let r = b"HTTP/1.1 200 OK\r\n\r\nsome body";
        let (used, progress) = p.advance(r).unwrap();
        assert_eq!((used, progress), (r.len(), Progress::Partial));
        assert_eq!(
            p.at_eof(),
            Ok(Done {
                status: 200,
                close: true
            })
        );
        // EOF in the middle of a Content-Length body is an error.
        let mut p = ResponseParser::new();
        p.advance(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc")
            .unwrap();
        assert_eq!(p.at_eof(), Err(Malformed));
    }

    #[test]
    fn bodiless_statuses_and_interim_responses() {
        let r = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n";
        assert_eq!(
            feed(r, 5),
            Ok(Some(Done {
                status: 204,
                close: false
            }))
        );
    }

    #[test]
    fn malformed_heads() {
        assert_eq!(feed(b"NOT HTTP\r\n\r\n", 100), Err(Malformed));
        let dup = b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab";
        assert_eq!(feed(dup, 100), Err(Malformed));
        let neg = b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n";
        assert_eq!(feed(neg, 100), Err(Malformed));
    }

    #[test]
    fn leftover_bytes_are_not_consumed() {
        let mut p = ResponseParser::new();
        let r = b"HTTP/1.1 500 Oops\r\nContent-Length: 2\r\n\r\nabEXTRA";
        let (used, progress) = p.advance(r).unwrap();
        assert_eq!(used, r.len() - 5);
        assert_eq!(
            progress,
            Progress::Complete(Done {
                status: 500,
                close: false
            })
        );
    }
}
