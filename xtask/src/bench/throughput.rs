//! Throughput and resources: for each repeat, variants in a shuffled order;
//! each variant is started once and primed (TechEmpower's habit), then for
//! each workload measured at every connection level with one connection per
//! request (`close`, like wrk against this gateway), with persistent
//! connections (`keep-alive`, TechEmpower's mode), and at every offered rate
//! (open loop, like wrk2).
//!
//! Every cell warms up at its own level inside the same load run, until the
//! load is steady (every connection answered at least once), and the window
//! opens then, with no drain in between; so a slow variant's latency is its
//! steady-state queue and not a queue still filling. Between cells the queue
//! a run leaves behind is worked off (`drain`), or, when that would take
//! longer than a restart, discarded by restarting the variant (a
//! per-request-process variant at 1200 connections would otherwise spend
//! ~7 s answering requests nobody waits for). The resource sampler
//! reads the gateway's process tree (or its container and Docker's relay)
//! every 50 ms, and the load thread takes a reading at each edge of the
//! window, so CPU per request covers exactly the counted requests. A
//! closed-loop window lasts at least [`WINDOW_LATENCIES`] mean latencies of
//! its own responses, so Little's ratio compares the window's throughput
//! with latencies set inside it, not by the seconds before it opened.

use std::time::Duration;

use anyhow::Result;

use super::{Gateway, OnDisturbance, Session};
use crate::disturbance::{self, CpuTimes};
use crate::rundata::manifest::{Cell, Outcome};
use crate::rundata::raw::{Disturbance, LoadRecord, ThroughputRaw};
use crate::rundata::{Level, Suite, ThroughputKey};
use crate::sample::Sample;
use crate::variants::Variant;
use crate::workloads::Workload;
use crate::{probe, results, signals};
use loadgen::{Edge, LoadResult, LoadSpec, Mode};

const SAMPLE_EVERY: Duration = Duration::from_millis(50);
/// Long enough that a per-request process variant at 1200 connections
/// (about 6 s in the queue at ~200 requests/s) is slow, not failing.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// 1200 queued connections at ~10 ms each (a CLI variant) take 12 s.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(60);
/// A closed-loop window lasts at least this many mean latencies of its own
/// responses (and at least the profile's duration). Little's law compares
/// the window's throughput with latencies that began up to one latency
/// before it: in a 1 s window at 400 connections and ~100 requests/s (4 s
/// latencies) it compared two different stretches of time, and the ratio
/// read the rate's drift (0.81 to 1.17 over three repeats), not the cell.
pub const WINDOW_LATENCIES: f64 = 3.0;
/// ... but no longer than this (a cell that hits it says so in its detail).
pub const WINDOW_MAX: Duration = Duration::from_secs(30);
/// A leftover queue that would take longer than this to answer is discarded
/// by a restart instead (closing the listener resets every queued
/// connection); a restart and primer cost well under it.
const RESTART_OVER: Duration = Duration::from_secs(2);

/// One measured point of the matrix.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Point {
    Closed {
        connections: usize,
        keep_alive: bool,
    },
    Open {
        connections: usize,
        rate: f64,
    },
}

impl Point {
    /// The point's part of the raw file name: `c100`, `ka100`, `rate5000`.
    pub(crate) fn level(&self) -> Level {
        match *self {
            Point::Closed {
                connections,
                keep_alive: false,
            } => Level::Close(connections),
            Point::Closed {
                connections,
                keep_alive: true,
            } => Level::KeepAlive(connections),
            Point::Open { rate, .. } => Level::Rate(rate),
        }
    }
}

pub fn run(s: &mut Session) -> Result<()> {
    let mut points: Vec<Point> = s
        .profile
        .connections
        .iter()
        .map(|&connections| Point::Closed {
            connections,
            keep_alive: false,
        })
        .collect();
    points.extend(
        s.profile
            .keepalive_connections
            .iter()
            .map(|&connections| Point::Closed {
                connections,
                keep_alive: true,
            }),
    );
    points.extend(s.profile.rates.iter().map(|&rate| Point::Open {
        connections: s.profile.open_connections,
        rate,
    }));
    for repeat in 0..s.profile.repeats {
        for variant in s.order(repeat) {
            if signals::interrupted() {
                return Ok(());
            }
            run_variant(s, variant, repeat, &points)?;
        }
    }
    Ok(())
}

