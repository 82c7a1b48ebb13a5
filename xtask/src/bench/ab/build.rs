//! Building one revision into the shared target folder and copying its
//! gateways, upstream and modules (and its image, with `native_docker`) into
//! the arm's own folder, where the `.cwasm` forms of its modules are made
//! with its own gateway-host and the wasmtime CLI (as `cargo xtask build`
//! makes them), so the pooled and AOT variants run that revision's code.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use super::Arm;
use crate::files::copy;
use crate::{docker, paths, variants};

fn cargo(dir: &Path, target: &Path, args: &[&str], extra_env: &[(&str, &str)]) -> Result<()> {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()));
    cmd.current_dir(dir)
        .env("CARGO_TARGET_DIR", target)
        .args(args)
        .stdin(std::process::Stdio::null());
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    let status = cmd
        .status()
        .with_context(|| format!("running cargo {}", args.join(" ")))?;
    if !status.success() {
        bail!(
            "cargo {} in {} failed ({status})",
            args.join(" "),
            dir.display()
        );
    }
    Ok(())
}

/// Build one tree's gateways, upstream and module into `target`, copy them
/// into the arm's folder, and build its image when asked.
pub(super) fn build_tree(dir: &Path, target: &Path, arm: &Arm, with_docker: bool) -> Result<()> {
    cargo(
        dir,
        target,
        &[
            "build",
            "--release",
            "-p",
            "gateway-native",
            "-p",
            "gateway-host",
            "-p",
            "upstream-echo",
        ],
        &[],
    )?;
    // A revision older than the work module has no gateway-work package.
    let mut wasm = vec!["build", "--release", "-p", "gateway-wasm"];
    let modules: &[&str] = if has_package(dir, "gateway-work") {
        wasm.extend(["-p", "gateway-work"]);
        &MODULES
    } else {
        &MODULES[..1]
    };
    wasm.extend(["--target", paths::WASM_TARGET]);
    cargo(dir, target, &wasm, &[])?;
    copy_built(target, &arm.bin, modules)?;
    precompile(&arm.bin);
    if let (true, Some(tag)) = (with_docker, &arm.image) {
        if docker::engine_version().is_err() {
            let containers = variants::names(variants::Variant::is_container);
            eprintln!("no Docker engine: {containers} will be skipped");
            return Ok(());
        }
        cargo(
            dir,
            target,
            &[
                "build",
                "--release",
                "--target",
                paths::STATIC_TARGET,
                "-p",
                "gateway-native",
            ],
            &[(
                "CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUSTFLAGS",
                "-C target-feature=+crt-static",
            )],
        )?;
        let context = arm.bin.join("docker-context");
        std::fs::create_dir_all(&context)?;
        copy(
            &target
                .join(paths::STATIC_TARGET)
                .join("release/gateway-native"),
            &context.join("gateway-native"),
        )?;
        let sha = docker::file_sha256(&context.join("gateway-native"))?;
        docker::build_image(
            tag,
            &dir.join("gateway-native/Dockerfile"),
            &context,
            &[(docker::BINARY_LABEL, sha.as_str())],
        )?;
    }
    Ok(())
}

/// Is `name` a package of the workspace at `dir` (wherever its folder is)?
fn has_package(dir: &Path, name: &str) -> bool {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()))
        .current_dir(dir)
        .args(["pkgid", "--offline", name])
        .stdin(std::process::Stdio::null())
        .output()
        .is_ok_and(|o| o.status.success())
}

const BINS: &[&str] = &["gateway-native", "gateway-host", "upstream-echo"];

/// The Wasm modules, by stem: the study's, and the work module
/// (`compute_wasm`, `json`).
const MODULES: [&str; 2] = ["gateway-wasm", "gateway-work"];

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

/// `<stem>.pooled.cwasm` by the arm's own gateway-host, `<stem>.cli.cwasm`
/// by the wasmtime CLI. Best effort: a revision whose gateway-host cannot
/// precompile (older than the pooled variant) or a missing CLI leaves the
/// file out, and the variant that needs it is skipped as not built.
fn precompile(bin: &Path) {
    let host = bin.join("gateway-host");
    let cli = crate::tools::wasmtime_cli().ok();
    for stem in MODULES {
        let wasm = bin.join(format!("{stem}.wasm"));
        if !wasm.exists() {
            continue;
        }
        let mut jobs: Vec<(Command, PathBuf)> = Vec::new();
        let pooled = bin.join(format!("{stem}.pooled.cwasm"));
        if host.exists() {
            let mut cmd = Command::new(&host);
            cmd.arg("--module")
                .arg(&wasm)
                .arg("--precompile-to")
                .arg(&pooled);
            jobs.push((cmd, pooled));
        }
        if let Some(cli) = &cli {
            let out = bin.join(format!("{stem}.cli.cwasm"));
            let mut cmd = Command::new(&cli.path);
            cmd.arg("compile").arg(&wasm).arg("-o").arg(&out);
            jobs.push((cmd, out));
        }
        for (mut cmd, out) in jobs {
            let ok = cmd
                .stdin(std::process::Stdio::null())
                .output()
                .is_ok_and(|o| o.status.success());
            if !ok {
                let _ = std::fs::remove_file(&out);
                eprintln!("{}: could not be made: left out", out.display());
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
