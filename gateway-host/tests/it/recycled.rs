//! The recycled transform (`wasmtime_recycled`): lean's answers and bounds on
//! one kept instance, which every request finds as a fresh instance would
//! be (memory, mutable globals, what a start function did), which is
//! dropped for a fresh one after any failure or a memory that grew, and
//! which only a module prepared at build time can have.

use std::time::{Duration, Instant};

use crate::support::{
    assert_echoes, assert_still_serves, modules, paths, tight_limits as limits, EARLY, TIMEOUT,
};
use gateway_host::recycled;
use gateway_host::{Limits, RecycledTransform, Residency, WithWork};
use gateway_native::{Transform, TransformError};
use gateway_work::Job;

fn from_wat(wat: &str, limits: Limits) -> RecycledTransform {
    let engine = recycled::engine().unwrap();
    RecycledTransform::from_wasm(&engine, wat.as_bytes(), limits).expect("module prepares")
}

fn transform() -> RecycledTransform {
    from_wat(modules::BEHAVIOURS, limits())
}

#[test]
fn echoes_with_the_prefix_on_one_instance() {
    let mut t = transform();
    assert_eq!(t.name(), "wasmtime_recycled");
    assert_echoes(&mut t);
    // A long body, then a short one: nothing of the first shows in the second.
    let long = vec![b'x'; 60_000];
    assert_eq!(t.apply(&long).unwrap().len(), 60_005);
    assert_eq!(t.apply(b"ab").unwrap(), b"wasm:ab");
    let stats = t.stats();
    assert_eq!((stats.instantiated, stats.reused), (1, 4), "{stats:?}");
    // Where the kernel can scan, it put back (or gave back) pages, not the
    // whole 128 KiB.
    let touched = stats.last_restored_bytes + stats.last_released_bytes;
    assert!(touched > 0, "{stats:?}");
    if t.scans_pages() {
        assert!(touched < 128 << 10, "{stats:?}");
    } else {
        eprintln!("recycled: no PAGEMAP_SCAN here: whole memories are restored");
        assert_eq!(stats.last_restored_bytes, 128 << 10, "{stats:?}");
    }
}

