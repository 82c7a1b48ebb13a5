//! One key type per raw file kind: the only place raw file names are formed
//! and parsed. Names join their parts with `__`; variant and workload names
//! never contain it. Paths are relative to the run folder.

use std::path::{Path, PathBuf};

use super::kinds::Client;

/// The last two components of `path` as (folder, file name): parsers accept
/// a path relative to the run folder or one under it.
fn split(path: &Path) -> Option<(&str, &str)> {
    let file = path.file_name()?.to_str()?;
    let dir = path.parent()?.file_name()?.to_str()?;
    Some((dir, file))
}

/// `kind` and the file's stem when `path` is `raw/<kind>/<stem><ext>`.
fn stem<'a>(path: &'a Path, kind: &str, ext: &str) -> Option<&'a str> {
    let (dir, file) = split(path)?;
    (dir == kind && !file.starts_with('.'))
        .then(|| file.strip_suffix(ext))
        .flatten()
        .filter(|s| !s.is_empty())
}

fn parts<const N: usize>(stem: &str) -> Option<[&str; N]> {
    let parts: Vec<&str> = stem.split("__").collect();
    let parts: [&str; N] = parts.try_into().ok()?;
    parts.iter().all(|p| !p.is_empty()).then_some(parts)
}

fn repeat(part: &str) -> Option<usize> {
    part.strip_prefix('r')?.parse().ok()
}

/// `raw/cold/<variant>.csv`: every cold-start sample of a variant, all repeats.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ColdKey {
    pub variant: String,
}

impl ColdKey {
    pub fn path(&self) -> PathBuf {
        format!("raw/cold/{}.csv", self.variant).into()
    }

    pub fn parse(path: &Path) -> Option<ColdKey> {
        let variant = stem(path, "cold", ".csv")?;
        (!variant.contains('.') && !variant.contains("__")).then(|| ColdKey {
            variant: variant.to_owned(),
        })
    }
}

/// `raw/cold/<variant>.hyperfine.json`: hyperfine's own export.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HyperfineKey {
    pub variant: String,
}

impl HyperfineKey {
    pub fn path(&self) -> PathBuf {
        format!("raw/cold/{}.hyperfine.json", self.variant).into()
    }

    pub fn parse(path: &Path) -> Option<HyperfineKey> {
        let variant = stem(path, "cold", ".hyperfine.json")?;
        Some(HyperfineKey {
            variant: variant.to_owned(),
        })
    }
}

/// `raw/warm/<variant>__<workload>__<client>.csv`: every request of a series.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WarmKey {
    pub variant: String,
    pub workload: String,
    pub client: Client,
}

impl WarmKey {
    pub fn path(&self) -> PathBuf {
        format!(
            "raw/warm/{}__{}__{}.csv",
            self.variant,
            self.workload,
            self.client.name()
        )
        .into()
    }

    pub fn parse(path: &Path) -> Option<WarmKey> {
        let [variant, workload, client] = parts(stem(path, "warm", ".csv")?)?;
        Some(WarmKey {
            variant: variant.to_owned(),
            workload: workload.to_owned(),
            client: Client::from_name(client)?,
        })
    }
}

/// A throughput cell's load: its part of the file name is `c100` (closed
/// loop, a connection per request), `ka100` (keep-alive) or `rate5000`
/// (open loop; its connection count is in the manifest and the raw file).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Level {
    Close(usize),
    KeepAlive(usize),
    Rate(f64),
}

impl Level {
    pub fn label(&self) -> String {
        match self {
            Level::Close(n) => format!("c{n}"),
            Level::KeepAlive(n) => format!("ka{n}"),
            Level::Rate(r) => format!("rate{r}"),
        }
    }

    pub fn parse(label: &str) -> Option<Level> {
        // `rate` before `c`: no prefix is another's prefix, but keep it obvious.
        if let Some(r) = label.strip_prefix("rate") {
            return r
                .parse()
                .ok()
                .filter(|r: &f64| r.is_finite())
                .map(Level::Rate);
        }
        if let Some(n) = label.strip_prefix("ka") {
            return n.parse().ok().map(Level::KeepAlive);
        }
        label.strip_prefix('c')?.parse().ok().map(Level::Close)
    }
}

