//! `cargo xtask report [RUN_DIR]`: everything a reader sees, rebuilt from
//! `raw/` and `manifest.json` alone, so a run copied from a CI artifact can
//! be re-plotted anywhere.

pub mod answer;
mod content;
pub mod cost;
pub mod document;
pub mod figures;
pub mod format;
pub mod headroom;
pub mod html;
pub mod hypotheses;
pub mod instructions;
pub mod markdown;
pub mod micro;
mod parts;
pub mod plots;
pub mod soak;
pub mod summary;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::results;
use crate::rundata::{Client, RunData, VariantState};

#[derive(clap::Args, Debug)]
pub struct ReportArgs {
    /// The run folder (default: results/latest).
    pub run_dir: Option<PathBuf>,
}

pub fn run(args: &ReportArgs) -> Result<()> {
    let root = match &args.run_dir {
        Some(dir) => results::RunDir::open(dir)?.root,
        None => results::latest_run()?,
    };
    crate::stale::mark_if_abandoned(&root)?;
    summarize(&root, true)?;
    println!("{}", screen_table(&root)?);
    println!("report: {}", root.join("report.md").display());
    println!("page:   {}", root.join("index.html").display());
    Ok(())
}

/// Recompute the summaries from `raw/` (and, with `render`, the plots,
/// `report.md` and `index.html`).
pub fn summarize(root: &Path, render: bool) -> Result<()> {
    let data = RunData::load(root)?;
    let s = summary::of(&data);
    summary::write(root, &s)?;
    instructions::write(&data)?;
    headroom::write(root)?;
    cost::write(root)?;
    if render {
        self::render(&data, &s)?;
    }
    Ok(())
}

/// Plots, `report.md` and `index.html` from the summary and the manifest.
/// The same input gives the same report.md, byte for byte: nothing here
/// reads the clock, every table is in the variant and workload tables'
/// order, and numbers are formatted by fixed rules (format.rs).
pub fn render(data: &RunData, s: &summary::Summary) -> Result<()> {
    let root = &data.root;
    let manifest = data
        .manifest
        .as_ref()
        .with_context(|| format!("rendering the report of {}: no manifest", root.display()))?;
    let plots = plots::render_all(data, s)?;
    let verdicts = hypotheses::judge_all(s);
    let mut doc = content::build(manifest, s, &verdicts, &plots);
    instructions::add_section(&mut doc, data)?;
    micro::add_section(&mut doc, root, s)?;
    parts::add_to_report(&mut doc, root)?;
    results::write_atomic(&root.join("report.md"), markdown::render(&doc).as_bytes())?;
    results::write_atomic(
        &root.join("index.html"),
        html::render(&doc, root)?.as_bytes(),
    )?;
    Ok(())
}

/// The summary table printed at the end of `bench all`.
pub fn screen_table(root: &Path) -> Result<String> {
    let s = summary::compute(root)?;
    let manifest = crate::rundata::manifest::Manifest::read(root)?;
    let mut out = String::new();
    writeln!(
        out,
        "\n{:<28} {:>12} {:>14} {:>14} {:>16}",
        "variant", "cold p50 ms", "warm p50 µs", "curl p50 µs", "hello peak rps"
    )?;
    for v in &manifest.variants {
        if v.status == VariantState::Skipped {
            writeln!(
                out,
                "{:<28} skipped: {}",
                v.name,
                v.reason.as_deref().unwrap_or("")
            )?;
            continue;
        }
        let cold = s
            .cold
            .iter()
            .find(|r| r.variant == v.name)
            .map(|r| format!("{:.2}", r.p50_ms));
        let warm = |client: Client| {
            s.warm
                .iter()
                .find(|r| r.variant == v.name && r.workload == "hello" && r.client == client)
                .map(|r| r.p50_us.to_string())
        };
        let peak =
            peak_rps(&s.throughput, &v.name, "hello").map(|(rps, c)| format!("{rps:.0} @{c}"));
        let dash = || "-".to_owned();
        writeln!(
            out,
            "{:<28} {:>12} {:>14} {:>14} {:>16}{}",
            v.name,
            cold.unwrap_or_else(dash),
            warm(Client::Persistent).unwrap_or_else(dash),
            warm(Client::Curl).unwrap_or_else(dash),
            peak.unwrap_or_else(dash),
            if v.status == VariantState::Failed {
                "  (some cells failed: see manifest.json)"
            } else {
                ""
            }
        )?;
    }
    Ok(out)
}

/// The highest mean-over-repeats rps of a (variant, workload) and the
/// connection level where it occurred.
pub fn peak_rps(
    rows: &[summary::ThroughputRow],
    variant: &str,
    workload: &str,
) -> Option<(f64, usize)> {
    figures::points(rows, variant, workload)
        .into_iter()
        .map(|p| (p.mean, p.connections))
        .max_by(|a, b| a.0.total_cmp(&b.0))
}
