//! `wasmtime_lean`: `pooled`'s design (precompiled module, `InstancePre`,
//! pooling allocator with copy-on-write images) made cheaper per request.
//! Every request still gets a fresh store, a fresh instance and a fresh
//! linear memory; what changes:
//!
//! - the host calls are [`host_calls`]' few `func_wrap` functions over two
//!   byte buffers, not wasmtime-wasi's context, tables and pipes;
//! - the memory slot's reset keeps what measured cheapest (see [`config`]).
//!
//! The limits are `pooled`'s: the epoch deadline (and `poll_oneoff` bounded
//! by it), the memory cap (`StoreLimits`), output over the cap, a non-zero
//! exit and a trap are errors.

pub(crate) mod host_calls;
mod stubs;

use std::path::Path;
use std::time::Instant;

use anyhow::Context as _;
use gateway_native::{Transform, TransformError};
use wasmtime::{
    Engine, Extern, InstancePre, Linker, Module, ModuleExport, Store, StoreLimitsBuilder, Trap,
    TypedFunc,
};

use crate::epoch;
use crate::limits::Limits;
use host_calls::{Exit, LeanState, OutputOverCap};

/// The engine, its settings and the `.cwasm` it loads are `pooled`'s: lean
/// changes the host calls, not the compiled code or the pool, so a
/// `.pooled.cwasm` loads here as it is.
///
/// The slot reset is `pooled`'s because every alternative measured worse
/// on hello (`cargo xtask bench instructions` / `bench throughput`, CPU ms
/// per 1000 requests): decommitting instead of restoring (`keep_resident`
/// 0) saves a third of the user-space instructions callgrind counts but
/// costs page faults on the next request, which it does not count (CPU
/// 1.5x native became 2.3x); decommitting the table slot alone was also
/// slower; without copy-on-write images (`memory_init_cow(false)`) each
/// instantiation copies the data segments (+8% instructions); without
/// PAGEMAP_SCAN the whole resident part is memset, dirty or not. Keeping
/// pages resident is the opt-in [`Residency::Keep`](crate::residency::Residency):
/// by default a slot's pages are all decommitted (see `residency`).
pub use crate::pooled::{config, config_with, engine, engine_with, precompile};

/// Runs a WASI preview1 command module per body, with [`host_calls`] as its
/// WASI, from pre-linked, pooled instances.
pub struct LeanTransform {
    pre: InstancePre<LeanState>,
    /// `_start` and `memory`, found once by name, taken per request by index.
    start: ModuleExport,
    memory: Option<ModuleExport>,
    engine: Engine,
    limits: Limits,
    epoch_ticks: u64,
}

impl LeanTransform {
    /// Loads `path` into `engine`: a `.cwasm` is mapped as it is, a `.wasm`
    /// (or WAT) compiled now.
    pub fn from_file(engine: &Engine, path: &Path, limits: Limits) -> anyhow::Result<Self> {
        Self::new(engine, &crate::pooled::load(engine, path)?, limits)
    }

    /// Links `module` against the lean WASI layer once. An import the layer
    /// does not define fails here, naming it.
    pub fn new(engine: &Engine, module: &Module, limits: Limits) -> anyhow::Result<Self> {
        let start = module
            .get_export_index("_start")
            .context("the module exports no `_start`: it is not a WASI command")?;
        Ok(LeanTransform {
            pre: link(engine, module)?,
            start,
            memory: module.get_export_index("memory"),
            engine: engine.clone(),
            limits,
            epoch_ticks: epoch::ticks_for(limits.timeout),
        })
    }

    /// A request's store and instance, dropped without running `_start`:
    /// instantiation alone (the micro-benchmarks' `instantiate/lean`).
    pub fn instantiate_only(&self, body: &[u8]) -> Result<(), TransformError> {
        let mut store = self.store(body);
        match self.pre.instantiate(&mut store) {
            Ok(_) => Ok(()),
            Err(err) => classify(err, &self.limits),
        }
    }

    fn run(&self, body: &[u8]) -> Result<Vec<u8>, TransformError> {
        let mut store = self.store(body);
        let outcome = self.call(&mut store);
        // Dropping the store returns the slot to the pool (its reset).
        let stdout = std::mem::take(&mut store.data_mut().stdout);
        drop(store);
        match outcome {
            Ok(()) => Ok(stdout),
            Err(err) => classify(err, &self.limits).map(|()| stdout),
        }
    }

    fn store(&self, body: &[u8]) -> Store<LeanState> {
        store(
            &self.engine,
            &self.limits,
            self.epoch_ticks,
            body,
            Instant::now(),
        )
    }

