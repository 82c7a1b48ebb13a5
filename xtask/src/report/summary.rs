//! Summaries computed from `raw/` alone: `summary/cold_start.csv`,
//! `summary/warm_latency.csv`, `aggregated/throughput.csv` (and the
//! hyperfine and open-loop tables when those ran). Rows are sorted the same
//! way every time, so the same raw data gives byte-identical files.

use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::raw::{ColdSample, ThroughputRaw, WarmSample};
use crate::{load, results, sample, stats, variants, workloads};

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
    pub client: String,
    pub n: usize,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub mean_us: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ThroughputRow {
    pub variant: String,
    pub workload: String,
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
    pub cpu_pct_mean: f64,
    pub cpu_ms_per_1k: f64,
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
}

pub const COLD_HEADER: &[&str] = &[
    "variant", "n", "p50_ms", "p90_ms", "p99_ms", "mean_ms", "min_ms", "max_ms",
];
pub const WARM_HEADER: &[&str] = &[
    "variant", "workload", "client", "n", "p50_us", "p90_us", "p99_us", "mean_us",
];
pub const THROUGHPUT_HEADER: &[&str] = &[
    "variant",
    "workload",
    "connections",
    "repeat",
    "duration_s",
    "requests",
    "rps",
    "p50_us",
    "p90_us",
    "p99_us",
    "errors",
    "rss_peak_kb",
    "rss_mean_kb",
    "cpu_pct_mean",
    "cpu_ms_per_1k",
];
pub const OPEN_LOOP_HEADER: &[&str] = &[
    "variant",
    "workload",
    "connections",
    "rate",
    "repeat",
    "duration_s",
    "requests",
    "rps",
    "p50_us",
    "p90_us",
    "p99_us",
    "errors",
    "unsent_at_end",
];

/// Everything summarized from one run's `raw/`.
#[derive(Debug, Default)]
pub struct Summary {
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

fn files(dir: &Path, suffix: &str) -> Result<Vec<std::path::PathBuf>> {
    let mut out: Vec<_> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.ends_with(suffix) && !n.starts_with('.'))
            })
            .collect(),
        Err(_) => Vec::new(),
    };
    out.sort();
    Ok(out)
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
    let mut summary = Summary::default();
    let raw = run.join("raw");

    for path in files(&raw.join("cold"), ".csv")? {
        let rows: Vec<ColdSample> = results::read_csv(&path)?;
        if let Some(first) = rows.first() {
            let ms: Vec<f64> = rows.iter().map(|r| r.ms).collect();
            summary.cold.push(cold_row(&first.variant, &ms));
        }
    }
    summary.cold.sort_by_key(|r| variant_rank(&r.variant));

    for path in files(&raw.join("cold"), ".hyperfine.json")? {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let variant = name.trim_end_matches(".hyperfine.json");
        let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path)?)
            .with_context(|| format!("parsing {}", path.display()))?;
        let ms: Vec<f64> = json["results"][0]["times"]
            .as_array()
            .map(|t| {
                t.iter()
                    .filter_map(|x| x.as_f64())
                    .map(|s| s * 1e3)
                    .collect()
            })
            .unwrap_or_default();
        if !ms.is_empty() {
            summary.cold_hyperfine.push(cold_row(variant, &ms));
        }
    }
    summary
        .cold_hyperfine
        .sort_by_key(|r| variant_rank(&r.variant));

    for path in files(&raw.join("warm"), ".csv")? {
        let stem = path
            .file_stem()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let parts: Vec<&str> = stem.split("__").collect();
        let [variant, workload, client] = parts[..] else {
            continue;
        };
        let rows: Vec<WarmSample> = results::read_csv(&path)?;
        if rows.is_empty() {
            continue;
        }
        let us: Vec<f64> = rows.iter().map(|r| r.latency_us).collect();
        let hist = stats::histogram_us(us.iter().map(|&x| x.round() as u64));
        summary.warm.push(WarmRow {
            variant: variant.to_owned(),
            workload: workload.to_owned(),
            client: client.to_owned(),
            n: us.len(),
            p50_us: hist.value_at_quantile(0.50),
            p90_us: hist.value_at_quantile(0.90),
            p99_us: hist.value_at_quantile(0.99),
            mean_us: r3(stats::mean(&us)),
        });
    }
    summary.warm.sort_by(|a, b| {
        (
            variant_rank(&a.variant),
            workload_rank(&a.workload),
            &a.client,
        )
            .cmp(&(
                variant_rank(&b.variant),
                workload_rank(&b.workload),
                &b.client,
            ))
    });

    for path in files(&raw.join("throughput"), ".json")? {
        let text = std::fs::read_to_string(&path)?;
        let cell: ThroughputRaw =
            serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        let l = &cell.load;
        let requests = l.ok;
        let duration_s = l.elapsed_s;
        let rps = if duration_s > 0.0 {
            requests as f64 / duration_s
        } else {
            0.0
        };
        let errors = l.errors.total() + l.non_2xx;
        let lat = load::LatencySummary::of(&l.histogram);
        match l.mode {
            load::Mode::Closed => {
                let usage = sample::summarize(&cell.samples);
                let cpu_ms = usage.map_or(0.0, |u| u.cpu_ms);
                summary.throughput.push(ThroughputRow {
                    variant: cell.variant.clone(),
                    workload: cell.workload.clone(),
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
                    cpu_pct_mean: r3(usage.map_or(0.0, |u| u.cpu_pct_mean)),
                    cpu_ms_per_1k: if requests > 0 {
                        r3(cpu_ms * 1000.0 / requests as f64)
                    } else {
                        0.0
                    },
                });
            }
            load::Mode::Open { rate } => summary.open_loop.push(OpenLoopRow {
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
            }),
        }
    }
    summary.throughput.sort_by(|a, b| {
        (
            variant_rank(&a.variant),
            workload_rank(&a.workload),
            a.connections,
            a.repeat,
        )
            .cmp(&(
                variant_rank(&b.variant),
                workload_rank(&b.workload),
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
    Ok(summary)
}

/// Write the summary tables into the run folder.
pub fn write(run: &Path, s: &Summary) -> Result<()> {
    results::write_csv_with_header(&run.join("summary/cold_start.csv"), COLD_HEADER, &s.cold)?;
    if !s.cold_hyperfine.is_empty() {
        results::write_csv_with_header(
            &run.join("summary/cold_start_hyperfine.csv"),
            COLD_HEADER,
            &s.cold_hyperfine,
        )?;
    }
    results::write_csv_with_header(&run.join("summary/warm_latency.csv"), WARM_HEADER, &s.warm)?;
    results::write_csv_with_header(
        &run.join("aggregated/throughput.csv"),
        THROUGHPUT_HEADER,
        &s.throughput,
    )?;
    if !s.open_loop.is_empty() {
        results::write_csv_with_header(
            &run.join("aggregated/open_loop.csv"),
            OPEN_LOOP_HEADER,
            &s.open_loop,
        )?;
    }
    Ok(())
}
