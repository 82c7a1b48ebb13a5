//! `cargo xtask test`: build everything the tests start (release binaries,
//! the module, the images, the wasmtime CLI), then run the workspace's tests
//! against those builds. `--release` so the tests reuse the release Wasmtime
//! instead of compiling it a second time in the debug profile.
//!
//! The target folder may be shared with another tree (a second runner, a
//! developer's clone) that builds into it while these tests run. So the
//! tests are built and recorded under the build lock, and then run from a
//! copy: the gateways, the module, xtask and the test executables
//! themselves ([`provenance::snapshot`]), with no cargo between that could
//! rebuild them from the other tree's sources.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use xshell::{cmd, Shell};

use crate::build::{self, BuildArgs};
use crate::{paths, provenance, tools};

#[derive(clap::Args, Debug)]
pub struct TestArgs {
    /// Arguments passed on to `cargo test` (e.g. `-p xtask --test it --
    /// FILTER`): those before `--` select what to build, those after go to
    /// each test executable.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub rest: Vec<String>,
}

/// One test executable and the package it tests.
struct TestExe {
    path: PathBuf,
    package_dir: PathBuf,
}

pub fn run(args: &TestArgs) -> Result<()> {
    let (cargo_args, test_args) = split_args(&args.rest);
    let tree = build::Tree::here();
    // Held from the first build to the copy below, so another tree's `cargo
    // xtask` cannot build into the target folder in between.
    let lock = provenance::lock(&tree.target)?;
    let every: Vec<_> = crate::variants::VARIANTS.iter().collect();
    build::build_locked(&BuildArgs::default(), &every)?;
    let sh = Shell::new()?;
    sh.change_dir(paths::project_root());
    let _cli = match tools::wasmtime_cli() {
        Ok(found) => Some(sh.push_env("WASMTIME", found.path)),
        Err(e) => {
            eprintln!("warning: {e:#}; the tests that need the wasmtime CLI will fail");
            None
        }
    };
    // Built just above: the suites the tests start must not build again.
    let _no_build = sh.push_env("WGB_NO_BUILD", "1");
    // The tests share the machine with each other: a bench they start keeps
    // its cells' disturbance readings without re-running or dropping cells
    // (tests/it/disturbance.rs checks the re-runs, asking for them).
    let _record = sh.push_env("WGB_ON_DISTURBANCE", "record");
    // `cargo test` builds the gateways again with the dev-dependencies'
    // features unified in, replacing the outputs `build_all` recorded: build
    // the tests first, from this tree, and record those outputs.
    let exes = build_tests(&sh, &cargo_args)?;
    let units = provenance::built(&tree, &provenance::units_for(&every));
    provenance::record(&tree, &units)?;
    provenance::verify(&tree, &units)?;
    // Doc-tests compile when they run, against the target folder's
    // libraries: they run now, while no other tree can replace them.
    if selects_every_target(&cargo_args) {
        let _module = sh.push_env("GATEWAY_WASM_MODULE", paths::wasm_module());
        let test_args = &test_args;
        cmd!(
            sh,
            "cargo test --release --workspace --doc {cargo_args...} -- {test_args...}"
        )
        .run()
        .context("the doc-tests failed")?;
    }
    let staged = provenance::snapshot::take(&tree, &units)?;
    // The tests start xtask itself from here too (`support::xtask_exe`).
    staged.stage(&tree.target.join("release/xtask"), "bin")?;
    let mut copies = Vec::new();
    for exe in &exes {
        copies.push(TestExe {
            path: staged.stage(&exe.path, "tests")?,
            package_dir: exe.package_dir.clone(),
        });
    }
    drop(lock);
    // The staged module (`WGB_BIN_DIR` is set now), not the target folder's.
    let _module = sh.push_env("GATEWAY_WASM_MODULE", paths::wasm_module());
    let mut failed = Vec::new();
    for exe in &copies {
        let name = exe.path.file_name().unwrap_or_default().to_string_lossy();
        println!("\n     Running {name} ({})", exe.package_dir.display());
        let status = Command::new(&exe.path)
            .args(&test_args)
            .current_dir(&exe.package_dir)
            // What cargo sets when it runs a test, plus where the copies are.
            .env("CARGO_MANIFEST_DIR", &exe.package_dir)
            .env("CARGO_TARGET_DIR", &tree.target)
            .envs(sh_env(&sh))
            .status()
            .with_context(|| format!("starting {}", exe.path.display()))?;
        if !status.success() {
            failed.push(format!("{name} ({})", exe.package_dir.display()));
        }
    }
    if !failed.is_empty() {
        bail!("tests failed in: {}", failed.join(", "));
    }
    Ok(())
}

/// `cargo test` arguments (before `--`) and the test executables' (after).
fn split_args(rest: &[String]) -> (Vec<String>, Vec<String>) {
    match rest.iter().position(|a| a == "--") {
        Some(i) => (rest[..i].to_vec(), rest[i + 1..].to_vec()),
        None => (rest.to_vec(), Vec::new()),
    }
}

/// No target selection (`--test it`, `--lib`, ...): the doc-tests are part
/// of the run, as in a plain `cargo test`.
fn selects_every_target(cargo_args: &[String]) -> bool {
    const SELECTING: [&str; 10] = [
        "--lib",
        "--bin",
        "--bins",
        "--test",
        "--tests",
        "--bench",
        "--benches",
        "--example",
        "--examples",
        "--doc",
    ];
    !cargo_args
        .iter()
        .any(|a| SELECTING.contains(&a.split('=').next().unwrap_or(a)))
}

/// Builds the tests (`cargo test --no-run`) and lists their executables.
fn build_tests(sh: &Shell, cargo_args: &[String]) -> Result<Vec<TestExe>> {
    let out = cmd!(
        sh,
        "cargo test --release --workspace --no-run --message-format=json-render-diagnostics {cargo_args...}"
    )
    .read()
    .context("building the tests failed")?;
    let mut exes = Vec::new();
    for line in out.lines() {
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let is_test = msg["reason"] == "compiler-artifact" && msg["profile"]["test"] == true;
        let (Some(path), Some(manifest)) =
            (msg["executable"].as_str(), msg["manifest_path"].as_str())
        else {
            continue;
        };
        if is_test {
            exes.push(TestExe {
                path: PathBuf::from(path),
                package_dir: Path::new(manifest)
                    .parent()
                    .context("a manifest path has a folder")?
                    .to_path_buf(),
            });
        }
    }
    if exes.is_empty() {
        bail!(
            "`cargo test --no-run {}` built no test executable",
            cargo_args.join(" ")
        );
    }
    Ok(exes)
}

/// The variables pushed on `sh` (WASMTIME, WGB_NO_BUILD, ...), for a
/// command started outside it.
fn sh_env(sh: &Shell) -> Vec<(String, String)> {
    [
        "WASMTIME",
        "WGB_NO_BUILD",
        "WGB_ON_DISTURBANCE",
        "GATEWAY_WASM_MODULE",
    ]
    .into_iter()
    .filter_map(|k| sh.var(k).ok().map(|v| (k.to_owned(), v)))
    .collect()
}
