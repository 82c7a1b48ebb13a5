//! Every variant that can run here, started exactly as the suites start it,
//! on free ports, answering every workload with the exact body.
//! Needs `cargo xtask build` first (`cargo xtask test` does it).

use std::net::SocketAddr;
use std::time::Duration;

use sha2::{Digest, Sha256};
use xtask::probe::{self, Reply};
use xtask::upstream::Upstream;
use xtask::variants::{StartOpts, Variant, VARIANTS};

const UPSTREAM_TEXT: &str = "hello-from-upstream";

/// The `json` workload's body, as written out by hand next to the work
/// module: every variant must send these bytes (after `wasm:`).
const JSON_SUMMARY: &str = include_str!("../../../gateway-wasm/work/src/order.summary.json");

/// The compute workload's definition, written again here on purpose: state
/// starts as 32 zero bytes and becomes sha256(state) `iters` times.
fn reference_chain(iters: u64) -> String {
    let mut state = [0u8; 32];
    for _ in 0..iters {
        state = Sha256::digest(state).into();
    }
    hex::encode(state)
}

fn get(addr: SocketAddr, path: &str) -> Reply {
    probe::get(addr, path, Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("GET {path} on {addr}: {e:#}"))
}

fn ok_body(addr: SocketAddr, path: &str) -> String {
    let reply = get(addr, path);
    assert_eq!(reply.status, 200, "GET {path}: {}", reply.body_text());
    reply.body_text()
}

fn check_workloads(variant: &'static Variant, upstream: SocketAddr) {
    let running = variant
        .start(&StartOpts::new(upstream))
        .unwrap_or_else(|e| panic!("starting {}: {e:#}", variant.name));
    let addr = running.addr;
    let name = variant.name;

    assert_eq!(ok_body(addr, "/health"), "ok", "{name} /health");
    assert_eq!(
        ok_body(addr, "/"),
        variant.expected_body("hello"),
        "{name} /"
    );
    assert_eq!(
        ok_body(addr, "/compute?iters=7"),
        variant.expected_body(&reference_chain(7)),
        "{name} compute 7"
    );
    assert_eq!(
        ok_body(addr, "/compute"),
        variant.expected_body(&reference_chain(20_000)),
        "{name} compute default iters"
    );

    let counter = |body: String| -> u64 {
        let digits = body.strip_prefix("wasm:").unwrap_or(&body);
        assert_eq!(body, variant.expected_body(digits), "{name} /state");
        digits
            .parse()
            .unwrap_or_else(|_| panic!("{name} /state body {body:?}"))
    };
    let first = counter(ok_body(addr, "/state"));
    let second = counter(ok_body(addr, "/state"));
    assert_eq!(
        second,
        first + 1,
        "{name} state increases by one per request"
    );

    assert_eq!(
        ok_body(addr, "/some/proxied/path"),
        variant.expected_body(UPSTREAM_TEXT),
        "{name} proxy"
    );
    assert_eq!(
        get(addr, "/compute?iters=abc").status,
        400,
        "{name} bad iters"
    );

    // The work module's workloads: the chain computed inside Wasm, the JSON
    // transform done by serde_json compiled to wasm32-wasip1.
    assert_eq!(
        ok_body(addr, "/compute-wasm?iters=7"),
        variant.expected_body(&reference_chain(7)),
        "{name} compute_wasm 7"
    );
    // Not the default 20000: WasmEdge's interpreter takes most of a second
    // on that, close to the deadline on a busy machine.
    assert_eq!(
        ok_body(addr, "/compute-wasm?iters=2000"),
        variant.expected_body(&reference_chain(2000)),
        "{name} compute_wasm 2000"
    );
    assert_eq!(
        ok_body(addr, "/json"),
        variant.expected_body(JSON_SUMMARY.trim_end()),
        "{name} json"
    );
    for bad in ["/compute-wasm?iters=abc", "/compute-wasm?iters=0"] {
        assert_eq!(get(addr, bad).status, 400, "{name} {bad}");
    }
    assert_eq!(
        ok_body(addr, "/"),
        variant.expected_body("hello"),
        "{name} after a 400"
    );
    running.stop();
}

#[test]
fn every_variant_that_can_run_here_answers_every_workload() {
    let upstream = Upstream::start("127.0.0.1:0".parse().unwrap(), None, None)
        .expect("starting upstream-echo (run `cargo xtask build`)");
    let mut ran = Vec::new();
    for variant in VARIANTS {
        match variant.availability() {
            Ok(()) => {
                check_workloads(variant, upstream.addr);
                ran.push(variant.name);
            }
            // Tests follow the machine: wasm_host_cli runs wherever
            // wasmedge is found (CI sets WASMEDGE); elsewhere it must say
            // exactly why it is skipped.
            Err(reason) if variant.name == "wasm_host_cli" && xtask::tools::wasmedge().is_err() => {
                assert!(reason.contains("wasmedge not found"), "{reason}")
            }
            Err(reason) => panic!("{} cannot run here: {reason}", variant.name),
        }
    }
    assert!(ran.len() >= 6, "ran only {ran:?}");
    if xtask::tools::wasmedge().is_ok() {
        assert!(ran.contains(&"wasm_host_cli"), "ran {ran:?}");
    }
}
