//! The keep-alive policy: opt-in with `Connection: keep-alive`, bounded by
//! `--keepalive-max-requests` and `--keepalive-idle-ms`, closed by errors.

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::support::{read_until_closed, Gateway, KEEPALIVE_IDLE_MS};
use gateway_native::http::{ClientResponse, ResponseReader};

fn ask(stream: &mut TcpStream, reader: &mut ResponseReader, raw: &str) -> ClientResponse {
    stream.write_all(raw.as_bytes()).unwrap();
    reader.read_response(stream, false).unwrap()
}

const KEEP: &str = "GET / HTTP/1.1\r\nConnection: keep-alive\r\n\r\n";

#[test]
fn keep_alive_serves_several_requests_on_one_socket() {
    let gateway = Gateway::start(&[]);
    let mut stream = gateway.connect();
    let mut reader = ResponseReader::new();
    for _ in 0..5 {
        let response = ask(&mut stream, &mut reader, KEEP);
        assert_eq!(response.body_text(), "hello");
        assert_eq!(response.header("connection"), Some("keep-alive"));
    }
    // Still open: a sixth request on the same socket is answered.
    let last = ask(
        &mut stream,
        &mut reader,
        "GET /health HTTP/1.1\r\nConnection: keep-alive\r\n\r\n",
    );
    assert_eq!(last.body_text(), "ok");
}

#[test]
fn http_1_0_can_ask_for_keep_alive_too() {
    let gateway = Gateway::start(&[]);
    let mut stream = gateway.connect();
    let mut reader = ResponseReader::new();
    for _ in 0..2 {
        let response = ask(
            &mut stream,
            &mut reader,
            "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
        );
        assert_eq!(response.header("connection"), Some("keep-alive"));
    }
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let gateway = Gateway::start(&[]);
    let mut stream = gateway.connect();
    let mut reader = ResponseReader::new();
    let both = "GET /health HTTP/1.1\r\nConnection: keep-alive\r\n\r\n\
                GET / HTTP/1.1\r\nConnection: keep-alive\r\n\r\n";
    stream.write_all(both.as_bytes()).unwrap();
    assert_eq!(
        reader
            .read_response(&mut stream, false)
            .unwrap()
            .body_text(),
        "ok"
    );
    assert_eq!(
        reader
            .read_response(&mut stream, false)
            .unwrap()
            .body_text(),
        "hello"
    );
}

#[test]
fn without_the_header_the_connection_closes_after_one_response() {
    let gateway = Gateway::start(&[]);
    let mut stream = gateway.connect();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: wrk-like\r\n\r\n")
        .unwrap();
    let raw = String::from_utf8(read_until_closed(&mut stream)).unwrap();
    assert!(raw.contains("Connection: close\r\n"), "{raw}");
    assert!(raw.ends_with("hello"), "{raw}");
}

#[test]
fn the_last_allowed_request_closes() {
    let gateway = Gateway::start(&["--keepalive-max-requests=3"]);
    let mut stream = gateway.connect();
    let mut reader = ResponseReader::new();
    for expected in ["keep-alive", "keep-alive", "close"] {
        let response = ask(&mut stream, &mut reader, KEEP);
        assert_eq!(response.header("connection"), Some(expected));
    }
    assert!(read_until_closed(&mut stream).is_empty());
}

#[test]
fn an_error_response_closes_a_keep_alive_connection() {
    let gateway = Gateway::start(&[]);
    let mut stream = gateway.connect();
    let mut reader = ResponseReader::new();
    let response = ask(
        &mut stream,
        &mut reader,
        "GET /compute?iters=abc HTTP/1.1\r\nConnection: keep-alive\r\n\r\n",
    );
    assert_eq!(response.status, 400);
    assert!(response.closes_connection());
    assert!(read_until_closed(&mut stream).is_empty());
    gateway.assert_serving();
}

#[test]
fn an_idle_keep_alive_connection_is_closed_and_blocks_no_one() {
    // A read timeout far above the idle limit, so waiting on it would show.
    let gateway = Gateway::start(&["--read-timeout-ms=3000"]);
    let mut idle = gateway.connect();
    let mut reader = ResponseReader::new();
    assert_eq!(ask(&mut idle, &mut reader, KEEP).status, 200);
    let idle_since = Instant::now();

    // Another client, queued behind the idle connection, is served as soon
    // as the idle limit closes it.
    let other = gateway.get("/health");
    assert_eq!(other.status, 200);
    assert!(
        idle_since.elapsed() < Duration::from_millis(KEEPALIVE_IDLE_MS + 700),
        "the other client waited {:?}",
        idle_since.elapsed()
    );
    assert!(read_until_closed(&mut idle).is_empty());
    assert!(idle_since.elapsed() >= Duration::from_millis(KEEPALIVE_IDLE_MS - 10));
}
