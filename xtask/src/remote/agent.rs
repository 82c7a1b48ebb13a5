//! `cargo xtask agent`: the server side of a remote run (see `remote`). It
//! reads [`Request`]s on stdin, one JSON line each, and answers each with
//! one [`Reply`] line on stdout. When stdin closes it stops what it started
//! and removes the folder it was copied into, so nothing stays on the host.

use std::io::{BufRead, Write};
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};

use super::protocol::{Reply, Request};
use crate::sample::{Sampler, Target};
use crate::upstream::Upstream;
use crate::variants::{self, Running, StartOpts};

/// Every folder the client makes on a host starts so (`ssh::Host::tempdir`).
const REMOTE_DIR_PREFIX: &str = "/tmp/wgb-remote.";

/// More cold samples in one request than any profile takes (the client
/// waits for the answer; 1000 Docker starts would take minutes).
const MAX_COLD_SAMPLES: usize = 1000;

#[derive(clap::Args, Debug)]
pub struct AgentArgs {
    /// The folder the client copied this binary into, removed when the
    /// agent ends (only a `/tmp/wgb-remote.*` folder is accepted).
    #[arg(long)]
    pub remove_on_exit: Option<PathBuf>,
}

/// What the agent has started.
#[derive(Default)]
struct Agent {
    /// Where the gateways' stderr goes (the copied folder).
    logs: Option<PathBuf>,
    upstream: Option<Upstream>,
    running: Option<Running>,
    target: Option<Target>,
    sampler: Option<Sampler>,
}

impl Agent {
    fn stop(&mut self) {
        if let Some(sampler) = self.sampler.take() {
            sampler.finish();
        }
        self.target = None;
        if let Some(running) = self.running.take() {
            running.stop();
        }
        self.upstream = None;
    }

    fn handle(&mut self, request: Request) -> Result<Reply> {
        match request {
            Request::Pin { cpu } => {
                // Threads started later (the sampler) inherit it.
                crate::affinity::pin_thread(cpu).context("pinning the agent")?;
                Ok(Reply::Pinned)
            }
            Request::Availability { variant } => Ok(Reply::Availability {
                reason: variants::find(&variant)?.availability().err(),
            }),
            Request::Start {
                variant,
                listen_ip,
                cpu,
                upstream_cpu,
                env,
                upstream,
            } => {
                self.stop();
                let variant = variants::find(&variant)?;
                if let Err(reason) = variant.availability() {
                    bail!("{} cannot run on this host: {reason}", variant.name);
                }
                if upstream && variant.needs_host_upstream() {
                    let any = SocketAddr::from(([127, 0, 0, 1], 0));
                    let log = self.log("upstream");
                    self.upstream = Some(Upstream::start(any, upstream_cpu, log.as_deref())?);
                }
                let upstream = self
                    .upstream
                    .as_ref()
                    .map_or(SocketAddr::from(([127, 0, 0, 1], 9)), |u| u.addr);
                let mut opts = StartOpts::new(upstream);
                opts.listen = Some(SocketAddr::new(listen_ip, free_port(listen_ip)?));
                opts.cpu = cpu;
                opts.upstream_cpu = upstream_cpu;
                opts.env = env;
                opts.log = self.log(variant.name);
                let running = variant.start(&opts)?;
                let (target, sampled) = running.sample_target()?;
                let addr = running.addr;
                self.running = Some(running);
                self.target = Some(target);
                Ok(Reply::Started { addr, sampled })
            }
            Request::SampleStart { interval_ms } => {
                let target = self.target.clone().context("no gateway is running")?;
                if let Some(old) = self.sampler.take() {
                    old.finish();
                }
                let every = Duration::from_millis(interval_ms.max(1));
                self.sampler = Some(Sampler::start(target, every));
                Ok(Reply::Sampling)
            }
            Request::Reading => {
                let sampler = self.sampler.as_ref().context("not sampling")?;
                Ok(Reply::Reading {
                    sample: sampler.reading(),
                })
            }
            Request::SampleFinish => {
                let sampler = self.sampler.take().context("not sampling")?;
                Ok(Reply::Samples {
                    samples: sampler.finish(),
                })
            }
            Request::Alive => Ok(Reply::Alive {
                alive: self.running.as_mut().is_some_and(Running::alive),
            }),
            Request::Stop => {
                self.stop();
                Ok(Reply::Stopped)
            }
            Request::Cold {
                variant,
                samples,
                cpu,
                env,
            } => {
                self.stop();
                if samples == 0 || samples > MAX_COLD_SAMPLES {
                    bail!("cold samples must be 1..={MAX_COLD_SAMPLES}, got {samples}");
                }
                let resolved = variants::find(&variant)?
                    .resolve()
                    .map_err(anyhow::Error::msg)?;
                // A cold start serves `/` only: no upstream.
                let mut opts = StartOpts::new(SocketAddr::from(([127, 0, 0, 1], 9)));
                opts.cpu = cpu;
                opts.env = env;
                opts.log = self.log(&variant);
                let ms = (0..samples)
                    .map(|_| crate::cold_start::exec_to_first_200(&resolved, &opts))
                    .collect::<Result<Vec<f64>>>()?;
                Ok(Reply::Cold { ms })
            }
            Request::Logs => {
                let dir = self.logs.as_ref().context("this agent keeps no logs")?;
                let mut files = Vec::new();
                for path in crate::files::list(dir, ".log") {
                    let name = path.file_name().unwrap_or_default();
                    let text = std::fs::read(&path)
                        .with_context(|| format!("reading {}", path.display()))?;
                    let text = String::from_utf8_lossy(&text).into_owned();
                    files.push((name.to_string_lossy().into_owned(), text));
                }
                Ok(Reply::Logs { files })
            }
        }
    }

