//! The resource sampler. While a throughput cell runs, a thread reads the
//! gateway's memory and CPU every `interval` (50 ms by default).
//!
//! CPU for a host process is utime + stime + cutime + cstime from
//! /proc/<pid>/stat, plus the live children's utime + stime: the CLI variants
//! fork a runtime per request, and cutime/cstime count every reaped child
//! exactly (the study's psutil sampler at 200 ms saw almost none of them).
//! RSS is the sum over the process and its live descendants. For a container
//! the cgroup's own accounting is read (v1 or v2), plus Docker's relay: with
//! a port published on loopback every connection passes through
//! `docker-proxy`, a host process outside the container's cgroup, which is
//! part of what that deployment costs.
//!
//! Besides the periodic readings, the load thread takes one reading at each
//! edge of the measured window ([`Sampler::reading`]), so CPU per request
//! covers the same span as the counted requests.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

/// What to sample.
#[derive(Debug, Clone)]
pub enum Target {
    /// A host process and its descendants.
    Process(u32),
    /// A Docker container, by full id, and its main process's host pid: CPU
    /// from the container's cgroup, RSS from the process tree in /proc, so
    /// RSS means the same as for a host process (the cgroup's `rss` counts
    /// anonymous memory only, not the mapped binary).
    Container {
        id: String,
        pid: Option<u32>,
        /// The `docker-proxy` relaying the published port, if any.
        relay: Option<u32>,
    },
}

/// One reading.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct Sample {
    /// Milliseconds since the sampler started.
    pub t_ms: f64,
    pub rss_kb: u64,
    /// Cumulative CPU time, milliseconds.
    pub cpu_ms: f64,
    /// Docker's relay (`docker-proxy`): its part of `rss_kb` and `cpu_ms`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relay_rss_kb: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relay_cpu_ms: Option<f64>,
}

/// One reading: RSS and cumulative CPU, the relay's part separately.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading {
    pub rss_kb: u64,
    pub cpu_ms: f64,
    pub relay: Option<(u64, f64)>,
}

/// A reading of the target now; a container's relay is included in the
/// totals and given apart.
pub fn read(target: &Target) -> Result<Reading> {
    match target {
        Target::Process(pid) => {
            let (rss_kb, cpu_ms) = read_process(*pid)?;
            Ok(Reading {
                rss_kb,
                cpu_ms,
                relay: None,
            })
        }
        Target::Container { id, pid, relay } => {
            let (cgroup_rss_kb, cpu_ms) = read_container(id)?;
            let rss_kb = pid
                .and_then(|pid| read_process(pid).ok())
                .map_or(cgroup_rss_kb, |(rss, _)| rss);
            let relay = relay.and_then(|pid| read_process(pid).ok());
            let (relay_rss, relay_cpu) = relay.unwrap_or((0, 0.0));
            Ok(Reading {
                rss_kb: rss_kb + relay_rss,
                cpu_ms: cpu_ms + relay_cpu,
                relay,
            })
        }
    }
}

/// The `docker-proxy` processes listening on `port` of the host (one per
/// published address; we publish on 127.0.0.1 only, so one).
pub fn docker_proxies(port: u16) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let port = port.to_string();
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
                return false;
            };
            let args: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
            args.first().is_some_and(|a| a.ends_with(b"docker-proxy"))
                && args
                    .windows(2)
                    .any(|w| w[0] == b"-host-port" && w[1] == port.as_bytes())
        })
        .collect()
}

fn ticks_per_sec() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as f64
    } else {
        100.0
    }
}

fn page_kb() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if size > 0 {
        size as u64 / 1024
    } else {
        4
    }
}

/// The fields of /proc/<pid>/stat after `(comm)`, which may hold spaces.
fn stat_fields(pid: u32) -> Result<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("process {pid} is gone"))?;
    let close = stat.rfind(')').context("malformed /proc stat")?;
    Ok(stat[close + 2..]
        .split_whitespace()
        .map(str::to_owned)
        .collect())
}

// Indices into `stat_fields` (field number in proc(5) minus 3).
const PPID: usize = 1;
const UTIME: usize = 11;
const STIME: usize = 12;
const CUTIME: usize = 13;
const CSTIME: usize = 14;
const RSS_PAGES: usize = 21;

fn field(fields: &[String], i: usize) -> u64 {
    fields.get(i).and_then(|f| f.parse().ok()).unwrap_or(0)
}

