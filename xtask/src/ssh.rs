//! A server host reached with OpenSSH, for running a gateway on another
//! machine than the load generator (issue 11). The host is handed to `ssh`
//! as it is, so `USER@HOST` and `~/.ssh/config`'s aliases, ports and keys
//! work; nothing is installed there but the files copied by [`Host::copy`],
//! all under one temporary folder that [`Host::cleanup`] removes.
//!
//! This module is the transport only, tested against a local sshd
//! (tests/it/ssh.rs); `remote` drives an agent through it.

use std::io::Write;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::rundata::manifest::Machine;

/// A remote host as `ssh` names it.
#[derive(Debug, Clone)]
pub struct Host {
    /// `HOST`, `USER@HOST` or an alias of the ssh configuration.
    pub target: String,
    /// An ssh configuration file (`ssh -F`) instead of `~/.ssh/config`.
    pub config: Option<PathBuf>,
}

/// A process started on the host, in its own process group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RemotePid(pub u32);

impl Host {
    pub fn new(target: &str) -> Host {
        Host {
            target: target.to_owned(),
            config: None,
        }
    }

    fn ssh(&self) -> Command {
        let mut cmd = Command::new("ssh");
        if let Some(cfg) = &self.config {
            cmd.arg("-F").arg(cfg);
        }
        // Never prompt (a run is unattended); fail fast on a dead host.
        cmd.args(["-o", "BatchMode=yes", "-o", "ConnectTimeout=10"]);
        cmd.arg(&self.target).arg("--");
        cmd
    }

    /// `argv` run on the host, each argument quoted for its shell; stdin,
    /// stdout and stderr are the caller's to set.
    pub fn command(&self, argv: &[&str]) -> Command {
        let line: Vec<String> = argv.iter().map(|a| shell_quote(a)).collect();
        let mut cmd = self.ssh();
        cmd.arg(line.join(" "));
        cmd
    }

