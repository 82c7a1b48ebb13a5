//! Summaries computed from `raw/` alone: `summary/cold_start.csv`,
//! `summary/warm_latency.csv`, `aggregated/throughput.csv` (and the
//! hyperfine and open-loop tables when those ran). Rows are sorted the same
//! way every time, so the same raw data gives byte-identical files.
//!
//! Raw data of a cell the manifest marks as failed or interrupted is left
//! out: such a cell is listed as failed in the report, never averaged.
//!
//! Each throughput cell says what bound it: `gateway` when the gateway (its
//! process tree, or its container and Docker's relay) used at least 90% of
//! its core over the window, `client` when the load generator's thread did
//! and the gateway did not, `neither` otherwise; and whether it was steady
//! (Little's law: rps x mean latency / connections within [0.9, 1.1]).

use std::path::Path;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::rundata::raw::ColdSample;
use crate::rundata::{Client, ConnMode, RunData};
use crate::{results, sample, stats, variants, workloads};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ColdRow {
    pub variant: String,
    pub n: usize,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub mean_ms: f64,
    pub min_ms: f64,
    pub max_ms: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct WarmRow {
    pub variant: String,
    pub workload: String,
    pub client: Client,
    pub n: usize,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub mean_us: f64,
}

/// What limited a throughput cell.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Bound {
    /// The gateway used at least [`BUSY_PCT`] of its core: the cell measured it.
    Gateway,
    /// The load generator's thread did and the gateway did not: the cell
    /// measured the client, so its rps says little about the gateway.
    Client,
    /// Neither was busy (waiting on something else, or too little load).
    Neither,
}

/// "Busy" for [`Bound`]: percent of one core over the window.
pub const BUSY_PCT: f64 = 90.0;
/// Little's ratio outside this range: latencies were not steady-state.
pub const LITTLE_RANGE: (f64, f64) = (0.9, 1.1);