    /// Where `name`'s stderr goes: `<name>.log` in the agent's folder.
    fn log(&self, name: &str) -> Option<PathBuf> {
        self.logs
            .as_ref()
            .map(|dir| dir.join(format!("{name}.log")))
    }
}

/// A port free on `ip` now (the gateway binds it a moment later).
fn free_port(ip: IpAddr) -> Result<u16> {
    let listener = TcpListener::bind((ip, 0)).with_context(|| format!("binding {ip}:0"))?;
    Ok(listener.local_addr()?.port())
}

pub fn run(args: &AgentArgs) -> Result<()> {
    if let Some(dir) = &args.remove_on_exit {
        if !dir.to_string_lossy().starts_with(REMOTE_DIR_PREFIX) {
            bail!(
                "--remove-on-exit {}: only a {REMOTE_DIR_PREFIX}* folder",
                dir.display()
            );
        }
    }
    // A previous agent killed outright leaves its gateways behind.
    crate::stale::sweep();
    let mut agent = Agent {
        logs: args.remove_on_exit.clone(),
        ..Agent::default()
    };
    let served = serve(&mut agent);
    agent.stop();
    crate::docker::sweep_own();
    if let Some(dir) = &args.remove_on_exit {
        remove(dir);
    }
    served
}

/// Answer requests until stdin closes.
fn serve(agent: &mut Agent) -> Result<()> {
    let mut out = std::io::stdout().lock();
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let reply = match serde_json::from_str::<Request>(&line) {
            Ok(request) => agent.handle(request).unwrap_or_else(|e| Reply::Error {
                message: format!("{e:#}"),
            }),
            Err(e) => Reply::Error {
                message: format!("not a request: {e}"),
            },
        };
        serde_json::to_writer(&mut out, &reply)?;
        out.write_all(b"\n")?;
        out.flush()?;
    }
    Ok(())
}

fn remove(dir: &Path) {
    if let Err(e) = std::fs::remove_dir_all(dir) {
        eprintln!("agent: removing {}: {e}", dir.display());
    }
}
