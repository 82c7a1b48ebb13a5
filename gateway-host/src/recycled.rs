//! `wasmtime_recycled`: `lean`'s host calls on one instance per module that
//! is kept between requests and put back to its state after instantiation
//! after each one, instead of a new store and instance per request. Making
//! and dropping an instance is most of lean's per-request cost (the
//! micro-benchmarks `hello/lean` against `hello/lean_start_only`).
//!
//! What a request sees is what a fresh instance would show it: after a
//! request that returned (or called `proc_exit(0)`)
//!
//! - the linear memory is restored from a copy taken right after
//!   instantiation: the pages the request may have written, found by a
//!   page-table scan unless no page fault happened since the last one
//!   ([`dirty`]);
//! - every mutable global is set back to its value then (the module is
//!   prepared at build time so they are exported: [`prepare`]);
//! - tables and passive segments cannot have changed: [`prepare`] refuses
//!   a module with an instruction that changes them;
//! - the host calls' state (stdin, stdout, closed fds, clocks) is renewed.
//!
//! The instance is dropped, and the next request gets a fresh one, after a
//! trap, a non-zero exit, the deadline, output over the cap, or a memory
//! that grew (a memory cannot shrink). The limits are lean's.

mod dirty;
pub mod prepare;

use std::path::Path;
use std::time::Instant;

use anyhow::Context as _;
use gateway_native::{Transform, TransformError};
use wasmtime::{Engine, Global, InstancePre, Memory, Module, Store, TypedFunc, Val};

use crate::epoch;
use crate::lean::host_calls::RequestState;
use crate::lean::{self, classify};
use crate::limits::Limits;

/// The engine is `pooled`'s: a fresh instance (the first, and after a
/// failure) is as cheap as lean's.
pub use crate::pooled::engine;

/// The `.cwasm` a recycled instance runs: `wasm` [`prepare`]d, compiled with
/// `pooled`'s settings.
pub fn precompile(wasm: &[u8]) -> anyhow::Result<Vec<u8>> {
    let prepared = prepare::prepare(wasm).context("preparing the module for recycling")?;
    crate::pooled::precompile(&prepared)
}

/// Runs a WASI preview1 command module per body on one recycled instance.
pub struct RecycledTransform {
    pre: InstancePre<RequestState>,
    engine: Engine,
    limits: Limits,
    epoch_ticks: u64,
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
    /// Restores that scanned the page tables (the others took no page
    /// fault since the one before, so they knew the pages: see [`dirty`]).
    pub scans: u64,
    /// Bytes of memory put back by the last restore.
    pub last_restored_bytes: usize,
}

/// One instance with what its restore needs.
struct Instance {
    store: Store<RequestState>,
    start: TypedFunc<(), ()>,
    memory: Memory,
    /// Puts the memory back as it was right after instantiation.
    restorer: dirty::Restorer,
    /// Each mutable global with its value right after instantiation.
    globals: Vec<(Global, Val)>,
}

impl RecycledTransform {
    /// Loads `path` into `engine`: a `.cwasm` made by [`precompile`] is mapped
    /// as it is; a `.wasm` (or WAT) is prepared and compiled now.
    pub fn from_file(engine: &Engine, path: &Path, limits: Limits) -> anyhow::Result<Self> {
        let is_cwasm = crate::pooled::is_elf(path)
            .with_context(|| format!("cannot read module {}", path.display()))?;
        let module = if !is_cwasm {
            let wasm = std::fs::read(path)
                .with_context(|| format!("reading module {}", path.display()))?;
            let prepared = prepare::prepare(&wasm)
                .with_context(|| format!("preparing module {} for recycling", path.display()))?;
            Module::new(engine, prepared).map_err(anyhow::Error::from)?
        } else {
            crate::pooled::load(engine, path)?
        };
        Self::new(engine, &module, limits)
    }

    /// Links a [`prepare`]d `module` against lean's host calls once.
    pub fn new(engine: &Engine, module: &Module, limits: Limits) -> anyhow::Result<Self> {
        anyhow::ensure!(
            module.get_export(prepare::MARKER).is_some(),
            "the module was not prepared for recycling (its globals are not exported): \
             make it with `gateway-host --runtime wasmtime_recycled --precompile-to`"
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
            globals,
            pages,
            kept: None,
            stats: Stats::default(),
        })
    }

    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Whether a restore copies only the pages found written (else all).
    pub fn scans_pages(&self) -> bool {
        self.pages.scans()
    }

    fn run(&mut self, body: &[u8]) -> Result<Vec<u8>, TransformError> {
        let mut instance = match self.kept.take() {
            Some(instance) => {
                self.stats.reused += 1;
                instance
            }
            None => self.instantiate()?,
        };
        let started = Instant::now();
        let deadline = started + self.limits.timeout;
        instance.store.data_mut().renew(body, started, deadline);
        instance.store.set_epoch_deadline(self.epoch_ticks);
        let outcome = instance.start.call(&mut instance.store, ());
        let stdout = std::mem::take(&mut instance.store.data_mut().stdout);
        let verdict = match outcome {
            Ok(()) => Ok(()),
            Err(err) => classify(err, &self.limits),
        };
        if verdict.is_ok() {
            if let Some(done) = instance.restore(&self.pages) {
                self.stats.last_restored_bytes = done.bytes;
                self.stats.scans += u64::from(done.scanned);
                self.kept = Some(instance);
            }
        }
        // Otherwise the instance is dropped here: its store, and its slot
        // goes back to the pool (Wasmtime's own reset).
        verdict.map(|()| stdout)
    }

    /// A fresh store and instance, with the copies its restore starts from.
    fn instantiate(&mut self) -> Result<Instance, TransformError> {
        // Its deadline covers a start function run at instantiation.
        let mut store = lean::store(&self.engine, &self.limits, self.epoch_ticks, &[]);
        let instance = match self.pre.instantiate(&mut store) {
            Ok(instance) => instance,
            Err(err) => {
                return Err(classify(err, &self.limits).err().unwrap_or_else(|| {
                    TransformError::Trap("the module exited while being instantiated".to_owned())
                }))
            }
        };
        let fail = |what: &str| TransformError::Trap(format!("the prepared module has no {what}"));
        let memory = instance
            .get_memory(&mut store, prepare::MEMORY)
            .ok_or_else(|| fail("memory"))?;
        store.data_mut().memory = Some(memory);
        let start = instance
            .get_typed_func::<(), ()>(&mut store, "_start")
            .map_err(|_| fail("`_start` of type () -> ()"))?;
        let mut globals = Vec::with_capacity(self.globals.len());
        for name in &self.globals {
            let global = instance
                .get_global(&mut store, name)
                .ok_or_else(|| fail(name))?;
            let value = global.get(&mut store);
            globals.push((global, value));
        }
        let image = dirty::Image::of(memory.data(&store));
        let restorer = dirty::Restorer::new(image, memory.data_mut(&mut store));
        // Reading it all mapped every page; unmap the unwritten ones again.
        self.pages.release_clean(memory.data_mut(&mut store));
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
