//! The embedded Wasmtime transform's own tests: what it refuses at load
//! (a module that does not compile, a missing file) and its epoch threads.
//! The answers and limits every in-process runtime shares are in
//! `in_process.rs`.

use std::time::Duration;

use crate::support::modules;
use gateway_host::{EmbeddedTransform, Limits};

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
