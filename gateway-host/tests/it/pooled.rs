//! The pooled transform's own tests (`wasmtime_pooled`): more calls than
//! the pool has slots, `.cwasm` files loaded as they are, the work module.
//! The answers, limits and fresh memories every in-process runtime shares
//! are in `in_process.rs`.

use crate::support::{modules, paths, tight_limits as limits};
use gateway_host::{pooled, Limits, PooledTransform, WithWork};
use gateway_native::{Transform, TransformError};
use gateway_work::Job;

fn transform() -> PooledTransform {
    let engine = pooled::engine().unwrap();
    let module = wasmtime::Module::new(&engine, modules::BEHAVIOURS).unwrap();
    PooledTransform::new(&engine, &module, limits()).expect("module links")
}

#[test]
fn more_calls_than_pool_slots() {
    let mut t = transform();
    for i in 0..100 {
        let body = format!("call {i}");
        assert_eq!(
            t.apply(body.as_bytes()).unwrap(),
            format!("wasm:{body}").as_bytes()
        );
    }
}

#[test]
fn startup_rejects_modules_that_cannot_run() {
    let engine = pooled::engine().unwrap();
    let bad = wasmtime::Module::new(&engine, modules::BAD_IMPORT).unwrap();
    let err = format!(
        "{:#}",
        PooledTransform::new(&engine, &bad, limits()).err().unwrap()
    );
    assert!(err.contains("linking") && err.contains("nope"), "{err}");
    let no_start = wasmtime::Module::new(&engine, modules::NO_START).unwrap();
    let err = format!(
        "{:#}",
        PooledTransform::new(&engine, &no_start, limits())
            .err()
            .unwrap()
    );
    assert!(err.contains("_start"), "{err}");
    let missing = PooledTransform::from_file(&engine, "/nonexistent/m.cwasm".as_ref(), limits());
    assert!(format!("{:#}", missing.err().unwrap()).contains("/nonexistent/m.cwasm"));
}

/// The build's path: the real module precompiled to a `.cwasm` file, loaded
/// without compiling; a damaged file is refused, never run.
#[test]
fn the_real_module_runs_from_its_cwasm() {
    let dir = paths::TempDir::new("pooled");
    let wasm = std::fs::read(paths::gateway_wasm()).unwrap();
    let cwasm = pooled::precompile(&wasm).unwrap();
    let file = dir.path().join("gateway-wasm.pooled.cwasm");
    std::fs::write(&file, &cwasm).unwrap();

    let engine = pooled::engine().unwrap();
    let mut t = PooledTransform::from_file(&engine, &file, Limits::default()).unwrap();
    assert_eq!(t.apply(b"hello").unwrap(), b"wasm:hello");
    assert_eq!(t.apply(b"").unwrap(), b"wasm:");

    let mut damaged = cwasm.clone();
    let at = damaged.len() / 2;
    damaged.truncate(at);
    let bad = dir.path().join("damaged.cwasm");
    std::fs::write(&bad, &damaged).unwrap();
    assert!(PooledTransform::from_file(&engine, &bad, Limits::default()).is_err());
}

/// The work module in the pooled runtime: the chain and the JSON transform
/// done in Wasm, byte for byte what the native code gives (plus `wasm:`).
#[test]
fn the_work_module_does_the_work() {
    let engine = pooled::engine().unwrap();
    let study = PooledTransform::from_file(&engine, &paths::gateway_wasm(), Limits::default());
    let work = PooledTransform::from_file(&engine, &paths::gateway_work(), Limits::default());
    let mut t = WithWork::new(Box::new(study.unwrap()), Some(Box::new(work.unwrap())));
    assert_eq!(t.apply(b"hello").unwrap(), b"wasm:hello");
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
    // A document the transform cannot read: the module's exit status.
    let bad = Job::Json { document: b"{" };
    assert_eq!(t.work(&bad), Err(TransformError::Exit(65)));
    // Without a work module: a 500's error, never native work.
    let mut alone = WithWork::new(Box::new(transform()), None);
    assert!(matches!(
        alone.work(&Job::Chain { iters: 1 }),
        Err(TransformError::Runtime(_))
    ));
}

/// The work module is loaded on the first work request (so cold starts
/// measure the study's module alone), once; a failed load is a 500's error
/// on every work request, and the study's module keeps serving.
#[test]
fn the_work_module_loads_on_first_use_and_once() {
    use std::cell::Cell;
    use std::rc::Rc;
    let calls = Rc::new(Cell::new(0));
    let counted = Rc::clone(&calls);
    let mut t = WithWork::lazy(
        Box::new(transform()),
        Box::new(move || {
            counted.set(counted.get() + 1);
            anyhow::bail!("no such module")
        }),
    );
    assert_eq!(calls.get(), 0);
    for _ in 0..3 {
        match t.work(&Job::Chain { iters: 1 }) {
            Err(TransformError::Runtime(msg)) => assert!(msg.contains("no such module"), "{msg}"),
            other => panic!("expected the load error, got {other:?}"),
        }
    }
    assert_eq!(calls.get(), 1);
    assert_eq!(t.apply(b"hello").unwrap(), b"wasm:hello");

    let mut t = WithWork::lazy(
        Box::new(transform()),
        Box::new(|| Ok(Box::new(transform()) as Box<dyn Transform>)),
    );
    assert_eq!(
        t.work(&Job::Chain { iters: 3 }).unwrap(),
        b"wasm:sha256-chain 3"
    );
}
