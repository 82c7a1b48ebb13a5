//! `cargo xtask fuzz`: a mutation fuzzer of the gateways' HTTP front. Valid
//! requests are mutated (bit flips, truncation, a duplicated line, random
//! bytes written over or inserted) and sent one connection at a time to each
//! runnable variant; `/health` is checked every 100 requests. Counted as
//! findings: a crash (the gateway exited), a hang (no answer and no close in
//! [`HANG_AFTER`], or `/health` not answering) and an unexpected 5xx (any but
//! 501, the documented answer to `Transfer-Encoding`). Every finding's input
//! is saved under `results/fuzz/` so it can be replayed; exit status 1 when
//! there is any.
//!
//! Whether the gateway is still up is checked after every input, so a crash
//! is charged to the input that caused it. For a container that check reads
//! a pidfd of the container's main process ([`Liveness`]): asking the engine
//! (`docker inspect`, a CLI process and an API call, about 20 ms) after every
//! input made the Docker variants' fuzz rate ~45 inputs/s against thousands
//! for `native_local`, the harness measuring itself.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::upstream::Upstream;
use crate::variants::{self, Running, StartOpts, Variant};
use crate::{docker, paths, probe, signals, stale};

/// No answer and no close within this long is a hang. The gateway under fuzz
/// runs with a 200 ms read timeout, and the fuzzer half-closes after sending,
/// so a silent gateway is a stuck one.
pub const HANG_AFTER: Duration = Duration::from_secs(5);
/// `/health` is checked after this many requests.
pub const HEALTH_EVERY: u64 = 100;

#[derive(clap::Args, Debug)]
pub struct FuzzArgs {
    /// Seconds of fuzzing per variant.
    #[arg(long, default_value_t = 60)]
    pub seconds: u64,
    /// Variants to fuzz (default: every one that can run here).
    #[arg(long, value_delimiter = ',')]
    pub variants: Vec<String>,
    /// Seed of the mutations; a finding is replayed from its saved input.
    #[arg(long, default_value_t = 12)]
    pub seed: u64,
}

/// What one variant's fuzzing found.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Totals {
    pub variant: String,
    pub seconds: f64,
    pub requests: u64,
    /// Answers by status class: 2xx, 3xx, 4xx, 5xx.
    pub by_class: [u64; 4],
    /// The gateway closed without answering (a request it could not read).
    pub closed_without_answer: u64,
    pub crashes: u64,
    pub hangs: u64,
    pub unexpected_5xx: u64,
    /// Saved inputs of the findings.
    pub findings: Vec<String>,
    /// Per input, ms: the exchange (connect, send, half-close, status line)
    /// and the liveness check after it, nearest-rank p50 / p99 / max; what
    /// the fuzz rate is made of.
    pub exchange_ms: Spread,
    pub check_ms: Spread,
}

/// p50, p99 and max of a set of durations, ms.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Spread {
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
}

impl Spread {
    pub fn of(us: &[u64]) -> Spread {
        if us.is_empty() {
            return Spread::default();
        }
        let h = crate::stats::histogram_us(us.iter().copied());
        let ms = |v: u64| v as f64 / 1e3;
        Spread {
            p50: ms(h.value_at_quantile(0.50)),
            p99: ms(h.value_at_quantile(0.99)),
            max: ms(h.max()),
        }
    }
}

impl Totals {
    pub fn clean(&self) -> bool {
        self.crashes == 0 && self.hangs == 0 && self.unexpected_5xx == 0
    }
}

/// The valid requests the mutations start from: every route, both methods,
/// keep-alive, a small body, pipelining.
pub const SEEDS: &[&[u8]] = &[
    b"GET / HTTP/1.1\r\nHost: fuzz\r\n\r\n",
    b"GET /compute?iters=5 HTTP/1.1\r\nHost: fuzz\r\n\r\n",
    b"GET /state HTTP/1.1\r\nHost: fuzz\r\nConnection: close\r\n\r\n",
    b"GET /proxied/path?x=1 HTTP/1.1\r\nHost: fuzz\r\n\r\n",
    b"GET /health HTTP/1.0\r\n\r\n",
    b"HEAD / HTTP/1.1\r\nHost: fuzz\r\nConnection: keep-alive\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: fuzz\r\nContent-Length: 5\r\n\r\nhello",
    b"GET / HTTP/1.1\r\nConnection: keep-alive\r\n\r\nGET /state HTTP/1.1\r\n\r\n",
];

