//! The lean transform's own tests (`wasmtime_lean`): its minimal WASI
//! layer's calls answer errnos (never panicking), a module that imports what
//! the layer lacks or mistypes is refused at load, and the real modules run
//! on it. The answers, limits and fresh state every in-process runtime
//! shares are in `in_process.rs`.

use crate::support::{modules, paths, tight_limits as limits};
use gateway_host::{lean, LeanTransform, Limits, WithWork};
use gateway_native::{Transform, TransformError};
use gateway_work::Job;

fn from_wat(wat: &str, limits: Limits) -> LeanTransform {
    let engine = lean::engine().unwrap();
    let module = wasmtime::Module::new(&engine, wat).unwrap();
    LeanTransform::new(&engine, &module, limits).expect("module links")
}

/// Calls the layer answers without stdio: each result, as a byte, then
/// what some calls wrote. Every unsupported call is an errno, not a trap.
const CALLS: &str = r#"
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_sizes_get"
    (func $args_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_sizes_get"
    (func $environ_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_fdstat_get"
    (func $fd_fdstat_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_prestat_get"
    (func $fd_prestat_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "random_get"
    (func $random_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "clock_time_get"
    (func $clock_time_get (param i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open"
    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "poll_oneoff"
    (func $poll_oneoff (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read"
    (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func $put (param $at i32) (param $errno i32)
    (i32.store8 (i32.add (i32.const 1000) (local.get $at)) (local.get $errno)))
  (func (export "_start")
    (call $put (i32.const 0) (call $args_sizes_get (i32.const 100) (i32.const 104)))
    (call $put (i32.const 1) (call $environ_sizes_get (i32.const 108) (i32.const 112)))
    (call $put (i32.const 2) (call $fd_fdstat_get (i32.const 1) (i32.const 200)))
    (call $put (i32.const 3) (call $fd_fdstat_get (i32.const 5) (i32.const 200)))
    (call $put (i32.const 4) (call $fd_prestat_get (i32.const 3) (i32.const 200)))
    (call $put (i32.const 5) (call $random_get (i32.const 300) (i32.const 32)))
    (call $put (i32.const 6) (call $random_get (i32.const 65530) (i32.const 32)))
    (call $put (i32.const 7) (call $clock_time_get (i32.const 1) (i64.const 1) (i32.const 400)))
    (call $put (i32.const 8) (call $clock_time_get (i32.const 9) (i64.const 1) (i32.const 400)))
    (call $put (i32.const 9)
      (call $path_open (i32.const 3) (i32.const 0) (i32.const 0) (i32.const 0)
        (i32.const 0) (i64.const 0) (i64.const 0) (i32.const 0) (i32.const 400)))
    (call $put (i32.const 10) (call $fd_write (i32.const 7) (i32.const 0) (i32.const 0) (i32.const 8)))
    ;; One fd_read subscription on stdin: ready at once.
    (i32.store8 (i32.const 508) (i32.const 1))
    (call $put (i32.const 11)
      (call $poll_oneoff (i32.const 500) (i32.const 600) (i32.const 1) (i32.const 700)))
    (call $put (i32.const 12) (i32.load8_u (i32.const 700)))
    (call $put (i32.const 13) (call $fd_read (i32.const 1) (i32.const 0) (i32.const 0) (i32.const 8)))
    ;; An iovec pointing past the end of memory.
    (i32.store (i32.const 16) (i32.const 65535))
    (i32.store (i32.const 20) (i32.const 100))
    (call $put (i32.const 14) (call $fd_read (i32.const 0) (i32.const 16) (i32.const 1) (i32.const 8)))
    (i32.store (i32.const 0) (i32.const 1000))
    (i32.store (i32.const 4) (i32.const 15))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
"#;

#[test]
fn the_layer_answers_errnos() {
    let mut t = from_wat(CALLS, limits());
    let out = t.apply(b"body").unwrap();
    // 0 success, 8 EBADF, 21 EFAULT, 28 EINVAL, 52 ENOSYS.
    assert_eq!(
        out,
        [0, 0, 0, 8, 8, 0, 21, 0, 28, 52, 8, 0, 1, 8, 21],
        "{out:?}"
    );
}

#[test]
fn startup_rejects_modules_that_cannot_run() {
    let engine = lean::engine().unwrap();
    let bad = wasmtime::Module::new(&engine, modules::BAD_IMPORT).unwrap();
    let err = format!(
        "{:#}",
        LeanTransform::new(&engine, &bad, limits()).err().unwrap()
    );
    assert!(err.contains("linking") && err.contains("nope"), "{err}");
    // A preview1 function with the wrong signature does not link either.
    let mistyped = r#"(module
      (import "wasi_snapshot_preview1" "fd_write" (func (param i32)))
      (memory (export "memory") 1)
      (func (export "_start")))"#;
    let mistyped = wasmtime::Module::new(&engine, mistyped).unwrap();
    let err = format!(
        "{:#}",
        LeanTransform::new(&engine, &mistyped, limits())
            .err()
            .unwrap()
    );
    assert!(err.contains("fd_write"), "{err}");
    let no_start = wasmtime::Module::new(&engine, modules::NO_START).unwrap();
    let err = format!(
        "{:#}",
        LeanTransform::new(&engine, &no_start, limits())
            .err()
            .unwrap()
    );
    assert!(err.contains("_start"), "{err}");
    let missing = LeanTransform::from_file(&engine, "/nonexistent/m.cwasm".as_ref(), limits());
    assert!(format!("{:#}", missing.err().unwrap()).contains("/nonexistent/m.cwasm"));
}

/// Both real modules link against the layer (every import they have is
/// one it defines), from `.cwasm` files made by `lean::precompile` and by
/// `pooled::precompile` (the build's: the engines compile alike).
#[test]
fn the_real_modules_run_from_their_cwasm() {
    let dir = paths::TempDir::new("lean");
    let engine = lean::engine().unwrap();
    for (name, cwasm) in [
        (
            "lean",
            lean::precompile as fn(&[u8]) -> anyhow::Result<Vec<u8>>,
        ),
        ("pooled", gateway_host::pooled::precompile),
    ] {
        let load = |wasm: std::path::PathBuf| {
            let file = dir.path().join(format!(
                "{}.{name}.cwasm",
                wasm.file_stem().unwrap().to_str().unwrap()
            ));
            std::fs::write(&file, cwasm(&std::fs::read(&wasm).unwrap()).unwrap()).unwrap();
            LeanTransform::from_file(&engine, &file, Limits::default()).unwrap()
        };
        let study = load(paths::gateway_wasm());
        let work = load(paths::gateway_work());
        let mut t = WithWork::new(Box::new(study), Some(Box::new(work)));
        assert_eq!(t.apply(b"hello").unwrap(), b"wasm:hello");
        assert_eq!(t.apply(b"").unwrap(), b"wasm:");
        for iters in [1, 7, 2000] {
            let out = t.work(&Job::Chain { iters }).unwrap();
            let native = gateway_native::compute_chain(iters);
            assert_eq!(out, format!("wasm:{native}").as_bytes(), "iters {iters}");
        }
        let json = Job::Json {
            document: gateway_work::ORDER.as_bytes(),
        };
        let native = json.run().unwrap();
        assert_eq!(t.work(&json).unwrap(), [b"wasm:", &native[..]].concat());
        // A document the transform cannot read: the module's exit status
        // (after its message on stderr, which the layer discards).
        let bad = Job::Json { document: b"{" };
        assert_eq!(t.work(&bad), Err(TransformError::Exit(65)));
    }
}
