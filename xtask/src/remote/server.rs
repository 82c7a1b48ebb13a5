//! The client side of a remote run: the agent started over one ssh session,
//! and a method per request. Dropping a [`Server`] closes the session's
//! stdin, on which the agent stops everything and removes its folder.

use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, SocketAddr};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use super::protocol::{Reply, Request};
use crate::sample::Sample;
use crate::ssh::{shell_quote, Host};
use crate::variants::Variant;
use crate::{paths, tools};

/// How long the agent has to stop its gateways and remove its folder.
const EXIT_GRACE: Duration = Duration::from_secs(15);

/// The files a host needs to run every variant this machine has built, each
/// with its place in the agent's folder: the release binaries and the
/// modules (`.wasm`, `.cwasm`) in `bin/`, as a `WGB_BIN_DIR` holds them; the
/// static builds in `static/`, so the host can check its Docker images
/// against them; and the wasmtime CLI (70 MB) if one of `variants` runs it.
pub fn payload(variants: &[&Variant]) -> Vec<(PathBuf, String)> {
    let mut files: Vec<(PathBuf, String)> = Vec::new();
    let mut add = |path: PathBuf, folder: &str| {
        if let Some(name) = path.file_name().and_then(|n| n.to_str()) {
            let to = format!("{folder}/{name}");
            files.push((path, to));
        }
    };
    for bin in ["gateway-native", "gateway-host", "upstream-echo"] {
        add(paths::release_bin(bin), "bin");
    }
    if let Some(dir) = paths::module_file("gateway-wasm.wasm").parent() {
        for module in crate::files::list(dir, ".wasm") {
            add(module, "bin");
        }
        for module in crate::files::list(dir, ".cwasm") {
            add(module, "bin");
        }
    }
    if variants
        .iter()
        .any(|v| crate::variants::uses_wasmtime_cli(v))
    {
        if let Ok(cli) = tools::wasmtime_cli() {
            add(cli.path, "bin");
        }
    }
    for bin in ["gateway-native", "upstream-echo"] {
        add(paths::static_bin(bin), "static");
    }
    files.retain(|(f, _)| f.is_file());
    files
}

/// How the host starts each variant of a run.
#[derive(Debug, Clone)]
pub struct RemoteStart {
    pub listen_ip: IpAddr,
    pub cpu: Option<usize>,
    pub upstream_cpu: Option<usize>,
    pub env: Vec<(String, String)>,
    pub upstream: bool,
}

/// An agent running on a host.
pub struct Server {
    host: Host,
    dir: String,
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

impl Server {
    /// Copies `agent` (this xtask binary) and `files` (local path, place in
    /// the folder) to a fresh folder on `host` and starts the agent there.
    pub fn connect(host: &Host, agent: &Path, files: &[(PathBuf, String)]) -> Result<Server> {
        let dir = host.tempdir()?;
        let started = Self::start(host, &dir, agent, files);
        if started.is_err() {
            let _ = host.cleanup(&dir);
        }
        started
    }

    fn start(host: &Host, dir: &str, agent: &Path, files: &[(PathBuf, String)]) -> Result<Server> {
        let (bin, static_dir) = (format!("{dir}/bin"), format!("{dir}/static"));
        host.run(&format!(
            "mkdir {} {}",
            shell_quote(&bin),
            shell_quote(&static_dir)
        ))?;
        host.copy(agent, &format!("{dir}/xtask"))?;
        for (file, to) in files {
            if to.contains("..") || to.starts_with('/') {
                bail!("{to}: a place inside the agent's folder");
            }
            host.copy(file, &format!("{dir}/{to}"))?;
        }
        let mut env = vec![
            format!("WGB_BIN_DIR={bin}"),
            format!("WGB_STATIC_DIR={static_dir}"),
        ];
        if files.iter().any(|(_, to)| to == "bin/wasmtime") {
            env.push(format!("WASMTIME={bin}/wasmtime"));
        }
        // An A/B arm runs its own image tag; the host runs the same one.
        if let Ok(tag) = std::env::var("WGB_GATEWAY_IMAGE") {
            env.push(format!("WGB_GATEWAY_IMAGE={tag}"));
        }
        let exe = format!("{dir}/xtask");
        let mut argv = vec!["env"];
        argv.extend(env.iter().map(String::as_str));
        argv.extend([exe.as_str(), "agent", "--remove-on-exit", dir]);
        // Its own process group: a Ctrl-C at the terminal reaches the
        // harness, which then stops the run in order, not ssh mid-request.
        let mut child = host
            .command(&argv)
            .process_group(0)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting the agent over ssh")?;
        let stdin = child.stdin.take().context("the agent's stdin")?;
        let stdout = BufReader::new(child.stdout.take().context("the agent's stdout")?);
        Ok(Server {
            host: host.clone(),
            dir: dir.to_owned(),
            child,
            stdin: Some(stdin),
            stdout,
        })
    }

    /// The folder on the host (gone once the agent has ended).
    pub fn dir(&self) -> &str {
        &self.dir
    }

