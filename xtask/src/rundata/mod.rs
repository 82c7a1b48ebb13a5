//! The run folder's one owner: the names of its raw files ([`keys`]), the
//! words its manifest uses ([`kinds`]), its profile ([`profile`]), and
//! [`RunData`], a run folder read once (manifest and raw files) for the
//! summaries, plots and comparisons to derive from.

pub mod instructions;
pub mod keys;
pub mod kinds;
pub mod manifest;
pub mod merged;
pub mod profile;
pub mod raw;
pub mod soak;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

pub use keys::{
    ColdKey, CostKey, HeadroomKey, HyperfineKey, InstructionsKey, Level, MicroKey, RawKey, SoakKey,
    ThroughputKey, WarmKey,
};
pub use kinds::{CellStatus, Client, ConnMode, Method, RunStatus, Suite, VariantState};
pub use profile::ProfileRecord;

use crate::results;
use crate::rundata::manifest::Manifest;
use crate::rundata::raw::{ColdSample, ThroughputRaw, WarmSample};
use instructions::InstructionsRaw;

/// `raw/cold/<variant>.csv`, every repeat's samples.
#[derive(Debug, Clone)]
pub struct ColdSeries {
    pub key: ColdKey,
    pub samples: Vec<ColdSample>,
}

/// `raw/cold/<variant>.hyperfine.json`: its run times in ms.
#[derive(Debug, Clone)]
pub struct HyperfineSeries {
    pub key: HyperfineKey,
    pub ms: Vec<f64>,
}

/// `raw/warm/<variant>__<workload>__<client>.csv`.
#[derive(Debug, Clone)]
pub struct WarmSeries {
    pub key: WarmKey,
    pub samples: Vec<WarmSample>,
    /// The file has a `repeat` column (older runs had one series without it).
    pub has_repeats: bool,
}

/// `raw/throughput/<variant>__<workload>__<level>__r<repeat>.json`.
#[derive(Debug, Clone)]
pub struct ThroughputCell {
    pub key: ThroughputKey,
    pub raw: ThroughputRaw,
}

/// `raw/instructions/<variant>__<workload>__r<repeat>.json`.
#[derive(Debug, Clone)]
pub struct InstructionsCell {
    pub key: InstructionsKey,
    pub raw: InstructionsRaw,
}

/// One run folder: its manifest and raw files, each series with its key,
/// in file name order.
#[derive(Debug, Default)]
pub struct RunData {
    pub root: PathBuf,
    /// `None` for a hand-made folder without `manifest.json`.
    pub manifest: Option<Manifest>,
    pub cold: Vec<ColdSeries>,
    pub hyperfine: Vec<HyperfineSeries>,
    pub warm: Vec<WarmSeries>,
    pub throughput: Vec<ThroughputCell>,
    pub instructions: Vec<InstructionsCell>,
    /// Files under `raw/{cold,warm,throughput,instructions}` that are no
    /// key: not read.
    pub unknown: Vec<PathBuf>,
}

impl RunData {
    pub fn load(root: &Path) -> Result<RunData> {
        let manifest = if root.join("manifest.json").exists() {
            Some(Manifest::read(root)?)
        } else {
            None
        };
        RunData::with_manifest(root, manifest)
    }

    /// The raw files, beside a manifest already read.
    pub fn with_manifest(root: &Path, manifest: Option<Manifest>) -> Result<RunData> {
        let mut data = RunData {
            root: root.to_path_buf(),
            manifest,
            ..RunData::default()
        };
        for path in crate::files::list(&root.join("raw/cold"), "") {
            if let Some(key) = HyperfineKey::parse(&path) {
                let ms = hyperfine_ms(&path)?;
                data.hyperfine.push(HyperfineSeries { key, ms });
            } else if let Some(key) = ColdKey::parse(&path) {
                let samples = results::read_csv(&path)?;
                data.cold.push(ColdSeries { key, samples });
            } else {
                data.unknown.push(path);
            }
        }
        for path in crate::files::list(&root.join("raw/warm"), "") {
            let Some(key) = WarmKey::parse(&path) else {
                data.unknown.push(path);
                continue;
            };
            let has_repeats = csv::Reader::from_path(&path)
                .and_then(|mut r| r.headers().map(|h| h.iter().any(|c| c == "repeat")))
                .with_context(|| format!("reading {}", path.display()))?;
            let samples = results::read_csv(&path)?;
            data.warm.push(WarmSeries {
                key,
                samples,
                has_repeats,
            });
        }
        for path in crate::files::list(&root.join("raw/throughput"), "") {
            let Some(key) = ThroughputKey::parse(&path) else {
                data.unknown.push(path);
                continue;
            };
            let raw = read_json(&path)?;
            data.throughput.push(ThroughputCell { key, raw });
        }
        for path in crate::files::list(&root.join("raw/instructions"), "") {
            let Some(key) = InstructionsKey::parse(&path) else {
                data.unknown.push(path);
                continue;
            };
            let raw = read_json(&path)?;
            data.instructions.push(InstructionsCell { key, raw });
        }
        Ok(data)
    }