#[test]
fn misbehaviours_are_errors_and_the_next_request_gets_a_fresh_instance() {
    let mut t = transform();
    assert_still_serves(&mut t);
    match t.apply(b"!t") {
        Err(TransformError::Trap(msg)) => assert!(msg.contains("unreachable"), "{msg}"),
        other => panic!("expected a trap, got {other:?}"),
    }
    assert_still_serves(&mut t);
    assert_eq!(t.stats().instantiated, 2, "a trap drops the instance");
    assert_eq!(t.apply(b"!x"), Err(TransformError::Exit(3)));
    assert_still_serves(&mut t);
    assert_eq!(t.stats().instantiated, 3, "a non-zero exit drops it");
    // `proc_exit(0)` is a success: the instance is kept.
    assert_eq!(t.apply(b"!z").unwrap(), b"wasm:!z");
    assert_still_serves(&mut t);
    assert_eq!(t.stats().instantiated, 3, "proc_exit(0) keeps it");
    match t.apply(b"!f") {
        Err(TransformError::Trap(msg)) => assert!(msg.contains("output exceeded"), "{msg}"),
        other => panic!("expected the output cap, got {other:?}"),
    }
    assert_still_serves(&mut t);
    let start = Instant::now();
    assert_eq!(
        t.apply(b"!l"),
        Err(TransformError::Timeout { after_ms: 200 })
    );
    let took = start.elapsed();
    assert!(took >= TIMEOUT - EARLY, "{took:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert_still_serves(&mut t);
    assert_eq!(t.stats().instantiated, 5, "{:?}", t.stats());
}

#[test]
fn a_memory_that_grew_is_never_seen_again() {
    // `!g` grows to the cap and exits with the page count: on a kept
    // instance that kept its size the count would differ.
    let mut t = transform();
    for _ in 0..5 {
        assert_eq!(t.apply(b"!g"), Err(TransformError::Exit(32)));
        assert_still_serves(&mut t);
    }
    assert_eq!(t.stats().instantiated, 6, "{:?}", t.stats());
}

/// Reports what it finds, then changes it: a data segment's byte, two
/// mutable globals (one i64, one set by the start function), a zero byte
/// of its initial memory in another page, a byte the start function wrote,
/// its memory's size. It exits with `proc_exit(0)` when its body is `z`
/// (leaving its stack pointer global wherever it was). A request that saw
/// anything an earlier one wrote would answer differently from the first.
const REMEMBERS: &str = r#"
(module
  (import "wasi_snapshot_preview1" "fd_read"
    (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 4)
  (global $g (mut i32) (i32.const 103)) ;; 'g'
  (global $wide (mut i64) (i64.const 0x4142))
  (global $set_by_start (mut i32) (i32.const 0))
  (data (i32.const 100) "A")
  (func $init
    (global.set $set_by_start (i32.const 83)) ;; 'S'
    (i32.store8 (i32.const 150) (i32.const 84))) ;; 'T'
  (start $init)
  (func (export "_start")
    (i32.store8 (i32.const 200) (i32.load8_u (i32.const 100)))
    (i32.store8 (i32.const 201) (global.get $g))
    (i32.store8 (i32.const 202) (i32.wrap_i64 (i64.shr_u (global.get $wide) (i64.const 8))))
    (i32.store8 (i32.const 203) (global.get $set_by_start))
    (i32.store8 (i32.const 204) (i32.load8_u (i32.const 150)))
    (i32.store8 (i32.const 205) (i32.add (i32.const 48) (i32.load8_u (i32.const 200000))))
    (i32.store8 (i32.const 206) (i32.add (i32.const 48) (memory.size)))
    ;; Now leave traces everywhere.
    (i32.store8 (i32.const 100) (i32.const 66))
    (global.set $g (i32.const 104))
    (global.set $wide (i64.const 0x5a5a))
    (global.set $set_by_start (i32.const 0))
    (i32.store8 (i32.const 150) (i32.const 0))
    (i32.store8 (i32.const 200000) (i32.const 7))
    (i32.store (i32.const 0) (i32.const 300))
    (i32.store (i32.const 4) (i32.const 1))
    (drop (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
    (i32.store (i32.const 0) (i32.const 200))
    (i32.store (i32.const 4) (i32.const 7))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
    (if (i32.eq (i32.load8_u (i32.const 300)) (i32.const 122)) ;; 'z'
      (then (call $proc_exit (i32.const 0)))))
)
"#;

#[test]
fn no_request_sees_what_the_previous_one_wrote() {
    for residency in [Residency::Release, Residency::Keep] {
        let mut t = from_wat(REMEMBERS, limits()).with_residency(residency);
        for i in 0..20 {
            let body: &[u8] = if i % 3 == 0 { b"z" } else { b"" };
            assert_eq!(
                t.apply(body).unwrap(),
                b"AgAST04",
                "{residency:?} request {i}"
            );
        }
        let stats = t.stats();
        assert_eq!((stats.instantiated, stats.reused), (1, 19), "{stats:?}");
        if t.scans_pages() && residency == Residency::Keep {
            // Most restores knew the pages without a scan (no page fault).
            assert!(stats.scans < 20, "{stats:?}");
        }
    }
}

/// Reads, then writes, a byte in the page its body names (`0`..`3`, one
/// per 64 KiB Wasm page): a page no earlier request wrote must be found
/// and put back too, whether or not the restore before it scanned.
const PAGE_BY_BODY: &str = r#"
(module
  (import "wasi_snapshot_preview1" "fd_read"
    (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 4)
  (func (export "_start")
    (local $at i32)
    (i32.store (i32.const 0) (i32.const 16))
    (i32.store (i32.const 4) (i32.const 1))
    (drop (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
    (local.set $at (i32.add (i32.const 40000)
      (i32.mul (i32.sub (i32.load8_u (i32.const 16)) (i32.const 48)) (i32.const 65536))))
    (i32.store8 (i32.const 20) (i32.add (i32.const 48) (i32.load8_u (local.get $at))))
    (i32.store8 (local.get $at) (i32.const 7))
    (i32.store (i32.const 0) (i32.const 20))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
"#;

#[test]
fn a_page_first_written_late_is_put_back_too() {
    for residency in [Residency::Release, Residency::Keep] {
        let mut t = from_wat(PAGE_BY_BODY, limits()).with_residency(residency);
        for body in ["1", "1", "1", "3", "3", "1", "2", "0", "2", "3", "0"] {
            let out = t.apply(body.as_bytes()).unwrap();
            assert_eq!(out, b"0", "{residency:?} body {body}");
        }
        assert_eq!(t.stats().instantiated, 1, "{:?}", t.stats());
    }
}

/// A module that claims to be prepared (it exports the marker and the
/// memory under recycled's names) but keeps an unexported mutable global
/// and sets a table: what `--runtime wasmtime_lean --precompile-to` would
/// compile as it is.
const FORGED: &str = r#"(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $hidden (mut i32) (i32.const 48))
  (table 1 funcref)
  (elem declare func $start)
  (func $start (export "_start")
    (global.set $hidden (i32.add (global.get $hidden) (i32.const 1)))
    (table.set 0 (i32.const 0) (ref.func $start)))
  (export "__wgb_recycled" (func $start))
  (export "__wgb_memory" (memory 0)))"#;

#[test]
fn only_a_prepared_module_is_recycled() {
    let engine = recycled::engine().unwrap();
    let dir = paths::TempDir::new("recycled-forged");
    // Compiled by another runtime's precompile: Wasmtime's header check
    // refuses it (recycled's engine stamps its own version), whatever it
    // exports.
    for (name, cwasm) in [
        (
            "lean",
            gateway_host::lean::precompile(FORGED.as_bytes()).unwrap(),
        ),
        (
            "pooled",
            gateway_host::pooled::precompile(FORGED.as_bytes()).unwrap(),
        ),
    ] {
        let file = dir.path().join(format!("forged.{name}.cwasm"));
        std::fs::write(&file, cwasm).unwrap();
        let err = format!(
            "{:#}",
            RecycledTransform::from_file(&engine, &file, limits())
                .err()
                .unwrap()
        );
        assert!(
            err.contains("not a module prepared for recycling")
                && err.contains("--runtime wasmtime_recycled")
                && err.contains("--precompile-to"),
            "{name}: {err}"
        );
    }
    // Its own preparation refuses it, naming why.
    let err = format!("{:#}", recycled::precompile(FORGED.as_bytes()).unwrap_err());
    assert!(
        err.contains("reserves") || err.contains("table.set"),
        "{err}"
    );
    // A module that changes a table: refused when prepared, naming why.
    let dir = paths::TempDir::new("recycled-refused");
    let file = dir.path().join("table.wat");
    std::fs::write(
        &file,
        r#"(module (memory (export "memory") 1) (table 1 funcref)
             (func (export "_start") (table.set 0 (i32.const 0) (ref.null func))))"#,
    )
    .unwrap();
    let err = format!(
        "{:#}",
        RecycledTransform::from_file(&engine, &file, limits())
            .err()
            .unwrap()
    );
    assert!(
        err.contains("table.set") && err.contains("table.wat"),
        "{err}"
    );
    // An import the layer lacks is refused at link time, as under lean.
    let bad = br#"(module (import "env" "nope" (func)) (memory 1) (func (export "_start")))"#;
    let err = format!(
        "{:#}",
        RecycledTransform::from_wasm(&engine, bad, limits())
            .err()
            .unwrap()
    );
    assert!(err.contains("linking") && err.contains("nope"), "{err}");
}

/// Both real modules run from their `.recycled.cwasm` (as `cargo xtask
/// build` makes it), many requests on one instance each, the work module's
/// failure dropping only its own.
#[test]
fn the_real_modules_run_from_their_cwasm() {
    let dir = paths::TempDir::new("recycled");
    let engine = recycled::engine().unwrap();
    let load = |wasm: std::path::PathBuf| {
        let file = dir.path().join(format!(
            "{}.recycled.cwasm",
            wasm.file_stem().unwrap().to_str().unwrap()
        ));
        let cwasm = recycled::precompile(&std::fs::read(&wasm).unwrap()).unwrap();
        std::fs::write(&file, cwasm).unwrap();
        RecycledTransform::from_file(&engine, &file, Limits::default()).unwrap()
    };
    for residency in [Residency::Release, Residency::Keep] {
        real_modules_serve(
            load(paths::gateway_wasm()).with_residency(residency),
            load(paths::gateway_work()).with_residency(residency),
        );
    }
}

fn real_modules_serve(study: RecycledTransform, work: RecycledTransform) {
    let mut t = WithWork::new(Box::new(study), Some(Box::new(work)));
    for round in 0..3 {
        assert_eq!(t.apply(b"hello").unwrap(), b"wasm:hello", "round {round}");
        assert_eq!(t.apply(b"").unwrap(), b"wasm:", "round {round}");
        let long = vec![b'y'; 200_000];
        assert_eq!(t.apply(&long).unwrap().len(), 200_005, "round {round}");
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
        let bad = Job::Json { document: b"{" };
        assert_eq!(t.work(&bad), Err(TransformError::Exit(65)));
    }
}
