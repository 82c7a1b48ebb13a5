//! Finding the external tools a variant or suite needs, and their versions.
//! `doctor`, `build`, the variant table and the run manifest all ask here, so
//! every place reports a missing tool with the same words.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::paths;
use crate::source_hash::lock_version;

/// The Wasmtime version the embedded variant is built with, read from
/// Cargo.lock so the CLI can be installed at exactly the same version.
/// Without a workspace (the agent's copied binaries on a server host), the
/// version of the lock this xtask was compiled with, which those binaries
/// were built from.
pub fn wasmtime_crate_version() -> Result<String> {
    let lock = paths::project_root().join("Cargo.lock");
    if !lock.is_file() && !paths::is_workspace(&paths::project_root()) {
        return Ok(env!("WGB_WASMTIME_VERSION").to_owned());
    }
    let text =
        std::fs::read_to_string(&lock).with_context(|| format!("reading {}", lock.display()))?;
    lock_version(&text, "wasmtime")
        .with_context(|| format!("no `wasmtime` package in {}", lock.display()))
}

/// Where `cargo xtask build` installs the wasmtime CLI of `version`.
pub fn wasmtime_cli_cache(version: &str) -> PathBuf {
    paths::tool_cache().join(format!("wasmtime-cli-{version}"))
}

/// First executable called `name` on PATH.
pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// A tool resolved to a path, with the version it reports.
#[derive(Debug, Clone)]
pub struct Found {
    pub path: PathBuf,
    pub version: String,
}

/// The first line a command prints for `args` (usually `--version`).
pub fn version_line(path: &Path, args: &[&str]) -> Result<String> {
    let out = Command::new(path)
        .args(args)
        .output()
        .with_context(|| format!("running {}", path.display()))?;
    let text = if out.stdout.is_empty() {
        out.stderr
    } else {
        out.stdout
    };
    let text = String::from_utf8_lossy(&text);
    match text.lines().map(str::trim).find(|l| !l.is_empty()) {
        Some(line) => Ok(line.to_owned()),
        None => bail!("{} {} printed nothing", path.display(), args.join(" ")),
    }
}

/// The wasmtime CLI the `wasm_host_wasmtime` variant spawns: `$WASMTIME`, else
/// the cache `cargo xtask build` fills, else PATH. It must be the same version
/// as the embedded crate, or the two variants would not compare.
pub fn wasmtime_cli() -> Result<Found> {
    let version = wasmtime_crate_version()?;
    let candidate = if let Some(path) = std::env::var_os("WASMTIME") {
        PathBuf::from(path)
    } else {
        let cached = wasmtime_cli_cache(&version).join("bin/wasmtime");
        if is_executable(&cached) {
            cached
        } else if let Some(on_path) = which("wasmtime") {
            on_path
        } else {
            bail!("wasmtime not found: `cargo xtask build` installs wasmtime {version} into {}, or set WASMTIME=/path", cached.display());
        }
    };
    let line = version_line(&candidate, &["--version"])?;
    // `wasmtime 48.0.2 (e9f1ea232 2026-09-10)`
    let found = line.split_whitespace().nth(1).unwrap_or("").to_owned();
    if found != version {
        bail!(
            "{} is wasmtime {found}, but the embedded crate is {version}: `cargo xtask build` installs the matching CLI",
            candidate.display()
        );
    }
    Ok(Found {
        path: candidate,
        version: found,
    })
}

/// WasmEdge: `$WASMEDGE`, else PATH. Where it is not installed the
/// `wasm_host_cli` variant is reported as skipped with this error's words.
/// The version is the bare number (`0.17.1`).
pub fn wasmedge() -> Result<Found> {
    let path = match std::env::var_os("WASMEDGE").filter(|v| !v.is_empty()) {
        Some(path) => PathBuf::from(path),
        None => which("wasmedge").context("wasmedge not found")?,
    };
    if !is_executable(&path) {
        bail!(
            "wasmedge not found: WASMEDGE={} is not an executable",
            path.display()
        );
    }
    // A binary that cannot load its libraries (libspdlog) fails here, with
    // the loader's message as the reason.
    let line = version_line(&path, &["--version"])?;
    Ok(Found {
        path,
        version: wasmedge_version(&line),
    })
}

/// How `wasm_host_cli` runs modules, for the manifest and the report: a
/// plain `.wasm` given to `wasmedge` runs in its interpreter (AOT would need
/// a `wasmedge compile` step, which this project does not do).
pub const WASMEDGE_MODE: &str = "interpreter (`wasmedge MODULE.wasm`, no AOT)";

/// `wasmedge --version` prints `<argv0> version 0.17.1`: the number after
/// `version`, else the line as it is.
fn wasmedge_version(line: &str) -> String {
    let mut words = line.split_whitespace();
    match words.position(|w| w == "version") {
        Some(_) => words.next().unwrap_or(line).to_owned(),
        None => line.to_owned(),
    }
}

/// A plain tool on PATH (wrk, hyperfine, curl, docker).
pub fn simple(name: &str, version_args: &[&str]) -> Result<Found> {
    let path = which(name).with_context(|| format!("{name} not found on PATH"))?;
    let version = version_line(&path, version_args).unwrap_or_else(|e| format!("unknown ({e})"));
    Ok(Found { path, version })
}

/// Is `target` installed for the active toolchain?
pub fn rustup_target_installed(target: &str) -> Result<bool> {
    let out = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .context("running rustup (is it on PATH?)")?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .any(|l| l.trim() == target))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_package_version_from_a_lockfile() {
        let lock = "[[package]]\nname = \"wasmtime-wasi\"\nversion = \"1.0.0\"\n\n[[package]]\nname = \"wasmtime\"\nversion = \"48.0.2\"\n";
        assert_eq!(lock_version(lock, "wasmtime").as_deref(), Some("48.0.2"));
        assert_eq!(lock_version(lock, "wasmedge"), None);
    }

    #[test]
    fn wasmedge_version_is_the_number() {
        assert_eq!(
            wasmedge_version("/opt/wasmedge/bin/wasmedge version 0.17.1"),
            "0.17.1"
        );
        assert_eq!(wasmedge_version("wasmedge 1.0"), "wasmedge 1.0");
    }

    #[test]
    fn the_workspace_pins_one_wasmtime() {
        let version = wasmtime_crate_version().unwrap();
        assert!(version.starts_with("48."), "{version}");
    }
}
