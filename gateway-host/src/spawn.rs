//! `wasmtime` and `wasmedge`: a runtime process per request, the body on its
//! stdin and the result from its stdout. The two differ only in data (see
//! `runtime`); the process handling is `child`'s.

use std::ffi::OsString;
use std::io;
use std::os::unix::process::ExitStatusExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use gateway_native::{Transform, TransformError};

use crate::child::{self, Bounds, RunError};
use crate::limits::Limits;
use crate::runtime::CliRuntime;

/// How much of a failing runtime's stderr is kept for the log line.
const STDERR_TAIL: usize = 2048;

/// Starts `program ARGS...` for every body.
pub struct SpawnTransform {
    runtime: CliRuntime,
    program: PathBuf,
    args: Vec<OsString>,
    limits: Limits,
}

impl SpawnTransform {
    /// Runs `program` with `runtime`'s argument template, `module` filled in.
    /// Nothing is checked here: a missing binary is reported per request.
    pub fn new(
        runtime: CliRuntime,
        program: impl Into<PathBuf>,
        module: &Path,
        limits: Limits,
    ) -> Self {
        Self::with_command(runtime, program, runtime.args(module), limits)
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
        }
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
        let bounds = Bounds {
            timeout: self.limits.timeout,
            max_stdout: self.limits.max_output_bytes,
            stderr_tail: STDERR_TAIL,
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
            (Some(0), _) => Ok(out.stdout),
            (Some(code), _) => {
                // Wasmtime reports a trap as status 134 (128 + SIGABRT) with
                // the trap on stderr; the log keeps that detail.
                self.log_failure(&format!("exited with status {code}"), &out.stderr_tail);
                Err(TransformError::Exit(code))
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
