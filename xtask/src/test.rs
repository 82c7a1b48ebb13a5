//! `cargo xtask test`: build everything the tests start (release binaries,
//! the module, the images, the wasmtime CLI), then run the workspace's tests
//! against those builds. `--release` so the tests reuse the release Wasmtime
//! instead of compiling it a second time in the debug profile.

use anyhow::{Context, Result};
use xshell::{cmd, Shell};

use crate::build::{self, BuildArgs};
use crate::{paths, provenance, tools};

#[derive(clap::Args, Debug)]
pub struct TestArgs {
    /// Arguments passed on to `cargo test` (e.g. a test name filter).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub rest: Vec<String>,
}

pub fn run(args: &TestArgs) -> Result<()> {
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
    // Built just above: the suites the tests start must not build again
    // (a nested cargo would wait on the lock this `cargo test` holds).
    let _no_build = sh.push_env("WGB_NO_BUILD", "1");
    let rest = &args.rest;
    // `cargo test` builds the gateways again with the dev-dependencies'
    // features unified in, replacing the outputs `build_all` recorded: build
    // the tests first, from this tree, and record those outputs, so the
    // suites the tests start find this tree's build. The tests then run a
    // copy of those outputs (`WGB_BIN_DIR`, `WGB_STATIC_DIR`): another tree
    // building into the same target folder meanwhile (a second runner, a
    // developer's clone) replaces the target folder's binaries, not the
    // copy.
    cmd!(sh, "cargo test --release --workspace --no-run")
        .run()
        .context("building the tests failed")?;
    let units = provenance::built(&tree, &provenance::units_for(&every));
    provenance::record(&tree, &units)?;
    provenance::verify(&tree, &units)?;
    let _staged = provenance::snapshot::take(&tree, &units)?;
    drop(lock);
    let _module = sh.push_env("GATEWAY_WASM_MODULE", paths::wasm_module());
    cmd!(sh, "cargo test --release --workspace {rest...}")
        .run()
        .context("cargo test failed")?;
    Ok(())
}
