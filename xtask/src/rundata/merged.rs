//! What a merged run says about its parts: the `parts`, `mixed` and
//! `commit_date` keys of its `manifest.json` (kept out of `Manifest` itself,
//! which every suite builds, so a merged manifest is an ordinary manifest
//! with three more keys). `cargo xtask merge` writes them; the report and
//! `history` read them.

use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::rundata::manifest::{Machine, Manifest};
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