fn run_variant(
    s: &mut Session,
    variant: &'static Variant,
    repeat: usize,
    points: &[Point],
) -> Result<()> {
    let mut running: Option<Gateway> = None;
    for workload in s.workloads.clone() {
        // One request's service time, once per workload: a cell whose queue
        // could not turn over within the warm-up cap is skipped, not run.
        let mut service: Option<Result<Duration, String>> = None;
        for point in points {
            if signals::interrupted() {
                return Ok(());
            }
            let label = format!(
                "throughput {} {} {} repeat {}",
                variant.name,
                workload.name,
                point.level().label(),
                repeat + 1
            );
            let raw = ThroughputKey {
                variant: variant.name.to_owned(),
                workload: workload.name.to_owned(),
                level: point.level(),
                repeat,
            }
            .path();
            s.progress.cell(&label);
            // Earlier attempts at this cell that were disturbed.
            let mut disturbed: Vec<Disturbance> = Vec::new();
            loop {
                // (Re)start when needed: at first, or after the gateway died
                // or was restarted to discard a queue.
                if running.as_mut().is_none_or(|r| !r.alive()) {
                    running = match start_primed(s, variant) {
                        Ok(r) => Some(r),
                        Err(e) => {
                            let error = format!("start: {e:#}");
                            fail(s, &label, variant, workload, *point, repeat, error)?;
                            break;
                        }
                    };
                }
                let gateway = running.as_mut().expect("started above");
                let service = service.get_or_insert_with(|| service_time(gateway, workload));
                if let Some(outcome) = pre_check(s, service, *point) {
                    let mut c = cell(variant, workload, *point, repeat, None);
                    c.set(match outcome {
                        Err(error) => Outcome::Failed(error),
                        Ok(reason) => Outcome::Skipped(reason),
                    });
                    let text = format!("{}: {}", c.status, c.error.as_deref().unwrap_or(""));
                    s.progress.done(&label, planned(s), &text);
                    s.record(c)?;
                    break;
                }
                let m = match measure(s, gateway, workload, *point) {
                    // A cell cut short by Ctrl-C is not a finished result.
                    Ok(m) if m.load.interrupted => {
                        let error = "interrupted".to_owned();
                        fail(s, &label, variant, workload, *point, repeat, error)?;
                        return Ok(());
                    }
                    Ok(m) => m,
                    Err(e) => {
                        // What the failed run left queued is unknown: start afresh.
                        if let Some(r) = running.take() {
                            r.stop();
                        }
                        let error = format!("{e:#}");
                        fail(s, &label, variant, workload, *point, repeat, error)?;
                        break;
                    }
                };
                let died = !gateway.alive();
                let history_key = format!(
                    "{}__{}__{}",
                    variant.name,
                    workload.name,
                    point.level().label()
                );
                let disturbance = judge(s, &m, &history_key);
                settle(s, &mut running, variant, leftover(&m.load));
                let why = disturbance.as_ref().and_then(|d| d.why.clone());
                let rerun = s.on_disturbance == OnDisturbance::Rerun;
                if let (Some(why), false, true) = (&why, died, rerun) {
                    if disturbed.len() < disturbance::RETRIES {
                        s.progress
                            .note(&format!("{label}: disturbed ({why}); measuring it again"));
                        disturbed.extend(disturbance);
                        continue;
                    }
                }
                let outcome = format!(
                    "{:.0} rps, p99 {} µs, {} errors{}{}",
                    m.load.rps,
                    m.load.latency.p99_us,
                    m.load.errors.total() + m.load.non_2xx,
                    if m.load.steady { "" } else { ", not steady" },
                    why.as_ref()
                        .map_or(String::new(), |w| format!(", disturbed: {w}"))
                );
                let cpu_per_request = gateway_cpu_ms(&m).map(|ms| ms / m.load.ok.max(1) as f64);
                let reruns = disturbed.len();
                let record = ThroughputRaw {
                    variant: variant.name.to_owned(),
                    workload: workload.name.to_owned(),
                    path: workload.path.to_owned(),
                    repeat,
                    load: m.load.into(),
                    samples: m.samples,
                    window: m.window,
                    sample_interval_ms: SAMPLE_EVERY.as_millis() as u64,
                    sampled: m.sampled,
                    disturbance,
                    disturbed_attempts: disturbed,
                };
                results::write_json(&s.path(&raw), &record)?;
                s.progress.done(&label, planned(s), &outcome);
                let mut c = cell(variant, workload, *point, repeat, None);
                c.reruns = reruns;
                if let Some(note) = window_note(&record.load, s.profile.duration) {
                    c.detail = format!("{}; {note}", c.detail);
                }
                match (&why, died, rerun) {
                    (_, true, _) => c.set(Outcome::Failed(
                        "the gateway died during the cell".to_owned(),
                    )),
                    (Some(why), false, true) => c.set(Outcome::Disturbed(format!(
                        "{why} (and in its {reruns} earlier attempts)"
                    ))),
                    (Some(why), false, false) => {
                        c.detail = format!("{}; disturbed, recorded only: {why}", c.detail);
                    }
                    (None, false, _) => {
                        if let Some(x) = cpu_per_request {
                            s.cpu_history.entry(history_key).or_default().push(x);
                        }
                    }
                }
                c.raw = Some(raw.display().to_string());
                s.record(c)?;
                break;
            }
        }
    }
    if let Some(r) = running {
        r.stop();
    }
    Ok(())
}

