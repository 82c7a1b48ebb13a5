//! gateway-host: the gateway of `gateway-native`, with every response body
//! passed through a Wasm module by the runtime `--runtime` names.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser;
use gateway_host::{
    lean, pooled, recycled, EmbeddedTransform, LeanTransform, Limits, PooledTransform,
    RecycledTransform, Residency, Runtime, SpawnTransform, WithWork,
};
use gateway_native::{ServerArgs, Transform};

#[derive(Parser, Debug)]
#[command(name = "gateway-host", version, about)]
struct Args {
    /// Which runtime runs the module for each request.
    #[arg(long, env = "WASM_RUNTIME", value_enum, default_value_t = Runtime::WasmtimeEmbedded)]
    runtime: Runtime,

    /// The WASI preview1 command module (`.wasm`, or WAT text for the
    /// embedded runtime).
    #[arg(long, env = "WASM_MODULE")]
    module: PathBuf,

    /// The second module, run by the same runtime for the `compute_wasm` and
    /// `json` workloads (without it they answer 500).
    #[arg(long, env = "WASM_WORK_MODULE")]
    work_module: Option<PathBuf>,

    /// Precompile `--module` for `--runtime wasmtime_pooled` (or
    /// `wasmtime_lean` or `wasmtime_recycled`, when named) into this `.cwasm`
    /// file and exit (`cargo xtask build` does it).
    #[arg(long, value_name = "CWASM")]
    precompile_to: Option<PathBuf>,

    /// Deadline of one module call, in milliseconds, host calls included;
    /// past it the request is a 500 (embedded: epoch interruption and a
    /// bounded WASI sleep; CLI runtimes: SIGKILL).
    #[arg(long, env = "WASM_TIMEOUT_MS", default_value_t = Limits::DEFAULT_TIMEOUT_MS,
          value_parser = clap::value_parser!(u64).range(1..))]
    wasm_timeout_ms: u64,

    /// Cap on the module's linear memory, in MiB, every runtime (CLI
    /// runtimes: their own flag, and RLIMIT_AS as a backstop); over it is a 500.
    #[arg(long, env = "WASM_MAX_MEMORY_MB", default_value_t = Limits::DEFAULT_MAX_MEMORY_MB,
          value_parser = clap::value_parser!(u64).range(1..))]
    wasm_max_memory_mb: u64,

    /// What happens to the memory pages a request touched, for the runtimes
    /// that reuse them (`wasmtime_pooled`, `wasmtime_lean`'s pool slots,
    /// `wasmtime_recycled`'s instance): `release` gives them back to the
    /// kernel, so no request can time what an earlier one touched; `keep`
    /// leaves them mapped, faster but an open timing channel (docs/variants.md,
    /// "Reuse and page residency").
    #[arg(long, env = "WASM_RESIDENCY", value_enum, default_value_t = Residency::Release)]
    wasm_residency: Residency,

    /// The runtime binary for `--runtime wasmtime|wasmedge` [default: $WASMTIME
    /// or $WASMEDGE, else the runtime's name on PATH]
    #[arg(long)]
    runtime_bin: Option<PathBuf>,

    #[command(flatten)]
    server: ServerArgs,
}

fn main() -> ExitCode {
    let args = Args::parse();
    // PID 1 in a container has no default SIGTERM action; exit at once, as
    // gateway-native does.
    gateway_native::signals::exit_on_termination();
    if let Some(out) = &args.precompile_to {
        return match precompile(args.runtime, &args.module, out) {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("gateway-host: {err:#}");
                ExitCode::from(1)
            }
        };
    }
    let mut transform = match build_transform(&args) {
        Ok(t) => t,
        Err(err) => {
            eprintln!("gateway-host: {err:#}");
            return ExitCode::from(1);
        }
    };
    if args.runtime.cli().is_none() {
        // Wasm runs on this thread's stack: map all it can reach now, so
        // how deep one request went is not left for the next to time.
        gateway_host::stack::map_reach();
    }
    match gateway_native::server::run(&args.server, transform.as_mut()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("gateway-host: {err}");
            ExitCode::from(1)
        }
    }
}

