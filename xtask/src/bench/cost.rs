//! `cargo xtask bench cost`: what a design costs per request, in CPU, against
//! native. Each round measures every selected variant in every arm once, in
//! a shuffled order, on one keep-alive connection sending `hello` (the
//! gateway's own work per request, no connection set-up): the gateway's
//! CPU time (all its threads, the scheduler's nanosecond account) over the
//! window divided by the requests answered. In-process gateways only: a
//! container's or a per-request process's CPU is elsewhere. Arms differ only in the gateways' environment
//! (`--arm keep:WASM_RESIDENCY=keep`), so a fix and its absence run from
//! the same build, paired in the same rounds. Rounds go on until every
//! ratio's 95% interval (see `report/cost.rs`) is within `--target` of it,
//! or `--max-rounds`; what is still wider is reported `undecided`.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use super::{BenchArgs, Session};
use crate::report::cost::{self as summary, Row, DEFAULT_ARM};
use crate::rundata::manifest::{Cell, Outcome};
use crate::rundata::{CostKey, Suite};
use crate::{results, signals, variants};
use loadgen::LoadSpec;

#[derive(clap::Args, Debug, Clone)]
pub struct CostArgs {
    #[command(flatten)]
    pub bench: BenchArgs,
    /// An arm besides `default`: NAME:KEY=VALUE[,KEY=VALUE...], set in its
    /// gateways' environment (native_local runs in `default` only).
    #[arg(long = "arm", value_name = "NAME:KEY=VALUE", value_parser = parse_arm)]
    pub arms: Vec<Arm>,
    /// Stop once every ratio's 95% interval is within this fraction of it.
    #[arg(long, default_value_t = 0.05)]
    pub target: f64,
    /// Rounds before the stopping rule is first checked.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(2..))]
    pub min_rounds: u64,
    /// Rounds at most; what is still wider than --target is `undecided`.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(2..=1000))]
    pub max_rounds: u64,
    /// Seconds of load before each measured window.
    #[arg(long, default_value_t = 0.5)]
    pub warmup: f64,
}

/// Gateway environment variables, `KEY`, `VALUE`.
type Env = Vec<(String, String)>;

/// A named set of gateway environment variables.
#[derive(Debug, Clone, PartialEq)]
pub struct Arm {
    pub name: String,
    pub env: Env,
}

fn parse_arm(text: &str) -> Result<Arm, String> {
    let (name, pairs) = text
        .split_once(':')
        .ok_or_else(|| format!("expected NAME:KEY=VALUE, got {text:?}"))?;
    if name.is_empty() || name == DEFAULT_ARM {
        return Err(format!("an arm needs a name other than {DEFAULT_ARM:?}"));
    }
    let env = pairs
        .split(',')
        .map(super::parse_env)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Arm {
        name: name.to_owned(),
        env,
    })
}

/// The default variants: native and the in-process designs that reuse
/// memory (those `WASM_RESIDENCY` changes).
const DEFAULT_VARIANTS: &[&str] = &[
    "native_local",
    "wasm_host_wasmtime_pooled",
    "wasm_host_wasmtime_lean",
    "wasm_host_wasmtime_recycled",
];

/// The variants and workload this suite runs, set on `args` before the
/// build and the session see them.
pub fn normalize(args: &mut CostArgs) -> Result<()> {
    if !(args.target > 0.0 && args.target < 1.0) {
        bail!(
            "--target must be a fraction between 0 and 1, got {}",
            args.target
        );
    }
    if !(args.warmup.is_finite() && (0.0..=60.0).contains(&args.warmup)) {
        bail!(
            "--warmup must be between 0 and 60 seconds, got {}",
            args.warmup
        );
    }
    if args.min_rounds > args.max_rounds {
        bail!("--min-rounds is above --max-rounds");
    }
    let b = &mut args.bench;
    if b.variants.is_empty() {
        b.variants = DEFAULT_VARIANTS.iter().map(|s| (*s).to_owned()).collect();
    }
    let baseline = variants::baseline().name;
    if !b.variants.iter().any(|v| v == baseline) {
        b.variants.insert(0, baseline.to_owned());
    }
    for name in &b.variants {
        let v = variants::find(name)?;
        // Its CPU is read from its process's threads: a container's or a
        // runtime process per request's would be missed.
        if v.is_container() || variants::uses_wasmtime_cli(v) || v.runtime() == Some("wasmedge") {
            bail!(
                "bench cost measures in-process gateways (native_local and the \
                 embedded Wasmtime designs); {name} runs in a container or a process per request"
            );
        }
    }
    b.workloads = vec!["hello".to_owned()];
    b.duration.get_or_insert(2.0);
    b.repeats = Some(args.min_rounds as usize);
    Ok(())
}

pub fn run(args: &CostArgs) -> Result<()> {
    signals::install();
    let mut s = Session::open(&args.bench, &[Suite::Cost])?;
    let outcome = measure(&mut s, args);
    let root = s.finish(&outcome)?;
    outcome?;
    summary::write(&root)?;
    println!(
        "{}",
        std::fs::read_to_string(root.join(summary::SUMMARY_MD))?
    );
    println!("run folder: {}", root.display());
    Ok(())
}

