//! One request in-process, the part `embedded` and `pooled` share: a fresh
//! store with a fresh WASI preview1 context (the body on stdin, stdout in
//! memory), its limits and deadline, the call of `_start`, the failure's
//! classification and the output. The two runtimes differ only in how they
//! make the instance (the closure given to [`call`]).
//!
//! The limits hold for the whole call: the deadline covers host calls too
//! (`host_deadline`), and output over the cap is an error, not a truncation.

use std::time::Instant;

use anyhow::Context as _;
use gateway_native::TransformError;
use wasmtime::{Engine, Linker, Store, StoreLimits, StoreLimitsBuilder, Trap, TypedFunc};
use wasmtime_wasi::p1::{self, WasiP1Ctx};
use wasmtime_wasi::p2::pipe::{MemoryInputPipe, MemoryOutputPipe};
use wasmtime_wasi::{I32Exit, WasiCtxBuilder};

use crate::host_deadline;
use crate::limits::Limits;

/// One request's store data: its WASI context, its resource limits, and when
/// it started and must end.
pub(crate) struct RequestState {
    wasi: WasiP1Ctx,
    limits: StoreLimits,
    started: Instant,
    deadline: Instant,
}

/// Adds WASI preview1 to `linker`, with `poll_oneoff` bounded by the
/// request's deadline (epoch interruption does not reach a module blocked in
/// a host call).
pub(crate) fn link_wasi(linker: &mut Linker<RequestState>) -> anyhow::Result<()> {
    p1::add_to_linker_sync(linker, |state: &mut RequestState| &mut state.wasi)
        .map_err(anyhow::Error::from)
        .context("adding WASI preview1 to the linker")?;
    host_deadline::bound_poll_oneoff(linker, |s| s.deadline, |s| s.started)
        .map_err(anyhow::Error::from)
        .context("bounding WASI poll_oneoff by the deadline")
}

/// One call: fresh store and WASI context, `instantiate` (which makes the
/// instance and returns its `_start`), `_start`, stdout.
pub(crate) fn call(
    engine: &Engine,
    limits: &Limits,
    epoch_ticks: u64,
    body: &[u8],
    instantiate: impl FnOnce(&mut Store<RequestState>) -> wasmtime::Result<TypedFunc<(), ()>>,
) -> Result<Vec<u8>, TransformError> {
    let started = Instant::now();
    // One byte over the cap fits, so going over it can be told apart from
    // filling it exactly (the module may ignore its failed writes).
    let cap = limits.max_output_bytes;
    let stdout = MemoryOutputPipe::new(cap.saturating_add(1));
    let wasi = WasiCtxBuilder::new()
        .stdin(MemoryInputPipe::new(body.to_vec()))
        .stdout(stdout.clone())
        .build_p1();
    let state = RequestState {
        wasi,
        limits: StoreLimitsBuilder::new()
            .memory_size(limits.max_memory_bytes)
            .build(),
        started,
        deadline: started + limits.timeout,
    };
    let mut store = Store::new(engine, state);
    store.limiter(|state| &mut state.limits);
    // Relative to the current epoch, so it also covers instantiation (a
    // module's start function can loop too).
    store.set_epoch_deadline(epoch_ticks);

    let outcome = instantiate(&mut store).and_then(|start| start.call(&mut store, ()));
    // The store holds the pipe's other handle; dropping it first lets the
    // buffer be taken without a copy. (Pooled: it also returns the
    // instance's slot to the pool.)
    drop(store);
    if let Err(err) = outcome {
        classify(err, limits)?;
    }
    match stdout.try_into_inner() {
        Some(buf) if buf.len() > cap => {
            Err(TransformError::Trap(format!("output exceeded {cap} bytes")))
        }
        Some(buf) => Ok(Vec::from(buf)),
        None => Err(TransformError::Runtime(
            "the module's stdout is still in use after its store was dropped".into(),
        )),
    }
}

/// Maps a failed call to the server's error: `proc_exit(0)` is success, an
/// interrupt is the deadline, anything else a trap.
fn classify(err: wasmtime::Error, limits: &Limits) -> Result<(), TransformError> {
    if let Some(I32Exit(code)) = err.downcast_ref::<I32Exit>() {
        return match *code {
            0 => Ok(()),
            code => Err(TransformError::Exit(code)),
        };
    }
    match err.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => Err(TransformError::Timeout {
            after_ms: limits.timeout_ms(),
        }),
        Some(trap) => Err(TransformError::Trap(trap.to_string())),
        // Host-side failures (e.g. stdout over its cap, a memory grow the
        // limiter refused) also end the instance; their innermost cause is
        // the useful message.
        None => Err(TransformError::Trap(err.root_cause().to_string())),
    }
}
