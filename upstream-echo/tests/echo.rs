//! upstream-echo's binary: its fixed text, concurrency, keep-alive, delay and
//! timeouts; and the gateway's proxy workload end to end against it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use clap::Parser;
use gateway_native::http::{ClientResponse, ResponseReader};
use gateway_native::listen::parse_announcement;
use gateway_native::{server, Identity, ServerArgs};

const TEXT: &str = "fixed-answer";

/// A running upstream-echo, killed and reaped on drop.
struct Upstream {
    addr: SocketAddr,
    child: Child,
    _stdout: BufReader<ChildStdout>,
}

impl Upstream {
    fn start(extra: &[&str]) -> Upstream {
        let mut command = Command::new(binary());
        // Every flag has an env fallback; a sourced bench.env must not leak in.
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("UPSTREAM_") {
                command.env_remove(name);
            }
        }
        let mut child = command
            .args(["--listen=127.0.0.1:0", &format!("--text={TEXT}")])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn upstream-echo");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        // Built before the check, so a failed start is still killed on drop.
        let mut upstream = Upstream {
            addr: "0.0.0.0:0".parse().unwrap(),
            child,
            _stdout: stdout,
        };
        upstream.addr = parse_announcement(&line).unwrap_or_else(|| panic!("got {line:?}"));
        upstream
    }

    fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect(self.addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        stream
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn ask(stream: &mut TcpStream, reader: &mut ResponseReader, raw: &str) -> ClientResponse {
    stream.write_all(raw.as_bytes()).unwrap();
    reader
        .read_response(stream, raw.starts_with("HEAD"))
        .unwrap()
}

fn get_once(addr: SocketAddr, target: &str) -> ClientResponse {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let raw = format!("GET {target} HTTP/1.1\r\nConnection: close\r\n\r\n");
    ask(&mut stream, &mut ResponseReader::new(), &raw)
}

fn assert_closed(stream: &mut TcpStream) {
    let mut rest = Vec::new();
    match stream.read_to_end(&mut rest) {
        Ok(_) => assert!(rest.is_empty(), "unexpected {rest:?}"),
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}"),
    }
}

#[test]
fn answers_its_text_whatever_the_path() {
    let upstream = Upstream::start(&[]);
    for target in ["/", "/a", "/b/c?x=1"] {
        let response = get_once(upstream.addr, target);
        assert_eq!(
            (response.status, response.body_text().as_str()),
            (200, TEXT)
        );
    }
    let mut stream = upstream.connect();
    let head = ask(
        &mut stream,
        &mut ResponseReader::new(),
        "HEAD /x HTTP/1.1\r\n\r\n",
    );
    assert_eq!(head.header("content-length"), Some("12"));
    assert!(head.body.is_empty());
}

#[test]
fn two_open_connections_are_both_answered() {
    let upstream = Upstream::start(&[]);
    // The first connection sends nothing yet; a one-at-a-time server would
    // be stuck on it and never answer the second.
    let mut first = upstream.connect();
    let mut second = upstream.connect();
    let started = Instant::now();
    let response = ask(
        &mut second,
        &mut ResponseReader::new(),
        "GET /2 HTTP/1.1\r\n\r\n",
    );
    assert_eq!(response.body_text(), TEXT);
    assert!(started.elapsed() < Duration::from_secs(1));
    let response = ask(
        &mut first,
        &mut ResponseReader::new(),
        "GET /1 HTTP/1.1\r\n\r\n",
    );
    assert_eq!(response.body_text(), TEXT);
}

#[test]
fn slow_answers_overlap() {
    let upstream = Upstream::start(&["--delay-ms=300"]);
    let started = Instant::now();
    let addr = upstream.addr;
    let answers: Vec<_> = (0..4)
        .map(|i| thread::spawn(move || get_once(addr, &format!("/{i}"))))
        .collect();
    for answer in answers {
        assert_eq!(answer.join().unwrap().body_text(), TEXT);
    }
    let elapsed = started.elapsed();
    // Four 300 ms answers, concurrently: well under the 1.2 s of a queue.
    assert!(
        elapsed >= Duration::from_millis(300) && elapsed < Duration::from_millis(900),
        "{elapsed:?}"
    );
}

