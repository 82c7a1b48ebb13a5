//! The `gateway-host` binary end to end: it serves through the module, and a
//! broken runtime or a hostile module costs one 500, never the gateway.

use std::time::{Duration, Instant};

use crate::support::gateway::Gateway;
use crate::support::modules;
use crate::support::paths::{self, TempDir};

#[test]
fn embedded_serves_through_gateway_wasm() {
    let module = paths::gateway_wasm();
    let gw = Gateway::start(&[
        "--runtime",
        "wasmtime_embedded",
        "--module",
        module.to_str().unwrap(),
    ]);
    assert_eq!(gw.get("/"), (200, b"wasm:hello".to_vec()));
    assert_eq!(gw.get("/health"), (200, b"ok".to_vec()));
}

#[test]
fn wasmtime_cli_serves_through_gateway_wasm() {
    let module = paths::gateway_wasm();
    let wasmtime = paths::wasmtime_cli();
    let gw = Gateway::start(&[
        "--runtime",
        "wasmtime",
        "--runtime-bin",
        wasmtime.to_str().unwrap(),
        "--module",
        module.to_str().unwrap(),
        // The first run may compile the module into Wasmtime's cache.
        "--wasm-timeout-ms",
        "30000",
    ]);
    assert_eq!(gw.get("/"), (200, b"wasm:hello".to_vec()));
    assert_eq!(gw.get("/health"), (200, b"ok".to_vec()));
}

#[test]
fn a_missing_runtime_binary_is_a_500_and_the_gateway_lives() {
    let module = paths::gateway_wasm();
    let mut gw = Gateway::start(&[
        "--runtime",
        "wasmtime",
        "--runtime-bin",
        "/nonexistent",
        "--module",
        module.to_str().unwrap(),
    ]);
    let (status, body) = gw.get("/");
    assert_eq!(status, 500);
    let body = String::from_utf8_lossy(&body);
    assert!(body.contains("wasmtime not found"), "{body}");
    assert_eq!(gw.get("/health"), (200, b"ok".to_vec()));
    assert!(gw.alive());
}

#[test]
fn a_looping_module_is_a_500_within_the_deadline() {
    let dir = TempDir::new("spin");
    let module = dir.path().join("spin.wat");
    std::fs::write(&module, modules::SPIN).unwrap();
    let mut gw = Gateway::start(&[
        "--module",
        module.to_str().unwrap(),
        "--wasm-timeout-ms",
        "200",
    ]);
    let start = Instant::now();
    let (status, body) = gw.get("/");
    let took = start.elapsed();
    assert_eq!(status, 500, "{}", String::from_utf8_lossy(&body));
    assert!(String::from_utf8_lossy(&body).contains("deadline"));
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert_eq!(gw.get("/health"), (200, b"ok".to_vec()));
    assert!(gw.alive());
}

#[test]
fn startup_errors_exit_1() {
    let run = |args: &[&str]| {
        std::process::Command::new(crate::support::paths::gateway_host())
            .args(args)
            .args(["--listen", "127.0.0.1:0"])
            .env_remove("WASM_MODULE")
            .env_remove("WASM_RUNTIME")
            .output()
            .expect("run gateway-host")
    };
    for runtime in ["wasmtime_embedded", "wasmtime", "wasmedge"] {
        let out = run(&["--runtime", runtime, "--module", "/nonexistent/m.wasm"]);
        assert_eq!(out.status.code(), Some(1), "{runtime}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("/nonexistent/m.wasm"), "{runtime}: {err}");
    }
    let dir = TempDir::new("bad");
    let bad = dir.path().join("bad.wasm");
    std::fs::write(&bad, b"\0asm garbage").unwrap();
    let out = run(&["--module", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("compiling"));
}

#[test]
fn help_lists_the_runtimes() {
    let out = std::process::Command::new(crate::support::paths::gateway_host())
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for name in [
        "wasmtime_embedded",
        "wasmtime",
        "wasmedge",
        "WASM_RUNTIME",
        "--runtime-bin",
    ] {
        assert!(help.contains(name), "--help lacks {name}:\n{help}");
    }
}
