//! The workloads' answers from the real binary, checked against values
//! computed here independently.

use std::io::Write;

use crate::support::{independent_chain, read_until_closed, Gateway};
use gateway_native::http::ResponseReader;

#[test]
fn hello_is_exactly_this_response() {
    let gateway = Gateway::start(&[]);
    let mut stream = gateway.connect();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
        .unwrap();
    let raw = read_until_closed(&mut stream);
    assert_eq!(
        String::from_utf8(raw).unwrap(),
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Length: 5\r\nConnection: close\r\n\r\nhello"
    );
}

#[test]
fn health_is_ok() {
    let gateway = Gateway::start(&[]);
    let response = gateway.get("/health");
    assert_eq!(
        (response.status, response.body_text().as_str()),
        (200, "ok")
    );
}

#[test]
fn compute_is_the_sha256_chain() {
    let gateway = Gateway::start(&[]);
    let response = gateway.get("/compute?iters=3");
    assert_eq!(response.status, 200);
    assert_eq!(response.body_text(), independent_chain(3));
    assert_eq!(gateway_native::compute_chain(3), independent_chain(3));
}

#[test]
fn compute_defaults_to_20000_iters() {
    let gateway = Gateway::start(&["--max-iters=1000000"]);
    let response = gateway.get("/compute");
    assert_eq!(response.status, 200);
    assert_eq!(response.body_text(), independent_chain(20_000));
}

#[test]
fn state_counts_from_one() {
    let gateway = Gateway::start(&[]);
    let first = gateway.get("/state");
    let second = gateway.get("/state");
    assert_eq!(first.body_text(), "1");
    assert_eq!(second.body_text(), "2");
}

#[test]
fn head_gets_the_same_head_without_a_body() {
    let gateway = Gateway::start(&[]);
    let mut stream = gateway.connect();
    stream.write_all(b"HEAD /health HTTP/1.1\r\n\r\n").unwrap();
    let raw = read_until_closed(&mut stream);
    assert!(String::from_utf8(raw)
        .unwrap()
        .ends_with("Content-Length: 2\r\nConnection: close\r\n\r\n"));
}

#[test]
fn a_small_body_is_read_and_discarded() {
    let gateway = Gateway::start(&[]);
    let mut stream = gateway.connect();
    let mut raw = b"GET /health HTTP/1.1\r\nContent-Length: 20000\r\n\r\n".to_vec();
    raw.extend_from_slice(&[b'x'; 20000]);
    stream.write_all(&raw).unwrap();
    let response = ResponseReader::new()
        .read_response(&mut stream, false)
        .unwrap();
    assert_eq!(
        (response.status, response.body_text().as_str()),
        (200, "ok")
    );
    gateway.assert_serving();
}
