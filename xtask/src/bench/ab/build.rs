//! Building one revision into the shared target folder and copying its
//! gateways, upstream and modules (and its image, for the container variants) into
//! the arm's own folder, where the `.cwasm` forms of its modules are made
//! with its own gateway-host and the wasmtime CLI (as `cargo xtask build`
//! makes them), so the pooled and AOT variants run that revision's code.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use super::Arm;
use crate::build::{precompile_cli, precompile_host, Tree, BINS, MODULES};
use crate::files::copy;
use crate::provenance::{self, Unit};
use crate::variants::Modules;
use crate::{docker, paths, variants};

/// Build one tree's gateways, upstream and modules into `target` as `cargo
/// xtask build` does, copy them into the arm's folder, and build its image
/// when asked.
pub(super) fn build_tree(dir: &Path, target: &Path, arm: &Arm, with_docker: bool) -> Result<()> {
    let tree = Tree {
        source: dir.to_owned(),
        target: target.to_owned(),
    };
    // The revision's outputs, not what another tree left in the shared
    // target folder with newer file times.
    let every: Vec<_> = variants::VARIANTS.iter().collect();
    let units: BTreeSet<Unit> = provenance::units_for(&every)
        .into_iter()
        .filter(|u| with_docker || u.target != provenance::Target::Static)
        .collect();
    let _lock = provenance::lock(target)?;
    provenance::prepare(&tree, &units, provenance::Clean::Doubtful)?;
    tree.binaries(&BINS)?;
    let modules = tree.modules()?;
    copy_built(target, &arm.bin, modules)?;
    precompile(&arm.bin);
    if let (true, Some(tag)) = (with_docker, &arm.image) {
        if docker::engine_version().is_err() {
            let containers = variants::names(variants::Variant::is_container);
            eprintln!("no Docker engine: {containers} will be skipped");
        } else {
            tree.static_binaries(&["gateway-native"])?;
            tree.image("gateway-native", tag)?;
        }
    }
    provenance::record(&tree, &units)
}

/// Copy the target folder's binaries and modules as they are (A/A
/// `--no-build`), and make the `.cwasm` forms next to them.
pub(super) fn copy_bins(target: &Path, dest: &Path) -> Result<()> {
    copy_built(target, dest, &MODULES)?;
    precompile(dest);
    Ok(())
}

/// Copy what is built; a missing piece is left out (the variants that need
/// it then say "not built" and are skipped).
fn copy_built(target: &Path, dest: &Path, modules: &[&str]) -> Result<()> {
    std::fs::create_dir_all(dest).with_context(|| format!("creating {}", dest.display()))?;
    let mut pieces: Vec<(PathBuf, String)> = BINS
        .iter()
        .map(|name| (target.join("release").join(name), (*name).to_owned()))
        .collect();
    for stem in modules {
        let file = format!("{stem}.wasm");
        let from = target.join(paths::WASM_TARGET).join("release").join(&file);
        pieces.push((from, file));
    }
    for (from, name) in pieces {
        if from.exists() {
            copy(&from, &dest.join(name))?;
        } else {
            eprintln!("{} is not built: left out", from.display());
        }
    }
    Ok(())
}

/// `<stem>.pooled.cwasm` and `<stem>.recycled.cwasm` by the arm's own
/// gateway-host, `<stem>.cli.cwasm` by the wasmtime CLI. Best effort: a
/// revision whose gateway-host cannot precompile (older than the variant)
/// or a missing CLI leaves the file out, and the variant that needs it is
/// skipped as not built.
fn precompile(bin: &Path) {
    let host = bin.join("gateway-host");
    let cli = crate::tools::wasmtime_cli().ok();
    for stem in MODULES {
        let wasm = bin.join(format!("{stem}.wasm"));
        if !wasm.exists() {
            continue;
        }
        let mut made = Vec::new();
        if host.exists() {
            for modules in [Modules::HostCwasm, Modules::RecycledCwasm] {
                let out = bin.join(format!("{stem}{}", modules.suffix()));
                made.push((precompile_host(&host, modules, &wasm, &out), out));
            }
        }
        if let Some(cli) = &cli {
            let out = bin.join(format!("{stem}.cli.cwasm"));
            made.push((precompile_cli(&cli.path, &wasm, &out), out));
        }
        for (result, out) in made {
            if let Err(e) = result {
                let _ = std::fs::remove_file(&out);
                eprintln!("{}: could not be made: left out ({e:#})", out.display());
            }
        }
    }
}

pub(super) fn tag_image(from: &str, to: &str) -> Result<()> {
    let status = Command::new("docker")
        .args(["tag", from, to])
        .status()
        .context("running docker tag")?;
    if !status.success() {
        bail!("docker tag {from} {to} failed");
    }
    Ok(())
}

pub(super) fn remove_images(arms: &[Arm]) {
    let mut tags: Vec<&str> = arms.iter().filter_map(|a| a.image.as_deref()).collect();
    tags.dedup();
    for tag in tags {
        let _ = Command::new("docker")
            .args(["rmi", "--no-prune", tag])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
}
