//! `wasmtime` and `wasmedge`: a runtime process per request, the body on its
//! stdin and the result from its stdout. The two differ only in data (see
//! `runtime`); the process handling is `child`'s.
//!
//! `--wasm-max-memory-mb` holds here too: as the runtime's own cap on each
//! linear memory (Wasmtime's `-W max-memory-size`, WasmEdge's
//! `--memory-page-limit`), and as `RLIMIT_AS` on the process, a backstop set
//! at the cap plus what the runtime itself maps (see [`address_space_limit`]).
//!
//! Every runtime process gets the [`exit_guard`](crate::exit_guard) before
//! exec: one that exits with a status the OS would truncate (WasmEdge passes a
//! module's `proc_exit(256)` on as `exit_group(256)`, which would arrive as
//! 0) is killed by SIGSYS and answered with a 500. Where the guard cannot be
//! installed, a clean exit with an empty stdout is refused instead.

use std::ffi::OsString;
use std::io;
use std::os::unix::process::{CommandExt as _, ExitStatusExt as _};
use std::path::{Path, PathBuf};
use std::process::Command;

use gateway_native::{Transform, TransformError};

use crate::child::{self, Bounds, RunError};
use crate::exit_guard::{self, ExitGuard};
use crate::limits::Limits;
use crate::runtime::{expand_template, CliRuntime, MODULE_PLACEHOLDER};

/// How much of a failing runtime's stderr is kept for the log line.
const STDERR_TAIL: usize = 2048;

/// The answer to a clean exit with no output where there is no exit guard.
pub const UNGUARDED_EMPTY: &str = "the runtime exited 0 with no output, refused: without the \
     exit guard it cannot be told from a status the OS truncated";

/// Starts `program ARGS...` for every body.
pub struct SpawnTransform {
    runtime: CliRuntime,
    program: PathBuf,
    args: Vec<OsString>,
    limits: Limits,
    /// Installed in every runtime process; `None` where it cannot be (see
    /// [`exit_guard::available`]).
    exit_guard: Option<ExitGuard>,
}

impl SpawnTransform {
    /// Runs `program` with `runtime`'s argument template, `module` filled in
    /// and the memory cap's flags before it. Nothing is checked here: a
    /// missing binary is reported per request.
    pub fn new(
        runtime: CliRuntime,
        program: impl Into<PathBuf>,
        module: &Path,
        limits: Limits,
    ) -> Self {
        let mut args = Vec::new();
        for arg in runtime.args_template() {
            if *arg == MODULE_PLACEHOLDER {
                args.extend(memory_cap_args(runtime, limits.max_memory_bytes));
            }
            args.extend(expand_template(&[arg], module));
        }
        Self::with_command(runtime, program, args, limits)
    }

    /// Runs any `program` with any `args`, reported as `runtime`: how tests
    /// stand in for a runtime that is not installed (e.g. `/bin/sh -c ...`).
    pub fn with_command(
        runtime: CliRuntime,
        program: impl Into<PathBuf>,
        args: Vec<OsString>,
        limits: Limits,
    ) -> Self {
        SpawnTransform {
            runtime,
            program: program.into(),
            args,
            limits,
            exit_guard: exit_guard::available().ok().map(|()| ExitGuard::new()),
        }
    }

    /// Runs without the exit guard, as where it cannot be installed: a clean
    /// exit with an empty stdout is then refused. How tests cover that case.
    pub fn without_exit_guard(mut self) -> Self {
        self.exit_guard = None;
        self
    }

    /// Whether each runtime process gets the exit guard.
    pub fn exit_guarded(&self) -> bool {
        self.exit_guard.is_some()
    }

    pub fn program(&self) -> &Path {
        &self.program
    }

    pub fn args(&self) -> &[OsString] {
        &self.args
    }

    fn spawn_failed(&self, err: io::Error) -> TransformError {
        let msg = if err.kind() == io::ErrorKind::NotFound {
            self.runtime.not_found_message()
        } else {
            format!("cannot start {}: {err}", self.program.display())
        };
        eprintln!("gateway-host: {} ({}): {err}", msg, self.program.display());
        TransformError::Runtime(msg)
    }

    fn log_failure(&self, what: &str, stderr_tail: &[u8]) {
        let tail = String::from_utf8_lossy(stderr_tail);
        let tail = tail.trim_end();
        if tail.is_empty() {
            eprintln!("gateway-host: {} {what}", self.runtime.name());
        } else {
            eprintln!(
                "gateway-host: {} {what}; its stderr ends:\n{tail}",
                self.runtime.name()
            );
        }
    }
}

impl Transform for SpawnTransform {
    fn name(&self) -> &str {
        self.runtime.name()
    }

