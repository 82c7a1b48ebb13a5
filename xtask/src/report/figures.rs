//! Figures derived from the summary rows, shared by the tables, the charts
//! and the hypotheses so that each number is computed one way only.

use super::summary::{Bound, ColdRow, Summary, ThroughputRow, WarmRow};
use crate::rundata::Client;

/// Cold-start row of a variant (harness method).
pub fn cold<'a>(s: &'a Summary, variant: &str) -> Option<&'a ColdRow> {
    s.cold.iter().find(|r| r.variant == variant && r.n > 0)
}

/// Warm row of (variant, workload, client).
pub fn warm<'a>(
    s: &'a Summary,
    variant: &str,
    workload: &str,
    client: Client,
) -> Option<&'a WarmRow> {
    s.warm
        .iter()
        .find(|r| r.variant == variant && r.workload == workload && r.client == client && r.n > 0)
}

/// Highest mean-over-repeats rps of (variant, workload) and its connection
/// level (see [`super::peak_rps`]); `None` when not measured.
pub fn peak(s: &Summary, variant: &str, workload: &str) -> Option<(f64, usize)> {
    super::peak_rps(&s.throughput, variant, workload).filter(|(rps, _)| rps.is_finite())
}

/// Resource use of (variant, workload) over all its closed-loop cells.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Usage {
    /// The highest RSS seen in any cell, KiB.
    pub rss_peak_kb: u64,
    /// CPU ms per 1000 requests over all cells together: sum of CPU time
    /// over sum of requests (each cell weighted by its requests).
    pub cpu_ms_per_1k: f64,
    /// Cells that had resource samples.
    pub cells: usize,
}

pub fn usage(rows: &[ThroughputRow], variant: &str, workload: &str) -> Option<Usage> {
    let cells: Vec<&ThroughputRow> = rows
        .iter()
        .filter(|r| {
            r.variant == variant && r.workload == workload && !r.keep_alive() && r.rss_peak_kb > 0
        })
        .collect();
    if cells.is_empty() {
        return None;
    }
    let requests: u64 = cells.iter().map(|r| r.requests).sum();
    let cpu_ms: f64 = cells
        .iter()
        .map(|r| r.cpu_ms_per_1k * r.requests as f64 / 1000.0)
        .sum();
    Some(Usage {
        rss_peak_kb: cells.iter().map(|r| r.rss_peak_kb).max().unwrap_or(0),
        cpu_ms_per_1k: if requests > 0 {
            cpu_ms * 1000.0 / requests as f64
        } else {
            f64::NAN
        },
        cells: cells.len(),
    })
}

/// Docker's relay within (variant, workload)'s usage.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RelayUsage {
    pub rss_peak_kb: u64,
    pub cpu_ms_per_1k: f64,
    /// Its share of the variant's CPU.
    pub share: f64,
    pub cells: usize,
}

pub fn relay_usage(rows: &[ThroughputRow], variant: &str, workload: &str) -> Option<RelayUsage> {
    let cells: Vec<&ThroughputRow> = rows
        .iter()
        .filter(|r| {
            r.variant == variant
                && r.workload == workload
                && !r.keep_alive()
                && r.relay_cpu_pct.is_some()
        })
        .collect();
    if cells.is_empty() {
        return None;
    }
    let requests: u64 = cells.iter().map(|r| r.requests).sum();
    let relay_ms: f64 = cells
        .iter()
        .map(|r| r.relay_cpu_pct.unwrap_or(0.0) / 100.0 * r.duration_s * 1000.0)
        .sum();
    let total_ms: f64 = cells
        .iter()
        .map(|r| r.cpu_ms_per_1k * r.requests as f64 / 1000.0)
        .sum();
    (requests > 0).then(|| RelayUsage {
        rss_peak_kb: cells
            .iter()
            .filter_map(|r| r.relay_rss_peak_kb)
            .max()
            .unwrap_or(0),
        cpu_ms_per_1k: relay_ms * 1000.0 / requests as f64,
        share: if total_ms > 0.0 {
            relay_ms / total_ms
        } else {
            0.0
        },
        cells: cells.len(),
    })
}

/// Errors and non-2xx answers over all closed-loop cells of (variant, workload).
pub fn errors(rows: &[ThroughputRow], variant: &str, workload: &str) -> u64 {
    rows.iter()
        .filter(|r| r.variant == variant && r.workload == workload)
        .map(|r| r.errors)
        .sum()
}

