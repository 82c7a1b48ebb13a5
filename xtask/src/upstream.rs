//! The host upstream (`upstream-echo`) the proxy workload forwards to.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::process::{self, Proc};
use crate::{paths, probe};

pub struct Upstream {
    pub addr: SocketAddr,
    _proc: Proc,
}

impl Upstream {
    /// Start `upstream-echo` on `listen` (port 0 for a free one), pinned to
    /// `cpu` when given, and wait until it answers.
    pub fn start(listen: SocketAddr, cpu: Option<usize>, log: Option<&Path>) -> Result<Upstream> {
        let bin = paths::release_bin("upstream-echo");
        if !bin.exists() {
            anyhow::bail!("{} is not built (run `cargo xtask build`)", bin.display());
        }
        let mut cmd = process::command(&bin, log)?;
        cmd.arg("--listen").arg(listen.to_string());
        let mut proc = Proc::spawn("upstream-echo", cmd, cpu)?;
        let addr = proc.wait_listening(Duration::from_secs(10))?;
        probe::wait_ok(addr, "/", Duration::from_millis(1), Duration::from_secs(10))
            .context("upstream-echo did not answer")?;
        Ok(Upstream { addr, _proc: proc })
    }
}