    /// Instantiates, points the host calls at the memory, runs `_start`.
    fn call(&self, store: &mut Store<LeanState>) -> wasmtime::Result<()> {
        let start = self.instantiate(store)?;
        start.call(&mut *store, ())
    }

    /// Instantiates and points the host calls at the memory: `_start`,
    /// ready to run.
    fn instantiate(&self, store: &mut Store<LeanState>) -> wasmtime::Result<TypedFunc<(), ()>> {
        let instance = self.pre.instantiate(&mut *store)?;
        if let Some(index) = &self.memory {
            if let Some(Extern::Memory(memory)) = instance.get_module_export(&mut *store, index) {
                store.data_mut().memory = Some(memory);
            }
        }
        match instance.get_module_export(&mut *store, &self.start) {
            Some(Extern::Func(start)) => start.typed::<(), ()>(&*store),
            _ => Err(wasmtime::Error::msg(
                "the module's `_start` is not a function",
            )),
        }
    }

    /// A request's store and instance, `_start` not yet run: what the
    /// micro-benchmark `hello/lean_start_only` times [`Ready::start`] on,
    /// so the module's own run is told apart from making and dropping its
    /// instance.
    pub fn ready(&self, body: &[u8]) -> anyhow::Result<Ready> {
        let mut store = self.store(body);
        let start = self.instantiate(&mut store).map_err(anyhow::Error::from)?;
        Ok(Ready {
            store,
            start,
            limits: self.limits,
        })
    }
}

/// Links `module` against the lean WASI layer (`recycled` links the same
/// way). An import the layer does not define fails here, naming it.
pub(crate) fn link(engine: &Engine, module: &Module) -> anyhow::Result<InstancePre<LeanState>> {
    let mut linker = Linker::new(engine);
    host_calls::link(&mut linker)
        .map_err(anyhow::Error::from)
        .context("defining the lean WASI host calls")?;
    linker
        .instantiate_pre(module)
        .map_err(anyhow::Error::from)
        .context("linking the module against the lean WASI preview1 layer")
}

/// A fresh store for a request that started at `started`: the body as
/// stdin, the limits, the deadline (`started` + the timeout).
pub(crate) fn store(
    engine: &Engine,
    limits: &Limits,
    epoch_ticks: u64,
    body: &[u8],
    started: Instant,
) -> Store<LeanState> {
    let state = LeanState::new(
        body,
        limits.max_output_bytes,
        StoreLimitsBuilder::new()
            .memory_size(limits.max_memory_bytes)
            .build(),
        started,
        started + limits.timeout,
    );
    let mut store = Store::new(engine, state);
    store.limiter(|state| &mut state.limits);
    // Relative to the current epoch, so it covers instantiation too.
    store.set_epoch_deadline(epoch_ticks);
    store
}

/// See [`LeanTransform::ready`]. Dropping it drops the store (the reset).
pub struct Ready {
    store: Store<LeanState>,
    start: TypedFunc<(), ()>,
    limits: Limits,
}

impl Ready {
    /// Runs `_start` once; `proc_exit(0)` counts as success.
    pub fn start(&mut self) -> Result<(), TransformError> {
        match self.start.call(&mut self.store, ()) {
            Ok(()) => Ok(()),
            Err(err) => classify(err, &self.limits),
        }
    }
}

/// Maps a failed call to the server's error: `proc_exit(0)` is success, an
/// interrupt is the deadline, anything else a trap.
pub(crate) fn classify(err: wasmtime::Error, limits: &Limits) -> Result<(), TransformError> {
    if let Some(Exit(code)) = err.downcast_ref::<Exit>() {
        return match *code {
            0 => Ok(()),
            status => Err(TransformError::Exit(status)),
        };
    }
    if let Some(over) = err.downcast_ref::<OutputOverCap>() {
        return Err(TransformError::Trap(over.to_string()));
    }
    match err.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => Err(TransformError::Timeout {
            after_ms: limits.timeout_ms(),
        }),
        Some(trap) => Err(TransformError::Trap(trap.to_string())),
        // E.g. a memory grow the limiter refused: its innermost cause.
        None => Err(TransformError::Trap(err.root_cause().to_string())),
    }
}

impl Transform for LeanTransform {
    fn name(&self) -> &str {
        "wasmtime_lean"
    }

    fn apply(&mut self, body: &[u8]) -> Result<Vec<u8>, TransformError> {
        self.run(body)
    }
}
