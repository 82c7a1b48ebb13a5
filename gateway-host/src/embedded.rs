//! `wasmtime_embedded`: the study's in-process design, kept as it was so the
//! numbers compare. Engine, Module and Linker are built once; every request
//! gets a fresh Store with a WASI preview1 context whose stdin is the body and
//! whose stdout is an in-memory pipe, then `linker.instantiate` and `_start`
//! (the store, the call and its errors are `call`'s, shared with `pooled`).

use std::path::Path;

use anyhow::{bail, Context as _};
use gateway_native::{Transform, TransformError};
use wasmtime::{Config, Engine, ExternType, Linker, Module};

use crate::call::{self, RequestState};
use crate::epoch;
use crate::limits::Limits;

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
        call::link_wasi(&mut linker)?;
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

    /// One call: `linker.instantiate` (imports resolved by name, per
    /// request, as the study did), then `_start` found by name.
    fn run(&self, body: &[u8]) -> Result<Vec<u8>, TransformError> {
        call::call(
            &self.engine,
            &self.limits,
            self.epoch_ticks,
            body,
            |store| {
                self.linker
                    .instantiate(&mut *store, &self.module)?
                    .get_typed_func::<(), ()>(store, "_start")
            },
        )
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
