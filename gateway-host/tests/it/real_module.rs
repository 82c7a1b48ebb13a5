//! The real `gateway-wasm` module, embedded and through the real `wasmtime`
//! CLI. Both fail (never skip) when an artefact is missing, saying how to
//! build it.

use std::time::{Duration, Instant};

use crate::support::paths;
use gateway_host::{CliRuntime, EmbeddedTransform, Limits, SpawnTransform};
use gateway_native::Transform;

#[test]
fn embedded_runs_gateway_wasm() {
    let module = paths::gateway_wasm();
    let mut t = EmbeddedTransform::from_file(&module, Limits::default()).unwrap();
    assert_eq!(t.apply(b"hello").unwrap(), b"wasm:hello");
    assert_eq!(t.apply(b"").unwrap(), b"wasm:");
    let body = vec![b'7'; 200_000];
    let out = t.apply(&body).unwrap();
    assert_eq!(out.len(), body.len() + 5);

    // Informal per-request cost, printed with `--nocapture`.
    let n = 200;
    let start = Instant::now();
    for _ in 0..n {
        t.apply(b"hello").unwrap();
    }
    eprintln!("embedded: {:?} per request", start.elapsed() / n);
}

#[test]
fn wasmtime_cli_runs_gateway_wasm() {
    let module = paths::gateway_wasm();
    let wasmtime = paths::wasmtime_cli();
    let limits = Limits {
        // The first run may compile the module into Wasmtime's cache.
        timeout: Duration::from_secs(30),
        ..Limits::default()
    };
    let mut t = SpawnTransform::new(CliRuntime::Wasmtime, &wasmtime, &module, limits);
    assert_eq!(t.apply(b"hello").unwrap(), b"wasm:hello");
    assert_eq!(t.apply(b"compute").unwrap(), b"wasm:compute");

    let n = 20;
    let start = Instant::now();
    for _ in 0..n {
        t.apply(b"hello").unwrap();
    }
    eprintln!("wasmtime run: {:?} per request", start.elapsed() / n);
}
