//! One run folder as per-repeat values of the figures a comparison is about:
//!
//! - instructions: instructions per request of each (variant, workload) per
//!   repeat, from `raw/instructions/*.json` (`bench instructions`);
//! - throughput: requests/s of each (variant, workload, connections) per
//!   repeat, from `aggregated/throughput.csv` (what `report::summary`
//!   writes; recomputed from `raw/throughput/` when the CSV is absent), and
//!   the gateway's CPU ms per 1000 requests beside it: a cell whose
//!   `bound` column is not `gateway` (`client`: it measured the load
//!   generator; `neither`: nothing was saturated, so its rps is a latency,
//!   not a capacity) is judged on CPU per request instead (`compare`);
//! - cold start: the median of each repeat's samples, from `raw/cold/*.csv`
//!   (the summary has no repeats);
//! - warm latency: the median of each repeat's requests, from
//!   `raw/warm/*.csv` when its rows carry a `repeat` column (a run merged
//!   from A/B rounds does); a single series has no spread to judge.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::report::summary;
use crate::rundata::manifest::{Cell, Manifest};
use crate::rundata::{CellStatus, Client, Level, RunData, VariantState, WarmKey};
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
    Instructions,
    Throughput,
    Warm,
    Cold,
}

/// The figure a throughput cell is judged on when it is client-bound.
pub const CPU_FIGURE: &str = "CPU ms/1k req";