fn measure(s: &mut Session, args: &CostArgs) -> Result<()> {
    let baseline = variants::baseline().name;
    let mut cells: Vec<(&'static variants::Variant, String, Env)> = Vec::new();
    for &variant in &s.variants {
        cells.push((variant, DEFAULT_ARM.to_owned(), Vec::new()));
        if variant.name != baseline {
            for arm in &args.arms {
                cells.push((variant, arm.name.clone(), arm.env.clone()));
            }
        }
    }
    let window = s.profile.duration;
    let warmup = Duration::from_secs_f64(args.warmup);
    let mut rows: Vec<Row> = Vec::new();
    let raw = s.path(CostKey.path());
    let mut round = 0usize;
    loop {
        let mut order: Vec<usize> = (0..cells.len()).collect();
        {
            use rand::seq::SliceRandom;
            use rand::SeedableRng;
            let seed = s.seed.wrapping_add(round as u64);
            order.shuffle(&mut rand::rngs::StdRng::seed_from_u64(seed));
        }
        for (position, &i) in order.iter().enumerate() {
            if signals::interrupted() {
                bail!("interrupted: the finished rounds are in {}", raw.display());
            }
            let (variant, arm, env) = &cells[i];
            let label = format!("cost round {} {} {arm}", round + 1, variant.name);
            s.progress.cell(&label);
            let row = measure_undisturbed(s, variant, env, warmup, window)
                .with_context(|| format!("{label}: measuring"));
            let row = match row {
                Ok(mut row) => {
                    row.round = round;
                    row.position = position;
                    row.arm = arm.clone();
                    row.target = args.target;
                    row
                }
                Err(err) => {
                    s.record(failed(variant.name, arm, &err))?;
                    return Err(err);
                }
            };
            s.progress.done(
                &label,
                warmup + window,
                &format!("{:.2} µs/req", row.cpu_us_per_req),
            );
            rows.push(row);
        }
        // Every round on disk at once: a run that dies keeps its rounds.
        results::write_csv(&raw, &rows)?;
        round += 1;
        let ratios = summary::compute(&rows);
        let enough = round as u64 >= args.min_rounds && summary::all_decided(&ratios);
        if enough || round as u64 >= args.max_rounds {
            s.progress.note(&format!(
                "cost: {round} rounds, {}",
                if enough {
                    "every ratio decided"
                } else {
                    "stopped at --max-rounds"
                }
            ));
            break;
        }
    }
    for (variant, arm, env) in &cells {
        let detail = format!(
            "arm {arm} ({}), 1 keep-alive connection, {round} rounds of {:.1} s",
            env_text(env),
            window.as_secs_f64()
        );
        s.record(
            Cell::new(
                Suite::Cost,
                variant.name,
                Some("hello"),
                detail,
                Outcome::Ok,
            )
            .raw(&CostKey.path()),
        )?;
    }
    Ok(())
}

/// Steal time above this share of the window's CPU time (all CPUs) marks
/// a cell disturbed: the hypervisor took the machine from under it.
const MAX_STEAL_SHARE: f64 = 0.05;
/// Measurements of a disturbed cell before it is kept, marked, and left
/// out of the ratios.
const ATTEMPTS: usize = 3;

/// [`one_cell`], measured again while the machine's steal time says it was
/// disturbed, at most [`ATTEMPTS`] times.
fn measure_undisturbed(
    s: &Session,
    variant: &'static variants::Variant,
    env: &[(String, String)],
    warmup: Duration,
    window: Duration,
) -> Result<Row> {
    // SAFETY: sysconf has no preconditions.
    let cpus = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) }.max(1) as f64;
    let mut attempt = 0;
    loop {
        let mut row = one_cell(s, variant, env, warmup, window)?;
        attempt += 1;
        let share = row.steal_ms / (row.window_s * 1000.0 * cpus);
        row.disturbed = share > MAX_STEAL_SHARE;
        if !row.disturbed || attempt >= ATTEMPTS {
            return Ok(row);
        }
        s.progress.note(&format!(
            "{} disturbed (steal {:.0}% of the window): measured again",
            variant.name,
            share * 100.0
        ));
    }
}

