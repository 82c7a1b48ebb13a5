//! `wasmtime_pooled`: per-request isolation the way a production embedder
//! gets it cheaply (Wasmtime's guide "Tuning Wasmtime for Fast
//! Instantiation"). Every request still gets a fresh instance, a fresh linear
//! memory and a fresh WASI context, as in `embedded`; what changes is the cost
//! of making them:
//!
//! - the module is precompiled at build time (`gateway-host --precompile-to`
//!   writes a `.cwasm` with this file's [`config`]), so start-up only maps it;
//! - imports are resolved once (`Linker::instantiate_pre`), not per request;
//! - instances, memories and tables come from the pooling allocator's
//!   preallocated slots, and a memory's initial contents are a copy-on-write
//!   mapping of the module's image instead of a copy.
//!
//! The store, the call and its errors are `call`'s, shared with `embedded`.

use std::path::Path;

use anyhow::Context as _;
use gateway_native::{Transform, TransformError};
use wasmtime::{
    Config, Enabled, Engine, Extern, InstanceAllocationStrategy, InstancePre, Linker, Module,
    ModuleExport, PoolingAllocationConfig,
};

use crate::call::{self, RequestState};
use crate::epoch;
use crate::limits::Limits;
use crate::residency::Residency;

/// Slots in the pool for instances, memories and tables. The server is
/// single-threaded, so at most one study and one work instance live at a
/// time; each slot reserves its address space up front, so keep it small.
const POOL_SLOTS: u32 = 4;

/// Bytes of each memory and table slot kept resident between requests with
/// [`Residency::Keep`]: the study's module's whole initial memory (its 1 MiB
/// stack and data) and heap.
const KEEP_RESIDENT: usize = 2 << 20;

/// The engine settings, with the default [`Residency::Release`]. A `.cwasm`
/// only loads into an engine whose settings match the one that compiled it,
/// so [`precompile`] and [`engine`] both use this. Neither the memory cap
/// (a `StoreLimits` per request) nor the slot's residency changes what a
/// `.cwasm` must match.
pub fn config() -> Config {
    config_with(Residency::Release)
}

/// [`config`] with the pool's slot reset chosen by `residency`.
pub fn config_with(residency: Residency) -> Config {
    let keep_resident = match residency {
        // Every page a request mapped is decommitted when its store is
        // dropped: the next instance in the slot faults on each page it
        // touches, as a fresh mapping does, whatever earlier ones touched.
        Residency::Release => 0,
        Residency::Keep => KEEP_RESIDENT,
    };
    let mut pool = PoolingAllocationConfig::new();
    // Every pool is sized up front (its defaults are 1000 slots: 1000 guard
    // pages to mprotect at start-up for the stacks alone).
    pool.total_core_instances(POOL_SLOTS)
        .total_component_instances(POOL_SLOTS)
        .total_memories(POOL_SLOTS)
        .total_tables(POOL_SLOTS)
        .total_stacks(POOL_SLOTS)
        .total_gc_heaps(POOL_SLOTS)
        // With keep-resident bytes and PAGEMAP_SCAN (Linux 6.7+; `Auto`
        // falls back without it) only the pages a request dirtied are
        // restored, with memset, and stay resident up to that size: no
        // faults next time, but an open timing channel (`residency`).
        .pagemap_scan(Enabled::Auto)
        .linear_memory_keep_resident(keep_resident)
        .table_keep_resident(keep_resident);
    let mut config = Config::new();
    config
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
        // The default, stated: memories start as a CoW mapping of the image.
        .memory_init_cow(true)
        // The deadline, as in `embedded`.
        .epoch_interruption(true);
    config
}

/// An engine with [`config`] and its epoch ticker running.
pub fn engine() -> anyhow::Result<Engine> {
    engine_with(Residency::Release)
}

/// An engine with [`config_with`]`(residency)` and its epoch ticker running.
pub fn engine_with(residency: Residency) -> anyhow::Result<Engine> {
    from_config(&config_with(residency))
}

/// An engine with `config` and its epoch ticker running.
pub(crate) fn from_config(config: &Config) -> anyhow::Result<Engine> {
    let engine = Engine::new(config)
        .map_err(anyhow::Error::from)
        .context("creating the pooled Wasmtime engine")?;
    epoch::start_ticker(&engine).context("starting the epoch thread")?;
    Ok(engine)
}