fn fail(
    s: &mut Session,
    label: &str,
    variant: &Variant,
    workload: &Workload,
    point: Point,
    repeat: usize,
    error: String,
) -> Result<()> {
    s.progress
        .done(label, planned(s), &format!("failed: {error}"));
    s.record(cell(variant, workload, point, repeat, Some(error)))
}

/// After a cell: work off the queue it left (`drain`), or restart the
/// gateway when that would take longer than a restart (the next attempt or
/// cell starts and primes it afresh).
fn settle(s: &Session, running: &mut Option<Gateway>, variant: &Variant, leftover: Duration) {
    if leftover > RESTART_OVER {
        let left = match leftover {
            Duration::MAX => "requests it never answered".to_owned(),
            d => format!("{:.1} s of queued requests", d.as_secs_f64()),
        };
        s.progress
            .note(&format!("restarting {}: it left {left}", variant.name));
        if let Some(r) = running.take() {
            r.stop();
        }
    } else if let Some(r) = running.as_ref() {
        drain(r);
    }
}

/// The gateway's CPU time over the window, from the load thread's readings
/// at its edges (`None` when one was missed).
fn gateway_cpu_ms(m: &Measured) -> Option<f64> {
    match m.window.as_slice() {
        [start, end] => Some(end.cpu_ms - start.cpu_ms),
        _ => None,
    }
}

/// Whether the window was disturbed ([`disturbance`]): the per-CPU readings
/// at its edges, then the cell's CPU per request against its earlier
/// undisturbed repeats. `None` where the run does not judge (unpinned, a
/// server host) or a reading is missing.
fn judge(s: &Session, m: &Measured, history_key: &str) -> Option<Disturbance> {
    let rule = s.disturbance?;
    let (Some(start), Some(end)) = (m.cpu_edges.first(), m.cpu_edges.get(1)) else {
        return None;
    };
    let gateway_ms = gateway_cpu_ms(m)?;
    let mut d = rule.judge(
        start,
        end,
        m.load.elapsed_s,
        gateway_ms,
        m.load.loadgen_cpu_ms,
    )?;
    let per_request = gateway_ms / m.load.ok.max(1) as f64;
    let earlier = s
        .cpu_history
        .get(history_key)
        .map_or(&[][..], Vec::as_slice);
    if let Some(why) = disturbance::outlier(per_request, earlier) {
        d.why = Some(match d.why {
            Some(other) => format!("{other}; {why}"),
            None => why,
        });
    }
    Some(d)
}

/// A cell's share of the progress plan, whatever it took: its window grows
/// with latency (at least 3 mean latencies) and is unknown in advance, so
/// crediting the real window ran the estimate far ahead of the run.
fn planned(s: &Session) -> Duration {
    s.profile.warmup + s.profile.duration
}

fn cell(
    variant: &Variant,
    workload: &Workload,
    point: Point,
    repeat: usize,
    error: Option<String>,
) -> Cell {
    let detail = match point {
        Point::Closed {
            connections,
            keep_alive: false,
        } => format!("closed loop, {connections} connections, one request per connection"),
        Point::Closed {
            connections,
            keep_alive: true,
        } => format!("closed loop, {connections} keep-alive connections"),
        Point::Open { connections, rate } => {
            format!("open loop, {rate} req/s over {connections} connections")
        }
    };
    let outcome = error.map_or(Outcome::Ok, Outcome::Failed);
    Cell::new(
        Suite::Throughput,
        variant.name,
        Some(workload.name),
        detail,
        outcome,
    )
    .level(point.level().label())
    .repeat(repeat)
}

/// The median of 3 sequential requests, or why the workload fails.
fn service_time(running: &Gateway, workload: &Workload) -> Result<Duration, String> {
    match loadgen::sequential(running.addr(), workload.path, 0, 3) {
        Ok(seq) => {
            let ns: Vec<f64> = seq.samples_ns.iter().map(|&n| n as f64).collect();
            Ok(Duration::from_nanos(crate::stats::median(&ns) as u64))
        }
        Err(e) => Err(format!("probe: {e:#}")),
    }
}

/// `None` to measure the cell; `Some(Err)` when the workload fails;
/// `Some(Ok(reason))` to skip a closed-loop cell whose queue cannot turn
/// over once (its steady state) within the warm-up cap.
fn pre_check(
    s: &Session,
    service: &Result<Duration, String>,
    point: Point,
) -> Option<Result<String, String>> {
    let per_request = match service {
        Err(e) => return Some(Err(e.clone())),
        Ok(d) => *d,
    };
    let Point::Closed { connections, .. } = point else {
        return None;
    };
    let turnover = per_request * connections as u32;
    (turnover > s.profile.warmup_max).then(|| {
        Ok(format!(
            "one request takes {:.0} ms, so {connections} connections need {:.0} s to reach a \
             steady queue, over the profile's {:.0} s warm-up cap",
            per_request.as_secs_f64() * 1e3,
            turnover.as_secs_f64(),
            s.profile.warmup_max.as_secs_f64()
        ))
    })
}

