//! Server side of [`crate::http`]: the gateway's one response shape, a
//! `text/plain` body with an exact `Content-Length`, assembled in one buffer
//! and sent with one `write_all` (one syscall, so no Nagle interplay and no
//! half-written head between two writes).

use std::io::{self, Write};

use super::request::Method;

/// A response before it is written. `body` is sent as is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
    /// Headers besides the fixed ones, e.g. `Allow` on a 405.
    pub extra_headers: &'static [(&'static str, &'static str)],
}

impl Response {
    pub fn text(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Response {
            status,
            body: body.into(),
            extra_headers: &[],
        }
    }

    pub fn ok(body: impl Into<Vec<u8>>) -> Self {
        Self::text(200, body)
    }

    /// 4xx and 5xx; the server closes the connection after these.
    pub fn is_error(&self) -> bool {
        self.status >= 400
    }
}

/// The standard reason phrase, or `""` for a code without one here (the
/// phrase is informational, and an empty one is valid HTTP/1.1).
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Content Too Large",
        414 => "URI Too Long",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "",
    }
}

/// Writes `response` as
/// `HTTP/1.1 <code> <reason>`, `Content-Type: text/plain; charset=utf-8`,
/// `Content-Length: N`, `Connection: close|keep-alive`, any extra headers,
/// a blank line and the body. A HEAD request gets the same head and no body;
/// 204 and 304 never carry a body, and 204 no `Content-Length` (RFC 9110).
pub fn write_response(
    w: &mut impl Write,
    response: &Response,
    method: Method,
    keep_alive: bool,
) -> io::Result<()> {
    let status = response.status;
    let send_body = method != Method::Head && !matches!(status, 100..=199 | 204 | 304);
    let body: &[u8] = if send_body { &response.body } else { &[] };

    let mut out = Vec::with_capacity(160 + body.len());
    write!(
        out,
        "HTTP/1.1 {status} {}\r\nContent-Type: text/plain; charset=utf-8\r\n",
        reason_phrase(status)
    )?;
    if !matches!(status, 100..=199 | 204) {
        write!(out, "Content-Length: {}\r\n", response.body.len())?;
    }
    let connection = if keep_alive { "keep-alive" } else { "close" };
    write!(out, "Connection: {connection}\r\n")?;
    for (name, value) in response.extra_headers {
        write!(out, "{name}: {value}\r\n")?;
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    w.write_all(&out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(response: &Response, method: Method, keep_alive: bool) -> String {
        let mut out = Vec::new();
        write_response(&mut out, response, method, keep_alive).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn exact_bytes_of_a_response() {
        assert_eq!(
            written(&Response::ok("hello"), Method::Get, false),
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n\
             Content-Length: 5\r\nConnection: close\r\n\r\nhello"
        );
    }

    #[test]
    fn head_has_the_same_head_and_no_body() {
        let get = written(&Response::ok("hello"), Method::Get, true);
        let head = written(&Response::ok("hello"), Method::Head, true);
        assert!(head.ends_with("Connection: keep-alive\r\n\r\n"));
        assert_eq!(format!("{head}hello"), get);
    }

    #[test]
    fn extra_headers_follow_the_fixed_ones() {
        let mut response = Response::text(405, "no");
        response.extra_headers = &[("Allow", "GET, HEAD")];
        let text = written(&response, Method::Get, false);
        assert!(text.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"));
        assert!(text.ends_with("Connection: close\r\nAllow: GET, HEAD\r\n\r\nno"));
    }

    #[test]
    fn no_content_has_neither_length_nor_body() {
        let text = written(&Response::text(204, "ignored"), Method::Get, false);
        assert!(!text.contains("Content-Length"));
        assert!(text.ends_with("\r\n\r\n"));
    }

    #[test]
    fn unknown_code_gets_an_empty_reason() {
        assert!(
            written(&Response::text(299, ""), Method::Get, false).starts_with("HTTP/1.1 299 \r\n")
        );
    }
}