/// Live descendants of `pid` (children, grandchildren...).
fn descendants(pid: u32) -> Vec<u32> {
    let mut all = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return all;
    };
    let parents: Vec<(u32, u32)> = dir
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|p| Some((p, field(&stat_fields(p).ok()?, PPID) as u32)))
        .collect();
    let mut frontier = vec![pid];
    while let Some(parent) = frontier.pop() {
        for &(child, ppid) in &parents {
            if ppid == parent {
                all.push(child);
                frontier.push(child);
            }
        }
    }
    all
}

fn read_process(pid: u32) -> Result<(u64, f64)> {
    let own = stat_fields(pid)?;
    // An exiting process (its memory already released, or a zombie) reads
    // 0 RSS; a live one never does. Such a reading would drag the mean down.
    if own.first().is_some_and(|state| state == "Z") || field(&own, RSS_PAGES) == 0 {
        bail!("process {pid} is exiting");
    }
    let ticks = ticks_per_sec();
    let page = page_kb();
    let mut cpu_ticks =
        field(&own, UTIME) + field(&own, STIME) + field(&own, CUTIME) + field(&own, CSTIME);
    let mut rss_kb = field(&own, RSS_PAGES) * page;
    for child in descendants(pid) {
        if let Ok(f) = stat_fields(child) {
            // Live children only: reaped ones are already in cutime/cstime.
            cpu_ticks += field(&f, UTIME) + field(&f, STIME);
            rss_kb += field(&f, RSS_PAGES) * page;
        }
    }
    Ok((rss_kb, cpu_ticks as f64 * 1000.0 / ticks))
}

fn cgroup_file(candidates: &[String]) -> Option<PathBuf> {
    candidates.iter().map(PathBuf::from).find(|p| p.exists())
}

fn read_container(id: &str) -> Result<(u64, f64)> {
    let cpu_v1 = [
        format!("/sys/fs/cgroup/cpuacct/docker/{id}/cpuacct.usage"),
        format!("/sys/fs/cgroup/cpu,cpuacct/docker/{id}/cpuacct.usage"),
    ];
    let v2 = [
        format!("/sys/fs/cgroup/system.slice/docker-{id}.scope"),
        format!("/sys/fs/cgroup/docker/{id}"),
    ];
    if let Some(cpu) = cgroup_file(&cpu_v1) {
        let ns: u64 = std::fs::read_to_string(&cpu)?.trim().parse()?;
        let mem = cgroup_file(&[format!("/sys/fs/cgroup/memory/docker/{id}/memory.stat")])
            .context("no memory cgroup for the container")?;
        let rss = stat_value(&std::fs::read_to_string(mem)?, "total_rss").unwrap_or(0);
        return Ok((rss / 1024, ns as f64 / 1e6));
    }
    if let Some(dir) = cgroup_file(&v2) {
        let usec = stat_value(
            &std::fs::read_to_string(dir.join("cpu.stat"))?,
            "usage_usec",
        )
        .context("cpu.stat without usage_usec")?;
        let anon =
            stat_value(&std::fs::read_to_string(dir.join("memory.stat"))?, "anon").unwrap_or(0);
        return Ok((anon / 1024, usec as f64 / 1e3));
    }
    bail!("no cgroup found for container {id}")
}

fn stat_value(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok())?
    })
}

impl Sample {
    fn at(start: Instant, r: Reading) -> Sample {
        Sample {
            t_ms: start.elapsed().as_secs_f64() * 1e3,
            rss_kb: r.rss_kb,
            cpu_ms: r.cpu_ms,
            relay_rss_kb: r.relay.map(|(rss, _)| rss),
            relay_cpu_ms: r.relay.map(|(_, cpu)| cpu),
        }
    }
}

/// A sampling thread; `finish` stops it and returns every sample.
pub struct Sampler {
    target: Target,
    start: Instant,
    stop: Arc<AtomicBool>,
    handle: JoinHandle<Vec<Sample>>,
}

impl Sampler {
    pub fn start(target: Target, interval: Duration) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let start = Instant::now();
        let thread_target = target.clone();
        let handle = std::thread::spawn(move || {
            let mut samples = Vec::new();
            loop {
                let done = flag.load(Ordering::SeqCst);
                if let Ok(r) = read(&thread_target) {
                    samples.push(Sample::at(start, r));
                }
                if done {
                    return samples;
                }
                std::thread::sleep(interval);
            }
        });
        Sampler {
            target,
            start,
            stop,
            handle,
        }
    }

    /// A reading taken now, on the calling thread, on the sampler's clock:
    /// the load generator takes one at each edge of its measured window.
    pub fn reading(&self) -> Option<Sample> {
        read(&self.target).ok().map(|r| Sample::at(self.start, r))
    }

    /// Stop after one last reading; returns the samples in time order.
    pub fn finish(self) -> Vec<Sample> {
        self.stop.store(true, Ordering::SeqCst);
        self.handle.join().unwrap_or_default()
    }
}

