//! What a merged run says about its parts: the `parts`, `mixed` and
//! `commit_date` keys of its `manifest.json` (kept out of `Manifest` itself,
//! which every suite builds, so a merged manifest is an ordinary manifest
//! with three more keys), the check that the parts ran on comparable
//! machines, and the report's section about them.

use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::manifest::{Machine, Manifest};
use crate::report::document::{md, text, Block, Document, Span, Table};
use crate::rundata::VariantState;

/// One input run of a merge, as the merged manifest lists it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Part {
    /// The input folder's name.
    pub name: String,
    pub started: String,
    pub finished: Option<String>,
    pub status: String,
    pub git_revision: String,
    pub machine: Machine,
    pub kernel: String,
    /// Variants the part measured (status `ran` or `failed`).
    pub variants: Vec<String>,
    pub suites: Vec<String>,
}

impl Part {
    pub fn of(name: &str, m: &Manifest) -> Part {
        Part {
            name: name.to_owned(),
            started: m.started.clone(),
            finished: m.finished.clone(),
            status: m.status.clone(),
            git_revision: m.git.revision.clone(),
            machine: m.machine.clone(),
            kernel: m.versions.kernel.clone(),
            variants: m
                .variants
                .iter()
                .filter(|v| v.status != VariantState::Skipped)
                .map(|v| v.name.clone())
                .collect(),
            suites: m.suites.clone(),
        }
    }
}

/// The merge-only keys of a manifest.json (all empty for an ordinary run).
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct MergeInfo {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<Part>,
    /// What differs between the parts' machines or versions (merged with
    /// `--allow-mixed`); empty when they match.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mixed: Vec<String>,
    /// The committer date of `git.revision` (RFC 3339), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit_date: Option<String>,
}

impl MergeInfo {
    pub fn read(run: &Path) -> Result<MergeInfo> {
        let path = run.join("manifest.json");
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
    }
}

/// Every way the parts' machines, versions, revision or settings differ, as
/// one line each ("CPU model: A (part x), B (part y)"). Host names and
/// memory may differ: runners of one label are alike in what is measured.
pub fn differences(parts: &[(String, Manifest)]) -> Vec<String> {
    let mut out = Vec::new();
    let mut check = |what: &str, value: &dyn Fn(&Manifest) -> String| {
        let mut seen: Vec<(String, Vec<&str>)> = Vec::new();
        for (name, m) in parts {
            let v = value(m);
            match seen.iter_mut().find(|(s, _)| *s == v) {
                Some((_, names)) => names.push(name),
                None => seen.push((v, vec![name])),
            }
        }
        if seen.len() > 1 {
            let list: Vec<String> = seen
                .iter()
                .map(|(v, names)| format!("{v:?} ({})", names.join(", ")))
                .collect();
            out.push(format!("{what}: {}", list.join("; ")));
        }
    };
    check("CPU model", &|m| m.machine.cpu_model.clone());
    check("CPUs", &|m| m.machine.cpus.to_string());
    check("git revision", &|m| m.git.revision.clone());
    check("profile", &|m| {
        serde_json::to_string(&m.profile).unwrap_or_default()
    });
    check("pinning", &|m| m.pinning.enabled.to_string());
    check("server host", &|m| match &m.server {
        None => "the load generator's machine".to_owned(),
        Some(s) => format!(
            "{} ({}, {} CPUs)",
            s.target, s.machine.cpu_model, s.machine.cpus
        ),
    });
    let v =
        |f: fn(&crate::manifest::Versions) -> &String| move |m: &Manifest| f(&m.versions).clone();
    check("kernel", &v(|v| &v.kernel));
    check("rustc", &v(|v| &v.rustc));
    check("wasmtime crate", &v(|v| &v.wasmtime_crate));
    check("wasmtime CLI", &v(|v| &v.wasmtime_cli));
    check("wasmtime CLI cache", &v(|v| &v.wasmtime_cli_cache));
    check("wasmedge", &v(|v| &v.wasmedge));
    check("docker", &v(|v| &v.docker));
    out
}

/// The report's part for a merged run: a warning first when the parts'
/// machines or versions differ, then a section listing the parts. Nothing
/// for an ordinary run.
pub fn add_to_report(doc: &mut Document, run: &Path) -> Result<()> {
    let info = MergeInfo::read(run)?;
    if info.parts.is_empty() {
        return Ok(());
    }
    let mut top = Vec::new();
    if !info.mixed.is_empty() {
        let mut warn = vec![Span::Strong(
            "Mixed machines or versions (merged with --allow-mixed).".to_owned(),
        )];
        warn.extend(md(
            " The parts of this run differ as listed below, so a figure of one \
             variant may not compare with another's:",
        ));
        top.push(Block::Para(warn));
        top.push(Block::List(info.mixed.iter().map(text).collect()));
    }
    // After the introduction (the first paragraph), before the environment.
    let at = doc
        .blocks
        .iter()
        .position(|b| matches!(b, Block::Para(_)))
        .map_or(0, |i| i + 1);
    let mut section = vec![Block::Heading {
        level: 2,
        text: "Parts of this merged run".to_owned(),
    }];
    section.push(Block::Para(md(
        "This run was put together by `cargo xtask merge` from the run folders \
         below (their `meta/` is kept under `meta/parts/`); the environment \
         table shows the first part's.",
    )));
    let mut t = Table::text(&[
        "part", "variants", "suites", "machine", "kernel", "revision", "started", "status",
    ]);
    for p in &info.parts {
        t.row(vec![
            vec![Span::Code(p.name.clone())],
            text(p.variants.join(", ")),
            text(p.suites.join(", ")),
            text(format!(
                "{}, {} CPUs, host {}",
                p.machine.cpu_model, p.machine.cpus, p.machine.hostname
            )),
            text(p.kernel.clone()),
            vec![Span::Code(p.git_revision.chars().take(12).collect())],
            text(p.started.clone()),
            text(p.status.clone()),
        ]);
    }
    section.push(Block::Table(t));
    doc.blocks.splice(at..at, section);
    doc.blocks.splice(0..0, top);
    Ok(())
}