    fn call(&mut self, request: &Request) -> Result<Reply> {
        let stdin = self.stdin.as_mut().context("the agent has ended")?;
        let mut line = serde_json::to_string(request)?;
        line.push('\n');
        stdin
            .write_all(line.as_bytes())
            .and_then(|()| stdin.flush())
            .with_context(|| format!("the agent on {} is gone", self.host.target))?;
        let mut answer = String::new();
        if self.stdout.read_line(&mut answer)? == 0 {
            bail!("the agent on {} ended without answering", self.host.target);
        }
        match serde_json::from_str(&answer)
            .with_context(|| format!("the agent answered {answer:?}"))?
        {
            Reply::Error { message } => bail!("on {}: {message}", self.host.target),
            reply => Ok(reply),
        }
    }

    /// The host whose agent this is.
    pub fn host(&self) -> &Host {
        &self.host
    }

    /// Keep the agent on `cpu` (off the gateway's).
    pub fn pin(&mut self, cpu: usize) -> Result<()> {
        match self.call(&Request::Pin { cpu })? {
            Reply::Pinned => Ok(()),
            other => bail!("unexpected answer to pin: {other:?}"),
        }
    }

    /// `None` when `variant` can run on the host; else why not.
    pub fn availability(&mut self, variant: &str) -> Result<Option<String>> {
        match self.call(&Request::Availability {
            variant: variant.to_owned(),
        })? {
            Reply::Availability { reason } => Ok(reason),
            other => bail!("unexpected answer to availability: {other:?}"),
        }
    }

    /// Start `variant` listening on `listen_ip` (the host's address as this
    /// machine reaches it), with the host upstream if `upstream`; its
    /// address and what the sampler reads.
    pub fn start_variant(
        &mut self,
        variant: &str,
        start: &RemoteStart,
    ) -> Result<(SocketAddr, String)> {
        match self.call(&Request::Start {
            variant: variant.to_owned(),
            listen_ip: start.listen_ip,
            cpu: start.cpu,
            upstream_cpu: start.upstream_cpu,
            env: start.env.clone(),
            upstream: start.upstream,
        })? {
            Reply::Started { addr, sampled } => Ok((addr, sampled)),
            other => bail!("unexpected answer to start: {other:?}"),
        }
    }

    pub fn sample_start(&mut self, every: Duration) -> Result<()> {
        let interval_ms = every.as_millis().max(1) as u64;
        match self.call(&Request::SampleStart { interval_ms })? {
            Reply::Sampling => Ok(()),
            other => bail!("unexpected answer to sample_start: {other:?}"),
        }
    }

    /// A reading taken on the host now (a window edge).
    pub fn reading(&mut self) -> Result<Option<Sample>> {
        match self.call(&Request::Reading)? {
            Reply::Reading { sample } => Ok(sample),
            other => bail!("unexpected answer to reading: {other:?}"),
        }
    }

    pub fn sample_finish(&mut self) -> Result<Vec<Sample>> {
        match self.call(&Request::SampleFinish)? {
            Reply::Samples { samples } => Ok(samples),
            other => bail!("unexpected answer to sample_finish: {other:?}"),
        }
    }

    pub fn alive(&mut self) -> Result<bool> {
        match self.call(&Request::Alive)? {
            Reply::Alive { alive } => Ok(alive),
            other => bail!("unexpected answer to alive: {other:?}"),
        }
    }

    pub fn stop_variant(&mut self) -> Result<()> {
        match self.call(&Request::Stop)? {
            Reply::Stopped => Ok(()),
            other => bail!("unexpected answer to stop: {other:?}"),
        }
    }

    /// `samples` cold starts of `variant` timed on the host, milliseconds.
    pub fn cold(
        &mut self,
        variant: &str,
        samples: usize,
        cpu: Option<usize>,
        env: &[(String, String)],
    ) -> Result<Vec<f64>> {
        match self.call(&Request::Cold {
            variant: variant.to_owned(),
            samples,
            cpu,
            env: env.to_vec(),
        })? {
            Reply::Cold { ms } => Ok(ms),
            other => bail!("unexpected answer to cold: {other:?}"),
        }
    }

    /// The agent's logs, (file name, contents).
    pub fn logs(&mut self) -> Result<Vec<(String, String)>> {
        match self.call(&Request::Logs)? {
            Reply::Logs { files } => Ok(files),
            other => bail!("unexpected answer to logs: {other:?}"),
        }
    }

    /// Send one raw line (tests: what a malformed request gets).
    pub fn raw(&mut self, line: &str) -> Result<String> {
        let stdin = self.stdin.as_mut().context("the agent has ended")?;
        stdin.write_all(line.as_bytes())?;
        stdin.write_all(b"\n")?;
        stdin.flush()?;
        let mut answer = String::new();
        self.stdout.read_line(&mut answer)?;
        Ok(answer)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // EOF on the agent's stdin: it stops everything and removes its
        // folder, then the session ends.
        drop(self.stdin.take());
        let deadline = Instant::now() + EXIT_GRACE;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = self.host.cleanup(&self.dir);
    }
}
