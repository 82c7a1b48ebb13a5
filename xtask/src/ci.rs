//! `cargo xtask ci`: what `.github/workflows/ci.yml` runs, locally, in the
//! same order: `cargo fmt --check`, `cargo clippy -D warnings` on every
//! target, then `cargo xtask test` (which builds the binaries, the Wasm
//! module, the images and the wasmtime CLI, then runs every test, the
//! workflow check with actionlint included). A green local run predicts a
//! green hosted run: ci.yml calls this command, nothing else.

use std::time::Instant;

use anyhow::{Context, Result};
use xshell::{cmd, Shell};

use crate::{paths, test};

#[derive(clap::Args, Debug)]
pub struct CiArgs {
    /// Only the checks (fmt and clippy), not `cargo xtask test`.
    #[arg(long)]
    pub no_test: bool,
}

pub fn run(args: &CiArgs) -> Result<()> {
    let sh = Shell::new()?;
    sh.change_dir(paths::project_root());
    let started = Instant::now();
    let step = |what: &str| eprintln!("\n==> {what} ({}s)", started.elapsed().as_secs());

    step("cargo fmt --check");
    cmd!(sh, "cargo fmt --all -- --check")
        .run()
        .context("cargo fmt --check found unformatted code (run `cargo fmt --all`)")?;

    step("cargo clippy -D warnings");
    cmd!(
        sh,
        "cargo clippy --release --workspace --all-targets -- -D warnings"
    )
    .run()
    .context("cargo clippy found warnings")?;

    if !args.no_test {
        step("cargo xtask test");
        test::run(&test::TestArgs { rest: Vec::new() })?;
    }
    step("ci: all green");
    Ok(())
}
