//! `cargo xtask history RUN...`: the headline figures of many runs (e.g. the
//! artifacts of successive main commits) against commit date: a trend chart
//! per workload (peak rps, warm p50, CPU ms per 1000 requests, instructions
//! per request where measured) and one for cold start, with tables whose
//! every row links to its commit; as `history.md` and `index.html`, built
//! with the report's document model and chart helpers.

mod chart;
mod page;

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::export::metrics::{self, Metric};
use crate::report::{html, markdown};
use crate::results;
use crate::rundata::manifest::Manifest;
use crate::rundata::merged::MergeInfo;

#[derive(clap::Args, Debug)]
pub struct HistoryArgs {
    /// Run folders, in any order (each a commit's run, e.g. CI artifacts).
    #[arg(required = true)]
    pub runs: Vec<PathBuf>,
    /// Where the page goes (default: results/history).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// The repository's web address, to link each commit
    /// (`URL/commit/SHA`), e.g. https://github.com/OWNER/REPO.
    #[arg(long)]
    pub repo_url: Option<String>,
}

/// Where a point's date comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateSource {
    /// The commit's date (recorded in the manifest, or from `git show`).
    Commit,
    /// The run's start: the commit was not found.
    RunStart,
}

/// One run on the time line.
#[derive(Debug, Clone)]
pub struct Point {
    pub run: String,
    pub revision: String,
    /// RFC 3339.
    pub date: String,
    pub source: DateSource,
    pub status: String,
    pub metrics: Vec<Metric>,
}

impl Point {
    /// Days since the Unix epoch, for the charts' x axis.
    pub fn day(&self) -> f64 {
        chrono::DateTime::parse_from_rfc3339(&self.date)
            .map(|d| d.timestamp() as f64 / 86_400.0)
            .unwrap_or(0.0)
    }
}

pub fn run(args: &HistoryArgs) -> Result<()> {
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| crate::paths::project_root().join("results/history"));
    history(&args.runs, &out, args.repo_url.as_deref())?;
    println!("history: {}", out.join("history.md").display());
    println!("page:    {}", out.join("index.html").display());
    Ok(())
}

/// Read every run, then write `out/history.md`, `out/index.html` and
/// `out/plots/`.
pub fn history(runs: &[PathBuf], out: &Path, repo_url: Option<&str>) -> Result<Vec<Point>> {
    // One unreadable run (an old format, a half-uploaded artifact) must not
    // take the page of every other run down: it is left out, and said so.
    let mut points = Vec::new();
    for dir in runs {
        match point(dir) {
            Ok(p) => points.push(p),
            Err(e) => eprintln!("warning: {} left out: {e:#}", dir.display()),
        }
    }
    if points.is_empty() {
        anyhow::bail!("none of the {} run folders could be read", runs.len());
    }
    points.sort_by(|a, b| (&a.date, &a.revision, &a.run).cmp(&(&b.date, &b.revision, &b.run)));
    let plots = chart::render_all(&out.join("plots"), &points)?;
    let doc = page::build(&points, &plots, repo_url);
    results::write_atomic(&out.join("history.md"), markdown::render(&doc).as_bytes())?;
    results::write_atomic(&out.join("index.html"), html::render(&doc, out)?.as_bytes())?;
    Ok(points)
}

fn point(dir: &Path) -> Result<Point> {
    let root = results::RunDir::open(dir)?.root;
    let m = Manifest::read(&root)?;
    let recorded = MergeInfo::read(&root)?.commit_date;
    let (date, source) = match recorded.or_else(|| crate::merge::git_commit_date(&m.git.revision)) {
        Some(d) => (d, DateSource::Commit),
        None => (m.started.clone(), DateSource::RunStart),
    };
    let abs = std::fs::canonicalize(&root).unwrap_or(root.clone());
    Ok(Point {
        run: abs
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        revision: m.git.revision.clone(),
        date,
        source,
        status: m.status.clone(),
        metrics: metrics::of(&root)?,
    })
}
