//! `cargo xtask bench soak --minutes N`: steady load on each variant for a
//! long time, recording the gateway's RSS, open descriptors, threads and child
//! processes every `--interval` seconds; the verdict is their growth per hour.
//! It measures growth, not speed: the variants soak at the same time, each on
//! its own port with a modest fixed request rate, the gateways on CPU 0 and
//! the clients on CPU 1.
//!
//! Writes `results/soak/<UTC timestamp>/raw/<variant>.csv` (one row a sample)
//! and, from those alone, `soak.md` and `plots/soak_*.svg` (report/soak.rs).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;

use crate::rundata::soak::SoakSample;
use crate::rundata::SoakKey;
use crate::upstream::Upstream;
use crate::variants::{self, Running, StartOpts};
use crate::{affinity, docker, paths, probe, report, results, signals};

#[derive(clap::Args, Debug, Clone)]
pub struct SoakArgs {
    /// Minutes of steady load per variant (they soak concurrently).
    #[arg(long, default_value_t = 30.0)]
    pub minutes: f64,
    /// Variants, comma-separated (default: every one that can run here).
    #[arg(long, value_delimiter = ',')]
    pub variants: Vec<String>,
    /// Requests per second offered to each variant.
    #[arg(long, default_value_t = 50.0)]
    pub rate: f64,
    /// Seconds between samples.
    #[arg(long, default_value_t = 10.0)]
    pub interval: f64,
    /// Run folder (default: results/soak/<UTC timestamp>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Only rebuild soak.md and the chart of this soak folder from its raw/.
    #[arg(long, value_name = "DIR")]
    pub render: Option<PathBuf>,
}

/// The workloads cycled through, so every path (and the upstream) soaks.
const PATHS: &[&str] = &["/", "/compute?iters=200", "/state", "/soak-proxy"];

pub fn run(args: &SoakArgs) -> Result<()> {
    if let Some(root) = &args.render {
        println!("{}", report::soak::write(root)?);
        return Ok(());
    }
    signals::install();
    let selected = variants::select(&args.variants)?;
    let root = match &args.out {
        Some(dir) => dir.clone(),
        None => paths::project_root()
            .join("results/soak")
            .join(chrono::Utc::now().format("%Y-%m-%dT%H-%M-%SZ").to_string()),
    };
    std::fs::create_dir_all(root.join("raw"))?;
    let upstream = Upstream::start(([127, 0, 0, 1], 0).into(), Some(1), None)?;
    let mut opts = StartOpts::new(upstream.addr);
    opts.cpu = Some(0);
    opts.upstream_cpu = Some(1);

    let mut soaks = Vec::new();
    for variant in selected {
        if let Err(reason) = variant.availability() {
            eprintln!("{}: skipped: {reason}", variant.name);
            continue;
        }
        let running = variant.start(&opts)?;
        eprintln!("{}: soaking on {}", variant.name, running.addr);
        soaks.push(Soak::start(running, args.rate));
    }
    let length = Duration::from_secs_f64(args.minutes * 60.0);
    let interval = Duration::from_secs_f64(args.interval.max(0.1));
    let started = Instant::now();
    let mut next = started;
    while !signals::interrupted() {
        for soak in &mut soaks {
            soak.sample(started.elapsed());
        }
        if started.elapsed() >= length {
            break;
        }
        next += interval;
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    for soak in soaks {
        let (name, samples) = soak.finish();
        let key = SoakKey {
            variant: name.to_owned(),
        };
        results::write_csv(&root.join(key.path()), &samples)?;
    }
    drop(upstream);
    docker::sweep_own();
    let table = report::soak::write(&root)?;
    println!("{table}");
    println!("soak folder: {}", root.display());
    Ok(())
}

/// One variant under steady load, and its samples so far.
struct Soak {
    running: Running,
    stop: Arc<AtomicBool>,
    requests: Arc<AtomicU64>,
    errors: Arc<AtomicU64>,
    client: std::thread::JoinHandle<()>,
    samples: Vec<SoakSample>,
}

impl Soak {
    fn start(running: Running, rate: f64) -> Soak {
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(AtomicU64::new(0));
        let errors = Arc::new(AtomicU64::new(0));
        let addr = running.addr;
        let (s, r, e) = (stop.clone(), requests.clone(), errors.clone());
        let client = std::thread::spawn(move || {
            let _ = affinity::pin_thread(1);
            let gap = Duration::from_secs_f64(1.0 / rate.max(0.01));
            let mut next = Instant::now();
            let mut i = 0usize;
            while !s.load(Ordering::Relaxed) {
                let ok = probe::get(addr, PATHS[i % PATHS.len()], Duration::from_secs(5))
                    .is_ok_and(|r| r.status == 200);
                i += 1;
                r.fetch_add(1, Ordering::Relaxed);
                if !ok {
                    e.fetch_add(1, Ordering::Relaxed);
                }
                next += gap;
                let now = Instant::now();
                if next > now {
                    std::thread::sleep(next - now);
                } else {
                    next = now;
                }
            }
        });
        Soak {
            running,
            stop,
            requests,
            errors,
            client,
            samples: Vec::new(),
        }
    }

    fn sample(&mut self, t: Duration) {
        let pid = self
            .running
            .pid()
            .or_else(|| self.running.container_id().and_then(docker::main_pid));
        let Some(pid) = pid else { return };
        let Some((rss_kb, fds, threads, children)) = read_process(pid) else {
            return;
        };
        self.samples.push(SoakSample {
            t_s: t.as_secs_f64(),
            rss_kb,
            fds,
            threads,
            children,
            requests: self.requests.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
        });
    }

    fn finish(self) -> (&'static str, Vec<SoakSample>) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.client.join();
        let name = self.running.variant.name;
        self.running.stop();
        (name, self.samples)
    }
}

/// RSS (KiB), open descriptors, threads of `pid`, and how many descendants
/// it has now.
pub fn read_process(pid: u32) -> Option<(u64, u64, u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count() as u64;
    Some((field("VmRSS:"), fds, field("Threads:"), descendants(pid)))
}

/// Live descendants of `pid`, from every process's parent in /proc.
fn descendants(pid: u32) -> u64 {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0;
    };
    let parents: Vec<(u32, u32)> = dir
        .flatten()
        .filter_map(|e| {
            let p: u32 = e.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).ok()?;
            let ppid = stat
                .rsplit_once(") ")?
                .1
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()?;
            Some((p, ppid))
        })
        .collect();
    let mut found = vec![pid];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(
            parents
                .iter()
                .filter(|(_, pp)| *pp == parent)
                .map(|(p, _)| *p),
        );
        i += 1;
    }
    (found.len() - 1) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_our_own_process() {
        let (rss, fds, threads, _children) = read_process(std::process::id()).unwrap();
        assert!(rss > 0 && fds >= 3 && threads >= 1);
    }

    #[test]
    fn counts_descendants() {
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        assert!(descendants(std::process::id()) >= 1);
        child.kill().unwrap();
        child.wait().unwrap();
    }
}
