//! A module asleep in a host call, end to end: the `gateway-host` binary
//! serving `gateway-wasm/hostile/sleep.wat` (one 10 s WASI `poll_oneoff`)
//! with `--wasm-timeout-ms 1000` answers 500 at about 1 s, and the
//! single-threaded gateway is free again: `/health` answers at once after
//! it, and one queued behind the sleeping request is answered at the
//! deadline, not 10 s later. For each in-process runtime (embedded, pooled
//! and lean), where epoch interruption alone would not reach the sleep.

use std::time::{Duration, Instant};

use crate::support::gateway::{self, Gateway};
use crate::support::{hostile_module, EARLY};

const TIMEOUT: Duration = Duration::from_millis(1000);
/// How late: the hostile corpus allows 100 ms for the call alone; this adds
/// the HTTP exchange and a busy 2-core machine.
const LATE: Duration = Duration::from_millis(400);
/// `/health` on an idle gateway: no Wasm is involved.
const PROMPT: Duration = Duration::from_millis(200);

fn check(runtime: &str) {
    let module = hostile_module("sleep");
    let mut gw = Gateway::start(&[
        "--runtime",
        runtime,
        "--module",
        module.to_str().unwrap(),
        "--wasm-timeout-ms",
        "1000",
    ]);
    let addr = gw.addr;

    // One sleeping request alone.
    let started = Instant::now();
    let (status, body) = gw.get("/");
    let sleep_took = started.elapsed();
    let body = String::from_utf8_lossy(&body);
    assert_eq!(status, 500, "{runtime}: {body} after {sleep_took:?}");
    assert!(body.contains("deadline"), "{runtime}: {body}");
    assert!(
        sleep_took >= TIMEOUT - EARLY && sleep_took <= TIMEOUT + LATE,
        "{runtime}: 500 after {sleep_took:?}, expected about {TIMEOUT:?}"
    );
    let started = Instant::now();
    assert_eq!(gw.get("/health"), (200, b"ok".to_vec()), "{runtime}");
    let health_took = started.elapsed();
    assert!(
        health_took < PROMPT,
        "{runtime}: /health after {health_took:?}"
    );

    // A /health queued behind a sleeping request waits for its deadline
    // only.
    let started = Instant::now();
    let sleeper = std::thread::spawn(move || gateway::get(addr, "/"));
    std::thread::sleep(Duration::from_millis(100));
    let health = gateway::get(addr, "/health");
    let health_at = started.elapsed();
    let (status, _) = sleeper.join().unwrap();
    assert_eq!(status, 500, "{runtime}");
    assert_eq!(health, (200, b"ok".to_vec()), "{runtime}");
    assert!(
        health_at >= TIMEOUT - EARLY && health_at <= TIMEOUT + LATE,
        "{runtime}: queued /health after {health_at:?}, expected about {TIMEOUT:?}"
    );
    assert!(gw.alive(), "{runtime}");
    eprintln!("{runtime}: sleep 500 after {sleep_took:?}, /health after {health_took:?}, queued /health at {health_at:?}");
}

#[test]
fn embedded_cuts_a_sleep_at_the_deadline_and_serves_on() {
    check("wasmtime_embedded");
}

#[test]
fn pooled_cuts_a_sleep_at_the_deadline_and_serves_on() {
    check("wasmtime_pooled");
}

#[test]
fn lean_cuts_a_sleep_at_the_deadline_and_serves_on() {
    check("wasmtime_lean");
}

#[test]
fn recycled_cuts_a_sleep_at_the_deadline_and_serves_on() {
    check("wasmtime_recycled");
}