/// One connection level of a variant: mean, min and max rps over repeats,
/// and what bound its cells.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub connections: usize,
    pub mean: f64,
    pub min: f64,
    pub max: f64,
    pub repeats: usize,
    /// Each repeat's rps, in repeat order.
    pub rps: Vec<f64>,
    /// `Gateway` when every repeat was gateway-bound; otherwise `Client` if
    /// any repeat was client-bound, else `Neither`.
    pub bound: Bound,
    /// Every repeat steady (warm-up reached it, Little's ratio in range).
    pub steady: bool,
}

/// Mean/min/max rps per connection level of one (variant, workload), one
/// request per connection (`close` mode).
pub fn points(rows: &[ThroughputRow], variant: &str, workload: &str) -> Vec<Point> {
    points_in(rows, variant, workload, false)
}

/// The same for one mode: `keep_alive` or one request per connection.
pub fn points_in(
    rows: &[ThroughputRow],
    variant: &str,
    workload: &str,
    keep_alive: bool,
) -> Vec<Point> {
    let cells = |c: Option<usize>| {
        rows.iter().filter(move |r| {
            r.variant == variant
                && r.workload == workload
                && r.keep_alive() == keep_alive
                && c.is_none_or(|c| r.connections == c)
        })
    };
    let mut levels: Vec<usize> = cells(None).map(|r| r.connections).collect();
    levels.sort_unstable();
    levels.dedup();
    levels
        .into_iter()
        .map(|c| {
            let mut at: Vec<&ThroughputRow> = cells(Some(c)).collect();
            at.sort_by_key(|r| r.repeat);
            let rps: Vec<f64> = at.iter().map(|r| r.rps).collect();
            let bound = if at.iter().all(|r| r.bound == Bound::Gateway) {
                Bound::Gateway
            } else if at.iter().any(|r| r.bound == Bound::Client) {
                Bound::Client
            } else {
                Bound::Neither
            };
            Point {
                connections: c,
                mean: crate::stats::mean(&rps),
                min: rps.iter().copied().fold(f64::INFINITY, f64::min),
                max: rps.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                repeats: rps.len(),
                bound,
                steady: at.iter().all(|r| r.steady),
                rps,
            }
        })
        .collect()
}

/// The level with the highest mean rps (`close` mode), with its repeats.
pub fn peak_point(s: &Summary, variant: &str, workload: &str) -> Option<Point> {
    points(&s.throughput, variant, workload)
        .into_iter()
        .filter(|p| p.mean.is_finite())
        .max_by(|a, b| a.mean.total_cmp(&b.mean))
}

/// CPU ms per 1000 requests of each repeat over all of the workload's
/// `close` cells (each repeat's CPU time over its requests), repeat order.
pub fn cpu_per_1k_by_repeat(rows: &[ThroughputRow], variant: &str, workload: &str) -> Vec<f64> {
    let mut by: std::collections::BTreeMap<usize, (f64, u64)> = Default::default();
    for r in rows.iter().filter(|r| {
        r.variant == variant && r.workload == workload && !r.keep_alive() && r.rss_peak_kb > 0
    }) {
        let e = by.entry(r.repeat).or_default();
        e.0 += r.cpu_ms_per_1k * r.requests as f64 / 1000.0;
        e.1 += r.requests;
    }
    by.values()
        .filter(|(_, n)| *n > 0)
        .map(|(ms, n)| ms * 1000.0 / *n as f64)
        .collect()
}

/// Each repeat's highest RSS over (variant, workload)'s one-request-per-
/// connection cells, KiB, in repeat order.
pub fn rss_by_repeat(rows: &[ThroughputRow], variant: &str, workload: &str) -> Vec<f64> {
    let mut by: std::collections::BTreeMap<usize, u64> = Default::default();
    for r in rows.iter().filter(|r| {
        r.variant == variant && r.workload == workload && !r.keep_alive() && r.rss_peak_kb > 0
    }) {
        let e = by.entry(r.repeat).or_default();
        *e = (*e).max(r.rss_peak_kb);
    }
    by.values().map(|&kb| kb as f64).collect()
}

/// A word for a cell that did not measure the gateway alone, for tables.
pub fn caveat(p: &Point) -> &'static str {
    match (p.bound, p.steady) {
        (Bound::Gateway, true) => "",
        (Bound::Client, _) => " (client-bound)",
        (Bound::Neither, _) => " (not saturated)",
        (Bound::Gateway, false) => " (not steady)",
    }
}
