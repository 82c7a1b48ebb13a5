//! What a killed harness leaves behind. A harness that dies by SIGKILL runs no
//! cleanup: its processes die with it (PR_SET_PDEATHSIG), but its containers
//! (and their docker-proxy) stay up, and its run's manifest says `running`
//! forever. So every suite and `run` first sweeps what belongs to harnesses
//! that are gone, and says what it removed; a run folder whose harness died
//! is marked `abandoned` (by the next run, or by `report`).
//!
//! Ownership: containers carry `docker::OWNER_LABEL=<pid>`, processes the
//! environment variable [`OWNER_ENV`]`=<pid>`; an owner is gone when no
//! process has that pid. A live run holds an exclusive `flock` on
//! `meta/harness.lock` until its harness exits, however it exits.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result};

use crate::docker::OWNER_LABEL;
pub use crate::process::{pid_alive, OWNER_ENV};
use crate::rundata::manifest::Manifest;
use crate::rundata::RunStatus;

/// The run's lock file, relative to the run folder.
const LOCK: &str = "meta/harness.lock";

/// Removes the containers and kills the processes whose owning harness is
/// gone; prints and returns one line per thing removed.
pub fn sweep() -> Vec<String> {
    let mut removed = sweep_containers();
    removed.extend(sweep_processes());
    for line in &removed {
        eprintln!("stale: removed {line}");
    }
    removed
}

fn sweep_containers() -> Vec<String> {
    let listed = Command::new("docker")
        .args(["ps", "-a", "--filter"])
        .arg(format!("label={OWNER_LABEL}"))
        .arg("--format")
        .arg(format!(
            "{{{{.ID}}}} {{{{.Names}}}} {{{{.Label \"{OWNER_LABEL}\"}}}}"
        ))
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output();
    // No docker CLI or no engine: nothing of ours can be running there.
    let Ok(out) = listed else { return Vec::new() };
    if !out.status.success() {
        return Vec::new();
    }
    let mut removed = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let mut fields = line.split_whitespace();
        let (Some(id), Some(name), owner) = (fields.next(), fields.next(), fields.next()) else {
            continue;
        };
        let owner: Option<u32> = owner.and_then(|o| o.parse().ok());
        if owner.is_some_and(pid_alive) {
            continue;
        }
        let gone = Command::new("docker")
            .args(["rm", "-f", id])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if gone {
            let owner = owner.map_or("?".to_owned(), |p| p.to_string());
            removed.push(format!("container {name} (harness pid {owner} is gone)"));
        }
    }
    removed
}

fn sweep_processes() -> Vec<String> {
    let me = std::process::id();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Some(owner) = owner_of(pid) else { continue };
        if owner == me || pid_alive(owner) {
            continue;
        }
        let name = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        // SAFETY: plain kill(2); the pid was just seen carrying our marker.
        if unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) } == 0 {
            removed.push(format!(
                "process {pid} {} (harness pid {owner} is gone)",
                name.trim()
            ));
        }
    }
    removed
}

/// The [`OWNER_ENV`] value in a process's environment, if it has one.
fn owner_of(pid: u32) -> Option<u32> {
    let environ = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    let prefix = format!("{OWNER_ENV}=");
    environ
        .split(|&b| b == 0)
        .find_map(|var| var.strip_prefix(prefix.as_bytes()))
        .and_then(|v| std::str::from_utf8(v).ok()?.parse().ok())
}

/// Takes the run's lock for the rest of this process's life (the descriptor
/// is leaked on purpose: the kernel releases the lock when the process ends,
/// however it ends).
pub fn hold_run_lock(run: &Path) -> Result<()> {
    let path = run.join(LOCK);
    let file = File::create(&path).with_context(|| format!("creating {}", path.display()))?;
    // SAFETY: flock on a descriptor we own.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        anyhow::bail!("{} is locked by another harness", path.display());
    }
    std::mem::forget(file);
    Ok(())
}

/// Whether the harness that holds (held) `run`'s lock is gone: the lock file
/// exists and can be locked. Runs from before the lock existed are left alone.
fn harness_gone(run: &Path) -> bool {
    let Ok(file) = File::options().write(true).open(run.join(LOCK)) else {
        return false;
    };
    // SAFETY: flock on a descriptor we own; it is released when `file` drops.
    unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) == 0 }
}

