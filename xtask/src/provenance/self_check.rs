//! The xtask binary itself: cargo may run one compiled from another clone
//! that shares the target folder (its file times said fresh). The binary
//! carries the hash of the sources it was compiled from (`build.rs`); when
//! this workspace's differ, its packages are cleaned and the command runs
//! again through `cargo run`, so the harness is this tree's too.

use std::collections::BTreeSet;
use std::os::unix::process::CommandExt as _;

use anyhow::Result;

use super::{Target, Unit};
use crate::paths::Tree;
use crate::source_hash;

/// Set on the command run again, so a second mismatch is reported instead
/// of looping.
const REBUILT: &str = "WGB_XTASK_REBUILT";

/// The hash this binary was compiled from.
pub const BUILT_FROM: &str = env!("WGB_XTASK_SOURCE_HASH");

/// Does this binary come from `root`'s sources? `None` when `root` holds no
/// xtask sources to compare with (a copied agent on a server host).
pub fn matches(root: &std::path::Path) -> Option<bool> {
    root.join("xtask/Cargo.toml")
        .is_file()
        .then(|| source_hash::package_hash(root, "xtask") == BUILT_FROM)
}

/// Returns when this binary is the workspace's; otherwise cleans and runs
/// the command again with `cargo run` (and does not return unless that
/// cannot start).
pub fn ensure() -> Result<()> {
    let tree = Tree::here();
    if matches(&tree.source) != Some(false) {
        return Ok(());
    }
    // Compiled in this very tree, whose sources changed since: `cargo
    // xtask` sees that by file times and rebuilds; a binary started directly
    // (a test's) is left to run, and not removed under the tests using it.
    let compiled_in = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent();
    if compiled_in == Some(tree.source.as_path()) {
        eprintln!(
            "warning: the xtask sources in {} changed since this binary was compiled",
            tree.source.display()
        );
        return Ok(());
    }
    if std::env::var_os(REBUILT).is_some() {
        eprintln!(
            "warning: xtask was rebuilt in {} and still differs from its sources (were they edited during the build?)",
            tree.source.display()
        );
        return Ok(());
    }
    eprintln!(
        "==> this xtask was compiled from other sources than {} (a clone sharing the target folder {}?): rebuilding it here",
        tree.source.display(),
        tree.target.display()
    );
    let units: BTreeSet<Unit> = ["xtask", "gateway-native", "gateway-work"]
        .into_iter()
        .map(|package| Unit::new(package, Target::Host))
        .collect();
    {
        let _lock = super::lock(&tree.target)?;
        super::prepare(&tree, &units, super::Clean::All)?;
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let err = std::process::Command::new(cargo)
        .current_dir(&tree.source)
        .env("CARGO_TARGET_DIR", &tree.target)
        .env(REBUILT, "1")
        .args(["run", "--release", "--package", "xtask", "--"])
        .args(std::env::args_os().skip(1))
        .exec();
    Err(anyhow::Error::new(err).context("running xtask again with `cargo run`"))
}
