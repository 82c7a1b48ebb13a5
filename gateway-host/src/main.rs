//! gateway-host: the gateway of `gateway-native`, with every response body
//! passed through a Wasm module by the runtime `--runtime` names.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser;
use gateway_host::{EmbeddedTransform, Limits, Runtime, SpawnTransform};
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
    let mut transform = match build_transform(&args) {
        Ok(t) => t,
        Err(err) => {
            eprintln!("gateway-host: {err:#}");
            return ExitCode::from(1);
        }
    };
    match gateway_native::server::run(&args.server, transform.as_mut()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("gateway-host: {err}");
            ExitCode::from(1)
        }
    }
}

fn build_transform(args: &Args) -> anyhow::Result<Box<dyn Transform>> {
    let limits = Limits::from_flags(args.wasm_timeout_ms, args.wasm_max_memory_mb);
    let Some(cli) = args.runtime.cli() else {
        let transform = EmbeddedTransform::from_file(&args.module, limits)?;
        return Ok(Box::new(transform));
    };
    check_module_file(&args.module)?;
    let bin = cli.resolve_bin(args.runtime_bin.as_deref());
    if !bin.found {
        // Not fatal: the gateway serves, and every Wasm request says why it fails.
        eprintln!(
            "gateway-host: warning: {} (tried {}); requests will answer 500",
            cli.not_found_message(),
            bin.path.display()
        );
    }
    Ok(Box::new(SpawnTransform::new(
        cli,
        bin.path,
        &args.module,
        limits,
    )))
}

/// The CLI runtimes compile the module themselves, per request; at start-up
/// it can only be checked to be a readable file.
fn check_module_file(path: &Path) -> anyhow::Result<()> {
    let meta = std::fs::metadata(path).with_context(|| format!("module {}", path.display()))?;
    anyhow::ensure!(meta.is_file(), "module {} is not a file", path.display());
    std::fs::File::open(path).with_context(|| format!("module {}", path.display()))?;
    Ok(())
}
