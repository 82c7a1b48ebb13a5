//! An arm's round folders collected into one ordinary run folder whose
//! repeats are the rounds (not `cargo xtask merge`, which unites the run
//! folders of separate machines), so `cargo xtask report` and `compare` read it as any run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use super::args::AbSettings;
use super::Arm;
use crate::files::{copy, copy_tree};
use crate::report;
use crate::results::{self, RunDir};
use crate::rundata::manifest::{Cell, Manifest, VariantStatus};
use crate::rundata::{InstructionsKey, RawKey, RunStatus, Suite, ThroughputKey, VariantState};

/// Merge an arm's round folders into one run folder whose repeats are the
/// rounds (round k's repeat j becomes k * repeats_per_round + j), then
/// summarize it (and render its report).
pub(super) fn collect(
    root: &Path,
    rounds: &[(usize, PathBuf)],
    arm: &Arm,
    render: bool,
) -> Result<()> {
    if rounds.is_empty() {
        bail!("{}: no round produced a run folder", arm.name);
    }
    let run = RunDir::create(Some(root))?;
    let mut merged: Option<Manifest> = None;
    let mut csvs: BTreeMap<PathBuf, (csv::StringRecord, Vec<csv::StringRecord>)> = BTreeMap::new();
    let mut statuses = Vec::new();
    let mut total_cold = 0;
    let mut total_tp = 0;
    for (k, dir) in rounds {
        let k = *k;
        let m = Manifest::read(dir)?;
        let per = |n: Option<usize>| n.map_or(1, |n| n.max(1));
        let p = m.profile.clone().unwrap_or_default();
        let (r_cold, r_tp) = (per(p.cold_repeats), per(p.repeats));
        total_cold += r_cold;
        total_tp += r_tp;
        let kept = dir.join("meta");
        let meta_dest = run.path(&format!("meta/rounds/r{k}"));
        if k == rounds[0].0 {
            let snap = kept.join("env_snapshot.txt");
            if snap.exists() {
                copy(&snap, &run.path("meta/env_snapshot.txt"))?;
            }
        }
        move_dir(&kept, &meta_dest)?;

        // raw/: cold and warm CSVs concatenated with the repeat remapped or
        // added, throughput cells renamed; anything else kept under meta.
        let raw = dir.join("raw");
        for sub in list(&raw)? {
            let name = file_name(&sub);
            for file in list(&sub)? {
                let fname = file_name(&file);
                let rel = format!("raw/{name}/{fname}");
                match RawKey::parse(Path::new(&rel)) {
                    Some(RawKey::Cold(key)) => {
                        append_csv(&mut csvs, &file, &run.root.join(key.path()), |j| {
                            k * r_cold + j.unwrap_or(0)
                        })?
                    }
                    Some(RawKey::Warm(key)) => {
                        append_csv(&mut csvs, &file, &run.root.join(key.path()), |_| k)?
                    }
                    Some(RawKey::Throughput(_) | RawKey::Instructions(_)) => {
                        let text = std::fs::read_to_string(&file)?;
                        let mut v: serde_json::Value = serde_json::from_str(&text)
                            .with_context(|| format!("parsing {}", file.display()))?;
                        let j = v.get("repeat").and_then(|r| r.as_u64()).unwrap_or(0) as usize;
                        let new = k * r_tp + j;
                        v["repeat"] = serde_json::json!(new);
                        results::write_json(&run.root.join(with_repeat(&rel, new)), &v)?;
                    }
                    _ => move_dir(&file, &meta_dest.join("raw").join(&name).join(&fname))?,
                }
            }
        }

        let mut cells: Vec<Cell> = m.cells.clone();
        for cell in &mut cells {
            match cell.suite {
                Suite::Cold => cell.repeat = cell.repeat.map(|j| k * r_cold + j),
                Suite::Throughput | Suite::Instructions => {
                    if let Some(j) = cell.repeat {
                        let new = k * r_tp + j;
                        cell.repeat = Some(new);
                        cell.raw = cell.raw.as_ref().map(|r| with_repeat(r, new));
                    }
                }
                _ => cell.repeat = Some(k),
            }
        }
        statuses.push((k, m.status.clone()));
        match &mut merged {
            None => {
                let mut first = m.clone();
                first.cells = cells;
                merged = Some(first);
            }
            Some(acc) => {
                acc.cells.extend(cells);
                acc.finished = m.finished.clone();
                for v in &m.variants {
                    add_variant(&mut acc.variants, v);
                }
            }
        }
    }
    for (dest, (header, rows)) in &csvs {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(header)?;
        for r in rows {
            w.write_record(r)?;
        }
        results::write_atomic(dest, &w.into_inner().context("flushing CSV")?)?;
    }
    let mut m = merged.expect("at least one round");
    m.command = std::env::args().collect::<Vec<_>>().join(" ");
    if let Some(p) = &mut m.profile {
        p.repeats = Some(total_tp);
        p.cold_repeats = Some(total_cold);
    }
    m.git.revision = arm.sha.clone();
    m.git.dirty = arm.dirty;
    let complete = RunStatus::Complete.name();
    m.status = match statuses.iter().find(|(_, s)| s != complete) {
        None => complete.to_owned(),
        Some((k, s)) => format!("round {}: {s}", k + 1),
    };
    m.write(&run.root)?;
    results::write_json(&run.path("meta/ab.json"), arm)?;
    if let Err(e) = report::summarize(&run.root, render) {
        if !render {
            return Err(e);
        }
        eprintln!(
            "{}: rendering the report failed ({e:#}); summaries only",
            arm.name
        );
        report::summarize(&run.root, false)?;
    }
    Ok(())
}

