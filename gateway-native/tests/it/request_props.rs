//! Property tests of the request parser (`gateway_native::http::request`):
//! whatever the bytes, a request or a typed error with its status, never a
//! panic; a valid request parses back to the parts it was made of, whole or
//! from any prefix as the reader feeds it; and the limits and the framing
//! rules of docs/variants.md's table (431, 400, 405, 413) hold for every head of
//! their shape, not only the hand-picked ones of the unit tests.

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use gateway_native::http::{
    parse_head, Method, Request, RequestError, RequestReader, MAX_BODY_BYTES, MAX_HEADERS,
    MAX_HEAD_BYTES,
};
use proptest::prelude::*;

/// Cases per property: enough to cover the shapes, few enough for seconds.
const CASES: u32 = 512;
/// Properties that open a loopback connection per case.
const SOCKET_CASES: u32 = 128;

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        // A failure prints its minimal case; no regression files are
        // written into the source tree.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// The parts a valid request is made of, and its head as bytes.
#[derive(Debug, Clone)]
struct Valid {
    method: Method,
    target: String,
    minor_version: u8,
    /// Extra header fields, none of those the parser interprets.
    headers: Vec<(String, String)>,
    connection: Option<&'static str>,
    content_length: Option<u64>,
}

impl Valid {
    fn head(&self) -> Vec<u8> {
        let method = match self.method {
            Method::Get => "GET",
            Method::Head => "HEAD",
        };
        let mut head = format!("{method} {} HTTP/1.{}\r\n", self.target, self.minor_version);
        for (name, value) in &self.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        if let Some(connection) = self.connection {
            head.push_str(&format!("Connection: {connection}\r\n"));
        }
        if let Some(n) = self.content_length {
            head.push_str(&format!("Content-Length: {n}\r\n"));
        }
        head.push_str("\r\n");
        head.into_bytes()
    }

    fn header_count(&self) -> usize {
        self.headers.len()
            + usize::from(self.connection.is_some())
            + usize::from(self.content_length.is_some())
    }

    /// What the parser must give back.
    fn expected(&self) -> Request {
        let tokens = |t: &str| {
            self.connection
                .is_some_and(|c| c.split(',').any(|x| x.trim().eq_ignore_ascii_case(t)))
        };
        Request {
            method: self.method,
            target: self.target.clone(),
            minor_version: self.minor_version,
            connection_keep_alive: tokens("keep-alive"),
            connection_close: tokens("close"),
            content_length: self.content_length.unwrap_or(0),
        }
    }
}

fn method() -> impl Strategy<Value = Method> {
    prop_oneof![Just(Method::Get), Just(Method::Head)]
}

/// An origin-form target: `/`, path characters (RFC 3986 `pchar` and `/`),
/// and an optional query.
fn target() -> impl Strategy<Value = String> {
    let path = "/[A-Za-z0-9._~!$&'()*+,;=:@%/-]{0,60}";
    let query = proptest::option::of("[A-Za-z0-9._~!$&'()*+,;=:@%/?-]{0,40}");
    (path, query).prop_map(|(path, query)| match query {
        Some(q) => format!("{path}?{q}"),
        None => path,
    })
}

/// A header the parser does not interpret: a token name (never
/// Connection, Content-Length or Transfer-Encoding) and a value of visible
/// characters and inner spaces.
fn other_header() -> impl Strategy<Value = (String, String)> {
    let name = "X-[A-Za-z0-9!#$%&'*+.^_`|~-]{1,20}";
    let value = "[!-~]([ !-~]{0,40}[!-~])?";
    (name, value)
}

fn connection() -> impl Strategy<Value = Option<&'static str>> {
    proptest::option::of(prop_oneof![
        Just("close"),
        Just("keep-alive"),
        Just("Keep-Alive"),
        Just("Upgrade, keep-alive"),
        Just("CLOSE"),
        Just("keep-alive, close"),
        Just("upgrade"),
    ])
}

/// A valid request with at most `max_headers` header fields in all.
fn valid_with(max_headers: usize) -> impl Strategy<Value = Valid> {
    (
        method(),
        target(),
        0u8..=1,
        proptest::collection::vec(other_header(), 0..=max_headers - 2),
        connection(),
        proptest::option::of(0..=MAX_BODY_BYTES),
    )
        .prop_map(
            |(method, target, minor_version, headers, connection, content_length)| Valid {
                method,
                target,
                minor_version,
                headers,
                connection,
                content_length,
            },
        )
}

fn valid() -> impl Strategy<Value = Valid> {
    valid_with(MAX_HEADERS)
}

