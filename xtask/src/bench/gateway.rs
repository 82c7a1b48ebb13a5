//! A started variant as the suites see it: here ([`Running`]) or on the
//! server host of `--server-host` (started, sampled and stopped by its
//! agent). The suites drive load at [`Gateway::addr`] either way, so the
//! load generator and the clients are the same code in both.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Result;

use crate::remote::Server;
use crate::sample::{Sample, Sampler};
use crate::variants::Running;

/// The agent of a run, shared by the session and what it started.
pub type SharedServer = Arc<Mutex<Server>>;

pub enum Gateway {
    Local(Running),
    Remote {
        server: SharedServer,
        addr: SocketAddr,
        /// What the host's sampler reads, in words (from the agent).
        sampled: String,
    },
}

impl Gateway {
    /// Where the load generator sends requests.
    pub fn addr(&self) -> SocketAddr {
        match self {
            Gateway::Local(running) => running.addr,
            Gateway::Remote { addr, .. } => *addr,
        }
    }

    /// Is it still up? (A remote agent that cannot say counts as down.)
    pub fn alive(&mut self) -> bool {
        match self {
            Gateway::Local(running) => running.alive(),
            Gateway::Remote { server, .. } => lock(server).alive().unwrap_or(false),
        }
    }

    /// Stop it (and, remotely, its upstream).
    pub fn stop(self) {
        match self {
            Gateway::Local(running) => running.stop(),
            Gateway::Remote { server, .. } => {
                // A lost agent stops everything itself when its session ends.
                let _ = lock(&server).stop_variant();
            }
        }
    }

    /// Start sampling its resources every `every`; what is sampled, in words.
    pub fn sampler(&self, every: Duration) -> Result<(GatewaySampler, String)> {
        match self {
            Gateway::Local(running) => {
                let (target, sampled) = running.sample_target()?;
                Ok((
                    GatewaySampler::Local(Sampler::start(target, every)),
                    sampled,
                ))
            }
            Gateway::Remote {
                server, sampled, ..
            } => {
                lock(server).sample_start(every)?;
                Ok((GatewaySampler::Remote(server.clone()), sampled.clone()))
            }
        }
    }
}

/// The resource sampler of a [`Gateway`]; a remote one runs on the host, so
/// its readings and window edges are on the host's clock.
pub enum GatewaySampler {
    Local(Sampler),
    Remote(SharedServer),
}

impl GatewaySampler {
    /// A reading now (a window edge); `None` if none could be taken.
    pub fn reading(&self) -> Option<Sample> {
        match self {
            GatewaySampler::Local(sampler) => sampler.reading(),
            GatewaySampler::Remote(server) => lock(server).reading().ok().flatten(),
        }
    }

    /// Stop sampling; every periodic sample.
    pub fn finish(self) -> Result<Vec<Sample>> {
        match self {
            GatewaySampler::Local(sampler) => Ok(sampler.finish()),
            GatewaySampler::Remote(server) => lock(&server).sample_finish(),
        }
    }
}

/// The agent, even if a thread panicked while holding it (its state is one
/// ssh session, still usable or already failing every call).
pub fn lock(server: &SharedServer) -> std::sync::MutexGuard<'_, Server> {
    server.lock().unwrap_or_else(|e| e.into_inner())
}