/// The study's module and, when given, the work module, both run by
/// `--runtime`.
fn build_transform(args: &Args) -> anyhow::Result<Box<dyn Transform>> {
    let loader = Loader {
        runtime: args.runtime,
        runtime_bin: args.runtime_bin.clone(),
        limits: Limits::from_flags(args.wasm_timeout_ms, args.wasm_max_memory_mb),
        residency: args.wasm_residency,
        engine: engine(args.runtime, args.wasm_residency)?,
    };
    let study = loader.load(&args.module)?;
    let Some(path) = args.work_module.clone() else {
        return Ok(Box::new(WithWork::new(study, None)));
    };
    // Loaded on the first work request (see `work`); a missing file is
    // still reported now.
    check_module_file(&path)?;
    Ok(Box::new(WithWork::lazy(
        study,
        Box::new(move || loader.load(&path)),
    )))
}

/// The in-process runtimes that share one engine between both modules (one
/// pool, one epoch thread), each with its engine.
enum Pooling {
    Pooled(wasmtime::Engine),
    Lean(wasmtime::Engine),
    Recycled(wasmtime::Engine),
}

/// The engine `runtime` shares between both modules, if it is one that does.
fn engine(runtime: Runtime, residency: Residency) -> anyhow::Result<Option<Pooling>> {
    Ok(match runtime {
        Runtime::WasmtimePooled => Some(Pooling::Pooled(pooled::engine_with(residency)?)),
        Runtime::WasmtimeLean => Some(Pooling::Lean(lean::engine_with(residency)?)),
        Runtime::WasmtimeRecycled => Some(Pooling::Recycled(recycled::engine()?)),
        Runtime::WasmtimeEmbedded
        | Runtime::Wasmtime
        | Runtime::Wasmedge
        | Runtime::WasmtimeAot => None,
    })
}

/// What loading a module with `--runtime` needs.
struct Loader {
    runtime: Runtime,
    runtime_bin: Option<PathBuf>,
    limits: Limits,
    residency: Residency,
    engine: Option<Pooling>,
}

impl Loader {
    fn load(&self, module: &Path) -> anyhow::Result<Box<dyn Transform>> {
        let limits = self.limits;
        match &self.engine {
            Some(Pooling::Pooled(engine)) => {
                return Ok(Box::new(PooledTransform::from_file(
                    engine, module, limits,
                )?))
            }
            Some(Pooling::Lean(engine)) => {
                return Ok(Box::new(LeanTransform::from_file(engine, module, limits)?))
            }
            Some(Pooling::Recycled(engine)) => {
                return Ok(Box::new(
                    RecycledTransform::from_file(engine, module, limits)?
                        .with_residency(self.residency),
                ))
            }
            None => {}
        }
        let Some(cli) = self.runtime.cli() else {
            return Ok(Box::new(EmbeddedTransform::from_file(module, limits)?));
        };
        check_module_file(module)?;
        let bin = cli.resolve_bin(self.runtime_bin.as_deref());
        if !bin.found {
            // Not fatal: the gateway serves, and every Wasm request says why it fails.
            eprintln!(
                "gateway-host: warning: {} (tried {}); requests will answer 500",
                cli.not_found_message(),
                bin.path.display()
            );
        }
        Ok(Box::new(SpawnTransform::new(cli, bin.path, module, limits)))
    }
}

/// Writes the `.cwasm` through a temporary file, so a reader never maps a
/// half-written one.
fn precompile(runtime: Runtime, module: &Path, out: &Path) -> anyhow::Result<()> {
    let wasm = std::fs::read(module).with_context(|| format!("module {}", module.display()))?;
    let cwasm = match runtime {
        Runtime::WasmtimeLean => lean::precompile(&wasm),
        Runtime::WasmtimeRecycled => recycled::precompile(&wasm),
        _ => pooled::precompile(&wasm),
    }
    .with_context(|| format!("module {}", module.display()))?;
    let tmp = out.with_extension("cwasm.tmp");
    std::fs::write(&tmp, cwasm).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, out).with_context(|| format!("writing {}", out.display()))?;
    Ok(())
}

/// The CLI runtimes compile the module themselves, per request; at start-up
/// it can only be checked to be a readable file.
fn check_module_file(path: &Path) -> anyhow::Result<()> {
    let meta = std::fs::metadata(path).with_context(|| format!("module {}", path.display()))?;
    anyhow::ensure!(meta.is_file(), "module {} is not a file", path.display());
    std::fs::File::open(path).with_context(|| format!("module {}", path.display()))?;
    Ok(())
}
