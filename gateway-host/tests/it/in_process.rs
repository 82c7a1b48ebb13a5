//! What every in-process runtime does alike, run over each of them
//! (embedded, pooled, lean and recycled Wasmtime): the same answers, the
//! same limits within their bounds, a fresh start for every request, and
//! the same refusals at load. Each runtime's own file has only what is its
//! own (the pool's slots, lean's errnos, recycled's kept instance); the
//! hostile corpus (`hostile.rs`) runs over these and the CLI runtimes.

use std::time::{Duration, Instant};

use crate::support::{
    assert_echoes, assert_still_serves, modules, tight_limits as limits, EARLY, TIMEOUT,
};
use gateway_host::{
    lean, pooled, recycled, EmbeddedTransform, LeanTransform, Limits, PooledTransform,
    RecycledTransform,
};
use gateway_native::{Transform, TransformError};

#[derive(Debug, Clone, Copy)]
enum Rt {
    Embedded,
    Pooled,
    Lean,
    Recycled,
}

const ALL: [Rt; 4] = [Rt::Embedded, Rt::Pooled, Rt::Lean, Rt::Recycled];

impl Rt {
    /// The name a gateway reports for it.
    fn name(self) -> &'static str {
        match self {
            Rt::Embedded => "wasmtime_embedded",
            Rt::Pooled => "wasmtime_pooled",
            Rt::Lean => "wasmtime_lean",
            Rt::Recycled => "wasmtime_recycled",
        }
    }

    /// The runtime over a module in text form, as its variant loads it
    /// (compiled in its own engine; recycled prepares it first).
    fn load(self, wat: &str, limits: Limits) -> anyhow::Result<Box<dyn Transform>> {
        Ok(match self {
            Rt::Embedded => Box::new(EmbeddedTransform::new(wat.as_bytes(), limits)?),
            Rt::Pooled => {
                let engine = pooled::engine()?;
                let module = wasmtime::Module::new(&engine, wat)?;
                Box::new(PooledTransform::new(&engine, &module, limits)?)
            }
            Rt::Lean => {
                let engine = lean::engine()?;
                let module = wasmtime::Module::new(&engine, wat)?;
                Box::new(LeanTransform::new(&engine, &module, limits)?)
            }
            Rt::Recycled => Box::new(RecycledTransform::from_wasm(
                &recycled::engine()?,
                wat.as_bytes(),
                limits,
            )?),
        })
    }

    fn transform(self) -> Box<dyn Transform> {
        self.load(modules::BEHAVIOURS, limits())
            .unwrap_or_else(|e| panic!("{self:?}: {e:#}"))
    }
}

#[test]
fn echoes_with_the_prefix() {
    for rt in ALL {
        let mut t = rt.transform();
        assert_eq!(t.name(), rt.name());
        assert_echoes(&mut *t);
    }
}

#[test]
fn misbehaviours_are_errors_within_their_bounds() {
    for rt in ALL {
        let mut t = rt.transform();
        match t.apply(b"!t") {
            Err(TransformError::Trap(msg)) => assert!(msg.contains("unreachable"), "{rt:?}: {msg}"),
            other => panic!("{rt:?}: expected a trap, got {other:?}"),
        }
        assert_still_serves(&mut *t);
        assert_eq!(t.apply(b"!x"), Err(TransformError::Exit(3)), "{rt:?}");
        assert_still_serves(&mut *t);
        // `proc_exit(0)` is a success.
        assert_eq!(t.apply(b"!z").unwrap(), b"wasm:!z", "{rt:?}");
        // `!f` writes forever: an error long before the deadline, never a
        // truncated answer. wasmtime-wasi's pipe refuses the write past its
        // capacity (the module exits 5); lean's layer ends the call at the
        // write that crosses the cap.
        let start = Instant::now();
        match t.apply(b"!f") {
            Err(TransformError::Exit(5)) => {}
            Err(TransformError::Trap(msg)) if msg.contains("output exceeded") => {}
            other => panic!("{rt:?}: expected the output cap, got {other:?}"),
        }
        assert!(start.elapsed() < TIMEOUT, "{rt:?}: {:?}", start.elapsed());
        assert_still_serves(&mut *t);
        // The epoch ticks every 10 ms: at most one tick early, and well
        // before 5 s.
        let start = Instant::now();
        assert_eq!(
            t.apply(b"!l"),
            Err(TransformError::Timeout { after_ms: 200 }),
            "{rt:?}"
        );
        let took = start.elapsed();
        assert!(took >= TIMEOUT - EARLY, "{rt:?}: {took:?}");
        assert!(took < Duration::from_secs(5), "{rt:?}: {took:?}");
        assert_still_serves(&mut *t);
    }
}

#[test]
fn every_request_starts_from_a_fresh_memory() {
    // `!g` grows memory a page at a time to the 2 MiB cap (32 pages) and
    // exits with the count: a memory that kept its size would give another.
    for rt in ALL {
        let mut t = rt.transform();
        for _ in 0..5 {
            assert_eq!(t.apply(b"!g"), Err(TransformError::Exit(32)), "{rt:?}");
            assert_still_serves(&mut *t);
        }
    }
}

/// Reports what it finds, then changes it: a data segment's byte, a mutable
/// global, a zero byte of its initial memory, its memory's size, and a byte
/// of a page it grows. With `F` as its body it then also grows to 256 MiB and
/// writes every page (as `hostile/touch.wat` does), so a pool slot's reset
/// covers more than it keeps resident. A request seeing anything a previous
/// one wrote would answer differently from the first.
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
    let room = Limits {
        max_memory_bytes: 512 << 20,
        ..Limits::default()
    };
    for rt in ALL {
        let mut t = rt
            .load(REMEMBERS, room)
            .unwrap_or_else(|e| panic!("{rt:?}: {e:#}"));
        for i in 0..20 {
            // Every fifth request fills 256 MiB.
            let body: &[u8] = if i % 5 == 4 { b"F" } else { b"" };
            assert_eq!(t.apply(body).unwrap(), b"Ag010", "{rt:?}: request {i}");
        }
    }
}

#[test]
fn startup_rejects_modules_that_cannot_run() {
    for rt in ALL {
        let err = |wat: &str| match rt.load(wat, limits()) {
            Ok(_) => panic!("{rt:?} accepted {wat}"),
            Err(e) => format!("{e:#}"),
        };
        // Recycled's preparation may refuse it first (it has no memory).
        let bad = err(modules::BAD_IMPORT);
        assert!(
            bad.contains("nope") || bad.contains("for recycling"),
            "{rt:?}: {bad}"
        );
        let no_start = err(modules::NO_START);
        assert!(
            no_start.contains("_start") || no_start.contains("for recycling"),
            "{rt:?}: {no_start}"
        );
    }
}
