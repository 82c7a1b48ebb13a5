//! The lean transform (`wasmtime_lean`): the pooled transform's answers and
//! bounds with its own minimal WASI layer; every request still a fresh
//! instance whose memory and globals start from the module's image, the
//! layer's calls answering errnos (never panicking), and a module that
//! imports what the layer lacks refused at load.

use std::time::{Duration, Instant};

use crate::support::{
    assert_echoes, assert_still_serves, modules, paths, tight_limits as limits, EARLY, TIMEOUT,
};
use gateway_host::{lean, LeanTransform, Limits, WithWork};
use gateway_native::{Transform, TransformError};
use gateway_work::Job;

fn from_wat(wat: &str, limits: Limits) -> LeanTransform {
    let engine = lean::engine().unwrap();
    let module = wasmtime::Module::new(&engine, wat).unwrap();
    LeanTransform::new(&engine, &module, limits).expect("module links")
}

fn transform() -> LeanTransform {
    from_wat(modules::BEHAVIOURS, limits())
}

#[test]
fn echoes_with_the_prefix() {
    let mut t = transform();
    assert_eq!(t.name(), "wasmtime_lean");
    assert_echoes(&mut t);
}

#[test]
fn misbehaviours_are_errors_within_their_bounds() {
    let mut t = transform();
    match t.apply(b"!t") {
        Err(TransformError::Trap(msg)) => assert!(msg.contains("unreachable"), "{msg}"),
        other => panic!("expected a trap, got {other:?}"),
    }
    assert_still_serves(&mut t);
    assert_eq!(t.apply(b"!x"), Err(TransformError::Exit(3)));
    assert_eq!(t.apply(b"!z").unwrap(), b"wasm:!z");
    // `!f` writes forever: over the cap is an error (the module's own exit
    // status never comes: the write that crosses the cap ends it).
    match t.apply(b"!f") {
        Err(TransformError::Trap(msg)) => assert!(msg.contains("output exceeded"), "{msg}"),
        other => panic!("expected the output cap, got {other:?}"),
    }
    let start = Instant::now();
    assert_eq!(
        t.apply(b"!l"),
        Err(TransformError::Timeout { after_ms: 200 })
    );
    let took = start.elapsed();
    assert!(took >= TIMEOUT - EARLY, "{took:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert_still_serves(&mut t);
}

#[test]
fn every_call_gets_a_fresh_memory_from_the_pool() {
    // `!g` grows memory to the cap: a reused slot that kept its size would
    // report a different count.
    let mut t = transform();
    for _ in 0..5 {
        assert_eq!(t.apply(b"!g"), Err(TransformError::Exit(32)));
        assert_still_serves(&mut t);
    }
}

/// Reports what it finds, then changes it: a data segment's byte, a mutable
/// global, a zero byte of its initial memory, its memory's size, and a byte
/// of a page it grows. With `F` as its body it then also grows to 256 MiB and
/// writes every page (as `hostile/touch.wat` does), more than the slot keeps
/// resident, so both ways a slot is reset (dirty pages restored, the rest
/// decommitted) are exercised. A request seeing anything a previous one
/// wrote would answer differently from the first.
const REMEMBERS: &str = r#"
(module
  (import "wasi_snapshot_preview1" "fd_read"
    (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $g (mut i32) (i32.const 103)) ;; 'g'
  (data (i32.const 100) "A")
  (func (export "_start")
    (local $p i32)
    (i32.store8 (i32.const 200) (i32.load8_u (i32.const 100)))
    (i32.store8 (i32.const 201) (global.get $g))
    (i32.store8 (i32.const 202) (i32.add (i32.const 48) (i32.load8_u (i32.const 40000))))
    (i32.store8 (i32.const 203) (i32.add (i32.const 48) (memory.size)))
    (drop (memory.grow (i32.const 1)))
    (i32.store8 (i32.const 204) (i32.add (i32.const 48) (i32.load8_u (i32.const 65544))))
    ;; Now leave traces everywhere.
    (i32.store8 (i32.const 100) (i32.const 66))
    (global.set $g (i32.const 104))
    (i32.store8 (i32.const 40000) (i32.const 7))
    (i32.store8 (i32.const 65544) (i32.const 9))
    (i32.store (i32.const 0) (i32.const 300))
    (i32.store (i32.const 4) (i32.const 1))
    (drop (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
    (if (i32.eq (i32.load8_u (i32.const 300)) (i32.const 70)) ;; 'F'
      (then
        (if (i32.eq (memory.grow (i32.const 4094)) (i32.const -1))
          (then unreachable))
        (local.set $p (i32.const 131072))
        (loop $touch
          (i32.store8 (local.get $p) (i32.const 7))
          (local.set $p (i32.add (local.get $p) (i32.const 4096)))
          (br_if $touch (i32.lt_u (local.get $p) (i32.const 268435456))))))
    (i32.store (i32.const 0) (i32.const 200))
    (i32.store (i32.const 4) (i32.const 5))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
"#;

#[test]
fn no_request_sees_what_the_previous_one_wrote() {
    let mut t = from_wat(REMEMBERS, limits());
    for i in 0..20 {
        assert_eq!(t.apply(b"").unwrap(), b"Ag010", "request {i}");
    }
}

/// After a request that wrote 256 MiB (its slot then reset by restoring
/// what fits in the resident part and decommitting the rest), the next
/// request of the same module (the slot is reused: the pool prefers the
/// module's most recent one) starts from the image again.
#[test]
fn a_memory_filled_by_one_request_is_fresh_for_the_next() {
    let roomy = Limits {
        max_memory_bytes: 512 << 20,
        ..Limits::default()
    };
    let mut t = from_wat(REMEMBERS, roomy);
    for i in 0..3 {
        assert_eq!(t.apply(b"F").unwrap(), b"Ag010", "filling request {i}");
        assert_eq!(t.apply(b"").unwrap(), b"Ag010", "request after fill {i}");
    }
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
