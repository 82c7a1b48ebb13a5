//! The one git worktree both revisions are checked out in, and `git`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

pub(super) fn rev_parse(root: &Path, rev: &str) -> Result<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["rev-parse", "--verify", "--quiet"])
        .arg(format!("{rev}^{{commit}}"))
        .output()
        .context("running git")?;
    if !out.status.success() {
        bail!(
            "revision {rev:?} is not a commit of {} (a shallow clone? check out with fetch-depth: 0)",
            root.display()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

pub(super) fn git(args: &[&str], dir: &Path) -> Result<()> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .context("running git")?;
    if !out.status.success() {
        bail!(
            "git {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// The one worktree both revisions are built in; removed on drop.
pub(super) struct Worktree {
    repo: PathBuf,
    pub(super) path: PathBuf,
    added: std::cell::Cell<bool>,
}

impl Worktree {
    pub(super) fn new(repo: &Path, path: &Path) -> Result<Worktree> {
        let wt = Worktree {
            repo: repo.to_path_buf(),
            path: path.to_path_buf(),
            added: std::cell::Cell::new(false),
        };
        wt.remove(); // a crashed run's leftovers
        Ok(wt)
    }

    pub(super) fn checkout(&self, sha: &str) -> Result<()> {
        if self.added.get() {
            git(
                &["checkout", "--quiet", "--detach", "--force", sha],
                &self.path,
            )
        } else {
            if let Some(parent) = self.path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            let path = self.path.to_string_lossy().into_owned();
            git(
                &[
                    "worktree", "add", "--quiet", "--detach", "--force", &path, sha,
                ],
                &self.repo,
            )?;
            self.added.set(true);
            Ok(())
        }
    }

    fn remove(&self) {
        let path = self.path.to_string_lossy().into_owned();
        let _ = git(&["worktree", "remove", "--force", &path], &self.repo);
        let _ = std::fs::remove_dir_all(&self.path);
        let _ = git(&["worktree", "prune"], &self.repo);
    }
}

impl Drop for Worktree {
    fn drop(&mut self) {
        self.remove();
    }
}
