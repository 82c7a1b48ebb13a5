//! The instruction counts of `bench instructions` (`raw/instructions/`):
//! `summary/instructions.csv` and the report's section. Kept apart from
//! `summary.rs` so that suite's table has one home.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use super::document::{md, text, Document, Span, Table};
use super::format;
use crate::rundata::instructions::InstructionsRaw;
use crate::rundata::{RunData, VariantState};
use crate::{results, variants, workloads};

/// One row of `summary/instructions.csv`: all repeats of a (variant,
/// workload) together, total instructions over total requests.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct InstructionsRow {
    pub variant: String,
    pub workload: String,
    pub requests: usize,
    pub instructions_per_request: f64,
}

/// Every `raw/instructions/*.json` of a run, sorted by variant, workload,
/// repeat.
pub fn records(data: &RunData) -> Vec<InstructionsRaw> {
    let mut out: Vec<InstructionsRaw> = data.instructions.iter().map(|c| c.raw.clone()).collect();
    out.sort_by(|a, b| {
        (rank_v(&a.variant), rank_w(&a.workload), a.repeat).cmp(&(
            rank_v(&b.variant),
            rank_w(&b.workload),
            b.repeat,
        ))
    });
    out
}

fn rank_v(name: &str) -> usize {
    variants::VARIANTS
        .iter()
        .position(|v| v.name == name)
        .unwrap_or(usize::MAX)
}

fn rank_w(name: &str) -> usize {
    workloads::WORKLOADS
        .iter()
        .position(|w| w.name == name)
        .unwrap_or(usize::MAX)
}

pub fn compute(root: &Path) -> Result<Vec<InstructionsRow>> {
    Ok(of(&RunData::load(root)?))
}

pub fn of(data: &RunData) -> Vec<InstructionsRow> {
    rows(&records(data))
}

/// Rows of the summary from raw records (in their order).
pub fn rows(raw: &[InstructionsRaw]) -> Vec<InstructionsRow> {
    let mut acc: BTreeMap<(usize, usize, String, String), (usize, u64)> = BTreeMap::new();
    for r in raw {
        let e = acc
            .entry((
                rank_v(&r.variant),
                rank_w(&r.workload),
                r.variant.clone(),
                r.workload.clone(),
            ))
            .or_default();
        e.0 += r.requests;
        e.1 += r.total;
    }
    acc.into_iter()
        .filter(|(_, (requests, _))| *requests > 0)
        .map(
            |((_, _, variant, workload), (requests, total))| InstructionsRow {
                variant,
                workload,
                requests,
                instructions_per_request: (total as f64 / requests as f64 * 10.0).round() / 10.0,
            },
        )
        .collect()
}

/// `summary/instructions.csv`, when the run counted instructions.
pub fn write(data: &RunData) -> Result<()> {
    let rows = of(data);
    if !rows.is_empty() {
        let path = data.root.join("summary/instructions.csv");
        results::write_csv_table(&path, &rows)?;
    }
    Ok(())
}

/// The report's section, placed before "Files" (or at the end).
pub fn add_section(doc: &mut Document, data: &RunData) -> Result<()> {
    let raw = records(data);
    if raw.is_empty() {
        return Ok(());
    }
    let mut section = Document::default();
    section.heading(2, "Instructions per request");
    section.para(md(
        "Counted by callgrind (`cargo xtask bench instructions`): the gateway's request-handling \
         thread between two checkpoints after a warm-up, one connection per request, plus for \
         the CLI variants every runtime process started per request. A count does not depend \
         on the machine's load, so it moves only when the code does; Docker variants are not \
         counted. Per-request profiles of the gateway thread: `meta/callgrind/` \
         (`callgrind_annotate FILE`).",
    ));
    let mut t = Table::numeric(&[
        "variant",
        "workload",
        "requests",
        "instructions / request",
        "of which runtime processes",
        "spread across repeats",
    ])
    .left(2);
    for row in rows(&raw) {
        let cells: Vec<&InstructionsRaw> = raw
            .iter()
            .filter(|r| r.variant == row.variant && r.workload == row.workload)
            .collect();
        let children: u64 = cells.iter().map(|r| r.children.iter().sum::<u64>()).sum();
        let per: Vec<f64> = cells.iter().map(|r| r.instructions_per_request).collect();
        let spread = if per.len() < 2 {
            "-".to_owned()
        } else {
            let lo = per.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = per.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            format!("{:.3}%", (hi / lo - 1.0) * 100.0)
        };
        t.row(vec![
            vec![Span::Code(row.variant.clone())],
            text(&row.workload),
            text(row.requests.to_string()),
            text(format::thousands(
                row.instructions_per_request.round() as u64
            )),
            text(format::thousands(
                (children as f64 / row.requests as f64).round() as u64,
            )),
            text(spread),
        ]);
    }
    section.table(t);
    doc.insert_before("Files", section);
    Ok(())
}

/// What `bench instructions` prints at the end.
pub fn screen_table(root: &Path) -> Result<String> {
    let mut out = String::new();
    writeln!(
        out,
        "\n{:<28} {:<10} {:>9} {:>24}",
        "variant", "workload", "requests", "instructions/request"
    )?;
    for r in compute(root)? {
        writeln!(
            out,
            "{:<28} {:<10} {:>9} {:>24}",
            r.variant,
            r.workload,
            r.requests,
            format::thousands(r.instructions_per_request.round() as u64)
        )?;
    }
    let m = crate::rundata::manifest::Manifest::read(root)?;
    for v in m
        .variants
        .iter()
        .filter(|v| v.status == VariantState::Skipped)
    {
        writeln!(
            out,
            "{:<28} skipped: {}",
            v.name,
            v.reason.as_deref().unwrap_or("")
        )?;
    }
    Ok(out)
}
