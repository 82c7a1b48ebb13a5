//! The runtimes `--runtime` / `WASM_RUNTIME` can name (the study's names), and
//! for the two that run a process per request, the data that tells them apart:
//! the argument template and where the binary comes from.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

/// Which runtime executes the module.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runtime {
    /// Wasmtime in-process: module compiled once, a fresh instance per request.
    #[value(name = "wasmtime_embedded")]
    WasmtimeEmbedded,
    /// `wasmtime run MODULE` per request.
    #[value(name = "wasmtime")]
    Wasmtime,
    /// `wasmedge MODULE` per request.
    #[value(name = "wasmedge")]
    Wasmedge,
    /// Wasmtime in-process the production way: a precompiled `.cwasm`,
    /// `InstancePre` and the pooling allocator; still a fresh instance per
    /// request (see `pooled`).
    #[value(name = "wasmtime_pooled")]
    WasmtimePooled,
    /// `wasmtime run --allow-precompiled MODULE.cwasm` per request.
    #[value(name = "wasmtime_aot")]
    WasmtimeAot,
    /// `wasmtime_pooled` with a minimal WASI preview1 of its own instead of
    /// wasmtime-wasi; still a fresh instance and memory per request (see
    /// `lean`).
    #[value(name = "wasmtime_lean")]
    WasmtimeLean,
    /// `wasmtime_lean`'s host calls on one instance per module, kept between
    /// requests and restored (dirty memory pages, mutable globals) after
    /// each; a fresh one after a failure (see `recycled`).
    #[value(name = "wasmtime_recycled")]
    WasmtimeRecycled,
}

impl Runtime {
    /// The study's name, as `WASM_RUNTIME` spells it.
    pub fn name(self) -> &'static str {
        match self {
            Runtime::WasmtimeEmbedded => "wasmtime_embedded",
            Runtime::Wasmtime => CliRuntime::Wasmtime.name(),
            Runtime::Wasmedge => CliRuntime::Wasmedge.name(),
            Runtime::WasmtimePooled => "wasmtime_pooled",
            Runtime::WasmtimeAot => CliRuntime::WasmtimeAot.name(),
            Runtime::WasmtimeLean => "wasmtime_lean",
            Runtime::WasmtimeRecycled => "wasmtime_recycled",
        }
    }

    /// The process-per-request runtime this is, if it is one.
    pub fn cli(self) -> Option<CliRuntime> {
        match self {
            Runtime::WasmtimeEmbedded
            | Runtime::WasmtimePooled
            | Runtime::WasmtimeLean
            | Runtime::WasmtimeRecycled => None,
            Runtime::Wasmtime => Some(CliRuntime::Wasmtime),
            Runtime::Wasmedge => Some(CliRuntime::Wasmedge),
            Runtime::WasmtimeAot => Some(CliRuntime::WasmtimeAot),
        }
    }
}

/// Stands for the module's path in an argument template.
pub const MODULE_PLACEHOLDER: &str = "{module}";

/// `wasmtime run MODULE`: stdin, stdout and stderr are inherited by default,
/// and the compilation cache is Wasmtime's default (on), as in the study.
pub const WASMTIME_ARGS: &[&str] = &["run", MODULE_PLACEHOLDER];

/// `wasmedge MODULE`: the `run` subcommand is implied. On a plain `.wasm`
/// WasmEdge runs its interpreter (AOT needs a `wasmedge compile` step).
pub const WASMEDGE_ARGS: &[&str] = &[MODULE_PLACEHOLDER];

/// `wasmtime run --allow-precompiled MODULE.cwasm`: no compilation and no
/// cache lookup, the module was compiled by `wasmtime compile` at build time.
pub const WASMTIME_AOT_ARGS: &[&str] = &["run", "--allow-precompiled", MODULE_PLACEHOLDER];

/// A runtime that is started as a process for every request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CliRuntime {
    Wasmtime,
    Wasmedge,
    /// The wasmtime CLI on a precompiled module.
    WasmtimeAot,
}

impl CliRuntime {
    pub fn name(self) -> &'static str {
        match self {
            CliRuntime::Wasmtime => "wasmtime",
            CliRuntime::Wasmedge => "wasmedge",
            CliRuntime::WasmtimeAot => "wasmtime_aot",
        }
    }

    /// The program's own name, looked up on PATH.
    pub fn bin_name(self) -> &'static str {
        match self {
            CliRuntime::Wasmtime | CliRuntime::WasmtimeAot => "wasmtime",
            CliRuntime::Wasmedge => "wasmedge",
        }
    }

    /// The environment variable naming the binary (the xtask and the study
    /// both use these).
    pub fn bin_env(self) -> &'static str {
        match self {
            CliRuntime::Wasmtime | CliRuntime::WasmtimeAot => "WASMTIME",
            CliRuntime::Wasmedge => "WASMEDGE",
        }
    }

    pub fn args_template(self) -> &'static [&'static str] {
        match self {
            CliRuntime::Wasmtime => WASMTIME_ARGS,
            CliRuntime::Wasmedge => WASMEDGE_ARGS,
            CliRuntime::WasmtimeAot => WASMTIME_AOT_ARGS,
        }
    }

    /// The template with the module's path filled in.
    pub fn args(self, module: &Path) -> Vec<OsString> {
        expand_template(self.args_template(), module)
    }

    /// The message of the 500 answered when the binary cannot be found.
    pub fn not_found_message(self) -> String {
        format!(
            "{} not found: set {}=/path or put it on PATH",
            self.bin_name(),
            self.bin_env()
        )
    }

    /// The binary to run: `explicit` (`--runtime-bin`), else `$WASMTIME` /
    /// `$WASMEDGE`, else the runtime's name. A bare name is looked up on PATH
    /// now, once; if it is not there the name is kept, so the gateway still
    /// starts and each request reports the missing binary.
    pub fn resolve_bin(self, explicit: Option<&Path>) -> Resolved {
        let from_env = std::env::var_os(self.bin_env()).filter(|v| !v.is_empty());
        let wanted = match (explicit, from_env) {
            (Some(path), _) => path.to_path_buf(),
            (None, Some(env)) => PathBuf::from(env),
            (None, None) => PathBuf::from(self.bin_name()),
        };
        if wanted.components().count() > 1 || wanted.is_absolute() {
            let found = wanted.is_file();
            return Resolved {
                path: wanted,
                found,
            };
        }
        match find_on_path(wanted.as_os_str()) {
            Some(path) => Resolved { path, found: true },
            None => Resolved {
                path: wanted,
                found: false,
            },
        }
    }
}