    fn apply(&mut self, body: &[u8]) -> Result<Vec<u8>, TransformError> {
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.args);
        if let Some(guard) = self.exit_guard {
            // SAFETY: `install` makes three async-signal-safe syscalls on the
            // plain data `guard` owns. Should it fail here although the probe
            // succeeded, the spawn fails: a 500, never an unguarded run.
            unsafe { cmd.pre_exec(move || guard.install()) };
        }
        let bounds = Bounds {
            timeout: self.limits.timeout,
            max_stdout: self.limits.max_output_bytes,
            stderr_tail: STDERR_TAIL,
            max_address_space: Some(address_space_limit(self.runtime, self.limits)),
        };
        let out = match child::run(&mut cmd, body, bounds) {
            Ok(out) => out,
            Err(RunError::Spawn(err)) => return Err(self.spawn_failed(err)),
            Err(RunError::TimedOut { stderr_tail }) => {
                self.log_failure("killed at its deadline", &stderr_tail);
                return Err(TransformError::Timeout {
                    after_ms: self.limits.timeout_ms(),
                });
            }
            Err(RunError::OutputTooLarge { limit }) => {
                return Err(TransformError::Trap(format!(
                    "output exceeded {limit} bytes; the runtime process was killed"
                )))
            }
            Err(RunError::Io(err)) => {
                return Err(TransformError::Runtime(format!(
                    "i/o with the {} process: {err}",
                    self.runtime.name()
                )))
            }
        };
        match (out.status.code(), out.status.signal()) {
            (Some(0), _) if out.stdout.is_empty() && self.exit_guard.is_none() => {
                self.log_failure(
                    "exited 0 with no output, refused (no exit guard here)",
                    &out.stderr_tail,
                );
                Err(TransformError::Trap(UNGUARDED_EMPTY.into()))
            }
            (Some(0), _) => Ok(out.stdout),
            (Some(code), _) => {
                // Wasmtime reports a trap as status 134 (128 + SIGABRT) with
                // the trap on stderr; the log keeps that detail.
                self.log_failure(&format!("exited with status {code}"), &out.stderr_tail);
                Err(TransformError::Exit(code))
            }
            // The guard's SIGSYS: the runtime called exit with a status over
            // 255 (or negative), which the OS would have cut to 8 bits.
            (None, Some(exit_guard::SIGNAL)) if self.exit_guard.is_some() => {
                self.log_failure(
                    "called exit with a status the OS would truncate: killed by the exit guard",
                    &out.stderr_tail,
                );
                Err(TransformError::Trap(exit_guard::KILLED.into()))
            }
            // Killed by a signal nobody here sent: the runtime crashed, which
            // is reported as a trap of the runtime, with the signal's number.
            (None, sig) => {
                let sig = sig.unwrap_or(0);
                self.log_failure(&format!("was killed by signal {sig}"), &out.stderr_tail);
                Err(TransformError::Trap(format!(
                    "the {} process was killed by signal {sig}",
                    self.runtime.name()
                )))
            }
        }
    }
}

/// The runtime's own cap on each linear memory, as its flags. Every CLI
/// runtime but WasmEdge is the `wasmtime` binary.
pub fn memory_cap_args(runtime: CliRuntime, max_bytes: usize) -> Vec<OsString> {
    if runtime == CliRuntime::Wasmedge {
        // WasmEdge counts 64 KiB pages; rounded down, so the cap holds.
        let pages = (max_bytes / WASM_PAGE).max(1);
        vec!["--memory-page-limit".into(), pages.to_string().into()]
    } else {
        vec!["-W".into(), format!("max-memory-size={max_bytes}").into()]
    }
}

const WASM_PAGE: usize = 64 * 1024;

/// What a runtime process maps besides the module's memory. Both reserve
/// address space for a 32-bit linear memory whatever its size (Wasmtime 4 GiB
/// plus guards, WasmEdge 8 GiB plus guards), so the backstop sits above that.
/// Measured with `ulimit -v` on `gateway-wasm` and `hello`: `wasmtime run`
/// 48.0.2 needs between 4 and 5 GiB, `wasmedge` 0.17.1 between 12 and 13 GiB;
/// these add about a gibibyte.
const WASMTIME_OWN_ADDRESS_SPACE: u64 = 6 << 30;
const WASMEDGE_OWN_ADDRESS_SPACE: u64 = 14 << 30;

/// The child's `RLIMIT_AS`: the memory cap plus the runtime's own mappings.
/// A backstop only: the runtime's own flag is what answers first.
pub fn address_space_limit(runtime: CliRuntime, limits: Limits) -> u64 {
    let own = if runtime == CliRuntime::Wasmedge {
        WASMEDGE_OWN_ADDRESS_SPACE
    } else {
        WASMTIME_OWN_ADDRESS_SPACE
    };
    own.saturating_add(limits.max_memory_bytes as u64)
}