    /// Run a shell command line on the host; its stdout, or an error with
    /// its stderr.
    pub fn run(&self, script: &str) -> Result<String> {
        let out = self
            .ssh()
            .arg(script)
            .stdin(Stdio::null())
            .output()
            .context("running ssh")?;
        if !out.status.success() {
            bail!(
                "ssh {}: `{script}` failed ({}): {}",
                self.target,
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// A fresh temporary folder on the host for this run's files.
    pub fn tempdir(&self) -> Result<String> {
        let dir = self.run("mktemp -d /tmp/wgb-remote.XXXXXX")?;
        let dir = dir.trim().to_owned();
        if !dir.starts_with("/tmp/wgb-remote.") {
            bail!("ssh {}: mktemp said {dir:?}", self.target);
        }
        Ok(dir)
    }

    /// Copy a local file to `remote` (executable), through ssh's stdin so
    /// that no scp/sftp setup is needed.
    pub fn copy(&self, local: &Path, remote: &str) -> Result<()> {
        let bytes = std::fs::read(local).with_context(|| format!("reading {}", local.display()))?;
        let mut child = self
            .ssh()
            .arg(format!(
                "cat > {q} && chmod 755 {q}",
                q = shell_quote(remote)
            ))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context("running ssh")?;
        child.stdin.take().context("ssh stdin")?.write_all(&bytes)?;
        let out = child.wait_with_output()?;
        if !out.status.success() {
            bail!(
                "copying {} to {}:{remote}: {}",
                local.display(),
                self.target,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(())
    }

    /// Start `argv` on the host in the background, in a new session (so its
    /// whole process group can be stopped), stdout and stderr to `log`.
    pub fn spawn(&self, argv: &[&str], log: &str) -> Result<RemotePid> {
        let line: Vec<String> = argv.iter().map(|a| shell_quote(a)).collect();
        let script = format!(
            "setsid {} > {} 2>&1 < /dev/null & echo $!",
            line.join(" "),
            shell_quote(log)
        );
        let out = self.run(&script)?;
        let pid = out
            .trim()
            .parse()
            .with_context(|| format!("ssh {}: no pid in {out:?}", self.target))?;
        Ok(RemotePid(pid))
    }

    /// Is anything of the process's group still running on the host?
    /// (Zombies do not count: where the host's init does not reap orphans,
    /// as in a container, a killed process stays one.)
    pub fn alive(&self, pid: RemotePid) -> Result<bool> {
        let out = self.run(&format!(
            "{LIVE} group_live {} && echo yes || echo no",
            pid.0
        ))?;
        Ok(out.trim() == "yes")
    }

    /// SIGTERM the process group, then SIGKILL what is left after a second.
    pub fn stop(&self, pid: RemotePid) -> Result<()> {
        let p = pid.0;
        self.run(&format!(
            "{LIVE} kill -TERM -{p} 2>/dev/null; i=0; \
             while group_live {p} && [ $i -lt 20 ]; do sleep 0.05; i=$((i+1)); done; \
             kill -KILL -{p} 2>/dev/null; true"
        ))?;
        Ok(())
    }

    /// Remove the run's temporary folder (and everything copied there).
    pub fn cleanup(&self, dir: &str) -> Result<()> {
        if !dir.starts_with("/tmp/wgb-remote.") {
            bail!("refusing to remove {dir:?} on {}", self.target);
        }
        self.run(&format!("rm -rf {}", shell_quote(dir)))?;
        Ok(())
    }

    /// The host's CPU model, online CPUs, memory and name, as
    /// [`crate::rundata::manifest::machine`] reads them locally, and its kernel.
    pub fn machine(&self) -> Result<(Machine, String)> {
        let out = self.run(
            "grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2-; getconf _NPROCESSORS_ONLN; \
             grep '^MemTotal:' /proc/meminfo | tr -dc 0-9; echo; \
             cat /proc/sys/kernel/hostname; uname -srm",
        )?;
        let lines: Vec<&str> = out.lines().map(str::trim).collect();
        let [model, cpus, mem, host, kernel] = lines[..] else {
            bail!("ssh {}: unexpected machine facts {out:?}", self.target);
        };
        Ok((
            Machine {
                cpu_model: model.to_owned(),
                cpus: cpus.parse().unwrap_or(0),
                mem_total_kb: mem.parse().unwrap_or(0),
                hostname: host.to_owned(),
            },
            kernel.to_owned(),
        ))
    }

    /// The host's ssh address as `ssh -G` resolves the target (its
    /// `HostName` and `Port`, aliases of the configuration included).
    pub fn endpoint(&self) -> Result<SocketAddr> {
        let mut cmd = Command::new("ssh");
        if let Some(cfg) = &self.config {
            cmd.arg("-F").arg(cfg);
        }
        let out = cmd.arg("-G").arg(&self.target).output()?;
        let text = String::from_utf8_lossy(&out.stdout);
        let field = |k: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("{k} ")))
                .map(str::to_owned)
        };
        let host = field("hostname").context("ssh -G: no hostname")?;
        let port: u16 = field("port").context("ssh -G: no port")?.parse()?;
        (host.as_str(), port)
            .to_socket_addrs()
            .with_context(|| format!("resolving {host}"))?
            .next()
            .with_context(|| format!("{host} has no address"))
    }

    /// The network round trip to the host: the median time of a TCP
    /// connect to its ssh port (one SYN/SYN-ACK), so the figure is the
    /// path, not ssh's handshake.
    pub fn round_trip(&self, tries: usize) -> Result<Duration> {
        let addr = self.endpoint()?;
        let mut times = Vec::new();
        for _ in 0..tries.max(1) {
            let t = Instant::now();
            let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
            times.push(t.elapsed());
            drop(s);
        }
        times.sort();
        Ok(times[times.len() / 2])
    }
}

/// Shell functions: `live PID` (running, not a zombie) and `group_live
/// PGID` (any member of the group live), from /proc alone.
const LIVE: &str = "live() { s=$(sed 's/.*) //' /proc/$1/stat 2>/dev/null | cut -c1); \
                    [ -n \"$s\" ] && [ \"$s\" != Z ]; }; \
                    group_live() { for q in $(pgrep -g $1); do live $q && return 0; done; return 1; };";

/// `s` single-quoted for a POSIX shell.
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_survives_quotes() {
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
    }
}