    /// Raw data the manifest says did not finish (failed, skipped or
    /// interrupted cells): such a cell is listed, never averaged.
    pub fn unfinished(&self) -> Unfinished {
        let mut out = Unfinished::default();
        let Some(m) = &self.manifest else {
            return out;
        };
        for cell in m.cells.iter().filter(|c| c.status != CellStatus::Ok) {
            if cell.suite == Suite::Cold {
                if let Some(repeat) = cell.repeat {
                    out.cold.insert((cell.variant.clone(), repeat));
                }
            }
            if let Some(raw) = &cell.raw {
                out.files.insert(PathBuf::from(raw));
            }
        }
        out
    }
}

/// See [`RunData::unfinished`].
#[derive(Debug, Default)]
pub struct Unfinished {
    /// Raw files of throughput and warm cells, relative to the run folder.
    pub files: HashSet<PathBuf>,
    /// Cold-start (variant, repeat) series: one raw file holds every repeat.
    pub cold: HashSet<(String, usize)>,
}

impl Unfinished {
    pub fn file(&self, relative: &Path) -> bool {
        self.files.contains(relative)
    }
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

/// hyperfine's export: the first command's run times, in ms.
fn hyperfine_ms(path: &Path) -> Result<Vec<f64>> {
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path)?)
        .with_context(|| format!("parsing {}", path.display()))?;
    Ok(json["results"][0]["times"]
        .as_array()
        .map(|t| {
            t.iter()
                .filter_map(|x| x.as_f64())
                .map(|s| s * 1e3)
                .collect()
        })
        .unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reference_run_loads() {
        let root = crate::project_root().join("results/reference");
        let data = RunData::load(&root).unwrap();
        let m = data.manifest.as_ref().expect("a manifest");
        assert!(data.unknown.is_empty(), "{:?}", data.unknown);
        let profile = m.profile.as_ref().expect("a profile");
        // Whichever profile made it (the reference is remade as the code changes).
        assert!(profile.name.is_some());
        let variants = m.variants.len();
        assert_eq!(data.cold.len(), variants);
        let cold_repeats = profile.cold_repeats.unwrap();
        let cold_samples = profile.cold_samples.unwrap();
        for s in &data.cold {
            assert_eq!(s.samples.len(), cold_repeats * cold_samples, "{:?}", s.key);
        }
        // Every raw file named in the manifest is loaded, and only those.
        let in_manifest: HashSet<PathBuf> = m
            .cells
            .iter()
            .filter_map(|c| c.raw.as_ref().map(PathBuf::from))
            .collect();
        let loaded: HashSet<PathBuf> = data
            .cold
            .iter()
            .map(|s| s.key.path())
            .chain(data.warm.iter().map(|s| s.key.path()))
            .chain(data.throughput.iter().map(|c| c.key.path()))
            .collect();
        assert_eq!(loaded, in_manifest);
        // Distinct raw files: a warm file holds every repeat of its series.
        let cells = |suite: Suite| {
            m.cells
                .iter()
                .filter(|c| c.suite == suite)
                .filter_map(|c| c.raw.as_deref())
                .collect::<HashSet<_>>()
                .len()
        };
        assert_eq!(data.throughput.len(), cells(Suite::Throughput));
        assert_eq!(data.warm.len(), cells(Suite::Warm));
        let measured = m
            .cells
            .iter()
            .filter(|c| c.suite == Suite::Throughput && c.status == CellStatus::Ok)
            .count();
        assert!(measured > 0);
        assert_eq!(data.throughput.len(), measured);
        for c in &data.throughput {
            assert_eq!(c.raw.variant, c.key.variant);
            assert_eq!(c.raw.workload, c.key.workload);
            assert_eq!(c.raw.repeat, c.key.repeat);
        }
        for s in &data.warm {
            assert!(s.has_repeats);
        }
    }

    #[test]
    fn an_older_run_loads() {
        // Its profile predates warm repeats, keep-alive cells and the warm-up cap.
        let root = crate::project_root().join("xtask/tests/fixtures/run_mixed");
        let data = RunData::load(&root).unwrap();
        assert!(data.unknown.is_empty(), "{:?}", data.unknown);
        let m = data.manifest.as_ref().expect("a manifest");
        let profile = m.profile.as_ref().expect("a profile");
        assert_eq!(profile.warm_repeats, None);
        assert_eq!(profile.keepalive_connections, None);
        assert_eq!(profile.rates.as_deref(), Some(&[1000.0, 5000.0][..]));
        assert_eq!(data.cold.len(), 4);
        assert_eq!(data.warm.len(), 10);
        let curl = data.warm.iter().filter(|s| s.key.client == Client::Curl);
        assert_eq!(curl.count(), 2);
        assert_eq!(data.throughput.len(), 27);
        let open = data
            .throughput
            .iter()
            .filter(|c| matches!(c.key.level, Level::Rate(_)));
        assert_eq!(open.count(), 4);
        // One failed cell left a raw file: it is loaded, and marked unfinished.
        let failed = Path::new("raw/throughput/native_docker__hello__c10__r1.json");
        assert!(data.throughput.iter().any(|c| c.key.path() == failed));
        assert!(data.unfinished().file(failed));
    }
}
