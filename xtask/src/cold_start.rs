//! One cold start: spawn the variant (or `docker run` it), poll `GET /`
//! every 100 µs until the first 200, take the time since the spawn, kill it.
//! The cold suite takes its samples with it, and the remote agent times a
//! server host's cold starts with it there, so no network is in them.

use std::time::{Duration, Instant};

use anyhow::{bail, Result};

use crate::variants::{Resolved, StartOpts};
use crate::{probe, signals};

const POLL: Duration = Duration::from_micros(100);
const GIVE_UP: Duration = Duration::from_secs(60);

/// Spawn the variant, poll `GET /` until the first 200, kill it: the time
/// from the spawn to that answer, in milliseconds. The remote agent times a
/// server host's cold starts with this too, so no network is in them.
pub fn exec_to_first_200(resolved: &Resolved, opts: &StartOpts) -> Result<f64> {
    let variant = resolved.variant;
    let port = probe::free_port()?;
    let started = Instant::now();
    let mut running = resolved.spawn_cold(port, opts)?;
    let addr = running.addr;
    let docker = variant.is_container();
    let mut polls = 0u64;
    let elapsed = loop {
        if let Ok(reply) = probe::get(addr, "/", Duration::from_secs(2)) {
            if reply.status == 200 {
                break started.elapsed();
            }
        }
        polls += 1;
        if signals::interrupted() {
            running.kill();
            bail!("interrupted");
        }
        // Docker's liveness costs a CLI call: check it only now and then.
        if (!docker || polls.is_multiple_of(2000)) && !running.alive() {
            bail!("{} exited before answering", variant.name);
        }
        if started.elapsed() > GIVE_UP {
            running.kill();
            bail!("no 200 on / within {GIVE_UP:?}");
        }
        std::thread::sleep(POLL);
    };
    running.kill();
    Ok(elapsed.as_secs_f64() * 1e3)
}
