//! `wasmtime_recycled`: `lean`'s host calls on one instance per module that
//! is kept between requests and put back to its state after instantiation
//! after each one, instead of a new store and instance per request. Making
//! and dropping an instance is most of lean's per-request cost (the
//! micro-benchmarks `hello/lean` against `hello/lean_start_only`).
//!
//! What a request sees is what a fresh instance would show it: after a
//! request that returned (or called `proc_exit(0)`)
//!
//! - the linear memory is restored to its state right after instantiation,
//!   and by default its mappings too: every page the request touched is
//!   given back to the kernel, so page residency, which a module can time,
//!   carries nothing to later requests ([`dirty`], `residency`);
//! - every mutable global is set back to its value then (the module is
//!   prepared at build time so they are exported: [`prepare`]);
//! - tables and passive segments cannot have changed: [`prepare`] refuses
//!   a module with an instruction that changes them;
//! - the host calls' state (stdin, stdout, closed fds, clocks) is renewed.
//!
//! Only a module [`prepare`]d by [`precompile`] loads: its engine stamps the
//! `.cwasm` with a version of its own ([`config`]), so Wasmtime refuses any
//! other (a `.cwasm` from lean's or pooled's precompile, whatever it
//! exports), and a `.wasm` is prepared at load.
//!
//! One deadline per request covers instantiation (a start function), `_start`
//! and every host call. The instance is dropped, and the next request gets a
//! fresh one, after a trap, any exit during instantiation, a non-zero exit,
//! the deadline, output over the cap, or a memory that grew (a memory cannot
//! shrink). The limits are lean's.

mod dirty;
pub mod prepare;

use std::path::Path;
use std::time::Instant;

use anyhow::Context as _;
use gateway_native::{Transform, TransformError};
use wasmtime::{
    Config, Engine, Extern, Global, InstancePre, Memory, Module, ModuleVersionStrategy, Store,
    TypedFunc, Val,
};

use crate::epoch;
use crate::lean::host_calls::LeanState;
use crate::lean::{self, classify};
use crate::limits::Limits;
use crate::residency::Residency;

/// The version a recycled `.cwasm` is stamped with in place of Wasmtime's
/// own, so only [`precompile`] (which prepares first) makes one that loads.
const MODULE_VERSION: &str = concat!("wasmtime-48+wgb-recycled-", env!("CARGO_PKG_VERSION"));

/// How to make a module recycled can load, for every refusal's message.
const HOW_TO_MAKE: &str =
    "make it with `gateway-host --runtime wasmtime_recycled --module M.wasm --precompile-to M.recycled.cwasm`";

/// `pooled`'s settings (a fresh instance, the first and after a failure,
/// is as cheap as lean's) with recycled's own module version.
pub fn config() -> Config {
    let mut config = crate::pooled::config();
    config
        .module_version(ModuleVersionStrategy::Custom(MODULE_VERSION.to_owned()))
        .expect("the version is under 256 bytes");
    config
}

/// An engine with [`config`] and its epoch ticker running.
pub fn engine() -> anyhow::Result<Engine> {
    crate::pooled::from_config(&config())
}

/// The `.cwasm` a recycled instance runs: `wasm` [`prepare`]d, compiled with
/// [`config`].
pub fn precompile(wasm: &[u8]) -> anyhow::Result<Vec<u8>> {
    let prepared = prepare::prepare(wasm).context("preparing the module for recycling")?;
    crate::pooled::precompile_with(&config(), &prepared)
}

/// Runs a WASI preview1 command module per body on one recycled instance.
pub struct RecycledTransform {
    pre: InstancePre<LeanState>,
    engine: Engine,
    limits: Limits,
    epoch_ticks: u64,
    residency: Residency,
    /// The export names of the module's mutable globals.
    globals: Vec<String>,
    pages: dirty::PageMap,
    /// The instance kept for the next request, if the last one left it
    /// restorable.
    kept: Option<Instance>,
    stats: Stats,
}

/// How the instances were used, for tests and the micro-benchmark.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    /// Instances made (the first, and after each dropped one).
    pub instantiated: u64,
    /// Requests that ran on an instance an earlier request used.
    pub reused: u64,
    /// Restores that scanned the page tables (Keep skips the scan while no
    /// page fault happened since the one before: see [`dirty`]).
    pub scans: u64,
    /// Bytes of memory written back by the last restore.
    pub last_restored_bytes: usize,
    /// Bytes of memory given back to the kernel by the last restore.
    pub last_released_bytes: usize,
    /// Pages every restore leaves mapped: those instantiation wrote.
    pub base_pages: usize,
}