/// Bytes for the parser: random ones (nearly all a 400 at the first byte),
/// and valid heads cut short, with a few bytes changed, inserted or removed,
/// or with a field the parser judges added, so every outcome is reached.
fn any_bytes() -> impl Strategy<Value = Vec<u8>> {
    use proptest::sample::Index;
    let edit = (any::<Index>(), any::<u8>(), 0..3u8);
    let judged = prop_oneof![
        Just("Transfer-Encoding: chunked".to_owned()),
        "Content-Length: [-+ 0-9a-z]{0,24}",
        "Connection: [ -~]{0,20}",
        "[!-~]{1,20}:[ -~]{0,20}",
    ];
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..2048),
        (valid(), any::<Index>()).prop_map(|(v, at)| {
            let head = v.head();
            head[..at.index(head.len() + 1)].to_vec()
        }),
        (valid(), proptest::collection::vec(edit, 1..4)).prop_map(|(v, edits)| {
            let mut head = v.head();
            for (at, byte, kind) in edits {
                let len = head.len();
                match kind {
                    0 => head.insert(at.index(len + 1), byte),
                    1 if len > 0 => head[at.index(len)] = byte,
                    _ if len > 0 => drop(head.remove(at.index(len))),
                    _ => {}
                }
            }
            head
        }),
        (valid_with(8), judged).prop_map(|(v, field)| {
            let mut head = v.head();
            head.truncate(head.len() - 2);
            head.extend_from_slice(format!("{field}\r\n\r\n").as_bytes());
            head
        }),
    ]
}

fn status(buf: &[u8]) -> Option<u16> {
    match parse_head(buf) {
        Err(e) => e.status(),
        Ok(_) => None,
    }
}

/// A connected loopback pair: (client side, server side).
fn pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    (client, server)
}

const READ_TIMEOUT: Duration = Duration::from_secs(5);

proptest! {
    #![proptest_config(config(CASES))]

    /// Any bytes: no panic; either more is needed, or a request whose head
    /// lies within the bytes, or an error that has an answer (the parser
    /// never reports what only a socket can: closed, timed out, I/O).
    #[test]
    fn any_bytes_give_a_request_or_a_typed_error(buf in any_bytes()) {
        match parse_head(&buf) {
            Ok(None) => {}
            Ok(Some((request, len))) => {
                prop_assert!(len <= buf.len());
                prop_assert!(request.target.starts_with('/'));
                prop_assert!(request.content_length <= MAX_BODY_BYTES);
                // The head alone parses the same.
                let again = parse_head(&buf[..len]).unwrap();
                prop_assert_eq!(again, Some((request, len)));
            }
            Err(e) => {
                prop_assert!(
                    matches!(e.status(), Some(400 | 405 | 413 | 431 | 501)),
                    "{:?} has status {:?}", e, e.status()
                );
                prop_assert!(e.response().is_some());
            }
        }
    }

    /// A valid request parses back to its parts, and the head's length is
    /// all of it (a body or a pipelined request after it is left alone).
    #[test]
    fn a_valid_request_parses_back_to_its_parts(v in valid(), rest in "[ -~]{0,20}") {
        let head = v.head();
        prop_assert!(v.header_count() <= MAX_HEADERS);
        let (request, len) = parse_head(&head).unwrap().expect("complete head");
        prop_assert_eq!(len, head.len());
        prop_assert_eq!(&request, &v.expected());
        prop_assert_eq!(request.path(), v.target.split('?').next().unwrap());
        let mut more = head.clone();
        more.extend_from_slice(rest.as_bytes());
        prop_assert_eq!(parse_head(&more).unwrap(), Some((request, head.len())));
    }

    /// The reader parses the bytes read so far from the start each time:
    /// every proper prefix of a valid head needs more (never an error), and
    /// the whole parses to the same request.
    #[test]
    fn every_prefix_of_a_valid_head_needs_more(v in valid_with(8)) {
        let head = v.head();
        for end in 0..head.len() {
            let prefix = &head[..end];
            prop_assert!(
                matches!(parse_head(prefix), Ok(None)),
                "prefix {:?}: {:?}", String::from_utf8_lossy(prefix), parse_head(prefix)
            );
        }
        prop_assert_eq!(parse_head(&head).unwrap(), Some((v.expected(), head.len())));
    }

    /// More than 32 header fields is a 431, whatever they are.
    #[test]
    fn over_32_headers_is_431(
        v in valid_with(4),
        extra in proptest::collection::vec(other_header(), MAX_HEADERS + 1..3 * MAX_HEADERS),
    ) {
        let v = Valid { headers: extra, ..v };
        prop_assume!(v.header_count() > MAX_HEADERS);
        prop_assert_eq!(status(&v.head()), Some(431));
    }

    /// `Content-Length` with a sign, or any non-digit inside it, or empty:
    /// 400, never a length.
    #[test]
    fn a_content_length_with_a_sign_or_non_digits_is_400(
        v in valid_with(8),
        digits in "[0-9]{0,12}",
        sign in prop_oneof![Just(""), Just("+"), Just("-")],
        junk in proptest::option::of(("[^0-9\r\n\0-\x08\x0a-\x1f\x7f]", any::<proptest::sample::Index>())),
    ) {
        let value = match junk {
            // A non-digit at any place; spaces and tabs only inside, as
            // the surrounding whitespace of a field value is not its own.
            Some((c, at)) => {
                let at = at.index(digits.len() + 1);
                let inner = at > 0 && at < digits.len();
                let c = if c.trim().is_empty() && !inner { "x".to_owned() } else { c };
                format!("{sign}{}{c}{}", &digits[..at], &digits[at..])
            }
            None => format!("{sign}{digits}"),
        };
        prop_assume!(value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()));
        let v = Valid { content_length: None, ..v };
        let mut head = v.head();
        head.truncate(head.len() - 2);
        head.extend_from_slice(format!("Content-Length: {value}\r\n\r\n").as_bytes());
        let err = parse_head(&head).unwrap_err();
        prop_assert!(matches!(err, RequestError::BadContentLength), "{value:?}: {err:?}");
        prop_assert_eq!(err.status(), Some(400));
    }

    /// Digits only: the length, 413 past 64 KiB, 400 past u64.
    #[test]
    fn a_decimal_content_length_is_the_length_or_413(
        v in valid_with(8),
        digits in "[0-9]{1,24}",
        pad in "[ \t]{0,2}",
    ) {
        let v = Valid { content_length: None, ..v };
        let mut head = v.head();
        head.truncate(head.len() - 2);
        head.extend_from_slice(format!("Content-Length:{pad}{digits}{pad}\r\n\r\n").as_bytes());
        match digits.parse::<u64>() {
            Ok(n) if n <= MAX_BODY_BYTES => {
                let (request, _) = parse_head(&head).unwrap().unwrap();
                prop_assert_eq!(request.content_length, n);
            }
            Ok(_) => prop_assert_eq!(status(&head), Some(413)),
            Err(_) => prop_assert_eq!(status(&head), Some(400)),
        }
    }

    /// Any other method token is a 405.
    #[test]
    fn another_method_is_405(v in valid_with(8), method in "[A-Za-z]{1,10}") {
        prop_assume!(method != "GET" && method != "HEAD");
        let head = v.head();
        let line_rest = &head[head.iter().position(|&b| b == b' ').unwrap()..];
        let head = [method.as_bytes(), line_rest].concat();
        prop_assert_eq!(status(&head), Some(405));
    }
}

