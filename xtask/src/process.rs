//! Child processes that cannot outlive us: each gets its own process group
//! (so a terminal's Ctrl-C reaches only xtask, which then tears down in
//! order), PR_SET_PDEATHSIG (so a SIGKILLed xtask still takes them along),
//! optional CPU pinning ([`crate::affinity`]), and a Drop that kills and reaps.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};

use crate::affinity;

/// Set on every process the harness starts, with the harness's pid, so a
/// later harness can tell whose it was (`stale`).
pub const OWNER_ENV: &str = "WGB_OWNER";

/// Whether a process with this pid exists (a zombie counts: it is not gone
/// until reaped, and its pid cannot be reused before).
pub fn pid_alive(pid: u32) -> bool {
    pid > 0 && Path::new(&format!("/proc/{pid}")).exists()
}

/// A running child process, killed and reaped on drop.
pub struct Proc {
    name: String,
    child: Option<Child>,
}

impl Proc {
    /// Spawn `cmd`, pinned to `cpu` when given.
    pub fn spawn(name: &str, mut cmd: Command, cpu: Option<usize>) -> Result<Proc> {
        // SAFETY: only async-signal-safe libc calls between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                match cpu {
                    Some(cpu) => affinity::pin_thread(cpu),
                    None => Ok(()),
                }
            });
        }
        cmd.process_group(0);
        // Marks it ours, so a later harness can sweep it if we die (`stale`).
        cmd.env(OWNER_ENV, std::process::id().to_string());
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {name} ({:?})", cmd.get_program()))?;
        Ok(Proc {
            name: name.to_owned(),
            child: Some(child),
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Read the `listening on ADDR` line the gateways and upstream print once
    /// bound; the rest of stdout keeps being drained so the child never blocks
    /// on a full pipe.
    pub fn wait_listening(&mut self, timeout: Duration) -> Result<SocketAddr> {
        let child = self.child.as_mut().context("process already stopped")?;
        let stdout = child
            .stdout
            .take()
            .context("stdout was not piped; cannot read the listening address")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if !sent {
                    if let Some(addr) = line.strip_prefix("listening on ") {
                        sent = tx.send(addr.trim().to_owned()).is_ok();
                    }
                }
            }
        });
        let deadline = Instant::now() + timeout;
        loop {
            match rx.recv_timeout(Duration::from_millis(20)) {
                Ok(addr) => {
                    return addr
                        .parse()
                        .with_context(|| format!("{} printed a bad address {addr:?}", self.name))
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = self.wait_exit(Duration::from_secs(1));
                    bail!("{} exited before listening ({status:?})", self.name);
                }
            }
            if let Some(status) = self.try_wait()? {
                bail!("{} exited before listening: {status}", self.name);
            }
            if Instant::now() > deadline {
                bail!(
                    "{} did not print `listening on` within {timeout:?}",
                    self.name
                );
            }
        }
    }

    /// The exit status if the child has ended.
    pub fn try_wait(&mut self) -> Result<Option<ExitStatus>> {
        match self.child.as_mut() {
            Some(child) => Ok(child.try_wait()?),
            None => Err(anyhow!("{} already stopped", self.name)),
        }
    }

    fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        None
    }

    /// SIGTERM the process group, then SIGKILL after a grace period; always
    /// reaps. Returns the exit status.
    pub fn stop(&mut self) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        let pgid = child.id() as libc::pid_t;
        // SAFETY: plain kill(2) on our own child's process group.
        unsafe { libc::kill(-pgid, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_millis(500);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                // Children of the group (a CLI runtime per request) may remain.
                unsafe { libc::kill(-pgid, libc::SIGKILL) };
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        unsafe { libc::kill(-pgid, libc::SIGKILL) };
        child.wait().ok()
    }

    /// SIGKILL at once and reap (the cold-start suite's `kill -9`).
    pub fn kill_now(&mut self) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        let pgid = child.id() as libc::pid_t;
        unsafe { libc::kill(-pgid, libc::SIGKILL) };
        child.wait().ok()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A command with stdout piped (for `listening on`), stdin closed, and stderr
/// inherited or sent to `log`.
pub fn command(program: &std::path::Path, log: Option<&std::path::Path>) -> Result<Command> {
    let mut cmd = Command::new(program);
    cmd.stdin(Stdio::null()).stdout(Stdio::piped());
    match log {
        Some(path) => {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("opening log {}", path.display()))?;
            cmd.stderr(file);
        }
        None => {
            cmd.stderr(Stdio::inherit());
        }
    }
    Ok(cmd)
}
