//! The proxy workload against in-test upstreams (std listeners on threads):
//! what is forwarded, and 502/504 when the upstream refuses, babbles or
//! stays silent. upstream-echo's own tests run the real upstream binary.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::support::{Gateway, UPSTREAM_TIMEOUT_MS};

/// An upstream that answers every connection with `answer` and reports the
/// request head it received.
fn scripted_upstream(answer: &'static [u8]) -> (SocketAddr, mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (heads, received) = mpsc::channel();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let mut stream = stream.unwrap();
            let head = read_head(&mut stream);
            let _ = stream.write_all(answer);
            if heads.send(head).is_err() {
                return;
            }
        }
    });
    (addr, received)
}

fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
        head.push(byte[0]);
    }
    String::from_utf8_lossy(&head).into_owned()
}

#[test]
fn forwards_the_target_and_the_upstreams_answer() {
    let (upstream, heads) =
        scripted_upstream(b"HTTP/1.1 200 OK\r\nContent-Length: 19\r\n\r\nhello-from-upstream");
    let gateway = Gateway::start_with_upstream(upstream, &[]);
    let response = gateway.get("/some/path?q=1");
    assert_eq!(response.status, 200);
    assert_eq!(response.body_text(), "hello-from-upstream");
    let head = heads.recv_timeout(Duration::from_secs(5)).unwrap();
    assert!(
        head.starts_with("GET /some/path?q=1 HTTP/1.1\r\n"),
        "{head}"
    );
    assert!(head.contains("Connection: close\r\n"), "{head}");
}

#[test]
fn forwards_an_upstream_error_status_and_body() {
    let (upstream, _heads) =
        scripted_upstream(b"HTTP/1.1 404 Not Found\r\nContent-Length: 7\r\n\r\nmissing");
    let gateway = Gateway::start_with_upstream(upstream, &[]);
    let response = gateway.get("/nope");
    assert_eq!(
        (response.status, response.body_text().as_str()),
        (404, "missing")
    );
    gateway.assert_serving();
}

#[test]
fn reads_an_upstream_body_framed_by_close() {
    let (upstream, _heads) = scripted_upstream(b"HTTP/1.0 200 OK\r\n\r\nno length");
    let gateway = Gateway::start_with_upstream(upstream, &[]);
    assert_eq!(gateway.get("/x").body_text(), "no length");
}

#[test]
fn refusing_upstream_is_502() {
    // The default test upstream is a port bound and released: it refuses.
    let gateway = Gateway::start(&[]);
    let response = gateway.get("/anything");
    assert_eq!(response.status, 502, "{}", response.body_text());
    assert!(
        response.body_text().contains("refused"),
        "{}",
        response.body_text()
    );
    gateway.assert_serving();
    assert!(gateway.stderr_shows("proxy /anything"), "502 not logged");
}

#[test]
fn babbling_upstream_is_502() {
    let (upstream, _heads) = scripted_upstream(b"this is not http\r\n\r\n");
    let gateway = Gateway::start_with_upstream(upstream, &[]);
    assert_eq!(gateway.get("/x").status, 502);
    gateway.assert_serving();
}

#[test]
fn upstream_closing_without_answer_is_502() {
    let (upstream, _heads) = scripted_upstream(b"");
    let gateway = Gateway::start_with_upstream(upstream, &[]);
    assert_eq!(gateway.get("/x").status, 502);
    gateway.assert_serving();
}

#[test]
fn silent_upstream_is_504_after_the_upstream_timeout() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let upstream = listener.local_addr().unwrap();
    // Accepts and holds every connection without answering.
    thread::spawn(move || {
        let held: Vec<_> = listener.incoming().collect();
        drop(held);
    });
    let gateway = Gateway::start_with_upstream(upstream, &[]);
    let started = Instant::now();
    let response = gateway.get("/slow");
    let waited = started.elapsed();
    assert_eq!(response.status, 504, "{}", response.body_text());
    let timeout = Duration::from_millis(UPSTREAM_TIMEOUT_MS);
    assert!(
        waited >= timeout && waited < timeout * 5,
        "answered after {waited:?}"
    );
    gateway.assert_serving();
}

#[test]
fn trickling_upstream_is_504_at_the_deadline_not_per_read() {
    // One byte every 100 ms: each read is well within the timeout, the
    // whole answer (about 4 s) is not.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let upstream = listener.local_addr().unwrap();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let mut stream = stream.unwrap();
            thread::spawn(move || {
                read_head(&mut stream);
                let answer = b"HTTP/1.1 200 OK\r\nContent-Length: 19\r\n\r\nhello-from-upstream";
                for byte in answer {
                    if stream.write_all(&[*byte]).is_err() {
                        return;
                    }
                    thread::sleep(Duration::from_millis(100));
                }
            });
        }
    });
    let timeout_ms = 500;
    let gateway =
        Gateway::start_with_upstream(upstream, &[&format!("--upstream-timeout-ms={timeout_ms}")]);
    let started = Instant::now();
    let response = gateway.get("/trickle");
    let waited = started.elapsed();
    assert_eq!(response.status, 504, "{}", response.body_text());
    let timeout = Duration::from_millis(timeout_ms);
    assert!(
        waited >= timeout && waited < timeout + Duration::from_millis(200),
        "answered after {waited:?}"
    );
    gateway.assert_serving();
}
