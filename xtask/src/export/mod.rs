//! `cargo xtask export --format bmf|gab RUN`: a run's headline figures for
//! the continuous-benchmarking services users already feed.
//!
//! - `bmf`: Bencher Metric Format, `{benchmark: {measure: {value,
//!   lower_value, upper_value}}}`, for `bencher run --adapter json --file`.
//!   Benchmarks are `<variant>/<workload>` and `<variant>/cold_start`;
//!   latencies use Bencher's built-in `latency` measure (nanoseconds), peak
//!   rps its `throughput`, the rest measures of their own.
//! - `gab`: github-action-benchmark's custom tools, one file each, as that
//!   action takes one `tool` per step: `customBiggerIsBetter` (peak rps) and
//!   `customSmallerIsBetter` (latencies, CPU, instructions), each a list of
//!   `{name, unit, value, range?, extra?}`.

pub mod metrics;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::Serialize;

use crate::results;
use metrics::{Kind, Metric};

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Bencher Metric Format JSON (bmf.json).
    Bmf,
    /// github-action-benchmark customBiggerIsBetter / customSmallerIsBetter
    /// JSON (gab_bigger_is_better.json, gab_smaller_is_better.json).
    Gab,
}

#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    /// The output format.
    #[arg(long, value_enum)]
    pub format: Format,
    /// The run folder.
    pub run: PathBuf,
    /// The folder to write into (default: RUN/export).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

pub fn run(args: &ExportArgs) -> Result<()> {
    let root = results::RunDir::open(&args.run)?.root;
    let out = args.out.clone().unwrap_or_else(|| root.join("export"));
    for path in export(&root, args.format, &out)? {
        println!("{}", path.display());
    }
    Ok(())
}

/// Write the run's figures in `format` into `out`; the files written.
pub fn export(root: &Path, format: Format, out: &Path) -> Result<Vec<PathBuf>> {
    let all = metrics::of(root)?;
    let manifest = crate::rundata::manifest::Manifest::read(root)?;
    match format {
        Format::Bmf => {
            let path = out.join("bmf.json");
            results::write_json(&path, &bmf(&all))?;
            Ok(vec![path])
        }
        Format::Gab => {
            let mut written = Vec::new();
            for (bigger, file) in [
                (true, "gab_bigger_is_better.json"),
                (false, "gab_smaller_is_better.json"),
            ] {
                let path = out.join(file);
                results::write_json(&path, &gab(&all, bigger, &manifest.git.revision))?;
                written.push(path);
            }
            Ok(written)
        }
    }
}

#[derive(Debug, Serialize, PartialEq)]
pub struct BmfValue {
    pub value: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lower_value: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upper_value: Option<f64>,
}

/// Benchmark name -> measure slug -> value (sorted maps: stable output).
pub fn bmf(all: &[Metric]) -> BTreeMap<String, BTreeMap<String, BmfValue>> {
    let mut out: BTreeMap<String, BTreeMap<String, BmfValue>> = BTreeMap::new();
    for m in all {
        let bench = format!(
            "{}/{}",
            m.variant,
            m.workload.as_deref().unwrap_or("cold_start")
        );
        // Bencher's `latency` is in nanoseconds.
        let (slug, scale) = match m.kind {
            Kind::PeakRps => ("throughput", 1.0),
            Kind::WarmP50 => ("latency", 1e3),
            Kind::ColdP50 => ("latency", 1e6),
            Kind::CpuMsPer1k => ("cpu-ms-per-1k-requests", 1.0),
            Kind::InstructionsPerRequest => ("instructions-per-request", 1.0),
        };
        out.entry(bench).or_default().insert(
            slug.to_owned(),
            BmfValue {
                value: m.value * scale,
                lower_value: m.range.map(|r| r.0 * scale),
                upper_value: m.range.map(|r| r.1 * scale),
            },
        );
    }
    out
}

#[derive(Debug, Serialize, PartialEq)]
pub struct GabEntry {
    pub name: String,
    pub unit: String,
    pub value: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub range: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extra: Option<String>,
}

/// The entries of one github-action-benchmark custom tool: bigger is
/// better (`true`) or smaller is better.
pub fn gab(all: &[Metric], bigger: bool, revision: &str) -> Vec<GabEntry> {
    all.iter()
        .filter(|m| m.kind.bigger_is_better() == bigger)
        .map(|m| {
            let what = match &m.workload {
                Some(w) => format!("{} {}", m.variant, w),
                None => m.variant.clone(),
            };
            let mut extra = Vec::new();
            if let Some(note) = &m.note {
                extra.push(note.clone());
            }
            if !revision.is_empty() {
                extra.push(format!("revision {revision}"));
            }
            GabEntry {
                name: format!("{what}: {}", m.kind.title()),
                unit: m.kind.unit().to_owned(),
                value: m.value,
                range: m
                    .range
                    .map(|(lo, hi)| format!("{} to {} over repeats", num(lo), num(hi))),
                extra: (!extra.is_empty()).then(|| extra.join("; ")),
            }
        })
        .collect()
}

/// A number as short as its precision needs (3 decimals at most).
fn num(v: f64) -> String {
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}