/// `raw/throughput/<variant>__<workload>__<level>__r<repeat>.json`.
#[derive(Debug, Clone, PartialEq)]
pub struct ThroughputKey {
    pub variant: String,
    pub workload: String,
    pub level: Level,
    pub repeat: usize,
}

impl ThroughputKey {
    pub fn path(&self) -> PathBuf {
        format!(
            "raw/throughput/{}__{}__{}__r{}.json",
            self.variant,
            self.workload,
            self.level.label(),
            self.repeat
        )
        .into()
    }

    pub fn parse(path: &Path) -> Option<ThroughputKey> {
        let [variant, workload, level, r] = parts(stem(path, "throughput", ".json")?)?;
        Some(ThroughputKey {
            variant: variant.to_owned(),
            workload: workload.to_owned(),
            level: Level::parse(level)?,
            repeat: repeat(r)?,
        })
    }
}

/// `raw/instructions/<variant>__<workload>__r<repeat>.json`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct InstructionsKey {
    pub variant: String,
    pub workload: String,
    pub repeat: usize,
}

impl InstructionsKey {
    pub fn path(&self) -> PathBuf {
        format!(
            "raw/instructions/{}__{}__r{}.json",
            self.variant, self.workload, self.repeat
        )
        .into()
    }

    pub fn parse(path: &Path) -> Option<InstructionsKey> {
        let [variant, workload, r] = parts(stem(path, "instructions", ".json")?)?;
        Some(InstructionsKey {
            variant: variant.to_owned(),
            workload: workload.to_owned(),
            repeat: repeat(r)?,
        })
    }
}

/// `raw/micro/<group>__<bench>.json`: criterion's estimates of one benchmark.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MicroKey {
    pub group: String,
    pub bench: String,
}

impl MicroKey {
    pub fn path(&self) -> PathBuf {
        format!("raw/micro/{}__{}.json", self.group, self.bench).into()
    }

    /// The bench part may itself hold `__`: the group ends at the first one.
    pub fn parse(path: &Path) -> Option<MicroKey> {
        let (group, bench) = stem(path, "micro", ".json")?.split_once("__")?;
        Some(MicroKey {
            group: group.to_owned(),
            bench: bench.to_owned(),
        })
    }
}

/// `raw/headroom/rounds.csv`: every round of `bench headroom`, one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HeadroomKey;

impl HeadroomKey {
    pub fn path(&self) -> PathBuf {
        "raw/headroom/rounds.csv".into()
    }

    pub fn parse(path: &Path) -> Option<HeadroomKey> {
        (stem(path, "headroom", ".csv")? == "rounds").then_some(HeadroomKey)
    }
}

/// `raw/cost/rounds.csv`: every cell of `bench cost`, one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CostKey;

impl CostKey {
    pub fn path(&self) -> PathBuf {
        "raw/cost/rounds.csv".into()
    }

    pub fn parse(path: &Path) -> Option<CostKey> {
        (stem(path, "cost", ".csv")? == "rounds").then_some(CostKey)
    }
}

/// `raw/<variant>.csv` of a soak run folder (`bench soak`): its samples
/// over time. Soak folders hold nothing else under `raw/`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SoakKey {
    pub variant: String,
}

impl SoakKey {
    pub fn path(&self) -> PathBuf {
        format!("raw/{}.csv", self.variant).into()
    }

    pub fn parse(path: &Path) -> Option<SoakKey> {
        let (dir, file) = split(path)?;
        let variant = file.strip_suffix(".csv")?;
        (dir == "raw" && !variant.is_empty() && !variant.starts_with('.')).then(|| SoakKey {
            variant: variant.to_owned(),
        })
    }
}

/// A raw file's key, whichever its kind.
#[derive(Debug, Clone, PartialEq)]
pub enum RawKey {
    Cold(ColdKey),
    Hyperfine(HyperfineKey),
    Warm(WarmKey),
    Throughput(ThroughputKey),
    Instructions(InstructionsKey),
    Micro(MicroKey),
    Headroom(HeadroomKey),
    Cost(CostKey),
    Soak(SoakKey),
}