/// An arm's run folder when none of its rounds left one: a manifest whose
/// variants all failed, with the failed rounds as the reason.
pub(super) fn empty_run(root: &Path, ab: &AbSettings, arm: &Arm, failed: &[&String]) -> Result<()> {
    let run = RunDir::create(Some(root))?;
    let reason = if failed.is_empty() {
        "no round produced a run folder".to_owned()
    } else {
        failed
            .iter()
            .map(|f| f.as_str())
            .collect::<Vec<_>>()
            .join("; ")
    };
    let m = Manifest {
        schema: 1,
        command: std::env::args().collect::<Vec<_>>().join(" "),
        suites: vec![ab.suite.clone()],
        status: format!("failed: {reason}"),
        git: crate::rundata::manifest::Git {
            revision: arm.sha.clone(),
            dirty: arm.dirty,
            ..Default::default()
        },
        variants: ab
            .variants
            .iter()
            .map(|v| VariantStatus {
                name: v.clone(),
                status: VariantState::Failed,
                reason: Some(format!("no round ran: {reason}")),
            })
            .collect(),
        ..Manifest::default()
    };
    m.write(&run.root)?;
    results::write_json(&run.path("meta/ab.json"), arm)
}

fn add_variant(acc: &mut Vec<VariantStatus>, v: &VariantStatus) {
    match acc.iter_mut().find(|a| a.name == v.name) {
        None => acc.push(v.clone()),
        Some(a) => {
            if v.status.rank() > a.status.rank() {
                a.status = v.status;
                if a.reason.is_none() || v.status == VariantState::Failed {
                    a.reason = v.reason.clone();
                }
            }
        }
    }
}

/// A throughput or instructions raw file (relative to the run folder) with
/// its repeat changed; any other path as it is.
fn with_repeat(rel: &str, repeat: usize) -> String {
    let path = match RawKey::parse(Path::new(rel)) {
        Some(RawKey::Throughput(k)) => ThroughputKey { repeat, ..k }.path(),
        Some(RawKey::Instructions(k)) => InstructionsKey { repeat, ..k }.path(),
        _ => return rel.to_owned(),
    };
    path.display().to_string()
}

/// Append a CSV's rows to the merged file's, with its `repeat` column
/// (added when missing) set by `repeat(old)`.
fn append_csv(
    acc: &mut BTreeMap<PathBuf, (csv::StringRecord, Vec<csv::StringRecord>)>,
    file: &Path,
    dest: &Path,
    repeat: impl Fn(Option<usize>) -> usize,
) -> Result<()> {
    let mut reader =
        csv::Reader::from_path(file).with_context(|| format!("reading {}", file.display()))?;
    let mut header = reader.headers()?.clone();
    let col = match header.iter().position(|h| h == "repeat") {
        Some(i) => i,
        None => {
            header.push_field("repeat");
            header.len() - 1
        }
    };
    let entry = acc
        .entry(dest.to_path_buf())
        .or_insert_with(|| (header.clone(), Vec::new()));
    if entry.0 != header {
        bail!(
            "{}: its columns differ from an earlier round's",
            file.display()
        );
    }
    for record in reader.records() {
        let record = record.with_context(|| format!("parsing {}", file.display()))?;
        let old = record.get(col).and_then(|s| s.parse().ok());
        let mut fields: Vec<String> = record.iter().map(str::to_owned).collect();
        fields.resize(header.len(), String::new());
        fields[col] = repeat(old).to_string();
        entry.1.push(csv::StringRecord::from(fields));
    }
    Ok(())
}

fn list(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| !file_name(p).starts_with('.'))
            .collect(),
        Err(_) => Vec::new(),
    };
    out.sort();
    Ok(out)
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Move a file or folder (rename, or copy when across file systems).
fn move_dir(from: &Path, to: &Path) -> Result<()> {
    if !from.exists() {
        return Ok(());
    }
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent)?;
    }
    if std::fs::rename(from, to).is_ok() {
        return Ok(());
    }
    if from.is_dir() {
        copy_tree(from, to)
    } else {
        copy(from, to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throughput_names_get_the_new_repeat() {
        assert_eq!(
            with_repeat("raw/throughput/native_local__hello__c10__r0.json", 4),
            "raw/throughput/native_local__hello__c10__r4.json"
        );
        assert_eq!(
            with_repeat("raw/instructions/native_local__hello__r1.json", 7),
            "raw/instructions/native_local__hello__r7.json"
        );
        assert_eq!(
            with_repeat("raw/throughput/odd.json", 3),
            "raw/throughput/odd.json"
        );
    }

    #[test]
    fn variant_status_keeps_the_worst() {
        let mut acc = vec![VariantStatus {
            name: "a".into(),
            status: VariantState::Ran,
            reason: None,
        }];
        add_variant(
            &mut acc,
            &VariantStatus {
                name: "a".into(),
                status: VariantState::Failed,
                reason: Some("boom".into()),
            },
        );
        assert_eq!(acc[0].status, VariantState::Failed);
        assert_eq!(acc[0].reason.as_deref(), Some("boom"));
    }
}