impl Bound {
    pub fn of(gateway_cpu_pct: f64, loadgen_cpu_pct: f64) -> Bound {
        if gateway_cpu_pct >= BUSY_PCT {
            Bound::Gateway
        } else if loadgen_cpu_pct >= BUSY_PCT {
            Bound::Client
        } else {
            Bound::Neither
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Bound::Gateway => "gateway",
            Bound::Client => "client",
            Bound::Neither => "neither",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ThroughputRow {
    pub variant: String,
    pub workload: String,
    pub mode: ConnMode,
    pub connections: usize,
    pub repeat: usize,
    pub duration_s: f64,
    pub requests: u64,
    pub rps: f64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub errors: u64,
    pub rss_peak_kb: u64,
    pub rss_mean_kb: f64,
    /// The gateway's CPU over the window, percent of one core (Docker: the
    /// container and its relay).
    pub gateway_cpu_pct: f64,
    pub cpu_ms_per_1k: f64,
    /// The load generator's thread over the window, percent of one core.
    pub loadgen_cpu_pct: f64,
    pub bound: Bound,
    /// rps x mean latency / connections; about 1 when steady.
    pub little_ratio: f64,
    /// The warm-up reached a steady load and Little's ratio is in range.
    pub steady: bool,
    /// Docker's relay (docker-proxy), part of `gateway_cpu_pct`; empty
    /// where there is none.
    pub relay_cpu_pct: Option<f64>,
    pub relay_rss_peak_kb: Option<u64>,
}

impl ThroughputRow {
    pub fn keep_alive(&self) -> bool {
        self.mode == ConnMode::KeepAlive
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OpenLoopRow {
    pub variant: String,
    pub workload: String,
    pub connections: usize,
    pub rate: f64,
    pub repeat: usize,
    pub duration_s: f64,
    pub requests: u64,
    pub rps: f64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub errors: u64,
    pub unsent_at_end: u64,
    /// Requests recorded without an answer (timed out, or in flight or
    /// unsent at the deadline), as wrk2 records them.
    pub censored: u64,
    pub gateway_cpu_pct: f64,
    pub loadgen_cpu_pct: f64,
    pub bound: Bound,
}

/// Everything summarized from one run's `raw/`.
#[derive(Debug, Default)]
pub struct Summary {
    /// Cold-start p50 of each repeat, per variant (for intervals).
    pub cold_by_repeat: std::collections::BTreeMap<String, Vec<f64>>,
    /// Warm p50 of each repeat, per (variant, workload, client).
    pub warm_by_repeat: std::collections::BTreeMap<(String, String, Client), Vec<f64>>,
    pub cold: Vec<ColdRow>,
    pub cold_hyperfine: Vec<ColdRow>,
    pub warm: Vec<WarmRow>,
    pub throughput: Vec<ThroughputRow>,
    pub open_loop: Vec<OpenLoopRow>,
}

/// Sort key: the variant table's order, then the workload table's.
fn variant_rank(name: &str) -> usize {
    variants::VARIANTS
        .iter()
        .position(|v| v.name == name)
        .unwrap_or(usize::MAX)
}

fn workload_rank(name: &str) -> usize {
    workloads::WORKLOADS
        .iter()
        .position(|w| w.name == name)
        .unwrap_or(usize::MAX)
}

/// Round for stable, readable CSV (the raw data keeps full precision).
fn r3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// The median of each repeat's values, in repeat order.
fn by_repeat(values: impl Iterator<Item = (usize, f64)>) -> Vec<f64> {
    let mut groups: std::collections::BTreeMap<usize, Vec<f64>> = Default::default();
    for (repeat, v) in values {
        groups.entry(repeat).or_default().push(v);
    }
    groups.values().map(|v| stats::median(v)).collect()
}

fn us(x: f64) -> u64 {
    x.round().max(0.0) as u64
}

fn cold_row(variant: &str, ms: &[f64]) -> ColdRow {
    ColdRow {
        variant: variant.to_owned(),
        n: ms.len(),
        p50_ms: r3(stats::percentile(ms, 50.0)),
        p90_ms: r3(stats::percentile(ms, 90.0)),
        p99_ms: r3(stats::percentile(ms, 99.0)),
        mean_ms: r3(stats::mean(ms)),
        min_ms: r3(ms.iter().copied().fold(f64::INFINITY, f64::min)),
        max_ms: r3(ms.iter().copied().fold(f64::NEG_INFINITY, f64::max)),
    }
}

pub fn compute(run: &Path) -> Result<Summary> {
    Ok(of(&RunData::load(run)?))
}

/// The summary of a loaded run folder.
pub fn of(data: &RunData) -> Summary {
    let mut summary = Summary::default();
    let unfinished = data.unfinished();

    for series in &data.cold {
        let rows: Vec<&ColdSample> = series
            .samples
            .iter()
            .filter(|r| !unfinished.cold.contains(&(r.variant.clone(), r.repeat)))
            .collect();
        if let Some(first) = rows.first() {
            let ms: Vec<f64> = rows.iter().map(|r| r.ms).collect();
            summary.cold.push(cold_row(&first.variant, &ms));
            summary.cold_by_repeat.insert(
                first.variant.clone(),
                by_repeat(rows.iter().map(|r| (r.repeat, r.ms))),
            );
        }
    }
    summary.cold.sort_by_key(|r| variant_rank(&r.variant));

    for series in data.hyperfine.iter().filter(|s| !s.ms.is_empty()) {
        summary
            .cold_hyperfine
            .push(cold_row(&series.key.variant, &series.ms));
    }
    summary
        .cold_hyperfine
        .sort_by_key(|r| variant_rank(&r.variant));

    for series in &data.warm {
        let key = &series.key;
        if unfinished.file(&key.path()) || series.samples.is_empty() {
            continue;
        }
        let rows = &series.samples;
        let lat: Vec<f64> = rows.iter().map(|r| r.latency_us).collect();
        summary.warm_by_repeat.insert(
            (key.variant.clone(), key.workload.clone(), key.client),
            by_repeat(rows.iter().map(|r| (r.repeat, r.latency_us))),
        );
        summary.warm.push(WarmRow {
            variant: key.variant.clone(),
            workload: key.workload.clone(),
            client: key.client,
            n: lat.len(),
            p50_us: us(stats::percentile(&lat, 50.0)),
            p90_us: us(stats::percentile(&lat, 90.0)),
            p99_us: us(stats::percentile(&lat, 99.0)),
            mean_us: r3(stats::mean(&lat)),
        });
    }
    // Clients by name, as the table has always been ordered.
    summary.warm.sort_by(|a, b| {
        (
            variant_rank(&a.variant),
            workload_rank(&a.workload),
            a.client.name(),
        )
            .cmp(&(
                variant_rank(&b.variant),
                workload_rank(&b.workload),
                b.client.name(),
            ))
    });

    for tc in &data.throughput {
        if unfinished.file(&tc.key.path()) {
            continue;
        }
        let cell = &tc.raw;
        let l = &cell.load;
        let requests = l.ok;
        let duration_s = l.elapsed_s;
        let rps = if duration_s > 0.0 {
            requests as f64 / duration_s
        } else {
            0.0
        };
        let errors = l.errors.total() + l.non_2xx;
        let lat = loadgen::LatencySummary::of(&l.histogram);
        let usage = sample::window_usage(&cell.samples, &cell.window);
        let gateway_cpu_pct = usage.map_or(0.0, |u| u.cpu_pct_mean);
        let loadgen_cpu_pct = l.loadgen_cpu_pct();
        let bound = Bound::of(gateway_cpu_pct, loadgen_cpu_pct);
        match l.mode {
            loadgen::Mode::Closed => {
                let cpu_ms = usage.map_or(0.0, |u| u.cpu_ms);
                let little_ratio = l.little_ratio().unwrap_or(0.0);
                let wall_ms = duration_s * 1e3;
                summary.throughput.push(ThroughputRow {
                    variant: cell.variant.clone(),
                    workload: cell.workload.clone(),
                    mode: ConnMode::of(l.keep_alive),
                    connections: l.connections,
                    repeat: cell.repeat,
                    duration_s: r3(duration_s),
                    requests,
                    rps: r3(rps),
                    p50_us: lat.p50_us,
                    p90_us: lat.p90_us,
                    p99_us: lat.p99_us,
                    errors,
                    rss_peak_kb: usage.map_or(0, |u| u.rss_peak_kb),
                    rss_mean_kb: r3(usage.map_or(0.0, |u| u.rss_mean_kb)),
                    gateway_cpu_pct: r3(gateway_cpu_pct),
                    cpu_ms_per_1k: if requests > 0 {
                        r3(cpu_ms * 1000.0 / requests as f64)
                    } else {
                        0.0
                    },
                    loadgen_cpu_pct: r3(loadgen_cpu_pct),
                    bound,
                    little_ratio: r3(little_ratio),
                    steady: l.steady && (LITTLE_RANGE.0..=LITTLE_RANGE.1).contains(&little_ratio),
                    relay_cpu_pct: usage
                        .and_then(|u| u.relay_cpu_ms)
                        .filter(|_| wall_ms > 0.0)
                        .map(|ms| r3(ms / wall_ms * 100.0)),
                    relay_rss_peak_kb: usage.and_then(|u| u.relay_rss_peak_kb),
                });
            }
            loadgen::Mode::Open { rate } => summary.open_loop.push(OpenLoopRow {
                variant: cell.variant.clone(),
                workload: cell.workload.clone(),
                connections: l.connections,
                rate,
                repeat: cell.repeat,
                duration_s: r3(duration_s),
                requests,
                rps: r3(rps),
                p50_us: lat.p50_us,
                p90_us: lat.p90_us,
                p99_us: lat.p99_us,
                errors,
                unsent_at_end: l.unsent_at_end,
                censored: l.censored,
                gateway_cpu_pct: r3(gateway_cpu_pct),
                loadgen_cpu_pct: r3(loadgen_cpu_pct),
                bound,
            }),
        }
    }
    summary.throughput.sort_by(|a, b| {
        (
            variant_rank(&a.variant),
            workload_rank(&a.workload),
            a.keep_alive(),
            a.connections,
            a.repeat,
        )
            .cmp(&(
                variant_rank(&b.variant),
                workload_rank(&b.workload),
                b.keep_alive(),
                b.connections,
                b.repeat,
            ))
    });
    summary.open_loop.sort_by(|a, b| {
        (variant_rank(&a.variant), workload_rank(&a.workload))
            .cmp(&(variant_rank(&b.variant), workload_rank(&b.workload)))
            .then(a.rate.total_cmp(&b.rate))
            .then(a.repeat.cmp(&b.repeat))
    });
    summary
}

/// Write the summary tables into the run folder.
pub fn write(run: &Path, s: &Summary) -> Result<()> {
    results::write_csv_table(&run.join("summary/cold_start.csv"), &s.cold)?;
    if !s.cold_hyperfine.is_empty() {
        results::write_csv_table(
            &run.join("summary/cold_start_hyperfine.csv"),
            &s.cold_hyperfine,
        )?;
    }
    results::write_csv_table(&run.join("summary/warm_latency.csv"), &s.warm)?;
    results::write_csv_table(&run.join("aggregated/throughput.csv"), &s.throughput)?;
    if !s.open_loop.is_empty() {
        results::write_csv_table(&run.join("aggregated/open_loop.csv"), &s.open_loop)?;
    }
    Ok(())
}