impl RawKey {
    pub fn path(&self) -> PathBuf {
        match self {
            RawKey::Cold(k) => k.path(),
            RawKey::Hyperfine(k) => k.path(),
            RawKey::Warm(k) => k.path(),
            RawKey::Throughput(k) => k.path(),
            RawKey::Instructions(k) => k.path(),
            RawKey::Micro(k) => k.path(),
            RawKey::Headroom(k) => k.path(),
            RawKey::Cost(k) => k.path(),
            RawKey::Soak(k) => k.path(),
        }
    }

    pub fn parse(path: &Path) -> Option<RawKey> {
        None.or_else(|| HyperfineKey::parse(path).map(RawKey::Hyperfine))
            .or_else(|| ColdKey::parse(path).map(RawKey::Cold))
            .or_else(|| WarmKey::parse(path).map(RawKey::Warm))
            .or_else(|| ThroughputKey::parse(path).map(RawKey::Throughput))
            .or_else(|| InstructionsKey::parse(path).map(RawKey::Instructions))
            .or_else(|| MicroKey::parse(path).map(RawKey::Micro))
            .or_else(|| HeadroomKey::parse(path).map(RawKey::Headroom))
            .or_else(|| CostKey::parse(path).map(RawKey::Cost))
            .or_else(|| SoakKey::parse(path).map(RawKey::Soak))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(key: RawKey, path: &str) {
        assert_eq!(key.path(), PathBuf::from(path));
        assert_eq!(RawKey::parse(Path::new(path)), Some(key.clone()), "{path}");
        // Under a run folder too.
        let full = Path::new("/tmp/run").join(path);
        assert_eq!(RawKey::parse(&full), Some(key), "{}", full.display());
    }

    #[test]
    fn every_kind_round_trips() {
        let s = |x: &str| x.to_owned();
        round_trip(
            RawKey::Cold(ColdKey {
                variant: s("wasm_host_wasmtime_aot"),
            }),
            "raw/cold/wasm_host_wasmtime_aot.csv",
        );
        round_trip(
            RawKey::Hyperfine(HyperfineKey {
                variant: s("native_local"),
            }),
            "raw/cold/native_local.hyperfine.json",
        );
        for client in [Client::Persistent, Client::Curl] {
            round_trip(
                RawKey::Warm(WarmKey {
                    variant: s("native_local"),
                    workload: s("compute_wasm"),
                    client,
                }),
                &format!("raw/warm/native_local__compute_wasm__{}.csv", client.name()),
            );
        }
        for (level, label) in [
            (Level::Close(100), "c100"),
            (Level::KeepAlive(1), "ka1"),
            (Level::Rate(5000.0), "rate5000"),
            (Level::Rate(2.5), "rate2.5"),
        ] {
            round_trip(
                RawKey::Throughput(ThroughputKey {
                    variant: s("native_docker"),
                    workload: s("hello"),
                    level,
                    repeat: 12,
                }),
                &format!("raw/throughput/native_docker__hello__{label}__r12.json"),
            );
        }
        round_trip(
            RawKey::Instructions(InstructionsKey {
                variant: s("native_local"),
                workload: s("json"),
                repeat: 0,
            }),
            "raw/instructions/native_local__json__r0.json",
        );
        round_trip(
            RawKey::Micro(MicroKey {
                group: s("instantiate"),
                bench: s("pooled"),
            }),
            "raw/micro/instantiate__pooled.json",
        );
        round_trip(RawKey::Headroom(HeadroomKey), "raw/headroom/rounds.csv");
        round_trip(RawKey::Cost(CostKey), "raw/cost/rounds.csv");
        round_trip(
            RawKey::Soak(SoakKey {
                variant: s("wasm_host_wasmtime_pooled"),
            }),
            "raw/wasm_host_wasmtime_pooled.csv",
        );
    }

    #[test]
    fn other_files_are_not_keys() {
        for path in [
            "raw/cold/.x.csv",
            "raw/warm/a__b.csv",
            "raw/warm/a__b__wget.csv",
            "raw/warm/a__b__curl.json",
            "raw/throughput/a__b__c10.json",
            "raw/throughput/a__b__x10__r0.json",
            "raw/throughput/a__b__c10__rx.json",
            "raw/throughput/a____c10__r0.json",
            "raw/other/a.csv",
            "raw/headroom/other.csv",
            "raw/.tmp.csv",
            "manifest.json",
        ] {
            assert_eq!(RawKey::parse(Path::new(path)), None, "{path}");
        }
    }
}