/// One mutation of `seed`.
pub fn mutate(seed: &[u8], rng: &mut impl Rng) -> Vec<u8> {
    let mut bytes = seed.to_vec();
    // One to three mutations stacked.
    for _ in 0..rng.random_range(1..=3) {
        match rng.random_range(0..6) {
            0 => {
                // Bit flips.
                for _ in 0..rng.random_range(1..=4) {
                    if !bytes.is_empty() {
                        let i = rng.random_range(0..bytes.len());
                        bytes[i] ^= 1 << rng.random_range(0..8);
                    }
                }
            }
            1 => {
                // Truncation.
                let keep = rng.random_range(0..=bytes.len());
                bytes.truncate(keep);
            }
            2 => {
                // A line duplicated in place (e.g. two Content-Lengths).
                let lines: Vec<usize> = std::iter::once(0)
                    .chain(
                        bytes
                            .windows(2)
                            .enumerate()
                            .filter_map(|(i, w)| (w == b"\r\n").then_some(i + 2)),
                    )
                    .collect();
                if lines.len() >= 2 {
                    let k = rng.random_range(0..lines.len() - 1);
                    let line = bytes[lines[k]..lines[k + 1]].to_vec();
                    bytes.splice(lines[k]..lines[k], line);
                }
            }
            3 => {
                // Random bytes written over.
                for _ in 0..rng.random_range(1..=8) {
                    if !bytes.is_empty() {
                        let i = rng.random_range(0..bytes.len());
                        bytes[i] = rng.random();
                    }
                }
            }
            4 => {
                // Random bytes inserted (sometimes many, for the size limits).
                let n = if rng.random_bool(0.05) {
                    rng.random_range(1..20_000)
                } else {
                    rng.random_range(1..16)
                };
                let at = rng.random_range(0..=bytes.len());
                let junk: Vec<u8> = (0..n).map(|_| rng.random()).collect();
                bytes.splice(at..at, junk);
            }
            _ => {
                // HTTP's own sharp characters inserted.
                const SHARP: &[&[u8]] = &[
                    b"\r\n",
                    b"\n",
                    b"\r",
                    b":",
                    b" ",
                    b"\t",
                    b"\0",
                    b"%00",
                    b"?",
                    b"&",
                    b"iters=+5",
                    b"Transfer-Encoding: chunked\r\n",
                    b"Content-Length: 99\r\n",
                    b"Content-Length: -1\r\n",
                    b"\xff",
                ];
                let piece = SHARP[rng.random_range(0..SHARP.len())];
                let at = rng.random_range(0..=bytes.len());
                bytes.splice(at..at, piece.iter().copied());
            }
        }
    }
    bytes
}

/// What came back for one input.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The first response's status.
    Answered(u16),
    /// Closed (or reset) with no response.
    Closed,
    /// Neither within [`HANG_AFTER`].
    Hung,
}

/// Sends `input` on a fresh connection, half-closes, and reads the first
/// response's status line.
pub fn send(addr: SocketAddr, input: &[u8]) -> Result<Outcome> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .with_context(|| format!("connecting to {addr}"))?;
    stream.set_read_timeout(Some(HANG_AFTER))?;
    stream.set_write_timeout(Some(HANG_AFTER))?;
    // A reset while writing: the gateway answered early (e.g. 431) and
    // closed; what it answered is still read below.
    let _ = stream.write_all(input);
    let _ = stream.shutdown(Shutdown::Write);
    let started = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                got.extend_from_slice(&buf[..n]);
                if got.windows(2).any(|w| w == b"\r\n") {
                    break;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Ok(Outcome::Hung)
            }
            Err(_) => break,
        }
        if started.elapsed() > HANG_AFTER {
            return Ok(Outcome::Hung);
        }
    }
    let status = std::str::from_utf8(&got)
        .ok()
        .and_then(|s| s.strip_prefix("HTTP/1.1 "))
        .and_then(|s| s.get(..3))
        .and_then(|s| s.parse().ok());
    Ok(status.map_or(Outcome::Closed, Outcome::Answered))
}

/// Is the gateway under fuzz still up? Asked after every input. A process
/// the harness started is its own child (`try_wait`, no system call beyond
/// a `waitid`); a container's gateway is the container's main process, so
/// its host pid is looked up once and watched through a pidfd, which becomes
/// readable when the process exits. Only then (or where no pidfd can be
/// had) is the engine asked, as [`Running::alive`] does.
pub struct Liveness {
    pidfd: Option<OwnedFd>,
}

