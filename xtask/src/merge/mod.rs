//! `cargo xtask merge RUN... --out DIR`: run folders measured on separate
//! machines (the CI matrix: a group of variants per job) put together as one
//! run folder. `raw/` is united (a raw file present in two parts is an
//! error: a cell measured twice has no single value), the manifests are
//! combined and list the parts and their machines, and the summaries and
//! the report are rebuilt from `raw/` as `cargo xtask report` does.
//!
//! The parts are taken in one canonical order (start time, then manifest
//! text), never in the order given, so the merged folder is byte-identical
//! whatever the order of the inputs.

pub mod parts;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::results::{self, RunDir};
use crate::rundata::manifest::{Manifest, VariantStatus};
use crate::rundata::merged::{MergeInfo, Part};
use crate::rundata::RunStatus;
use crate::{files, report, variants};

#[derive(clap::Args, Debug)]
pub struct MergeArgs {
    /// The run folders to merge (two or more; one is copied as it is).
    #[arg(required = true)]
    pub runs: Vec<PathBuf>,
    /// Where the merged run folder goes (must not hold a run).
    #[arg(long)]
    pub out: PathBuf,
    /// Merge even when the parts ran on different CPU models, CPU counts,
    /// kernels, tool versions, revisions or profiles; the report then says
    /// so at the top.
    #[arg(long)]
    pub allow_mixed: bool,
}

pub fn run(args: &MergeArgs) -> Result<()> {
    let out = merge(&args.runs, &args.out, args.allow_mixed)?;
    println!("{}", report::screen_table(&out)?);
    println!("report: {}", out.join("report.md").display());
    println!("page:   {}", out.join("index.html").display());
    Ok(())
}

/// Merge `runs` into a new run folder `out` and render its report.
pub fn merge(runs: &[PathBuf], out: &Path, allow_mixed: bool) -> Result<PathBuf> {
    let mut parts: Vec<(String, Manifest, PathBuf)> = Vec::new();
    for dir in runs {
        let root = RunDir::open(dir)?.root;
        let m = Manifest::read(&root)?;
        parts.push((part_name(&root), m, root));
    }
    // The canonical order: start time, then the manifest's text.
    let key = |m: &Manifest| {
        (
            m.started.clone(),
            serde_json::to_string(m).unwrap_or_default(),
        )
    };
    parts.sort_by_key(|(_, m, _)| key(m));
    for pair in parts.windows(2) {
        if pair[0].0 == pair[1].0 {
            bail!(
                "two parts are named {:?}: give each run folder its own name",
                pair[0].0
            );
        }
    }

    let named: Vec<(String, Manifest)> = parts
        .iter()
        .map(|(n, m, _)| (n.clone(), m.clone()))
        .collect();
    let mixed = parts::differences(&named);
    if !mixed.is_empty() && !allow_mixed {
        bail!(
            "the runs differ in machine or versions (pass --allow-mixed to merge anyway; \
             the report will say so):\n  {}",
            mixed.join("\n  ")
        );
    }

    // Every refusal before anything is written.
    let copies = plan_raw(&parts, out)?;
    let run = RunDir::create(Some(out))?;
    for (from, to) in copies {
        copy_file(&from, &to)?;
    }
    for (name, _, root) in &parts {
        let dest = run.path(&format!("meta/parts/{name}"));
        if root.join("meta").is_dir() {
            copy_tree(&root.join("meta"), &dest)?;
        }
        copy_file(&root.join("manifest.json"), &dest.join("manifest.json"))?;
    }
    let first = &parts[0].2;
    if first.join("meta/env_snapshot.txt").is_file() {
        copy_file(
            &first.join("meta/env_snapshot.txt"),
            &run.path("meta/env_snapshot.txt"),
        )?;
    }

    let manifest = combine(&named);
    let info = MergeInfo {
        parts: named.iter().map(|(n, m)| Part::of(n, m)).collect(),
        mixed,
        commit_date: commit_date(&parts),
    };
    write_manifest(&run.root, &manifest, &info)?;
    report::summarize(&run.root, true)?;
    Ok(run.root)
}

/// The input folder's name (what the report and `meta/parts/` call it).
fn part_name(root: &Path) -> String {
    let abs = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
    abs.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "run".to_owned())
}