/// Marks `run` `abandoned` when its manifest says `running` and its harness is
/// gone; returns whether it did.
pub fn mark_if_abandoned(run: &Path) -> Result<bool> {
    let Ok(mut manifest) = Manifest::read(run) else {
        return Ok(false);
    };
    if manifest.status != RunStatus::Running.name() || !harness_gone(run) {
        return Ok(false);
    }
    manifest.status = RunStatus::Abandoned.name().to_owned();
    manifest.write(run)?;
    eprintln!(
        "stale: marked {} abandoned (its harness died while it ran)",
        run.display()
    );
    Ok(true)
}

/// [`mark_if_abandoned`] on every folder in `runs` (`results/runs`).
pub fn mark_abandoned_runs(runs: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(runs) else {
        return Vec::new();
    };
    entries
        .flatten()
        .map(|e| e.path())
        .filter(|run| mark_if_abandoned(run).unwrap_or(false))
        .collect()
}

/// What every suite and `run` does first.
pub fn sweep_at_start() {
    sweep();
    mark_abandoned_runs(&crate::paths::project_root().join("results/runs"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_own_pid_is_alive_and_a_dead_one_is_not() {
        assert!(pid_alive(std::process::id()));
        let mut child = Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert!(!pid_alive(pid));
    }

    #[test]
    fn a_process_carrying_a_dead_owner_is_killed_and_a_live_owner_kept() {
        let dead = {
            let mut c = Command::new("true").spawn().unwrap();
            let pid = c.id();
            c.wait().unwrap();
            pid
        };
        let mut orphan = Command::new("sleep")
            .arg("60")
            .env(OWNER_ENV, dead.to_string())
            .spawn()
            .unwrap();
        let mut owned = Command::new("sleep")
            .arg("60")
            .env(OWNER_ENV, std::process::id().to_string())
            .spawn()
            .unwrap();
        // spawn returns once the child's old memory is released, which is
        // before exec has laid out the new environment: wait for it.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while owner_of(orphan.id()).is_none() || owner_of(owned.id()).is_none() {
            assert!(
                std::time::Instant::now() < deadline,
                "environ never appeared"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert_eq!(owner_of(orphan.id()), Some(dead));
        let removed = sweep_processes();
        assert!(
            removed
                .iter()
                .any(|l| l.starts_with(&format!("process {} sleep", orphan.id()))),
            "{removed:?}"
        );
        assert!(
            orphan.wait().unwrap().code().is_none(),
            "killed by a signal"
        );
        assert!(
            owned.try_wait().unwrap().is_none(),
            "a live owner's process was killed"
        );
        owned.kill().unwrap();
        owned.wait().unwrap();
    }

    #[test]
    fn a_running_run_is_abandoned_only_once_its_harness_is_gone() {
        let dir = std::env::temp_dir().join(format!("wgb-stale-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("meta")).unwrap();
        let manifest = Manifest {
            status: "running".to_owned(),
            ..Manifest::default()
        };
        manifest.write(&dir).unwrap();
        // No lock file: a run from before the lock existed is left alone.
        assert!(!mark_if_abandoned(&dir).unwrap());
        // A harness (here a child holding the lock) that is alive keeps it running.
        use std::os::unix::process::CommandExt;
        let mut holder = Command::new("flock")
            .arg(dir.join(LOCK))
            .args(["sleep", "60"])
            .process_group(0)
            .spawn()
            .unwrap();
        let started = std::time::Instant::now();
        while !dir.join(LOCK).exists() || !held(&dir) {
            assert!(
                started.elapsed().as_secs() < 10,
                "flock never took the lock"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(!mark_if_abandoned(&dir).unwrap());
        assert_eq!(Manifest::read(&dir).unwrap().status, "running");
        // Killed (flock and the sleep that inherited the lock): the lock is
        // released, and the run is abandoned.
        // SAFETY: kill(2) on the group of a child we have not reaped.
        unsafe { libc::kill(-(holder.id() as libc::pid_t), libc::SIGKILL) };
        holder.wait().unwrap();
        // The sleep is not our child: its exit, which releases the lock,
        // may come a moment after flock's.
        let killed = std::time::Instant::now();
        while held(&dir) {
            assert!(
                killed.elapsed().as_secs() < 10,
                "the lock outlived its holders"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(mark_if_abandoned(&dir).unwrap());
        assert_eq!(Manifest::read(&dir).unwrap().status, "abandoned");
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn held(run: &Path) -> bool {
        !harness_gone(run)
    }
}