impl Liveness {
    /// Watch `running` (a fresh start: call again after a restart).
    pub fn watch(running: &mut Running) -> Liveness {
        let pidfd = match (running.pid(), running.container_id()) {
            (None, Some(id)) => docker::main_pid(id).and_then(pidfd_open),
            _ => None,
        };
        // The pid was read from the engine before the pidfd was opened: had
        // the container died in between, the pid could name another process.
        let pidfd = pidfd.filter(|_| running.alive());
        Liveness { pidfd }
    }

    /// Whether a container is watched through its process rather than by
    /// asking the engine (a process variant is always its own child).
    pub fn by_process(&self) -> bool {
        self.pidfd.is_some()
    }

    pub fn alive(&self, running: &mut Running) -> bool {
        match &self.pidfd {
            Some(fd) if !exited(fd) => true,
            // Exited, or no pidfd: the engine (or `try_wait`) has the word.
            _ => running.alive(),
        }
    }
}

fn pidfd_open(pid: u32) -> Option<OwnedFd> {
    // SAFETY: pidfd_open(pid, 0) returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    // SAFETY: a non-negative result is a descriptor we now own.
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// A pidfd is readable once its process has exited.
fn exited(pidfd: &OwnedFd) -> bool {
    let mut p = libc::pollfd {
        fd: pidfd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd, no wait.
    let n = unsafe { libc::poll(&mut p, 1, 0) };
    n > 0 && p.revents != 0
}

pub fn run(args: &FuzzArgs) -> Result<()> {
    signals::install();
    stale::sweep_at_start();
    let selected = variants::select(&args.variants)?;
    let out = paths::project_root().join("results/fuzz");
    std::fs::create_dir_all(&out)?;
    let upstream = Upstream::start(([127, 0, 0, 1], 0).into(), None, None)?;
    let mut all = Vec::new();
    for variant in selected {
        if let Err(reason) = variant.availability() {
            eprintln!("{}: skipped: {reason}", variant.name);
            continue;
        }
        let totals = fuzz_variant(variant, upstream.addr, args, &out)?;
        eprintln!("{}", line(&totals));
        all.push(totals);
        if signals::interrupted() {
            break;
        }
    }
    crate::results::write_json(&out.join("totals.json"), &all)?;
    println!("{}", table(&all));
    if all.iter().any(|t| !t.clean()) {
        bail!(
            "fuzzing found crashes, hangs or unexpected 5xx; inputs in {}",
            out.display()
        );
    }
    Ok(())
}

/// Fuzzes one variant for `args.seconds`.
pub fn fuzz_variant(
    variant: &'static Variant,
    upstream: SocketAddr,
    args: &FuzzArgs,
    out: &std::path::Path,
) -> Result<Totals> {
    let mut opts = StartOpts::new(upstream);
    // Short, so inputs the gateway waits on end quickly.
    opts.env = vec![("GATEWAY_READ_TIMEOUT_MS".to_owned(), "200".to_owned())];
    let mut running = variant.start(&opts)?;
    let mut liveness = Liveness::watch(&mut running);
    let mut rng = StdRng::seed_from_u64(args.seed);
    let mut totals = Totals {
        variant: variant.name.to_owned(),
        ..Totals::default()
    };
    let (mut exchange_us, mut check_us) = (Vec::new(), Vec::new());
    let started = Instant::now();
    let budget = Duration::from_secs(args.seconds);
    let save = |totals: &mut Totals, what: &str, input: &[u8]| -> Result<()> {
        let path: PathBuf = out.join(format!(
            "{}-{what}-{}.bin",
            variant.name,
            totals.findings.len()
        ));
        crate::results::write_atomic(&path, input)?;
        totals.findings.push(path.display().to_string());
        Ok(())
    };
    while started.elapsed() < budget && !signals::interrupted() {
        let seed = SEEDS[rng.random_range(0..SEEDS.len())];
        let input = mutate(seed, &mut rng);
        totals.requests += 1;
        let sent = Instant::now();
        let outcome = send(running.addr, &input);
        exchange_us.push(sent.elapsed().as_micros() as u64);
        match outcome {
            Ok(Outcome::Answered(status)) => {
                let class = usize::from(status / 100).clamp(2, 5) - 2;
                totals.by_class[class] += 1;
                if status >= 500 && status != 501 {
                    totals.unexpected_5xx += 1;
                    save(&mut totals, &format!("status{status}"), &input)?;
                }
            }
            Ok(Outcome::Closed) => totals.closed_without_answer += 1,
            Ok(Outcome::Hung) => {
                totals.hangs += 1;
                save(&mut totals, "hang", &input)?;
            }
            // Cannot even connect: the gateway is gone or stuck.
            Err(_) => {}
        }
        let checked = Instant::now();
        let alive = liveness.alive(&mut running);
        check_us.push(checked.elapsed().as_micros() as u64);
        if !alive {
            totals.crashes += 1;
            save(&mut totals, "crash", &input)?;
            // Start again, so the rest of the budget still fuzzes.
            running = variant.start(&opts)?;
            liveness = Liveness::watch(&mut running);
            continue;
        }
        if totals.requests.is_multiple_of(HEALTH_EVERY) {
            let healthy = probe::get(running.addr, "/health", Duration::from_secs(2))
                .is_ok_and(|r| r.status == 200);
            if !healthy {
                totals.hangs += 1;
                save(&mut totals, "health", &input)?;
            }
        }
    }
    totals.seconds = started.elapsed().as_secs_f64();
    totals.exchange_ms = Spread::of(&exchange_us);
    totals.check_ms = Spread::of(&check_us);
    running.stop();
    Ok(totals)
}

fn line(t: &Totals) -> String {
    format!(
        "{}: {} requests in {:.0} s ({:.0}/s); 2xx {} 3xx {} 4xx {} 5xx {}; closed without answer {}; \
         crashes {}, hangs {}, unexpected 5xx {}; per input: exchange p50 {:.2} p99 {:.2} max {:.1} ms, \
         liveness check p50 {:.3} p99 {:.3} max {:.1} ms",
        t.variant,
        t.requests,
        t.seconds,
        rate(t),
        t.by_class[0],
        t.by_class[1],
        t.by_class[2],
        t.by_class[3],
        t.closed_without_answer,
        t.crashes,
        t.hangs,
        t.unexpected_5xx,
        t.exchange_ms.p50,
        t.exchange_ms.p99,
        t.exchange_ms.max,
        t.check_ms.p50,
        t.check_ms.p99,
        t.check_ms.max,
    )
}

fn rate(t: &Totals) -> f64 {
    if t.seconds > 0.0 {
        t.requests as f64 / t.seconds
    } else {
        0.0
    }
}

fn table(all: &[Totals]) -> String {
    let mut s = String::from(
        "| variant | seconds | requests | per s | exchange p50 / p99 ms | check p50 ms | 2xx | 4xx | 5xx | closed | crashes | hangs | unexpected 5xx |\n\
         | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n",
    );
    for t in all {
        s.push_str(&format!(
            "| {} | {:.0} | {} | {:.0} | {:.2} / {:.2} | {:.3} | {} | {} | {} | {} | {} | {} | {} |\n",
            t.variant,
            t.seconds,
            t.requests,
            rate(t),
            t.exchange_ms.p50,
            t.exchange_ms.p99,
            t.check_ms.p50,
            t.by_class[0],
            t.by_class[2],
            t.by_class[3],
            t.closed_without_answer,
            t.crashes,
            t.hangs,
            t.unexpected_5xx
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutations_are_reproducible_from_the_seed() {
        let a: Vec<_> = {
            let mut rng = StdRng::seed_from_u64(7);
            (0..50)
                .map(|i| mutate(SEEDS[i % SEEDS.len()], &mut rng))
                .collect()
        };
        let mut rng = StdRng::seed_from_u64(7);
        for (i, expected) in a.iter().enumerate() {
            assert_eq!(&mutate(SEEDS[i % SEEDS.len()], &mut rng), expected);
        }
        assert!(a.iter().any(|m| !SEEDS.contains(&m.as_slice())));
    }

    #[test]
    fn seeds_are_valid_requests() {
        for seed in SEEDS {
            let mut headers = [httparse::EMPTY_HEADER; 8];
            let parsed = httparse::Request::new(&mut headers).parse(seed);
            assert!(
                matches!(parsed, Ok(httparse::Status::Complete(_))),
                "{:?}",
                String::from_utf8_lossy(seed)
            );
        }
    }
}
