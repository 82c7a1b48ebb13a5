//! The run folder: `results/runs/<UTC timestamp>/` with `manifest.json`,
//! `meta/`, `raw/`, `summary/`, `aggregated/`, and `results/latest` naming
//! the newest run. Every file is written atomically (temp file + rename), so
//! a run that dies keeps every finished cell and never a half-written one.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Serialize;

use crate::paths;

/// Write `bytes` to `path` atomically, creating parent folders.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().context("a file path needs a parent folder")?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name().unwrap_or_default().to_string_lossy(),
        std::process::id()
    ));
    let mut file =
        std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))?;
    Ok(())
}

pub fn write_json<T: Serialize + ?Sized>(path: &Path, value: &T) -> Result<()> {
    let mut text = serde_json::to_vec_pretty(value)?;
    text.push(b'\n');
    write_atomic(path, &text)
}

/// Serialize rows as CSV (header from the struct's field names).
pub fn write_csv<T: Serialize>(path: &Path, rows: &[T]) -> Result<()> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    for row in rows {
        writer.serialize(row)?;
    }
    let bytes = writer.into_inner().context("flushing CSV")?;
    write_atomic(path, &bytes)
}

/// A CSV table of `rows`, its header taken from the row type's fields (so a
/// table with no rows still has one, which serde alone would not write).
pub fn write_csv_table<T: Serialize + serde::de::DeserializeOwned>(
    path: &Path,
    rows: &[T],
) -> Result<()> {
    let mut writer = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::new());
    writer.write_record(csv_header::<T>())?;
    for row in rows {
        writer.serialize(row)?;
    }
    let bytes = writer.into_inner().context("flushing CSV")?;
    write_atomic(path, &bytes)
}

/// The column names of a row type, as serde names its fields.
pub fn csv_header<T: serde::de::DeserializeOwned>() -> &'static [&'static str] {
    serde_aux::serde_introspection::serde_introspect::<T>()
}

pub fn read_csv<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Vec<T>> {
    let mut reader =
        csv::Reader::from_path(path).with_context(|| format!("reading {}", path.display()))?;
    reader
        .deserialize()
        .collect::<Result<Vec<T>, _>>()
        .with_context(|| format!("parsing {}", path.display()))
}

/// A run folder.
#[derive(Debug, Clone)]
pub struct RunDir {
    pub root: PathBuf,
}

/// `--out`, checked before any long step: not a run already, not a file,
/// and in a folder that takes new entries (the nearest one that exists is
/// written to and cleaned at once, which also answers for root, whom
/// permission bits do not stop).
pub fn check_out(out: &Path) -> Result<()> {
    if out.join("manifest.json").exists() {
        anyhow::bail!(
            "{} already holds a run; choose another --out",
            out.display()
        );
    }
    if out.exists() && !out.is_dir() {
        anyhow::bail!("--out {} is a file, not a folder", out.display());
    }
    let mut near = out;
    while !near.exists() {
        near = match near.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
    }
    if !near.is_dir() {
        anyhow::bail!(
            "--out {}: {} is not a folder",
            out.display(),
            near.display()
        );
    }
    let probe = near.join(format!(".wgb-out-check.{}", std::process::id()));
    std::fs::File::create(&probe).with_context(|| {
        format!(
            "--out {}: cannot write in {}",
            out.display(),
            near.display()
        )
    })?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

impl RunDir {
    /// The run folder: `out` when given (it must not hold a run already),
    /// else `results/runs/<UTC start time>`, and then `results/latest` is
    /// pointed at it.
    pub fn create(out: Option<&Path>) -> Result<RunDir> {
        let root = match out {
            Some(dir) => {
                check_out(dir)?;
                dir.to_path_buf()
            }
            None => {
                let base = paths::project_root().join("results/runs");
                let stamp = chrono::Utc::now().format("%Y-%m-%dT%H-%M-%SZ").to_string();
                let mut root = base.join(&stamp);
                let mut n = 1;
                while root.exists() {
                    n += 1;
                    root = base.join(format!("{stamp}-{n}"));
                }
                root
            }
        };
        for sub in ["meta", "raw", "summary", "aggregated"] {
            std::fs::create_dir_all(root.join(sub))
                .with_context(|| format!("creating {}", root.join(sub).display()))?;
        }
        let run = RunDir { root };
        if out.is_none() {
            run.point_latest()?;
        }
        Ok(run)
    }

    pub fn open(root: &Path) -> Result<RunDir> {
        if !root.join("manifest.json").exists() {
            anyhow::bail!("{} is not a run folder (no manifest.json)", root.display());
        }
        Ok(RunDir {
            root: root.to_path_buf(),
        })
    }

    /// `results/latest`: a symlink to the run (replaced atomically).
    fn point_latest(&self) -> Result<()> {
        let latest = paths::project_root().join("results/latest");
        let tmp = latest.with_extension("tmp");
        let _ = std::fs::remove_file(&tmp);
        let target = Path::new("runs").join(self.root.file_name().unwrap_or_default());
        std::os::unix::fs::symlink(&target, &tmp)?;
        std::fs::rename(&tmp, &latest)?;
        Ok(())
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }
}

/// The newest run: `results/latest`, else the last folder in `results/runs`.
pub fn latest_run() -> Result<PathBuf> {
    let latest = paths::project_root().join("results/latest");
    if let Ok(target) = std::fs::canonicalize(&latest) {
        return Ok(target);
    }
    let runs = paths::project_root().join("results/runs");
    let mut names: Vec<PathBuf> = std::fs::read_dir(&runs)
        .with_context(|| format!("no runs in {}", runs.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("manifest.json").exists())
        .collect();
    names.sort();
    names
        .pop()
        .with_context(|| format!("no runs in {}", runs.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize, serde::Deserialize)]
    struct Row {
        variant: String,
        #[serde(rename = "p50_us")]
        p50: u64,
        relay: Option<f64>,
    }

    #[test]
    fn a_table_is_headed_by_its_row_type_with_or_without_rows() {
        let dir = std::env::temp_dir().join(format!("wgb-csv-{}", std::process::id()));
        let (empty, full) = (dir.join("empty.csv"), dir.join("full.csv"));
        write_csv_table::<Row>(&empty, &[]).unwrap();
        let row = Row {
            variant: "native_local".into(),
            p50: 7,
            relay: None,
        };
        write_csv_table(&full, &[row]).unwrap();
        assert_eq!(
            std::fs::read_to_string(&empty).unwrap(),
            "variant,p50_us,relay\n"
        );
        assert_eq!(
            std::fs::read_to_string(&full).unwrap(),
            "variant,p50_us,relay\nnative_local,7,\n"
        );
        let back: Vec<Row> = read_csv(&full).unwrap();
        assert_eq!(back[0].p50, 7);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn atomic_write_leaves_no_temp_file() {
        let dir = std::env::temp_dir().join(format!("wgb-results-{}", std::process::id()));
        let file = dir.join("a/b.txt");
        write_atomic(&file, b"one").unwrap();
        write_atomic(&file, b"two").unwrap();
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "two");
        let names: Vec<_> = std::fs::read_dir(dir.join("a"))
            .unwrap()
            .flatten()
            .collect();
        assert_eq!(names.len(), 1);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
