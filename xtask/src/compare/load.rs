//! One run folder as per-repeat values of the figures a comparison is about:
//!
//! - throughput: requests/s of each (variant, workload, connections) per
//!   repeat, from `aggregated/throughput.csv` (what `report::summary`
//!   writes; recomputed from `raw/throughput/` when the CSV is absent);
//! - cold start: the median of each repeat's samples, from `raw/cold/*.csv`
//!   (the summary has no repeats);
//! - warm latency: the median of each repeat's requests, from
//!   `raw/warm/*.csv` when its rows carry a `repeat` column (a run merged
//!   from A/B rounds does); a single series has no spread to judge.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::manifest::Manifest;
use crate::raw::ColdSample;
use crate::report::summary::{self, ThroughputRow};
use crate::{results, stats, variants, workloads};

/// What a comparison row is about.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    /// Suite rank first, so rows sort throughput, warm, cold.
    pub suite: Suite,
    pub variant_rank: usize,
    pub variant: String,
    pub workload_rank: usize,
    pub workload: String,
    /// Connection level (throughput), client (warm); empty for cold.
    pub level_rank: usize,
    pub level: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Suite {
    Throughput,
    Warm,
    Cold,
}

impl Suite {
    pub fn name(self) -> &'static str {
        match self {
            Suite::Throughput => "throughput",
            Suite::Warm => "warm",
            Suite::Cold => "cold",
        }
    }

    /// The figure compared, and whether more of it is better.
    pub fn figure(self) -> (&'static str, bool) {
        match self {
            Suite::Throughput => ("rps", true),
            Suite::Warm => ("p50 µs", false),
            Suite::Cold => ("p50 ms", false),
        }
    }
}

impl Key {
    fn new(suite: Suite, variant: &str, workload: &str, level: String, level_rank: usize) -> Key {
        Key {
            suite,
            variant_rank: variants::VARIANTS
                .iter()
                .position(|v| v.name == variant)
                .unwrap_or(usize::MAX),
            variant: variant.to_owned(),
            workload_rank: workloads::WORKLOADS
                .iter()
                .position(|w| w.name == workload)
                .unwrap_or(usize::MAX),
            workload: workload.to_owned(),
            level_rank,
            level,
        }
    }

    /// `throughput native_local hello c10`.
    pub fn label(&self) -> String {
        let mut out = format!("{} {} {}", self.suite.name(), self.variant, self.workload);
        if !self.level.is_empty() {
            out.push(' ');
            out.push_str(&self.level);
        }
        out
    }
}

/// A run folder read for comparison.
#[derive(Debug)]
pub struct Run {
    pub root: PathBuf,
    pub manifest: Manifest,
    /// Values by repeat index, per key.
    pub series: BTreeMap<Key, BTreeMap<usize, f64>>,
    /// Values that could not be used (not positive, not finite).
    pub dropped: Vec<String>,
    /// Data present but without repeats (not comparable).
    pub notes: Vec<String>,
}

impl Run {
    /// The per-repeat values of a key, in repeat order.
    pub fn values(&self, key: &Key) -> Vec<f64> {
        self.series
            .get(key)
            .map(|m| m.values().copied().collect())
            .unwrap_or_default()
    }
}

pub fn read(root: &Path) -> Result<Run> {
    if !root.is_dir() {
        bail!("{} does not exist or is not a folder", root.display());
    }
    if !root.join("manifest.json").exists() {
        bail!(
            "{} is not a run folder: manifest.json is missing",
            root.display()
        );
    }
    let manifest = Manifest::read(root)
        .with_context(|| format!("{}: manifest.json is not a run manifest", root.display()))?;
    let mut run = Run {
        root: root.to_path_buf(),
        manifest,
        series: BTreeMap::new(),
        dropped: Vec::new(),
        notes: Vec::new(),
    };
    throughput(&mut run)?;
    cold(&mut run)?;
    warm(&mut run)?;
    if run.series.is_empty() && run.dropped.is_empty() {
        bail!(
            "{} holds nothing to compare: no aggregated/throughput.csv rows, raw/cold/*.csv or raw/warm/*.csv with repeats",
            root.display()
        );
    }
    Ok(run)
}

fn put(run: &mut Run, key: Key, repeat: usize, value: f64) {
    if value.is_finite() && value > 0.0 {
        run.series.entry(key).or_default().insert(repeat, value);
    } else {
        run.dropped
            .push(format!("{} repeat {repeat}: {value}", key.label()));
    }
}

fn throughput(run: &mut Run) -> Result<()> {
    let csv = run.root.join("aggregated/throughput.csv");
    let rows: Vec<ThroughputRow> = if csv.exists() {
        results::read_csv(&csv)?
    } else if run.root.join("raw/throughput").is_dir() {
        summary::compute(&run.root)
            .with_context(|| format!("summarizing {}", run.root.display()))?
            .throughput
    } else {
        return Ok(());
    };
    for row in rows {
        let key = Key::new(
            Suite::Throughput,
            &row.variant,
            &row.workload,
            format!("c{}", row.connections),
            row.connections,
        );
        put(run, key, row.repeat, row.rps);
    }
    Ok(())
}

fn csv_files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.ends_with(".csv") && !n.starts_with('.'))
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

fn cold(run: &mut Run) -> Result<()> {
    for path in csv_files(&run.root.join("raw/cold")) {
        let rows: Vec<ColdSample> = results::read_csv(&path)?;
        let mut by: BTreeMap<(String, usize), Vec<f64>> = BTreeMap::new();
        for r in rows {
            by.entry((r.variant, r.repeat)).or_default().push(r.ms);
        }
        for ((variant, repeat), ms) in by {
            let key = Key::new(Suite::Cold, &variant, "hello", String::new(), 0);
            put(run, key, repeat, stats::median(&ms));
        }
    }
    Ok(())
}

fn warm(run: &mut Run) -> Result<()> {
    for path in csv_files(&run.root.join("raw/warm")) {
        let stem = path
            .file_stem()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        let parts: Vec<&str> = stem.split("__").collect();
        let [variant, workload, client] = parts[..] else {
            continue;
        };
        let mut reader =
            csv::Reader::from_path(&path).with_context(|| format!("reading {}", path.display()))?;
        let header = reader
            .headers()
            .with_context(|| format!("reading {}", path.display()))?
            .clone();
        let col = |name: &str| header.iter().position(|h| h == name);
        let Some(latency) = col("latency_us") else {
            bail!("{}: no latency_us column", path.display());
        };
        let Some(repeat_col) = col("repeat") else {
            run.notes.push(format!(
                "warm {variant} {workload} {client}: one series without repeats, not compared"
            ));
            continue;
        };
        let mut by: BTreeMap<usize, Vec<f64>> = BTreeMap::new();
        for record in reader.records() {
            let record = record.with_context(|| format!("parsing {}", path.display()))?;
            let parse = |i: usize| -> Result<&str> {
                record
                    .get(i)
                    .with_context(|| format!("{}: short row", path.display()))
            };
            let repeat: usize = parse(repeat_col)?
                .parse()
                .with_context(|| format!("{}: repeat is not a number", path.display()))?;
            let us: f64 = parse(latency)?
                .parse()
                .with_context(|| format!("{}: latency_us is not a number", path.display()))?;
            by.entry(repeat).or_default().push(us);
        }
        let rank = if client == "persistent" { 0 } else { 1 };
        for (repeat, us) in by {
            let key = Key::new(Suite::Warm, variant, workload, client.to_owned(), rank);
            put(run, key, repeat, stats::median(&us));
        }
    }
    Ok(())
}