/// What a cell reports from its samples.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Usage {
    pub rss_peak_kb: u64,
    pub rss_mean_kb: f64,
    /// CPU time over the window, milliseconds.
    pub cpu_ms: f64,
    /// Mean CPU utilisation, percent of one core.
    pub cpu_pct_mean: f64,
    /// Docker's relay: its part of `cpu_ms`, and its own peak RSS.
    pub relay_cpu_ms: Option<f64>,
    pub relay_rss_peak_kb: Option<u64>,
}

/// Usage over `samples` in time order: CPU from the first to the last one.
pub fn summarize(samples: &[Sample]) -> Option<Usage> {
    let (first, last) = (samples.first()?, samples.last()?);
    let cpu_ms = (last.cpu_ms - first.cpu_ms).max(0.0);
    let wall_ms = last.t_ms - first.t_ms;
    let relay_cpu_ms = match (first.relay_cpu_ms, last.relay_cpu_ms) {
        (Some(a), Some(b)) => Some((b - a).max(0.0)),
        _ => None,
    };
    Some(Usage {
        rss_peak_kb: samples.iter().map(|s| s.rss_kb).max().unwrap_or(0),
        rss_mean_kb: samples.iter().map(|s| s.rss_kb as f64).sum::<f64>() / samples.len() as f64,
        cpu_ms,
        cpu_pct_mean: if wall_ms > 0.0 {
            cpu_ms / wall_ms * 100.0
        } else {
            0.0
        },
        relay_cpu_ms,
        relay_rss_peak_kb: samples.iter().filter_map(|s| s.relay_rss_kb).max(),
    })
}

/// Usage over exactly the measured window: CPU between the two edge
/// readings, RSS over them and the periodic samples between them. Without
/// edge readings (older runs), the periodic samples alone.
pub fn window_usage(samples: &[Sample], window: &[Sample]) -> Option<Usage> {
    let [start, end] = window else {
        return summarize(samples);
    };
    let mut inside: Vec<Sample> = vec![*start];
    inside.extend(
        samples
            .iter()
            .filter(|s| s.t_ms > start.t_ms && s.t_ms < end.t_ms),
    );
    inside.push(*end);
    summarize(&inside)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cgroup_stat_values() {
        let text = "cache 10\nrss 4096\ntotal_rss 8192\n";
        assert_eq!(stat_value(text, "total_rss"), Some(8192));
        assert_eq!(stat_value(text, "anon"), None);
    }

    #[test]
    fn summary_of_samples() {
        let s = |t_ms, rss_kb, cpu_ms| Sample {
            t_ms,
            rss_kb,
            cpu_ms,
            relay_rss_kb: None,
            relay_cpu_ms: None,
        };
        let usage = summarize(&[
            s(0.0, 100, 10.0),
            s(500.0, 300, 260.0),
            s(1000.0, 200, 510.0),
        ])
        .unwrap();
        assert_eq!(usage.rss_peak_kb, 300);
        assert_eq!(usage.rss_mean_kb, 200.0);
        assert_eq!(usage.cpu_ms, 500.0);
        assert_eq!(usage.cpu_pct_mean, 50.0);
        assert!(summarize(&[]).is_none());
    }

    #[test]
    fn the_window_edges_bound_the_cpu() {
        let s = |t_ms, cpu_ms| Sample {
            t_ms,
            rss_kb: 100,
            cpu_ms,
            relay_rss_kb: Some(10),
            relay_cpu_ms: Some(cpu_ms / 10.0),
        };
        // Periodic samples before and after the window must not count.
        let periodic = [s(0.0, 0.0), s(60.0, 50.0), s(110.0, 100.0), s(170.0, 160.0)];
        let window = [s(55.0, 45.0), s(155.0, 145.0)];
        let u = window_usage(&periodic, &window).unwrap();
        assert_eq!(u.cpu_ms, 100.0);
        assert_eq!(u.cpu_pct_mean, 100.0);
        assert_eq!(u.relay_cpu_ms, Some(10.0));
        assert_eq!(u.relay_rss_peak_kb, Some(10));
        // Without edges: the periodic samples, first to last.
        assert_eq!(window_usage(&periodic, &[]).unwrap().cpu_ms, 160.0);
    }
}
