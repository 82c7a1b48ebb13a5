//! `wasmtime_embedded`: the study's in-process design, kept as it was so the
//! numbers compare. Engine, Module and Linker are built once; every request
//! gets a fresh Store with a WASI preview1 context whose stdin is the body and
//! whose stdout is an in-memory pipe, then `linker.instantiate` and `_start`.
//!
//! Its limits hold for the whole call: the deadline covers host calls too
//! (`host_deadline`), and output over the cap is an error, not a truncation.

use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Context as _};
use gateway_native::{Transform, TransformError};
use wasmtime::{
    Config, Engine, ExternType, Linker, Module, Store, StoreLimits, StoreLimitsBuilder, Trap,
};
use wasmtime_wasi::p1::{self, WasiP1Ctx};
use wasmtime_wasi::p2::pipe::{MemoryInputPipe, MemoryOutputPipe};
use wasmtime_wasi::{I32Exit, WasiCtxBuilder};

use crate::limits::Limits;
use crate::{epoch, host_deadline};

/// One request's store data: its WASI context, its resource limits, and when
/// it started and must end.
struct RequestState {
    wasi: WasiP1Ctx,
    limits: StoreLimits,
    started: Instant,
    deadline: Instant,
}

/// Runs a WASI preview1 command module in-process for every body.
pub struct EmbeddedTransform {
    engine: Engine,
    module: Module,
    linker: Linker<RequestState>,
    limits: Limits,
    epoch_ticks: u64,
}

impl EmbeddedTransform {
    /// Compiles `module` (a `.wasm` binary or WAT text) and checks that it can
    /// run here: its imports are WASI preview1 and it exports `_start`.
    pub fn new(module: &[u8], limits: Limits) -> anyhow::Result<Self> {
        let mut config = Config::new();
        // The deadline: compiled code checks the engine's epoch, which a
        // background thread advances (see `epoch`).
        config.epoch_interruption(true);
        let engine = wt(Engine::new(&config), "creating the Wasmtime engine")?;
        let module = wt(Module::new(&engine, module), "compiling the module")?;
        check_start(&module)?;

        let mut linker = Linker::new(&engine);
        wt(
            p1::add_to_linker_sync(&mut linker, |state: &mut RequestState| &mut state.wasi),
            "adding WASI preview1 to the linker",
        )?;
        wt(
            host_deadline::bound_poll_oneoff(&mut linker, |s| s.deadline, |s| s.started),
            "bounding WASI poll_oneoff by the deadline",
        )?;
        // Fails now, not on the first request, if an import is not WASI p1.
        // The result is dropped: requests use `linker.instantiate`, as the
        // study did, so the numbers compare.
        wt(
            linker.instantiate_pre(&module),
            "linking the module against WASI preview1",
        )?;

        epoch::start_ticker(&engine).context("starting the epoch thread")?;
        Ok(EmbeddedTransform {
            engine,
            module,
            linker,
            limits,
            epoch_ticks: epoch::ticks_for(limits.timeout),
        })
    }

    /// [`EmbeddedTransform::new`] with the module read from `path`.
    pub fn from_file(path: &Path, limits: Limits) -> anyhow::Result<Self> {
        let bytes = std::fs::read(path)
            .with_context(|| format!("cannot read module {}", path.display()))?;
        Self::new(&bytes, limits).with_context(|| format!("module {}", path.display()))
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// One call: fresh store, instantiate, `_start`, collect stdout.
    fn run(&self, body: &[u8]) -> Result<Vec<u8>, TransformError> {
        let started = Instant::now();
        // One byte over the cap fits, so going over it can be told apart from
        // filling it exactly (the module may ignore its failed writes).
        let cap = self.limits.max_output_bytes;
        let stdout = MemoryOutputPipe::new(cap.saturating_add(1));
        let wasi = WasiCtxBuilder::new()
            .stdin(MemoryInputPipe::new(body.to_vec()))
            .stdout(stdout.clone())
            .build_p1();
        let limits = StoreLimitsBuilder::new()
            .memory_size(self.limits.max_memory_bytes)
            .build();
        let state = RequestState {
            wasi,
            limits,
            started,
            deadline: started + self.limits.timeout,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.limits);
        // Relative to the current epoch, so it also covers instantiation (a
        // module's start function can loop too).
        store.set_epoch_deadline(self.epoch_ticks);

        let outcome = self
            .linker
            .instantiate(&mut store, &self.module)
            .and_then(|instance| instance.get_typed_func::<(), ()>(&mut store, "_start"))
            .and_then(|start| start.call(&mut store, ()));
        // The store holds the pipe's other handle; dropping it first lets the
        // buffer be taken without a copy.
        drop(store);
        if let Err(err) = outcome {
            self.classify(err)?;
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

    /// Maps a failed call to the server's error; `proc_exit(0)` is success.
    fn classify(&self, err: wasmtime::Error) -> Result<(), TransformError> {
        if let Some(I32Exit(code)) = err.downcast_ref::<I32Exit>() {
            return match *code {
                0 => Ok(()),
                code => Err(TransformError::Exit(code)),
            };
        }
        match err.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) => Err(TransformError::Timeout {
                after_ms: self.limits.timeout_ms(),
            }),
            Some(trap) => Err(TransformError::Trap(trap.to_string())),
            // Host-side failures (e.g. stdout over its cap) also end the
            // instance; their innermost cause is the useful message.
            None => Err(TransformError::Trap(err.root_cause().to_string())),
        }
    }
}

/// Wasmtime's own error type, as an `anyhow` error with `what` as context.
fn wt<T>(result: wasmtime::Result<T>, what: &'static str) -> anyhow::Result<T> {
    result.map_err(|e| anyhow::Error::from(e).context(what))
}

/// A command module must export `_start: [] -> []`.
fn check_start(module: &Module) -> anyhow::Result<()> {
    match module.get_export("_start") {
        Some(ExternType::Func(ty)) if ty.params().len() == 0 && ty.results().len() == 0 => Ok(()),
        Some(_) => bail!("the module's `_start` export is not a function of no arguments"),
        None => bail!("the module exports no `_start`: it is not a WASI command"),
    }
}

impl Transform for EmbeddedTransform {
    fn name(&self) -> &str {
        "wasmtime_embedded"
    }

    fn apply(&mut self, body: &[u8]) -> Result<Vec<u8>, TransformError> {
        self.run(body)
    }
}
