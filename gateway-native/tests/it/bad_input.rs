//! Bad requests and bad clients against the real binary: each gets its status
//! (or, for silent clients, is dropped after the read timeout), and after
//! each the gateway still answers a good request.

use std::io::{Read, Write};
use std::thread;
use std::time::{Duration, Instant};

use crate::support::{read_until_closed, Gateway, MAX_ITERS, READ_TIMEOUT_MS};

fn assert_status(gateway: &Gateway, raw: &[u8], status: u16) -> String {
    let response = gateway.send(raw);
    assert_eq!(
        response.status,
        status,
        "for {:?}: {}",
        String::from_utf8_lossy(&raw[..raw.len().min(80)]),
        response.body_text()
    );
    assert!(response.closes_connection());
    gateway.assert_serving();
    response.body_text()
}

#[test]
fn malformed_request_lines_are_400() {
    let gateway = Gateway::start(&[]);
    for raw in [
        &b"GARBAGE\r\n\r\n"[..],
        b"GET / HTTP/7.0\r\n\r\n",
        b"GET  HTTP/1.1\r\n\r\n",
        b"GET http://elsewhere/ HTTP/1.1\r\n\r\n",
        b"GET / HTTP/1.1\r\nno colon\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
    ] {
        assert_status(&gateway, raw, 400);
    }
}

#[test]
fn nine_kib_of_headers_is_431() {
    let gateway = Gateway::start(&[]);
    let mut raw = String::from("GET / HTTP/1.1\r\n");
    for i in 0..9 {
        raw.push_str(&format!("X-Filler-{i}: {}\r\n", "a".repeat(1024)));
    }
    raw.push_str("\r\n");
    assert!(raw.len() > 9 * 1024);
    let body = assert_status(&gateway, raw.as_bytes(), 431);
    assert!(body.contains("8192"), "{body}");
}

#[test]
fn forty_headers_is_431() {
    let gateway = Gateway::start(&[]);
    let mut raw = String::from("GET / HTTP/1.1\r\n");
    for i in 0..40 {
        raw.push_str(&format!("X-H{i}: v\r\n"));
    }
    raw.push_str("\r\n");
    let body = assert_status(&gateway, raw.as_bytes(), 431);
    assert!(body.contains("32"), "{body}");
}

#[test]
fn post_is_405_with_allow() {
    let gateway = Gateway::start(&[]);
    let response = gateway.send(b"POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi");
    assert_eq!(response.status, 405);
    assert_eq!(response.header("allow"), Some("GET, HEAD"));
    gateway.assert_serving();
    assert_status(&gateway, b"DELETE /state HTTP/1.1\r\n\r\n", 405);
}

#[test]
fn content_length_over_64_kib_is_413() {
    let gateway = Gateway::start(&[]);
    assert_status(
        &gateway,
        b"GET / HTTP/1.1\r\nContent-Length: 1000000\r\n\r\n",
        413,
    );
    // Also when the client starts sending that body anyway.
    let mut raw = b"GET / HTTP/1.1\r\nContent-Length: 1000000\r\n\r\n".to_vec();
    raw.extend_from_slice(&[b'x'; 16 * 1024]);
    assert_status(&gateway, &raw, 413);
}

#[test]
fn transfer_encoding_is_501() {
    let gateway = Gateway::start(&[]);
    let body = assert_status(
        &gateway,
        b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        501,
    );
    assert!(body.contains("not supported"), "{body}");
}

#[test]
fn bad_content_length_is_400() {
    let gateway = Gateway::start(&[]);
    assert_status(
        &gateway,
        b"GET / HTTP/1.1\r\nContent-Length: ten\r\n\r\n",
        400,
    );
    assert_status(
        &gateway,
        b"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        400,
    );
}

#[test]
fn bad_iters_are_400_naming_the_bound() {
    let gateway = Gateway::start(&[]);
    let too_many = format!("/compute?iters={}", MAX_ITERS + 1);
    for target in [
        "/compute?iters=abc",
        "/compute?iters=0",
        // The same digits-only rule as `Content-Length: +5` (a 400 too).
        "/compute?iters=+5",
        too_many.as_str(),
    ] {
        let response = gateway.get(target);
        assert_eq!(response.status, 400, "{target}");
        assert!(
            response.body_text().contains(&MAX_ITERS.to_string()),
            "{target}: {}",
            response.body_text()
        );
        gateway.assert_serving();
    }
    let at_bound = gateway.get(&format!("/compute?iters={MAX_ITERS}"));
    assert_eq!(at_bound.status, 200);
}

/// Time until the server closes a connection on which the client sends
/// `sent` and then nothing; also asserts that it closed without answering.
fn time_until_dropped(gateway: &Gateway, sent: &[u8]) -> Duration {
    let mut stream = gateway.connect();
    let started = Instant::now();
    stream.write_all(sent).unwrap();
    let got = read_until_closed(&mut stream);
    assert!(got.is_empty(), "expected no answer, got {got:?}");
    started.elapsed()
}

fn assert_dropped_after_read_timeout(sent: &'static [u8]) {
    let gateway = Gateway::start(&[]);
    // A good client queued behind the silent one is served once it is
    // dropped: the single-threaded server is held no longer than that.
    let addr = gateway.addr;
    let silent = {
        let gateway = &gateway;
        thread::scope(|scope| {
            let dropped = scope.spawn(|| time_until_dropped(gateway, sent));
            thread::sleep(Duration::from_millis(50));
            let queued_at = Instant::now();
            let response = gateway.get("/");
            assert_eq!(response.status, 200, "queued client on {addr}");
            let queued_wait = queued_at.elapsed();
            let silent = dropped.join().unwrap();
            assert!(queued_wait < Duration::from_millis(READ_TIMEOUT_MS + 500));
            silent
        })
    };
    let timeout = Duration::from_millis(READ_TIMEOUT_MS);
    assert!(
        silent >= timeout - Duration::from_millis(20),
        "dropped after {silent:?}"
    );
    assert!(
        silent < timeout + Duration::from_millis(500),
        "dropped after {silent:?}"
    );
    gateway.assert_serving();
}

#[test]
fn silent_client_is_dropped_after_the_read_timeout() {
    assert_dropped_after_read_timeout(b"");
}

#[test]
fn half_a_request_is_dropped_after_the_read_timeout() {
    assert_dropped_after_read_timeout(b"GET /compute?iters=1 HTTP/1.1\r\nHost: te");
}

#[test]
fn a_trickling_client_cannot_extend_the_read_timeout() {
    let gateway = Gateway::start(&[]);
    let mut stream = gateway.connect();
    stream
        .set_read_timeout(Some(Duration::from_millis(40)))
        .unwrap();
    let started = Instant::now();
    let request = b"GET / HTTP/1.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let mut closed_after = None;
    for byte in request {
        if stream.write_all(&[*byte]).is_err() {
            closed_after = Some(started.elapsed());
            break;
        }
        let mut buf = [0u8; 64];
        match stream.read(&mut buf) {
            Ok(0) => {
                closed_after = Some(started.elapsed());
                break;
            }
            Ok(n) => panic!("unexpected answer {:?}", &buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => {
                closed_after = Some(started.elapsed());
                break;
            }
        }
    }
    let closed_after = closed_after.expect("the server never closed the trickling client");
    let timeout = Duration::from_millis(READ_TIMEOUT_MS);
    assert!(
        closed_after >= timeout - Duration::from_millis(20)
            && closed_after < timeout + Duration::from_millis(300),
        "closed after {closed_after:?}"
    );
    gateway.assert_serving();
}