/// One instance with what its restore needs.
struct Instance {
    store: Store<LeanState>,
    start: TypedFunc<(), ()>,
    /// The memory the restore puts back (`prepare`'s export of memory 0).
    memory: Memory,
    /// Puts the memory back as it was right after instantiation.
    restorer: dirty::Restorer,
    /// Each mutable global with its value right after instantiation.
    globals: Vec<(Global, Val)>,
}

/// An instantiation that ended early, with what the module wrote by then.
struct Unfinished {
    err: wasmtime::Error,
    stdout: Vec<u8>,
}

impl RecycledTransform {
    /// Loads `path` into `engine`: a `.cwasm` made by [`precompile`] is mapped
    /// as it is; a `.wasm` (or WAT) is prepared and compiled now. Anything
    /// else is refused, saying how to make it.
    pub fn from_file(engine: &Engine, path: &Path, limits: Limits) -> anyhow::Result<Self> {
        let is_cwasm = crate::pooled::is_elf(path)
            .with_context(|| format!("cannot read module {}", path.display()))?;
        if !is_cwasm {
            let wasm = std::fs::read(path)
                .with_context(|| format!("reading module {}", path.display()))?;
            return Self::from_wasm(engine, &wasm, limits)
                .with_context(|| format!("module {}", path.display()));
        }
        // Wasmtime's header check refuses a `.cwasm` stamped with another
        // version: one not made by `precompile`.
        let module = crate::pooled::load(engine, path).with_context(|| {
            format!(
                "{} is not a module prepared for recycling ({HOW_TO_MAKE})",
                path.display()
            )
        })?;
        Self::new(engine, &module, limits)
    }

    /// Prepares `wasm` (binary or WAT) and compiles it into `engine`.
    pub fn from_wasm(engine: &Engine, wasm: &[u8], limits: Limits) -> anyhow::Result<Self> {
        let prepared = prepare::prepare(wasm).context("preparing the module for recycling")?;
        let module = Module::new(engine, prepared).map_err(anyhow::Error::from)?;
        Self::new(engine, &module, limits)
    }

    /// Links a module [`prepare`]d in this process against lean's host
    /// calls once.
    fn new(engine: &Engine, module: &Module, limits: Limits) -> anyhow::Result<Self> {
        let exports_a = |name: &str, what: fn(&wasmtime::ExternType) -> bool| {
            module.get_export(name).as_ref().is_some_and(what)
        };
        anyhow::ensure!(
            exports_a(prepare::MARKER, |t| t.func().is_some())
                && exports_a(prepare::MEMORY, |t| t.memory().is_some()),
            "the module was not prepared for recycling ({HOW_TO_MAKE})"
        );
        let globals = module
            .exports()
            .filter(|e| e.name().starts_with(prepare::GLOBAL_PREFIX))
            .map(|e| e.name().to_owned())
            .collect();
        let pre = lean::link(engine, module)?;
        let pages = dirty::PageMap::open();
        if !pages.scans() {
            eprintln!(
                "gateway-host: PAGEMAP_SCAN is unavailable (Linux 6.7+): a recycled \
                 instance's whole memory is copied back after each request"
            );
        }
        Ok(RecycledTransform {
            pre,
            engine: engine.clone(),
            limits,
            epoch_ticks: epoch::ticks_for(limits.timeout),
            residency: Residency::default(),
            globals,
            pages,
            kept: None,
            stats: Stats::default(),
        })
    }

    /// Chooses what happens to the pages a request touched (default:
    /// [`Residency::Release`]).
    pub fn with_residency(mut self, residency: Residency) -> Self {
        self.residency = residency;
        self.kept = None;
        self
    }

    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Pages of the kept instance's memory mapped now, where the kernel can
    /// say (`PAGEMAP_SCAN`): a scan of its page tables, for tests, not done
    /// per request.
    pub fn mapped_pages(&self) -> Option<usize> {
        let kept = self.kept.as_ref()?;
        self.pages.mapped_pages(kept.memory.data(&kept.store))
    }

    /// Whether a restore copies only the pages found written (else all).
    pub fn scans_pages(&self) -> bool {
        self.pages.scans()
    }

