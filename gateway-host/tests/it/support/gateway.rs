//! Runs the `gateway-host` binary on a free port and talks HTTP/1.1 to it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A running gateway; killed and reaped on drop, so a failing test leaves
/// nothing behind.
pub struct Gateway {
    child: Child,
    pub addr: SocketAddr,
}

impl Gateway {
    /// Starts `gateway-host ARGS --listen 127.0.0.1:0` and waits (up to 60 s:
    /// the embedded runtime compiles the module first) for its address.
    pub fn start(args: &[&str]) -> Gateway {
        let mut cmd = Command::new(crate::support::paths::gateway_host());
        cmd.args(args)
            .args(["--listen", "127.0.0.1:0"])
            // The test's environment must not choose for it.
            .env_remove("WASM_RUNTIME")
            .env_remove("WASM_MODULE")
            .env_remove("WASM_TIMEOUT_MS")
            .env_remove("GATEWAY_LISTEN")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = cmd.spawn().expect("start gateway-host");
        let stdout = child.stdout.take().unwrap();
        let mut gw = Gateway {
            child,
            addr: "0.0.0.0:0".parse().unwrap(),
        };
        let (tx, rx) = mpsc::channel();
        // Reads on past the first line too, so the gateway never blocks on a
        // full stdout pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(addr) = line.strip_prefix("listening on ") {
                    let _ = tx.send(addr.trim().to_owned());
                }
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("gateway-host {args:?} printed no `listening on ADDR`"));
        gw.addr = addr.parse().expect("listening address");
        gw
    }

    /// `GET path` on a new connection: (status, body).
    pub fn get(&self, path: &str) -> (u16, Vec<u8>) {
        get(self.addr, path)
    }

    /// The gateway's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_none()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One request with `Connection: close`; the response is read to EOF.
pub fn get(addr: SocketAddr, path: &str) -> (u16, Vec<u8>) {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read response");
    parse_response(&raw)
}

fn parse_response(raw: &[u8]) -> (u16, Vec<u8>) {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(raw)));
    let head = std::str::from_utf8(&raw[..end]).expect("ASCII head");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line in {head:?}"));
    let mut body = raw[end + 4..].to_vec();
    let length = head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case("content-length")
            .then(|| v.trim().parse::<usize>().ok())?
    });
    if let Some(n) = length {
        assert!(body.len() >= n, "short body in {head:?}");
        body.truncate(n);
    }
    (status, body)
}
