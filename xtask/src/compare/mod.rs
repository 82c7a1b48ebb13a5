//! `cargo xtask compare BASE_RUN HEAD_RUN`: is head measurably slower (or
//! faster) than base? For every (suite, variant, workload, level) present in
//! both runs, the ratio head/base of the figure that matters (throughput
//! rps, higher is better; warm p50 and cold-start p50, lower is better) with
//! a confidence interval from the per-repeat values (see [`interval`] for
//! the statistic and why). A cell is a regression or an improvement only
//! when its WHOLE interval lies beyond the threshold in that direction;
//! otherwise it is "no change".
//!
//! Exit status: 0 without a regression, 1 with one, 2 on an error (a folder
//! that is not a run, unreadable files, too few repeats).

pub mod interval;
pub mod load;
mod render;

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use serde::Serialize;

use interval::{Center, Interval};
use load::{Key, Run};

/// Fewer per-repeat values than this on a side and a cell is an error: the
/// interval would say nothing (t at 1 degree of freedom is 64 at 99%).
pub const MIN_REPEATS: usize = 3;
/// Bootstrap resamples and seed (`--method bootstrap`).
pub const RESAMPLES: usize = 10_000;
pub const SEED: u64 = 20_260_101;

#[derive(clap::Args, Debug, Clone)]
pub struct CompareArgs {
    /// The base run folder (before the change).
    pub base: PathBuf,
    /// The head run folder (with the change).
    pub head: PathBuf,
    #[command(flatten)]
    pub opts: Options,
    /// Write the markdown verdict here (a workflow appends it to
    /// $GITHUB_STEP_SUMMARY).
    #[arg(long)]
    pub markdown: Option<PathBuf>,
    /// Write the comparison as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

#[derive(clap::Args, Debug, Clone)]
pub struct Options {
    /// Smallest change that counts, in percent: a cell is flagged only when
    /// its whole interval lies beyond it.
    #[arg(long, default_value_t = 5.0)]
    pub threshold: f64,
    /// Confidence level of the intervals, in percent.
    #[arg(long, default_value_t = 99.0)]
    pub confidence: f64,
    /// welch (Welch's t on log values; the default, right for few repeats)
    /// or bootstrap (percentile bootstrap of the ratio of means, fixed seed).
    #[arg(long, default_value = "welch")]
    pub method: String,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            threshold: 5.0,
            confidence: 99.0,
            method: "welch".to_owned(),
        }
    }
}

impl Options {
    fn check(&self) -> Result<()> {
        if !(self.threshold.is_finite() && self.threshold >= 0.0 && self.threshold < 100.0) {
            bail!(
                "--threshold must be a percentage in [0, 100), got {}",
                self.threshold
            );
        }
        if !(self.confidence > 50.0 && self.confidence < 100.0) {
            bail!(
                "--confidence must be a percentage in (50, 100), got {}",
                self.confidence
            );
        }
        if self.method != "welch" && self.method != "bootstrap" {
            bail!("unknown --method {:?}; use welch or bootstrap", self.method);
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Regression,
    Improvement,
    #[serde(rename = "no change")]
    NoChange,
}

impl Verdict {
    pub fn text(self) -> &'static str {
        match self {
            Verdict::Regression => "regression",
            Verdict::Improvement => "improvement",
            Verdict::NoChange => "no change",
        }
    }
}

/// Regression or improvement only when the whole interval is past the
/// threshold in the bad or good direction.
pub fn verdict(iv: &Interval, higher_is_better: bool, threshold_pct: f64) -> Verdict {
    let t = threshold_pct / 100.0;
    let (worse, better) = if higher_is_better {
        (iv.hi < 1.0 - t, iv.lo > 1.0 + t)
    } else {
        (iv.lo > 1.0 + t, iv.hi < 1.0 - t)
    };
    if worse {
        Verdict::Regression
    } else if better {
        Verdict::Improvement
    } else {
        Verdict::NoChange
    }
}

/// One compared cell.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    #[serde(skip)]
    pub key: Key,
    pub suite: &'static str,
    pub variant: String,
    pub workload: String,
    pub level: String,
    pub figure: &'static str,
    pub higher_is_better: bool,
    pub verdict: Verdict,
    /// The centres the ratio is about (geometric means for welch, means for
    /// bootstrap).
    pub base: f64,
    pub head: f64,
    pub ratio: f64,
    pub ci_low: f64,
    pub ci_high: f64,
    pub change_pct: f64,
    pub ci_low_pct: f64,
    pub ci_high_pct: f64,
    pub base_values: Vec<f64>,
    pub head_values: Vec<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Side {
    pub run: String,
    pub revision: String,
    pub profile: String,
    pub status: String,
}

/// A whole comparison: what `--markdown` and `--json` write.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub title: String,
    pub verdict: Verdict,
    pub method: String,
    pub method_note: String,
    pub confidence_pct: f64,
    pub threshold_pct: f64,
    pub base: Side,
    pub head: Side,
    pub regressions: usize,
    pub improvements: usize,
    pub unchanged: usize,
    /// The largest |bound - 1| of any interval, in percent: in an A/A run
    /// (no real change) the noise floor of this runner.
    pub widest_bound_pct: f64,
    /// That, rounded up: the smallest whole-percent threshold that none of
    /// these intervals' bounds reach (meaningful for an A/A run).
    pub supported_threshold_pct: f64,
    /// Set for an A/A run (base and head are the same build).
    pub aa: bool,
    /// How the runs were made (an A/B fills it in: rounds, order, env).
    pub setup: Vec<String>,
    pub rows: Vec<Row>,
    /// Cells in only one run, and data without repeats.
    pub not_compared: Vec<String>,
}