/// One cell: start the variant with `env`, warm it up, measure its CPU
/// per request over `window`, stop it.
fn one_cell(
    s: &Session,
    variant: &'static variants::Variant,
    env: &[(String, String)],
    warmup: Duration,
    window: Duration,
) -> Result<Row> {
    let mut opts = s.start_opts(variant);
    opts.env.extend(env.iter().cloned());
    let running = variant.start(&opts)?;
    let pid = running
        .pid()
        .context("bench cost measures gateways that run as a host process")?;
    let mut spec = LoadSpec::new(running.addr);
    spec.keep_alive = true;
    spec.connections = 1;
    spec.pin_cpu = s.load_cpu;
    if !warmup.is_zero() {
        spec.duration = warmup;
        loadgen::run(&spec, &signals::interrupted)?;
    }
    spec.duration = window;
    let steal_before = steal_ms();
    let before = cpu_ns(pid)?;
    let faults_before = minor_faults(pid)?;
    let started = Instant::now();
    let result = loadgen::run(&spec, &signals::interrupted)?;
    let after = cpu_ns(pid)?;
    let faults = minor_faults(pid)?.saturating_sub(faults_before);
    let window_s = started.elapsed().as_secs_f64();
    let steal = steal_ms().zip(steal_before).map_or(0.0, |(a, b)| a - b);
    running.stop();
    let cpu_ms = after.saturating_sub(before) as f64 / 1e6;
    let requests = result.ok;
    Ok(Row {
        round: 0,
        position: 0,
        variant: variant.name.to_owned(),
        arm: String::new(),
        env: env_text(env),
        requests,
        window_s,
        cpu_ms,
        cpu_us_per_req: if requests > 0 {
            cpu_ms * 1000.0 / requests as f64
        } else {
            0.0
        },
        rps: result.rps,
        faults_per_req: if requests > 0 {
            faults as f64 / requests as f64
        } else {
            0.0
        },
        steal_ms: steal,
        errors: result.errors.total() + result.non_2xx,
        disturbed: false,
        target: 0.0,
    })
}

fn failed(variant: &str, arm: &str, err: &anyhow::Error) -> Cell {
    Cell::new(
        Suite::Cost,
        variant,
        Some("hello"),
        format!("arm {arm}"),
        Outcome::Failed(format!("{err:#}")),
    )
}

fn env_text(env: &[(String, String)]) -> String {
    env.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The CPU time of every thread of `pid` so far, nanoseconds: the
/// scheduler's own account (`/proc/PID/task/*/schedstat`, its first field),
/// not the 10 ms ticks of `/proc/PID/stat`, which would be 2% of a
/// one-second window. The gateways measured here fork no children.
fn cpu_ns(pid: u32) -> Result<u64> {
    sum_over_threads(pid, "schedstat", |text| text.split_whitespace().next())
}

/// The minor page faults of every thread of `pid` so far
/// (`/proc/PID/task/*/stat`, field 10): what refilling released pages costs.
fn minor_faults(pid: u32) -> Result<u64> {
    sum_over_threads(pid, "stat", |text| {
        // After the command's closing parenthesis: state is field 3, minflt 10.
        text.rsplit_once(')')?.1.split_whitespace().nth(7)
    })
}

/// The sum over `pid`'s threads of the number `field` picks from each
/// thread's `/proc/PID/task/TID/<file>`.
fn sum_over_threads(pid: u32, file: &str, field: fn(&str) -> Option<&str>) -> Result<u64> {
    let dir = format!("/proc/{pid}/task");
    let mut total = 0u64;
    for task in std::fs::read_dir(&dir).with_context(|| format!("reading {dir}"))? {
        let path = task?.path().join(file);
        // A thread that ended between the listing and the read is gone.
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let value: u64 = field(&text)
            .and_then(|v| v.parse().ok())
            .with_context(|| format!("parsing {}", path.display()))?;
        total += value;
    }
    Ok(total)
}

/// The machine's steal time so far (`/proc/stat`, all CPUs), milliseconds.
fn steal_ms() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let cpu = stat.lines().find(|l| l.starts_with("cpu "))?;
    let steal: f64 = cpu.split_whitespace().nth(8)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Some(steal * 1000.0 / hz)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arms_parse_and_bad_ones_are_refused() {
        let arm = parse_arm("keep:WASM_RESIDENCY=keep,X=1").unwrap();
        assert_eq!(arm.name, "keep");
        assert_eq!(
            arm.env,
            [
                ("WASM_RESIDENCY".to_owned(), "keep".to_owned()),
                ("X".to_owned(), "1".to_owned())
            ]
        );
        assert!(parse_arm("WASM_RESIDENCY=keep").is_err());
        assert!(parse_arm("default:A=1").is_err());
        assert!(parse_arm("k:novalue").is_err());
    }

    #[test]
    fn steal_and_cpu_time_are_read() {
        assert!(steal_ms().is_some_and(|ms| ms >= 0.0));
        let me = std::process::id();
        let before = cpu_ns(me).unwrap();
        let spent = loop {
            let spin = Instant::now();
            while spin.elapsed() < Duration::from_micros(200) {}
            let spent = cpu_ns(me).unwrap() - before;
            if spent > 0 {
                break spent;
            }
        };
        // Nanoseconds, not 10 ms ticks: the first change is a fraction of one.
        assert!(spent < 10_000_000, "{spent} ns");
        // A fresh page written faults once.
        let faults = minor_faults(me).unwrap();
        let page = vec![1u8; 1 << 20];
        std::hint::black_box(&page);
        assert!(minor_faults(me).unwrap() > faults);
    }
}