proptest! {
    #![proptest_config(config(SOCKET_CASES))]

    /// A head over 8 KiB is a 431 from the reader, whatever its shape: one
    /// long header, or many (up to 32) of ordinary size.
    #[test]
    fn a_head_over_8k_is_431(
        v in valid_with(4),
        over in 1usize..4 * MAX_HEAD_BYTES,
        spread in 1usize..=24,
    ) {
        let mut v = Valid { headers: Vec::new(), ..v };
        let target_len = MAX_HEAD_BYTES + over;
        let per_header = target_len / spread + 1;
        for i in 0..spread {
            v.headers.push((format!("X-Pad{i}"), "a".repeat(per_header)));
        }
        let head = v.head();
        prop_assert!(head.len() > MAX_HEAD_BYTES);
        let (mut client, server) = pair();
        // The reader stops at 8 KiB; the rest may be refused, which is fine.
        let writer = std::thread::spawn(move || {
            let _ = client.write_all(&head);
            client
        });
        let err = RequestReader::new().read_request(&server, READ_TIMEOUT, None).unwrap_err();
        drop(server);
        drop(writer.join().unwrap());
        prop_assert!(matches!(err, RequestError::HeadTooLarge(MAX_HEAD_BYTES)), "{err:?}");
        prop_assert_eq!(err.status(), Some(431));
    }

    /// A valid head that fits in 8 KiB, sent in two writes split at any
    /// byte, reads as the same request as when whole; a pipelined request
    /// after it is the next one read.
    #[test]
    fn a_valid_request_split_anywhere_reads_the_same(
        v in valid(),
        at in any::<proptest::sample::Index>(),
    ) {
        let mut v = v;
        // Bodies are read and discarded; keep them out of this one.
        v.content_length = None;
        let head = v.head();
        prop_assume!(head.len() <= MAX_HEAD_BYTES);
        let at = at.index(head.len() + 1);
        let (mut client, server) = pair();
        client.set_nodelay(true).unwrap();
        let (first, second) = head.split_at(at);
        let (first, second) = (first.to_vec(), second.to_vec());
        let writer = std::thread::spawn(move || {
            client.write_all(&first).unwrap();
            client.flush().unwrap();
            std::thread::sleep(Duration::from_millis(2));
            client.write_all(&second).unwrap();
            client.write_all(b"GET /next HTTP/1.1\r\n\r\n").unwrap();
            client
        });
        let mut reader = RequestReader::new();
        let request = reader.read_request(&server, READ_TIMEOUT, None).unwrap();
        prop_assert_eq!(&request, &v.expected());
        let next = reader.read_request(&server, READ_TIMEOUT, Some(READ_TIMEOUT)).unwrap();
        prop_assert_eq!(next.target.as_str(), "/next");
        drop(writer.join().unwrap());
    }
}