#[test]
fn http_1_1_keeps_alive_until_asked_to_close() {
    let upstream = Upstream::start(&[]);
    let mut stream = upstream.connect();
    let mut reader = ResponseReader::new();
    for i in 0..5 {
        let response = ask(
            &mut stream,
            &mut reader,
            &format!("GET /{i} HTTP/1.1\r\n\r\n"),
        );
        assert_eq!(response.body_text(), TEXT);
        assert_eq!(response.header("connection"), Some("keep-alive"));
    }
    let last = ask(
        &mut stream,
        &mut reader,
        "GET / HTTP/1.1\r\nConnection: close\r\n\r\n",
    );
    assert!(last.closes_connection());
    assert_closed(&mut stream);
}

#[test]
fn http_1_0_closes_unless_asked_to_keep_alive() {
    let upstream = Upstream::start(&[]);
    let mut stream = upstream.connect();
    let mut reader = ResponseReader::new();
    let kept = ask(
        &mut stream,
        &mut reader,
        "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    );
    assert_eq!(kept.header("connection"), Some("keep-alive"));
    let closed = ask(&mut stream, &mut reader, "GET / HTTP/1.0\r\n\r\n");
    assert!(closed.closes_connection());
    assert_closed(&mut stream);
}

#[test]
fn idle_connections_are_closed_after_the_read_timeout() {
    let upstream = Upstream::start(&["--read-timeout-ms=200"]);
    let mut idle = upstream.connect();
    let started = Instant::now();
    assert_closed(&mut idle);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(190) && waited < Duration::from_secs(1),
        "{waited:?}"
    );
}

#[test]
fn delay_ms_delays_each_answer() {
    let upstream = Upstream::start(&["--delay-ms=150"]);
    let started = Instant::now();
    assert_eq!(get_once(upstream.addr, "/").body_text(), TEXT);
    assert!(started.elapsed() >= Duration::from_millis(150));
}

#[test]
fn bad_requests_get_the_shared_error_statuses() {
    let upstream = Upstream::start(&[]);
    let mut stream = upstream.connect();
    let response = ask(
        &mut stream,
        &mut ResponseReader::new(),
        "BREW / HTTP/1.1\r\n\r\n",
    );
    assert_eq!(response.status, 405);
    assert_eq!(get_once(upstream.addr, "/").status, 200);
}

#[derive(Parser)]
struct GatewayCli {
    #[command(flatten)]
    server: ServerArgs,
}

#[test]
fn the_gateway_proxies_to_upstream_echo() {
    let upstream = Upstream::start(&[]);
    let args = GatewayCli::parse_from([
        "gateway",
        "--listen=127.0.0.1:0",
        &format!("--upstream={}", upstream.addr),
    ])
    .server;
    let listener = server::bind(&args).unwrap();
    let gateway = listener.local_addr().unwrap();
    // The gateway library on a thread; it ends with the test process.
    thread::spawn(move || server::serve(listener, &args, &mut Identity));
    for target in ["/proxy", "/any/path?x=1"] {
        let response = get_once(gateway, target);
        assert_eq!(
            (response.status, response.body_text().as_str()),
            (200, TEXT)
        );
    }
}

#[test]
fn a_path_that_fits_the_gateways_head_limit_is_proxied() {
    use gateway_native::http::MAX_HEAD_BYTES;
    let upstream = Upstream::start(&[]);
    let args = GatewayCli::parse_from([
        "gateway",
        "--listen=127.0.0.1:0",
        &format!("--upstream={}", upstream.addr),
    ])
    .server;
    let listener = server::bind(&args).unwrap();
    let gateway = listener.local_addr().unwrap();
    thread::spawn(move || server::serve(listener, &args, &mut Identity));
    // `get_once`'s head with this target is exactly the gateway's limit.
    let fixed = "GET  HTTP/1.1\r\nConnection: close\r\n\r\n".len();
    let target = format!("/{}", "a".repeat(MAX_HEAD_BYTES - fixed - 1));
    let response = get_once(gateway, &target);
    assert_eq!(
        (response.status, response.body_text().as_str()),
        (200, TEXT),
        "the upstream must not refuse what the gateway accepted"
    );
    // One byte more is the gateway's own 431.
    let response = get_once(gateway, &format!("{target}a"));
    assert_eq!(response.status, 431, "{}", response.body_text());
    assert!(response.body_text().contains(&MAX_HEAD_BYTES.to_string()));
}

/// The upstream under test: the copy `cargo xtask test` staged for this
/// tree (`WGB_BIN_DIR`), else cargo's own build.
fn binary() -> std::path::PathBuf {
    std::env::var_os("WGB_BIN_DIR")
        .filter(|d| !d.is_empty())
        .map(|d| std::path::PathBuf::from(d).join("upstream-echo"))
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_upstream-echo").into())
}