/// Start the variant and prime it: a short run at 8 connections on `/`.
fn start_primed(s: &Session, variant: &'static Variant) -> Result<Gateway> {
    let running = s.start(variant)?;
    if !s.profile.primer.is_zero() {
        let mut spec = LoadSpec::new(running.addr());
        spec.connections = 8;
        spec.duration = s.profile.primer;
        spec.timeout = REQUEST_TIMEOUT;
        loadgen::run(&spec, &signals::interrupted)?;
        drain(&running);
    }
    Ok(running)
}

/// Wait until the gateway has worked through the connections a finished
/// load run left queued. A run ends with requests in flight, and a serial
/// gateway still answers every one of them: a CLI variant at 400 connections
/// needs seconds for that, which without this barrier would be charged to
/// the next cell (seen: 0 rps in a 2 s cell). The accept queue is FIFO, so
/// one `/health` sent now is answered only after all of them.
fn drain(running: &Gateway) {
    let _ = probe::get(running.addr(), "/health", DRAIN_TIMEOUT);
}

/// How long the gateway would take to answer what a finished run left
/// queued, at the rate the run measured (unbounded when it answered nothing).
fn leftover(load: &LoadResult) -> Duration {
    if load.in_flight_at_end == 0 {
        return Duration::ZERO;
    }
    Duration::try_from_secs_f64(load.in_flight_at_end as f64 / load.rps).unwrap_or(Duration::MAX)
}

/// The manifest's word on a window the latency rule lengthened past the
/// profile's duration (`None` when it did not): how long, and how many mean
/// latencies it spans, or that it stopped at the cap short of the rule.
fn window_note(load: &LoadRecord, duration: Duration) -> Option<String> {
    let window = load.elapsed_s;
    if load.mode != Mode::Closed || load.interrupted || window <= duration.as_secs_f64() + 1e-3 {
        return None;
    }
    let mean_s = load.latency.mean_us / 1e6;
    let spans = if mean_s > 0.0 { window / mean_s } else { 0.0 };
    let capped = spans + 1e-6 < WINDOW_LATENCIES && window + 1e-3 >= WINDOW_MAX.as_secs_f64();
    Some(format!(
        "window {window:.1} s = {spans:.1} mean latencies of {mean_s:.2} s (rule: at least \
         {WINDOW_LATENCIES} latencies, at least {:.0} s, at most {:.0} s){}",
        duration.as_secs_f64(),
        WINDOW_MAX.as_secs_f64(),
        if capped { "; stopped at the cap" } else { "" }
    ))
}

/// What one cell measured.
struct Measured {
    load: LoadResult,
    samples: Vec<Sample>,
    window: Vec<Sample>,
    /// The machine's per-CPU times at the window's edges.
    cpu_edges: Vec<CpuTimes>,
    sampled: String,
}

fn measure(s: &Session, running: &Gateway, workload: &Workload, point: Point) -> Result<Measured> {
    let mut spec = LoadSpec::new(running.addr());
    spec.path = workload.path.to_owned();
    spec.duration = s.profile.duration;
    spec.warmup = s.profile.warmup;
    spec.steady = true;
    spec.warmup_max = s.profile.warmup_max;
    spec.window_latencies = WINDOW_LATENCIES;
    spec.window_max = WINDOW_MAX;
    spec.timeout = REQUEST_TIMEOUT;
    match point {
        Point::Closed {
            connections,
            keep_alive,
        } => {
            spec.connections = connections;
            spec.keep_alive = keep_alive;
        }
        Point::Open { connections, rate } => {
            spec.connections = connections;
            spec.mode = Mode::Open { rate };
        }
    }
    let (sampler, sampled) = running.sampler(SAMPLE_EVERY)?;
    let mut window = Vec::new();
    let mut cpu_edges = Vec::new();
    let result = loadgen::run_observed(&spec, &signals::interrupted, &mut |edge| {
        if let Some(reading) = sampler.reading() {
            window.push(reading);
        }
        cpu_edges.extend(CpuTimes::read());
        if edge == Edge::End && window.len() != 2 {
            window.clear(); // a missed edge: fall back to the periodic samples
        }
        if edge == Edge::End && cpu_edges.len() != 2 {
            cpu_edges.clear();
        }
    });
    let samples = sampler.finish()?;
    Ok(Measured {
        load: result?,
        samples,
        window,
        cpu_edges,
        sampled,
    })
}
