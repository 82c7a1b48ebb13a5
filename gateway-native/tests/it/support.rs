//! Shared by the gateway's integration tests: start the real binary on a free
//! port, talk to it over raw TCP, and make sure it is killed whatever happens.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use gateway_native::http::{ClientResponse, ResponseReader};
use gateway_native::listen::parse_announcement;

/// Short timeouts so the timeout tests are quick; a test overrides any of
/// them by passing that flag as `--flag=value`.
pub const READ_TIMEOUT_MS: u64 = 300;
pub const KEEPALIVE_IDLE_MS: u64 = 100;
pub const UPSTREAM_TIMEOUT_MS: u64 = 200;
pub const MAX_ITERS: u64 = 1000;

/// A running gateway, killed and reaped on drop (also when an assertion
/// fails); its stderr is printed if the test is failing.
pub struct Gateway {
    pub addr: SocketAddr,
    child: Child,
    _stdout: BufReader<ChildStdout>,
    stderr: Arc<Mutex<Vec<u8>>>,
}

impl Gateway {
    /// Starts with the test defaults, the upstream at `upstream`.
    pub fn start_with_upstream(upstream: SocketAddr, extra: &[&str]) -> Gateway {
        let upstream = format!("--upstream={upstream}");
        let mut args = vec![upstream.as_str()];
        args.extend_from_slice(extra);
        Self::start(&args)
    }

    /// Starts with the test defaults and an upstream that refuses.
    pub fn start(extra: &[&str]) -> Gateway {
        let defaults = [
            format!("--read-timeout-ms={READ_TIMEOUT_MS}"),
            "--write-timeout-ms=1000".to_owned(),
            format!("--keepalive-idle-ms={KEEPALIVE_IDLE_MS}"),
            format!("--upstream-timeout-ms={UPSTREAM_TIMEOUT_MS}"),
            format!("--max-iters={MAX_ITERS}"),
            format!("--upstream={}", refusing_addr()),
            "--listen=127.0.0.1:0".to_owned(),
        ];
        // clap refuses a flag given twice, so an override replaces a default.
        let overridden = |default: &String| {
            let name = default.split('=').next().unwrap();
            extra.iter().any(|e| e.split('=').next() == Some(name))
        };
        let mut command = Command::new(binary());
        // Every flag has an env fallback; a sourced bench.env must not leak in.
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy();
            if name.starts_with("GATEWAY_") || name.starts_with("UPSTREAM_") {
                command.env_remove(&*name);
            }
        }
        let mut child = command
            .args(defaults.iter().filter(|d| !overridden(d)))
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn gateway-native");
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let mut child_stderr = child.stderr.take().unwrap();
        let sink = Arc::clone(&stderr);
        thread::spawn(move || {
            let mut chunk = [0u8; 1024];
            while let Ok(n @ 1..) = child_stderr.read(&mut chunk) {
                sink.lock().unwrap().extend_from_slice(&chunk[..n]);
            }
        });
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).expect("read the announcement");
        let mut gateway = Gateway {
            addr: "0.0.0.0:0".parse().unwrap(),
            child,
            _stdout: stdout,
            stderr,
        };
        gateway.addr = parse_announcement(&line)
            .unwrap_or_else(|| panic!("no `listening on` line, got {line:?}"));
        gateway
    }

    pub fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect(self.addr).unwrap();
        // Generous: a test that waits this long has failed anyway.
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        stream
    }

    pub fn get(&self, target: &str) -> ClientResponse {
        self.send(format!("GET {target} HTTP/1.1\r\nHost: test\r\n\r\n").as_bytes())
    }

    /// Sends raw bytes on a fresh connection and reads one response.
    pub fn send(&self, raw: &[u8]) -> ClientResponse {
        let mut stream = self.connect();
        stream.write_all(raw).unwrap();
        ResponseReader::new()
            .read_response(&mut stream, false)
            .unwrap()
    }

    /// The check after every bad case: the gateway still answers.
    pub fn assert_serving(&self) {
        let response = self.get("/");
        assert_eq!(
            (response.status, response.body_text().as_str()),
            (200, "hello")
        );
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().unwrap()).into_owned()
    }

    /// Whether stderr shows `needle` within a second: it is read on another
    /// thread, so a line written before a response may land after it.
    pub fn stderr_shows(&self, needle: &str) -> bool {
        let deadline = std::time::Instant::now() + Duration::from_secs(1);
        while !self.stderr().contains(needle) {
            if std::time::Instant::now() > deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(5));
        }
        true
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if thread::panicking() {
            eprintln!("--- gateway stderr ---\n{}", self.stderr());
        }
    }
}

/// An address where nothing listens: a port just bound and released.
pub fn refusing_addr() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

/// Reads until the server closes, returning what came; panics if the
/// connection stays open past the stream's read timeout.
pub fn read_until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut all = Vec::new();
    match stream.read_to_end(&mut all) {
        Ok(_) => all,
        // A reset after the server's close also means closed.
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => all,
        Err(e) => panic!("connection not closed: {e} (got {all:?})"),
    }
}

/// SHA-256 applied `n` times to 32 zero bytes, computed here with sha2
/// directly, independently of the gateway's code.
pub fn independent_chain(n: u64) -> String {
    use sha2::{Digest, Sha256};
    let mut state = [0u8; 32];
    for _ in 0..n {
        let mut hasher = Sha256::new();
        hasher.update(state);
        state.copy_from_slice(&hasher.finalize());
    }
    hex::encode(state)
}

/// The gateway under test: the copy `cargo xtask test` staged for this tree
/// (`WGB_BIN_DIR`), which another tree building into the same target folder
/// cannot replace; else cargo's own build.
fn binary() -> std::path::PathBuf {
    std::env::var_os("WGB_BIN_DIR")
        .filter(|d| !d.is_empty())
        .map(|d| std::path::PathBuf::from(d).join("gateway-native"))
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_gateway-native").into())
}
