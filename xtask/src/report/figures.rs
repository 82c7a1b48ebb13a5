//! Figures derived from the summary rows, shared by the tables, the charts
//! and the hypotheses so that each number is computed one way only.

use super::summary::{ColdRow, Summary, ThroughputRow, WarmRow};

/// Cold-start row of a variant (harness method).
pub fn cold<'a>(s: &'a Summary, variant: &str) -> Option<&'a ColdRow> {
    s.cold.iter().find(|r| r.variant == variant && r.n > 0)
}

/// Warm row of (variant, workload, client).
pub fn warm<'a>(
    s: &'a Summary,
    variant: &str,
    workload: &str,
    client: &str,
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
        .filter(|r| r.variant == variant && r.workload == workload && r.rss_peak_kb > 0)
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

/// Errors and non-2xx answers over all closed-loop cells of (variant, workload).
pub fn errors(rows: &[ThroughputRow], variant: &str, workload: &str) -> u64 {
    rows.iter()
        .filter(|r| r.variant == variant && r.workload == workload)
        .map(|r| r.errors)
        .sum()
}

/// One connection level of a variant: mean, min and max rps over repeats.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub connections: usize,
    pub mean: f64,
    pub min: f64,
    pub max: f64,
    pub repeats: usize,
}

/// Mean/min/max rps per connection level of one (variant, workload).
pub fn points(rows: &[ThroughputRow], variant: &str, workload: &str) -> Vec<Point> {
    let mut levels: Vec<usize> = rows
        .iter()
        .filter(|r| r.variant == variant && r.workload == workload)
        .map(|r| r.connections)
        .collect();
    levels.sort_unstable();
    levels.dedup();
    levels
        .into_iter()
        .map(|c| {
            let rps: Vec<f64> = rows
                .iter()
                .filter(|r| r.variant == variant && r.workload == workload && r.connections == c)
                .map(|r| r.rps)
                .collect();
            Point {
                connections: c,
                mean: crate::stats::mean(&rps),
                min: rps.iter().copied().fold(f64::INFINITY, f64::min),
                max: rps.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                repeats: rps.len(),
            }
        })
        .collect()
}