    fn run(&mut self, body: &[u8]) -> Result<Vec<u8>, TransformError> {
        // The request's one deadline: instantiation, `_start` and every
        // host call count against it.
        let started = Instant::now();
        let mut instance = match self.kept.take() {
            Some(mut instance) => {
                self.stats.reused += 1;
                let deadline = started + self.limits.timeout;
                instance.store.data_mut().renew(body, started, deadline);
                instance.store.set_epoch_deadline(self.epoch_ticks);
                instance
            }
            None => match self.instantiate(body, started) {
                Ok(instance) => instance,
                // `proc_exit(0)` in a start function is a success with what
                // it wrote, as under lean; the instance is never kept.
                Err(Unfinished { err, stdout }) => {
                    return classify(err, &self.limits).map(|()| stdout);
                }
            },
        };
        let outcome = instance.start.call(&mut instance.store, ());
        let stdout = std::mem::take(&mut instance.store.data_mut().stdout);
        let verdict = match outcome {
            Ok(()) => Ok(()),
            Err(err) => classify(err, &self.limits),
        };
        if verdict.is_ok() {
            if let Some(done) = instance.restore(&self.pages) {
                self.stats.last_restored_bytes = done.bytes;
                self.stats.last_released_bytes = done.released;
                self.stats.scans += u64::from(done.scanned);
                self.kept = Some(instance);
            }
        }
        // Otherwise the instance is dropped here: its store, and its slot
        // goes back to the pool (Wasmtime's own reset).
        verdict.map(|()| stdout)
    }

    /// A fresh store and instance for a request that started at `started`
    /// with `body`, with the copies its restore starts from.
    fn instantiate(&mut self, body: &[u8], started: Instant) -> Result<Instance, Unfinished> {
        // Its deadline covers a start function run at instantiation.
        let mut store = lean::store(&self.engine, &self.limits, self.epoch_ticks, body, started);
        let unfinished = |store: &mut Store<LeanState>, err: wasmtime::Error| Unfinished {
            err,
            stdout: std::mem::take(&mut store.data_mut().stdout),
        };
        let instance = match self.pre.instantiate(&mut store) {
            Ok(instance) => instance,
            Err(err) => return Err(unfinished(&mut store, err)),
        };
        let missing =
            |what: &str| wasmtime::Error::msg(format!("the prepared module has no {what}"));
        let Some(memory) = instance.get_memory(&mut store, prepare::MEMORY) else {
            return Err(unfinished(&mut store, missing("memory")));
        };
        // The host calls use the module's `memory` export, as lean's do.
        if let Some(Extern::Memory(exported)) = instance.get_export(&mut store, "memory") {
            store.data_mut().memory = Some(exported);
        }
        let start = match instance.get_typed_func::<(), ()>(&mut store, "_start") {
            Ok(start) => start,
            Err(_) => return Err(unfinished(&mut store, missing("`_start` of type () -> ()"))),
        };
        let mut globals = Vec::with_capacity(self.globals.len());
        for name in &self.globals {
            let Some(global) = instance.get_global(&mut store, name) else {
                return Err(unfinished(&mut store, missing(name)));
            };
            let value = global.get(&mut store);
            globals.push((global, value));
        }
        let restorer =
            dirty::Restorer::new(&self.pages, memory.data_mut(&mut store), self.residency);
        self.stats.base_pages = restorer.always_mapped_pages();
        self.stats.instantiated += 1;
        Ok(Instance {
            store,
            start,
            memory,
            restorer,
            globals,
        })
    }
}

impl Instance {
    /// Puts the memory and the globals back as they were after
    /// instantiation; `None` if it cannot (the memory grew), so the
    /// instance is dropped.
    fn restore(&mut self, pages: &dirty::PageMap) -> Option<dirty::Restored> {
        let memory = self.memory.data_mut(&mut self.store);
        if memory.len() != self.restorer.len() {
            return None;
        }
        let done = self.restorer.restore(pages, memory);
        for (global, value) in &self.globals {
            global.set(&mut self.store, *value).ok()?;
        }
        Some(done)
    }
}

impl Transform for RecycledTransform {
    fn name(&self) -> &str {
        "wasmtime_recycled"
    }

    fn apply(&mut self, body: &[u8]) -> Result<Vec<u8>, TransformError> {
        self.run(body)
    }
}