/// Where a runtime binary was found, or the name that will be tried per request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub path: PathBuf,
    /// Whether a file exists there now (a missing one is reported per request).
    pub found: bool,
}

/// Replaces every [`MODULE_PLACEHOLDER`] argument with `module`; the module's
/// path is passed as an OS string, so non-UTF-8 paths work.
pub fn expand_template(template: &[&str], module: &Path) -> Vec<OsString> {
    template
        .iter()
        .map(|arg| {
            if *arg == MODULE_PLACEHOLDER {
                module.as_os_str().to_os_string()
            } else {
                OsString::from(arg)
            }
        })
        .collect()
}

/// The first executable file called `name` in a PATH directory.
pub fn find_on_path(name: &OsStr) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| {
            candidate
                .metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::ValueEnum;

    #[test]
    fn wasmtime_runs_the_module_with_run() {
        assert_eq!(CliRuntime::Wasmtime.args_template(), ["run", "{module}"]);
        assert_eq!(
            CliRuntime::Wasmtime.args(Path::new("/m/gateway-wasm.wasm")),
            ["run", "/m/gateway-wasm.wasm"]
        );
    }

    #[test]
    fn wasmedge_takes_the_module_as_its_only_argument() {
        assert_eq!(CliRuntime::Wasmedge.args_template(), ["{module}"]);
        assert_eq!(
            CliRuntime::Wasmedge.args(Path::new("rel/m.wasm")),
            ["rel/m.wasm"]
        );
    }

    #[test]
    fn runtime_names_are_the_studys() {
        let names: Vec<_> = Runtime::value_variants()
            .iter()
            .map(|r| r.to_possible_value().unwrap().get_name().to_owned())
            .collect();
        assert_eq!(
            names,
            [
                "wasmtime_embedded",
                "wasmtime",
                "wasmedge",
                "wasmtime_pooled",
                "wasmtime_aot",
                "wasmtime_lean",
                "wasmtime_recycled"
            ]
        );
        for r in Runtime::value_variants() {
            assert_eq!(Runtime::from_str(r.name(), false).unwrap(), *r);
        }
        assert_eq!(Runtime::WasmtimeEmbedded.cli(), None);
        assert_eq!(Runtime::Wasmedge.cli(), Some(CliRuntime::Wasmedge));
        assert_eq!(Runtime::WasmtimePooled.cli(), None);
        assert_eq!(Runtime::WasmtimeAot.cli(), Some(CliRuntime::WasmtimeAot));
        assert_eq!(Runtime::WasmtimeLean.cli(), None);
        assert_eq!(Runtime::WasmtimeRecycled.cli(), None);
    }

    #[test]
    fn wasmtime_aot_runs_the_precompiled_module_with_the_wasmtime_binary() {
        assert_eq!(
            CliRuntime::WasmtimeAot.args(Path::new("/m/gateway-wasm.cli.cwasm")),
            ["run", "--allow-precompiled", "/m/gateway-wasm.cli.cwasm"]
        );
        assert_eq!(CliRuntime::WasmtimeAot.bin_name(), "wasmtime");
        assert_eq!(
            CliRuntime::WasmtimeAot.not_found_message(),
            "wasmtime not found: set WASMTIME=/path or put it on PATH"
        );
    }

    #[test]
    fn not_found_message_names_the_variable() {
        assert_eq!(
            CliRuntime::Wasmtime.not_found_message(),
            "wasmtime not found: set WASMTIME=/path or put it on PATH"
        );
        assert_eq!(
            CliRuntime::Wasmedge.not_found_message(),
            "wasmedge not found: set WASMEDGE=/path or put it on PATH"
        );
    }

    #[test]
    fn explicit_paths_are_kept_and_checked() {
        let missing = CliRuntime::Wasmtime.resolve_bin(Some(Path::new("/nonexistent/wasmtime")));
        assert_eq!(missing.path, Path::new("/nonexistent/wasmtime"));
        assert!(!missing.found);
        let sh = CliRuntime::Wasmedge.resolve_bin(Some(Path::new("/bin/sh")));
        assert!(sh.found);
    }

    #[test]
    fn bare_names_are_looked_up_on_path() {
        let sh = find_on_path(OsStr::new("sh")).expect("sh on PATH");
        assert!(sh.is_absolute() && sh.ends_with("sh"));
        assert_eq!(find_on_path(OsStr::new("no-such-binary-wgb")), None);
    }
}