/// One manifest from the parts': the first part's settings and machine,
/// every part's cells, the union of suites and variants (a variant keeps its
/// worst status: failed, then ran, then skipped), the earliest start and
/// the latest end.
fn combine(parts: &[(String, Manifest)]) -> Manifest {
    let mut m = parts[0].1.clone();
    let names: Vec<&str> = parts.iter().map(|(n, _)| n.as_str()).collect();
    m.command = format!("cargo xtask merge {}", names.join(" "));
    m.cells = parts.iter().flat_map(|(_, p)| p.cells.clone()).collect();
    m.suites = Vec::new();
    for (_, p) in parts {
        for s in &p.suites {
            if !m.suites.contains(s) {
                m.suites.push(s.clone());
            }
        }
    }
    let mut by_name: BTreeMap<String, VariantStatus> = BTreeMap::new();
    for (_, p) in parts {
        for v in &p.variants {
            match by_name.get(&v.name) {
                Some(have) if have.status.rank() >= v.status.rank() => {}
                _ => {
                    by_name.insert(v.name.clone(), v.clone());
                }
            }
        }
    }
    let mut variants: Vec<VariantStatus> = by_name.into_values().collect();
    variants.sort_by_key(|v| {
        variants::VARIANTS
            .iter()
            .position(|t| t.name == v.name)
            .unwrap_or(usize::MAX)
    });
    m.variants = variants;
    m.started = parts
        .iter()
        .map(|(_, p)| p.started.clone())
        .min()
        .unwrap_or_default();
    m.finished = parts.iter().filter_map(|(_, p)| p.finished.clone()).max();
    m.git.dirty = parts.iter().any(|(_, p)| p.git.dirty);
    let unfinished: Vec<String> = parts
        .iter()
        .filter(|(_, p)| p.status != RunStatus::Complete.name())
        .map(|(n, p)| format!("part {n}: {}", p.status))
        .collect();
    m.status = if unfinished.is_empty() {
        RunStatus::Complete.name().to_owned()
    } else {
        unfinished.join("; ")
    };
    m
}

/// The revision's committer date: a part's recorded one, else `git show`
/// in this checkout (CI merges in a clone that has the commit), else none.
fn commit_date(parts: &[(String, Manifest, PathBuf)]) -> Option<String> {
    let recorded = parts
        .iter()
        .find_map(|(_, _, root)| MergeInfo::read(root).ok()?.commit_date);
    recorded.or_else(|| git_commit_date(&parts[0].1.git.revision))
}

/// `git show -s --format=%cI REV` in the project's checkout.
pub fn git_commit_date(revision: &str) -> Option<String> {
    if revision.is_empty() || !revision.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let root = crate::paths::project_root();
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(&root)
        .args(["show", "-s", "--format=%cI", revision])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let date = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    (out.status.success() && !date.is_empty()).then_some(date)
}

/// The manifest with the merge keys added (see [`MergeInfo`]).
fn write_manifest(run: &Path, m: &Manifest, info: &MergeInfo) -> Result<()> {
    let mut value = serde_json::to_value(m)?;
    let extra = serde_json::to_value(info)?;
    if let (Some(obj), Some(extra)) = (value.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            obj.insert(k.clone(), v.clone());
        }
    }
    results::write_json(&run.join("manifest.json"), &value)
}

/// The copies that unite every part's `raw/` into the merged run's; the
/// same file in two parts is refused (with every such file named).
fn plan_raw(parts: &[(String, Manifest, PathBuf)], out: &Path) -> Result<Vec<(PathBuf, PathBuf)>> {
    let mut owner: BTreeMap<PathBuf, &str> = BTreeMap::new();
    let mut clashes = Vec::new();
    let mut copies = Vec::new();
    for (name, _, root) in parts {
        for rel in files::walk(&root.join("raw")) {
            match owner.get(&rel) {
                Some(first) => clashes.push(format!("raw/{} ({first}, {name})", rel.display())),
                None => {
                    owner.insert(rel.clone(), name);
                    copies.push((root.join("raw").join(&rel), out.join("raw").join(&rel)));
                }
            }
        }
    }
    if !clashes.is_empty() {
        bail!(
            "the same cell was measured in more than one part:\n  {}",
            clashes.join("\n  ")
        );
    }
    Ok(copies)
}

fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    for rel in files::walk(from) {
        copy_file(&from.join(&rel), &to.join(&rel))?;
    }
    Ok(())
}

fn copy_file(from: &Path, to: &Path) -> Result<()> {
    let bytes = std::fs::read(from).with_context(|| format!("reading {}", from.display()))?;
    results::write_atomic(to, &bytes)
}
