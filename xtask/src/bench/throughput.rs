//! Throughput and resources: for each repeat, variants in a shuffled order;
//! each variant is started once, primed (TechEmpower's habit), and then for
//! each workload warmed up at the highest level and measured at every
//! connection level (closed loop, like wrk) and every offered rate (open
//! loop, like wrk2). The sampler reads the gateway's process tree (or its
//! container) every 50 ms during each measured window.

use std::time::Duration;

use anyhow::Result;

use super::Session;
use crate::load::{self, LoadResult, LoadSpec, Mode};
use crate::manifest::Cell;
use crate::raw::ThroughputRaw;
use crate::sample::{Sample, Sampler, Target};
use crate::variants::{Running, Variant};
use crate::workloads::Workload;
use crate::{probe, results, signals};

const SAMPLE_EVERY: Duration = Duration::from_millis(50);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// 1200 queued connections at ~10 ms each (a CLI variant) take 12 s.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(60);

/// One measured point of the matrix.
#[derive(Debug, Clone, Copy)]
enum Point {
    Closed { connections: usize },
    Open { connections: usize, rate: f64 },
}

impl Point {
    fn label(&self) -> String {
        match self {
            Point::Closed { connections } => format!("c{connections}"),
            Point::Open { rate, .. } => format!("rate{rate}"),
        }
    }
}

pub fn run(s: &mut Session) -> Result<()> {
    let mut points: Vec<Point> = s
        .profile
        .connections
        .iter()
        .map(|&connections| Point::Closed { connections })
        .collect();
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
    let mut running: Option<Running> = None;
    for workload in s.workloads.clone() {
        for (i, point) in points.iter().enumerate() {
            if signals::interrupted() {
                return Ok(());
            }
            let label = format!(
                "throughput {} {} {} repeat {}",
                variant.name,
                workload.name,
                point.label(),
                repeat + 1
            );
            let raw = format!(
                "raw/throughput/{}__{}__{}__r{repeat}.json",
                variant.name,
                workload.name,
                point.label()
            );
            s.progress.cell(&label);
            // (Re)start when needed: at first, or after the gateway died.
            if running.as_mut().is_none_or(|r| !r.alive()) {
                running = match start_primed(s, variant) {
                    Ok(r) => Some(r),
                    Err(e) => {
                        fail(
                            s,
                            &label,
                            variant,
                            workload,
                            *point,
                            repeat,
                            format!("start: {e:#}"),
                        )?;
                        continue;
                    }
                };
            }
            let gateway = running.as_mut().expect("started above");
            if i == 0 {
                warm_up(s, gateway, workload);
            }
            match measure(s, gateway, workload, *point) {
                // A cell cut short by Ctrl-C is not a finished result.
                Ok((result, _, _)) if result.interrupted => {
                    fail(
                        s,
                        &label,
                        variant,
                        workload,
                        *point,
                        repeat,
                        "interrupted".to_owned(),
                    )?;
                    return Ok(());
                }
                Ok((result, samples, sampled)) => {
                    let died = !gateway.alive();
                    let outcome = format!(
                        "{:.0} rps, p99 {} µs, {} errors",
                        result.rps,
                        result.latency.p99_us,
                        result.errors.total() + result.non_2xx
                    );
                    let record = ThroughputRaw {
                        variant: variant.name.to_owned(),
                        workload: workload.name.to_owned(),
                        path: workload.path.to_owned(),
                        repeat,
                        load: result,
                        samples,
                        sample_interval_ms: SAMPLE_EVERY.as_millis() as u64,
                        sampled,
                    };
                    results::write_json(&s.path(&raw), &record)?;
                    s.progress.done(&label, s.profile.duration, &outcome);
                    let mut c = cell(variant, workload, *point, repeat, None);
                    if died {
                        c.status = "failed".to_owned();
                        c.error = Some("the gateway died during the cell".to_owned());
                    }
                    c.raw = Some(raw);
                    s.record(c)?;
                }
                Err(e) => fail(
                    s,
                    &label,
                    variant,
                    workload,
                    *point,
                    repeat,
                    format!("{e:#}"),
                )?,
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
        .done(label, s.profile.duration, &format!("failed: {error}"));
    s.record(cell(variant, workload, point, repeat, Some(error)))
}

fn cell(
    variant: &Variant,
    workload: &Workload,
    point: Point,
    repeat: usize,
    error: Option<String>,
) -> Cell {
    let detail = match point {
        Point::Closed { connections } => format!("closed loop, {connections} connections"),
        Point::Open { connections, rate } => {
            format!("open loop, {rate} req/s over {connections} connections")
        }
    };
    Cell {
        suite: "throughput".to_owned(),
        variant: variant.name.to_owned(),
        workload: Some(workload.name.to_owned()),
        detail,
        repeat: Some(repeat),
        status: if error.is_some() { "failed" } else { "ok" }.to_owned(),
        error,
        raw: None,
    }
}

/// Start the variant and prime it: a short run at 8 connections on `/`.
fn start_primed(s: &Session, variant: &'static Variant) -> Result<Running> {
    let running = variant.start(&s.start_opts(variant))?;
    if !s.profile.primer.is_zero() {
        let mut spec = LoadSpec::new(running.addr);
        spec.connections = 8;
        spec.duration = s.profile.primer;
        spec.timeout = REQUEST_TIMEOUT;
        load::run(&spec, &signals::interrupted)?;
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
fn drain(running: &Running) {
    let _ = probe::get(running.addr, "/health", DRAIN_TIMEOUT);
}

/// Warm-up at the highest level before a workload's cells; discarded.
fn warm_up(s: &Session, running: &Running, workload: &Workload) {
    if s.profile.warmup.is_zero() {
        return;
    }
    let mut spec = LoadSpec::new(running.addr);
    spec.path = workload.path.to_owned();
    spec.connections = s.profile.connections.iter().copied().max().unwrap_or(10);
    spec.duration = s.profile.warmup;
    spec.timeout = REQUEST_TIMEOUT;
    let _ = load::run(&spec, &signals::interrupted);
    drain(running);
}

fn measure(
    s: &Session,
    running: &Running,
    workload: &Workload,
    point: Point,
) -> Result<(LoadResult, Vec<Sample>, String)> {
    let mut spec = LoadSpec::new(running.addr);
    spec.path = workload.path.to_owned();
    spec.duration = s.profile.duration;
    spec.timeout = REQUEST_TIMEOUT;
    match point {
        Point::Closed { connections } => spec.connections = connections,
        Point::Open { connections, rate } => {
            spec.connections = connections;
            spec.mode = Mode::Open { rate };
        }
    }
    let (target, sampled) = match (running.pid(), running.container_id()) {
        (Some(pid), _) => (
            Target::Process(pid),
            format!("process {pid} and descendants"),
        ),
        (None, Some(id)) => (
            Target::Container {
                id: id.to_owned(),
                pid: crate::docker::main_pid(id),
            },
            format!("container {id} (CPU: its cgroup; RSS: its process tree)"),
        ),
        (None, None) => anyhow::bail!("nothing to sample"),
    };
    let sampler = Sampler::start(target, SAMPLE_EVERY);
    let result = load::run(&spec, &signals::interrupted);
    let samples = sampler.finish();
    drain(running);
    Ok((result?, samples, sampled))
}
