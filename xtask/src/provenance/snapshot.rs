//! A run's own copy of what it measures. Checked outputs in a shared target
//! folder can still be replaced mid-run by another clone's build; so a run
//! copies the outputs its variants run (about 30 MB) into
//! `<target>/wgb-snapshot.<pid>/` and runs them from there (`WGB_BIN_DIR`,
//! `WGB_STATIC_DIR`, as an A/B arm runs its copies). The copy goes when the
//! run ends; one left by a killed harness goes with the next snapshot.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::{Target, Unit};
use crate::files;
use crate::paths::Tree;

const PREFIX: &str = "wgb-snapshot.";

/// The copy; removed on drop.
pub struct Snapshot {
    dir: PathBuf,
}

impl Snapshot {
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Copies one more file into `<snapshot>/<folder>/`; the copy's path.
    pub fn stage(&self, file: &Path, folder: &str) -> Result<PathBuf> {
        let into = self.dir.join(folder);
        std::fs::create_dir_all(&into)?;
        let copy = into.join(file.file_name().context("a file to stage has a name")?);
        files::copy(file, &copy)?;
        Ok(copy)
    }
}

impl Drop for Snapshot {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Copies `units`' outputs and points this process (and what it starts) at
/// the copy. Call before any thread is started: it sets the environment.
pub fn take(tree: &Tree, units: &BTreeSet<Unit>) -> Result<Snapshot> {
    sweep(&tree.target);
    let dir = tree.target.join(format!("{PREFIX}{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let snapshot = Snapshot { dir };
    let (bin, stat) = (snapshot.dir.join("bin"), snapshot.dir.join("static"));
    std::fs::create_dir_all(&bin)?;
    std::fs::create_dir_all(&stat)?;
    for unit in units {
        let into = if unit.target == Target::Static {
            &stat
        } else {
            &bin
        };
        for output in unit.outputs(&tree.target) {
            let from = tree.target.join(&output);
            if from.is_file() {
                let name = output.file_name().expect("an output is a file");
                files::copy(&from, &into.join(name))?;
            }
        }
    }
    // SAFETY (edition 2021: safe): no other thread runs yet.
    std::env::set_var("WGB_BIN_DIR", &bin);
    std::env::set_var("WGB_STATIC_DIR", &stat);
    Ok(snapshot)
}

/// Removes snapshots whose harness is gone.
fn sweep(target: &Path) {
    for entry in std::fs::read_dir(target).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix(PREFIX)
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if !crate::process::pid_alive(pid) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}