impl Comparison {
    pub fn exit_code(&self) -> i32 {
        if self.regressions > 0 {
            1
        } else {
            0
        }
    }

    pub fn markdown(&self) -> String {
        render::markdown(self)
    }
}

/// How a side's per-repeat values are summarised for display.
type Centre = fn(&[f64]) -> f64;

pub fn method_note(method: &str) -> String {
    match method {
        "bootstrap" => format!(
            "Percentile bootstrap of the ratio of means of the per-repeat values ({RESAMPLES} resamples of each side, fixed seed {SEED}, so the same runs give the same intervals)."
        ),
        _ => "Welch's t interval on the difference of the mean log values, exponentiated: an interval on the ratio of geometric means of the per-repeat values. Chosen over the bootstrap because an A/B has few repeats (5 to 10), where Student's t keeps the stated coverage and a percentile bootstrap is too narrow; Welch allows the two sides different spreads, and the log makes a ratio a difference.".to_owned(),
    }
}

/// Compare two run folders.
pub fn compare_dirs(base: &Path, head: &Path, opts: &Options, title: &str) -> Result<Comparison> {
    opts.check()?;
    let base_run = load::read(base)?;
    let head_run = load::read(head)?;
    compare_runs(&base_run, &head_run, opts, title)
}

pub fn compare_runs(base: &Run, head: &Run, opts: &Options, title: &str) -> Result<Comparison> {
    opts.check()?;
    let confidence = opts.confidence / 100.0;
    let mut rows = Vec::new();
    let mut not_compared = Vec::new();
    let mut too_few = Vec::new();
    for key in base.series.keys() {
        if !head.series.contains_key(key) {
            not_compared.push(format!("{}: only in base", key.label()));
        }
    }
    for key in head.series.keys() {
        if !base.series.contains_key(key) {
            not_compared.push(format!("{}: only in head", key.label()));
            continue;
        }
        let (b, h) = (base.values(key), head.values(key));
        if b.len() < MIN_REPEATS || h.len() < MIN_REPEATS {
            too_few.push(format!(
                "{}: base has {} repeat(s), head has {}",
                key.label(),
                b.len(),
                h.len()
            ));
            continue;
        }
        let (iv, centre): (Option<Interval>, Centre) = match opts.method.as_str() {
            "bootstrap" => (
                interval::bootstrap_ratio(&b, &h, confidence, Center::Mean, RESAMPLES, SEED),
                crate::stats::mean,
            ),
            _ => (
                interval::welch_log_ratio(&b, &h, confidence),
                interval::geometric_mean,
            ),
        };
        let Some(iv) = iv else {
            too_few.push(format!("{}: values not usable", key.label()));
            continue;
        };
        let (figure, higher_is_better) = key.suite.figure();
        let pct = |r: f64| (r - 1.0) * 100.0;
        rows.push(Row {
            key: key.clone(),
            suite: key.suite.name(),
            variant: key.variant.clone(),
            workload: key.workload.clone(),
            level: key.level.clone(),
            figure,
            higher_is_better,
            verdict: verdict(&iv, higher_is_better, opts.threshold),
            base: centre(&b),
            head: centre(&h),
            ratio: iv.ratio,
            ci_low: iv.lo,
            ci_high: iv.hi,
            change_pct: pct(iv.ratio),
            ci_low_pct: pct(iv.lo),
            ci_high_pct: pct(iv.hi),
            base_values: b,
            head_values: h,
        });
    }
    if !too_few.is_empty() {
        bail!(
            "too few repeats to compare (at least {MIN_REPEATS} per side are needed; run more repeats or rounds):\n  {}",
            too_few.join("\n  ")
        );
    }
    if rows.is_empty() {
        bail!(
            "base {} and head {} have no cell in common to compare{}",
            base.root.display(),
            head.root.display(),
            if not_compared.is_empty() {
                String::new()
            } else {
                format!(":\n  {}", not_compared.join("\n  "))
            }
        );
    }
    for run in [base, head] {
        for note in &run.notes {
            not_compared.push(format!("{note} ({})", run.root.display()));
        }
        for d in &run.dropped {
            not_compared.push(format!(
                "{d}: not a positive number, left out ({})",
                run.root.display()
            ));
        }
    }
    // Regressions first, then improvements, then the rest; by the tables'
    // order within each.
    rows.sort_by(|a, b| a.verdict.cmp(&b.verdict).then_with(|| a.key.cmp(&b.key)));
    let count = |v: Verdict| rows.iter().filter(|r| r.verdict == v).count();
    let widest = rows
        .iter()
        .map(|r| r.ci_low_pct.abs().max(r.ci_high_pct.abs()))
        .fold(0.0, f64::max);
    let (regressions, improvements) = (count(Verdict::Regression), count(Verdict::Improvement));
    Ok(Comparison {
        title: title.to_owned(),
        verdict: if regressions > 0 {
            Verdict::Regression
        } else if improvements > 0 {
            Verdict::Improvement
        } else {
            Verdict::NoChange
        },
        method: opts.method.clone(),
        method_note: method_note(&opts.method),
        confidence_pct: opts.confidence,
        threshold_pct: opts.threshold,
        base: side(base),
        head: side(head),
        regressions,
        improvements,
        unchanged: count(Verdict::NoChange),
        widest_bound_pct: widest,
        supported_threshold_pct: widest.ceil().max(1.0),
        aa: false,
        setup: Vec::new(),
        rows,
        not_compared,
    })
}

fn side(run: &Run) -> Side {
    let m = &run.manifest;
    Side {
        run: run.root.display().to_string(),
        revision: m.git.revision.clone(),
        profile: m
            .profile
            .get("name")
            .and_then(|n| n.as_str())
            .unwrap_or("")
            .to_owned(),
        status: m.status.clone(),
    }
}

/// Write the markdown and JSON where asked.
pub fn write_outputs(c: &Comparison, markdown: Option<&Path>, json: Option<&Path>) -> Result<()> {
    if let Some(path) = markdown {
        crate::results::write_atomic(path, c.markdown().as_bytes())?;
    }
    if let Some(path) = json {
        crate::results::write_json(path, c)?;
    }
    Ok(())
}

/// The command: prints the markdown, writes the files, and exits 0, 1 or 2.
pub fn run(args: &CompareArgs) -> Result<()> {
    let outcome = compare_dirs(&args.base, &args.head, &args.opts, "Benchmark comparison")
        .and_then(|c| {
            write_outputs(&c, args.markdown.as_deref(), args.json.as_deref())?;
            Ok(c)
        });
    match outcome {
        Ok(c) => {
            println!("{}", c.markdown());
            std::process::exit(c.exit_code());
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(2);
        }
    }
}
