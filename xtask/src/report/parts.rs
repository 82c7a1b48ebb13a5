//! The report's section about a merged run's parts.

use std::path::Path;

use anyhow::Result;

use super::document::{md, text, Block, Document, Span, Table};
use crate::rundata::merged::MergeInfo;

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