/// Compile a module (`.wasm` or WAT) to the `.cwasm` bytes [`PooledTransform`]
/// loads.
pub fn precompile(wasm: &[u8]) -> anyhow::Result<Vec<u8>> {
    precompile_with(&config(), wasm)
}

/// [`precompile`] with another engine's settings (`recycled`'s).
pub(crate) fn precompile_with(config: &Config, wasm: &[u8]) -> anyhow::Result<Vec<u8>> {
    let engine = Engine::new(config).map_err(anyhow::Error::from)?;
    engine
        .precompile_module(wasm)
        .map_err(anyhow::Error::from)
        .context("precompiling the module")
}

/// Loads `path` into `engine`: a `.cwasm` made by [`precompile`] is mapped as
/// it is; a `.wasm` (or WAT) is compiled now (tests, and a user who has not
/// precompiled). `lean` loads its modules the same way.
pub(crate) fn load(engine: &Engine, path: &Path) -> anyhow::Result<Module> {
    let module =
        if is_elf(path).with_context(|| format!("cannot read module {}", path.display()))? {
            // SAFETY: `deserialize_file` trusts the file to be a module this
            // Wasmtime compiled and to stay unchanged while mapped: it is made
            // by `cargo xtask build` with `precompile` from the same build of
            // this binary (a file from another version or config is refused
            // by Wasmtime's own header check).
            unsafe { Module::deserialize_file(engine, path) }
        } else {
            Module::from_file(engine, path)
        };
    module
        .map_err(anyhow::Error::from)
        .with_context(|| format!("loading module {}", path.display()))
}

/// A `.cwasm` is an ELF image; a `.wasm` starts with `\0asm`, WAT with text.
pub(crate) fn is_elf(path: &Path) -> std::io::Result<bool> {
    use std::io::Read as _;
    let mut magic = [0u8; 4];
    let n = std::fs::File::open(path)?.read(&mut magic)?;
    Ok(n == 4 && magic == *b"\x7fELF")
}

/// Runs a WASI preview1 command module per body from pre-linked, pooled
/// instances.
pub struct PooledTransform {
    engine: Engine,
    pre: InstancePre<RequestState>,
    /// `_start`, found once by name: each request takes it from its instance
    /// by index, without the string lookup `get_typed_func` does.
    start: ModuleExport,
    limits: Limits,
    epoch_ticks: u64,
}

impl PooledTransform {
    /// Loads `path` into `engine`: a `.cwasm` made by [`precompile`] is mapped
    /// as it is; a `.wasm` (or WAT) is compiled now (tests, and a user who has
    /// not precompiled).
    pub fn from_file(engine: &Engine, path: &Path, limits: Limits) -> anyhow::Result<Self> {
        Self::new(engine, &load(engine, path)?, limits)
    }

    /// Links `module` against WASI preview1 once.
    pub fn new(engine: &Engine, module: &Module, limits: Limits) -> anyhow::Result<Self> {
        let start = module
            .get_export_index("_start")
            .context("the module exports no `_start`: it is not a WASI command")?;
        let mut linker = Linker::new(engine);
        call::link_wasi(&mut linker)?;
        let pre = linker
            .instantiate_pre(module)
            .map_err(anyhow::Error::from)
            .context("linking the module against WASI preview1")?;
        Ok(PooledTransform {
            engine: engine.clone(),
            pre,
            start,
            limits,
            epoch_ticks: epoch::ticks_for(limits.timeout),
        })
    }

    /// One call: a pooled instance of the pre-linked module, then `_start`
    /// taken by its export index.
    fn run(&self, body: &[u8]) -> Result<Vec<u8>, TransformError> {
        call::call(
            &self.engine,
            &self.limits,
            self.epoch_ticks,
            body,
            |store| match self
                .pre
                .instantiate(&mut *store)?
                .get_module_export(&mut *store, &self.start)
            {
                Some(Extern::Func(start)) => start.typed::<(), ()>(&*store),
                _ => Err(wasmtime::Error::msg(
                    "the module's `_start` is not a function",
                )),
            },
        )
    }
}

impl Transform for PooledTransform {
    fn name(&self) -> &str {
        "wasmtime_pooled"
    }

    fn apply(&mut self, body: &[u8]) -> Result<Vec<u8>, TransformError> {
        self.run(body)
    }
}
