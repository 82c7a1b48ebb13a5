//! The embedded Wasmtime transform against hand-written modules: every
//! misbehaviour becomes the right error within its bound, and the same
//! transform then serves a good call.

use std::time::{Duration, Instant};

use crate::support::{assert_echoes, assert_still_serves, modules, tight_limits, EARLY, TIMEOUT};
use gateway_host::{EmbeddedTransform, Limits};
use gateway_native::{Transform, TransformError};

fn transform() -> EmbeddedTransform {
    EmbeddedTransform::new(modules::BEHAVIOURS.as_bytes(), tight_limits()).expect("module compiles")
}

#[test]
fn echoes_with_the_prefix() {
    let mut t = transform();
    assert_eq!(t.name(), "wasmtime_embedded");
    assert_echoes(&mut t);
}

#[test]
fn each_call_gets_a_fresh_instance() {
    // `!g` grows memory to the cap; if the instance were reused, the next
    // grow would be refused at once and report the same count.
    let mut t = transform();
    for _ in 0..3 {
        assert_eq!(t.apply(b"!g"), Err(TransformError::Exit(32)));
    }
}

#[test]
fn proc_exit_zero_is_success() {
    let mut t = transform();
    assert_eq!(t.apply(b"!z").unwrap(), b"wasm:!z");
}

#[test]
fn a_trap_is_reported_and_survived() {
    let mut t = transform();
    match t.apply(b"!t") {
        Err(TransformError::Trap(msg)) => assert!(msg.contains("unreachable"), "{msg}"),
        other => panic!("expected a trap, got {other:?}"),
    }
    assert_still_serves(&mut t);
}

#[test]
fn an_endless_loop_times_out() {
    let mut t = transform();
    let start = Instant::now();
    let result = t.apply(b"!l");
    let took = start.elapsed();
    assert_eq!(result, Err(TransformError::Timeout { after_ms: 200 }));
    // The epoch ticks every 10 ms: at most one tick early, and well before 5 s.
    assert!(took >= TIMEOUT - EARLY, "{took:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert_still_serves(&mut t);
}

#[test]
fn memory_growth_stops_at_the_cap() {
    let mut t = transform();
    // Two initial pages, then grown a page at a time until refused at the
    // 2 MiB cap: 32 pages of 64 KiB.
    assert_eq!(t.apply(b"!g"), Err(TransformError::Exit(32)));
    assert_still_serves(&mut t);
}

#[test]
fn proc_exit_is_the_exit_status() {
    let mut t = transform();
    assert_eq!(t.apply(b"!x"), Err(TransformError::Exit(3)));
    assert_still_serves(&mut t);
}

#[test]
fn stdout_is_capped() {
    let mut t = transform();
    let start = Instant::now();
    let result = t.apply(b"!f");
    // The pipe refuses writes past its capacity; the module sees a failed
    // write (and exits 5) long before its deadline.
    assert_eq!(result, Err(TransformError::Exit(5)));
    assert!(start.elapsed() < TIMEOUT, "{:?}", start.elapsed());
    assert_still_serves(&mut t);
}

#[test]
fn startup_rejects_modules_that_cannot_run() {
    let limits = Limits::default();
    let err = |m: &str| match EmbeddedTransform::new(m.as_bytes(), limits) {
        Ok(_) => panic!("accepted {m}"),
        Err(e) => format!("{e:#}"),
    };
    assert!(err("(module").contains("compiling"), "{}", err("(module"));
    let bad = err(modules::BAD_IMPORT);
    assert!(bad.contains("linking") && bad.contains("nope"), "{bad}");
    assert!(err(modules::NO_START).contains("_start"));
    let missing = match EmbeddedTransform::from_file("/nonexistent/m.wasm".as_ref(), limits) {
        Ok(_) => panic!("accepted a missing file"),
        Err(e) => format!("{e:#}"),
    };
    assert!(missing.contains("/nonexistent/m.wasm"), "{missing}");
}

#[test]
fn epoch_threads_end_with_their_engine() {
    fn epoch_threads() -> usize {
        std::fs::read_dir("/proc/self/task")
            .unwrap()
            .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
            .filter(|name| name.trim() == "wasm-epoch")
            .count()
    }
    for _ in 0..20 {
        let t = EmbeddedTransform::new(modules::SPIN.as_bytes(), Limits::default()).unwrap();
        drop(t);
    }
    std::thread::sleep(Duration::from_millis(100));
    // Tests running alongside may hold a transform or two; not 20.
    let n = epoch_threads();
    assert!(n <= 4, "{n} epoch threads left");
}