impl Suite {
    pub fn name(self) -> &'static str {
        match self {
            Suite::Instructions => "instructions",
            Suite::Throughput => "throughput",
            Suite::Warm => "warm",
            Suite::Cold => "cold",
        }
    }

    /// The figure compared, and whether more of it is better.
    pub fn figure(self) -> (&'static str, bool) {
        match self {
            Suite::Instructions => ("instructions/req", false),
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
    /// The same, per key: why a key may have fewer values than repeats.
    pub dropped_by_key: BTreeMap<Key, Vec<String>>,
    /// Data present but without repeats (not comparable).
    pub notes: Vec<String>,
    /// Throughput cells: the gateway's CPU ms per 1000 requests per repeat.
    pub cpu_ms_per_1k: BTreeMap<Key, BTreeMap<usize, f64>>,
    /// Throughput cells that some repeat found not gateway-bound (client or
    /// neither).
    pub client_bound: BTreeSet<Key>,
}

impl Run {
    /// The per-repeat values of a key, in repeat order.
    pub fn values(&self, key: &Key) -> Vec<f64> {
        self.series
            .get(key)
            .map(|m| m.values().copied().collect())
            .unwrap_or_default()
    }

    /// A throughput cell's CPU ms per 1000 requests, per repeat (the usable
    /// ones: positive and finite).
    pub fn cpu_values(&self, key: &Key) -> Vec<f64> {
        self.cpu_ms_per_1k
            .get(key)
            .map(|m| {
                m.values()
                    .copied()
                    .filter(|v| v.is_finite() && *v > 0.0)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The manifest's cells that are this key's and did not succeed.
    pub fn failed_cells(&self, key: &Key) -> Vec<&Cell> {
        self.manifest
            .cells
            .iter()
            .filter(|c| c.status != CellStatus::Ok && cell_matches(c, key))
            .collect()
    }

    /// Why this run has no (or too few) values for a key: its failed cells'
    /// errors, values left out, the variant's status, the run's status.
    pub fn why_missing(&self, key: &Key) -> String {
        let mut reasons: Vec<String> = Vec::new();
        for c in self.failed_cells(key) {
            let round = c.repeat.map_or(String::new(), |r| format!(" (repeat {r})"));
            let error = c.error.as_deref().unwrap_or("no error recorded");
            reasons.push(format!("{}{round}: {}", c.status, shorten(error, 300)));
        }
        if let Some(dropped) = self.dropped_by_key.get(key) {
            for d in dropped {
                reasons.push(format!("{d}: not a positive number"));
            }
        }
        if reasons.is_empty() {
            match self
                .manifest
                .variants
                .iter()
                .find(|v| v.name == key.variant)
            {
                Some(v) if v.status != VariantState::Ran => reasons.push(format!(
                    "variant {}: {}",
                    v.status,
                    v.reason.as_deref().unwrap_or("no reason recorded")
                )),
                None => reasons.push("variant not in the run".to_owned()),
                Some(_) => {}
            }
        }
        if reasons.is_empty() {
            reasons.push(format!(
                "not measured (run status: {})",
                if self.manifest.status.is_empty() {
                    "-"
                } else {
                    &self.manifest.status
                }
            ));
        }
        reasons.dedup();
        reasons.join("; ")
    }
}

fn shorten(s: &str, max: usize) -> String {
    let s = s.replace('\n', " ");
    if s.chars().count() <= max {
        s
    } else {
        let cut: String = s.chars().take(max).collect();
        format!("{cut}…")
    }
}

/// Does a manifest cell belong to a comparison key?
fn cell_matches(c: &Cell, key: &Key) -> bool {
    if c.suite.name() != key.suite.name() || c.variant != key.variant {
        return false;
    }
    match key.suite {
        Suite::Cold => true,
        Suite::Instructions => c.workload.as_deref() == Some(key.workload.as_str()),
        Suite::Warm => {
            c.workload.as_deref() == Some(key.workload.as_str())
                && c.level.as_deref().unwrap_or(&c.detail) == key.level
        }
        Suite::Throughput => {
            if c.workload.as_deref() != Some(key.workload.as_str()) {
                return false;
            }
            if let Some(level) = &c.level {
                return *level == key.level;
            }
            // An older manifest: the level is only in the detail's words.
            let d = &c.detail;
            match Level::parse(&key.level) {
                Some(Level::KeepAlive(n)) => d.contains(&format!(" {n} keep-alive")),
                Some(Level::Close(n)) => {
                    d.contains(&format!(" {n} connections")) && !d.contains("keep-alive")
                }
                _ => false,
            }
        }
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
    let data = RunData::with_manifest(root, Some(manifest))?;
    let mut run = Run {
        root: root.to_path_buf(),
        manifest: data.manifest.clone().expect("given above"),
        series: BTreeMap::new(),
        dropped: Vec::new(),
        dropped_by_key: BTreeMap::new(),
        notes: Vec::new(),
        cpu_ms_per_1k: BTreeMap::new(),
        client_bound: BTreeSet::new(),
    };
    instructions(&mut run, &data);
    throughput(&mut run, &data)?;
    cold(&mut run, &data);
    warm(&mut run, &data);
    Ok(run)
}

impl Run {
    /// Nothing measured at all (a run whose every round failed is such a
    /// run: as head, a failure; as base, nothing to compare against).
    pub fn is_empty(&self) -> bool {
        self.series.is_empty() && self.dropped.is_empty()
    }
}

fn put(run: &mut Run, key: Key, repeat: usize, value: f64) {
    if value.is_finite() && value > 0.0 {
        run.series.entry(key).or_default().insert(repeat, value);
    } else {
        let text = format!("{} repeat {repeat}: {value}", key.label());
        run.dropped.push(text.clone());
        run.dropped_by_key.entry(key).or_default().push(text);
    }
}

fn instructions(run: &mut Run, data: &RunData) {
    for r in crate::report::instructions::records(data) {
        let key = Key::new(
            Suite::Instructions,
            &r.variant,
            &r.workload,
            String::new(),
            0,
        );
        put(run, key, r.repeat, r.instructions_per_request);
    }
}

/// The columns of `aggregated/throughput.csv` a comparison reads. `bound`
/// (`gateway`, `client` or `neither`) and `mode` (`close`, `keep-alive`)
/// are read when the summary has them.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct TpRow {
    variant: String,
    workload: String,
    connections: usize,
    repeat: usize,
    rps: f64,
    #[serde(default)]
    cpu_ms_per_1k: Option<f64>,
    #[serde(default)]
    bound: Option<String>,
    #[serde(default)]
    mode: Option<String>,
}

/// The summary's rows as [`TpRow`]s, through CSV: whatever columns the
/// summary has, the comparison reads the ones it knows.
fn tp_rows_of(rows: &[summary::ThroughputRow]) -> Result<Vec<TpRow>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    for r in rows {
        w.serialize(r)?;
    }
    let bytes = w.into_inner().context("flushing CSV")?;
    let mut reader = csv::Reader::from_reader(bytes.as_slice());
    Ok(reader.deserialize().collect::<Result<Vec<TpRow>, _>>()?)
}

fn throughput(run: &mut Run, data: &RunData) -> Result<()> {
    let csv = run.root.join("aggregated/throughput.csv");
    let rows: Vec<TpRow> = if csv.exists() {
        results::read_csv(&csv)?
    } else if run.root.join("raw/throughput").is_dir() {
        tp_rows_of(&summary::of(data).throughput)?
    } else {
        return Ok(());
    };
    for row in rows {
        let keep_alive = row
            .mode
            .as_deref()
            .is_some_and(|m| m.contains("keep") || m == "ka");
        let (level, rank) = if keep_alive {
            (
                Level::KeepAlive(row.connections),
                1_000_000 + row.connections,
            )
        } else {
            (Level::Close(row.connections), row.connections)
        };
        let key = Key::new(
            Suite::Throughput,
            &row.variant,
            &row.workload,
            level.label(),
            rank,
        );
        // Not gateway-bound: requests/s did not measure the gateway's capacity.
        if matches!(row.bound.as_deref(), Some("client" | "neither")) {
            run.client_bound.insert(key.clone());
        }
        if let Some(cpu) = row.cpu_ms_per_1k {
            run.cpu_ms_per_1k
                .entry(key.clone())
                .or_default()
                .insert(row.repeat, cpu);
        }
        put(run, key, row.repeat, row.rps);
    }
    Ok(())
}

fn cold(run: &mut Run, data: &RunData) {
    for series in &data.cold {
        let mut by: BTreeMap<(&str, usize), Vec<f64>> = BTreeMap::new();
        for r in &series.samples {
            by.entry((&r.variant, r.repeat)).or_default().push(r.ms);
        }
        for ((variant, repeat), ms) in by {
            let key = Key::new(Suite::Cold, variant, "hello", String::new(), 0);
            put(run, key, repeat, stats::median(&ms));
        }
    }
}

fn warm(run: &mut Run, data: &RunData) {
    for series in &data.warm {
        let WarmKey {
            variant,
            workload,
            client,
        } = &series.key;
        if !series.has_repeats {
            run.notes.push(format!(
                "warm {variant} {workload} {client}: one series without repeats, not compared"
            ));
            continue;
        }
        let mut by: BTreeMap<usize, Vec<f64>> = BTreeMap::new();
        for r in &series.samples {
            by.entry(r.repeat).or_default().push(r.latency_us);
        }
        let rank = match client {
            Client::Persistent => 0,
            Client::Curl => 1,
        };
        for (repeat, us) in by {
            let key = Key::new(
                Suite::Warm,
                variant,
                workload,
                client.name().to_owned(),
                rank,
            );
            put(run, key, repeat, stats::median(&us));
        }
    }
}
