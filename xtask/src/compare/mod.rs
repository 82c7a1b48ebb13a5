//! `cargo xtask compare BASE_RUN HEAD_RUN`: is head measurably slower (or
//! faster) than base? For every (suite, variant, workload, level) present in
//! both runs, the ratio head/base of the figure that matters (throughput
//! rps, higher is better; warm p50 and cold-start p50, lower is better) with
//! a confidence interval from the per-repeat values (see [`interval`] for
//! the statistic and why). A cell is a regression or an improvement only
//! when its WHOLE interval lies beyond the threshold in that direction;
//! otherwise it is "no change".
//!
//! Two figures are judged differently:
//!
//! - Instructions per request (`bench instructions`, callgrind) are a
//!   count, not a timing: the same build gives the same count within 0.1%
//!   whatever the machine is doing. A cell is a regression when head/base
//!   of the mean count exceeds `--instructions-threshold` (1%); the Welch
//!   interval is shown when each side has 2+ repeats, but with a spread
//!   ten times below the threshold it adds nothing to the point ratio,
//!   while t's small-sample penalty would make it blind at 2 repeats.
//! - A throughput cell that the load generator could not saturate
//!   (`bound` = `client` in `aggregated/throughput.csv`) measures the
//!   client: its requests/s do not move when the gateway gets slower. It is
//!   judged on the gateway's CPU ms per 1000 requests instead.
//!
//! A cell base measured and head did not (head's variant failed to start or
//! was skipped, a round failed, 0 requests/s) is a failure of head: it is
//! listed with the reason from head's manifest, and the exit status is 1.
//!
//! Exit status: 0 without a regression, 1 with one (or a failure of head),
//! 2 on an error (a folder that is not a run, unreadable files, too few
//! repeats).

pub mod load;
mod render;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Result};
use serde::Serialize;

use crate::stats::interval::{self, Center, Interval};
use load::{Key, Run, Suite};

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
    /// Smallest change of instructions per request that counts, in percent
    /// (a count is exact to ~0.1%, so this is judged on the ratio itself).
    #[arg(long, default_value_t = 1.0)]
    pub instructions_threshold: f64,
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
            instructions_threshold: 1.0,
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
        if !(self.instructions_threshold.is_finite()
            && self.instructions_threshold >= 0.0
            && self.instructions_threshold < 100.0)
        {
            bail!(
                "--instructions-threshold must be a percentage in [0, 100), got {}",
                self.instructions_threshold
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
    /// The threshold this row was judged against, in percent.
    pub threshold_pct: f64,
    /// How the verdict was reached when not by the interval (instructions:
    /// the point ratio; client-bound throughput: CPU per request).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
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

/// A cell base measured and head did not (or measured fewer times because
/// it failed): head is broken there.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    pub cell: String,
    pub reason: String,
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
    pub instructions_threshold_pct: f64,
    pub regressions: usize,
    pub improvements: usize,
    pub unchanged: usize,
    /// Cells base measured and head did not: each fails the comparison.
    pub failures: Vec<Failure>,
    /// The largest |bound - 1| of any timing interval, in percent: in an
    /// A/A run (no real change) the noise floor of this runner.
    pub widest_bound_pct: f64,
    /// The largest |head/base - 1| of instructions per request, in percent:
    /// in an A/A run, how exact the count is.
    pub widest_instructions_pct: f64,
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
        if self.regressions > 0 || !self.failures.is_empty() {
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
    if base.is_empty() {
        bail!(
            "{} holds nothing to compare: no raw/instructions/*.json, aggregated/throughput.csv rows, raw/cold/*.csv or raw/warm/*.csv with repeats",
            base.root.display()
        );
    }
    let confidence = opts.confidence / 100.0;
    let mut rows = Vec::new();
    let mut not_compared = Vec::new();
    let mut too_few = Vec::new();
    let mut failures = Vec::new();
    let keys: BTreeSet<&Key> = base.series.keys().chain(head.series.keys()).collect();
    // Keys with no usable value on one side (all dropped) count as measured
    // there, with nothing in them.
    let known =
        |run: &Run, key: &Key| run.series.contains_key(key) || run.dropped_by_key.contains_key(key);
    let keys: BTreeSet<&Key> = keys.into_iter().chain(base.dropped_by_key.keys()).collect();
    for key in keys {
        let (in_base, in_head) = (known(base, key), known(head, key));
        if !in_head {
            if head_knows_variant(head, key) {
                failures.push(Failure {
                    cell: key.label(),
                    reason: format!("measured in base, not in head: {}", head.why_missing(key)),
                });
            } else {
                not_compared.push(format!("{}: only in base", key.label()));
            }
            continue;
        }
        if !in_base {
            not_compared.push(format!("{}: only in head", key.label()));
            continue;
        }
        let judged = judge(base, head, key, opts, confidence);
        let (b, h) = (&judged.base_values, &judged.head_values);
        let min = if key.suite == Suite::Instructions {
            1
        } else {
            MIN_REPEATS
        };
        let head_failed = head.failed_cells(key).len() + dropped(head, key);
        let base_failed = base.failed_cells(key).len() + dropped(base, key);
        if h.len() < min && b.len() >= min && head_failed > 0 {
            failures.push(Failure {
                cell: key.label(),
                reason: format!(
                    "head has {} usable repeat(s), base {}: {}",
                    h.len(),
                    b.len(),
                    head.why_missing(key)
                ),
            });
            continue;
        }
        if b.len() < min || h.len() < min {
            too_few.push(format!(
                "{}: base has {} repeat(s), head has {}",
                key.label(),
                b.len(),
                h.len()
            ));
            continue;
        }
        if head_failed > base_failed {
            // Compared on what head did measure, and still a failure: a
            // head that fails some rounds is broken even when the rest is
            // as fast.
            failures.push(Failure {
                cell: key.label(),
                reason: format!(
                    "failed in head more often than in base ({head_failed} against {base_failed}): {}",
                    head.why_missing(key)
                ),
            });
        }
        let Some(row) = judged.row(key, opts) else {
            too_few.push(format!("{}: values not usable", key.label()));
            continue;
        };
        rows.push(row);
    }
    if !too_few.is_empty() {
        bail!(
            "too few repeats to compare (at least {MIN_REPEATS} per side are needed, 1 for instructions; run more repeats or rounds):\n  {}",
            too_few.join("\n  ")
        );
    }
    if rows.is_empty() && failures.is_empty() {
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
    // Timing rows: the widest interval bound (the noise floor). Counts:
    // the largest head/base difference itself (judged on the point ratio).
    let widest = |instructions: bool| {
        rows.iter()
            .filter(|r| (r.key.suite == Suite::Instructions) == instructions)
            .map(|r| {
                if instructions {
                    r.change_pct.abs()
                } else {
                    r.ci_low_pct.abs().max(r.ci_high_pct.abs())
                }
            })
            .fold(0.0, f64::max)
    };
    let (regressions, improvements) = (count(Verdict::Regression), count(Verdict::Improvement));
    let wall = widest(false);
    Ok(Comparison {
        title: title.to_owned(),
        verdict: if regressions > 0 || !failures.is_empty() {
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
        instructions_threshold_pct: opts.instructions_threshold,
        base: side(base),
        head: side(head),
        regressions,
        improvements,
        unchanged: count(Verdict::NoChange),
        failures,
        widest_bound_pct: wall,
        widest_instructions_pct: widest(true),
        supported_threshold_pct: wall.ceil().max(1.0),
        aa: false,
        setup: Vec::new(),
        rows,
        not_compared,
    })
}

/// Does head's run list the key's variant (ran, failed or skipped)? A
/// variant head was never asked to run is "only in base", not a failure.
fn head_knows_variant(head: &Run, key: &Key) -> bool {
    head.manifest.variants.iter().any(|v| v.name == key.variant)
        || !head.failed_cells(key).is_empty()
}

fn dropped(run: &Run, key: &Key) -> usize {
    run.dropped_by_key.get(key).map_or(0, Vec::len)
}

/// The values a cell is judged on, and how.
struct Judged {
    figure: &'static str,
    higher_is_better: bool,
    note: Option<String>,
    base_values: Vec<f64>,
    head_values: Vec<f64>,
    confidence: f64,
    method: String,
}

/// Which figure a key is judged on: its own, or for a client-bound
/// throughput cell (in either run) the gateway's CPU per request.
fn judge(base: &Run, head: &Run, key: &Key, opts: &Options, confidence: f64) -> Judged {
    let (figure, higher_is_better) = key.suite.figure();
    let mut j = Judged {
        figure,
        higher_is_better,
        note: None,
        base_values: base.values(key),
        head_values: head.values(key),
        confidence,
        method: opts.method.clone(),
    };
    if key.suite == Suite::Instructions {
        j.note = Some(format!(
            "a count: judged on head/base of the mean against {}%",
            opts.instructions_threshold
        ));
    } else if key.suite == Suite::Throughput
        && (base.client_bound.contains(key) || head.client_bound.contains(key))
    {
        let (b, h) = (base.cpu_values(key), head.cpu_values(key));
        if b.len() >= MIN_REPEATS && h.len() >= MIN_REPEATS {
            j.figure = load::CPU_FIGURE;
            j.higher_is_better = false;
            j.base_values = b;
            j.head_values = h;
            j.note = Some(
                "client-bound (the load generator, not the gateway, set the pace): judged on the gateway's CPU ms per 1000 requests, not on rps".to_owned(),
            );
        } else {
            j.note = Some(
                "client-bound, but without CPU samples on both sides: judged on rps, which measures the client here".to_owned(),
            );
        }
    }
    j
}

impl Judged {
    fn row(&self, key: &Key, opts: &Options) -> Option<Row> {
        let (b, h) = (&self.base_values, &self.head_values);
        let instructions = key.suite == Suite::Instructions;
        let (iv, centre): (Option<Interval>, Centre) = if instructions {
            let ratio = crate::stats::mean(h) / crate::stats::mean(b);
            let iv = if b.len() >= 2 && h.len() >= 2 {
                interval::welch_log_ratio(b, h, self.confidence).map(|w| Interval { ratio, ..w })
            } else {
                Some(Interval {
                    ratio,
                    lo: ratio,
                    hi: ratio,
                })
            };
            (iv.filter(|i| i.ratio.is_finite()), crate::stats::mean)
        } else {
            match self.method.as_str() {
                "bootstrap" => (
                    interval::bootstrap_ratio(b, h, self.confidence, Center::Mean, RESAMPLES, SEED),
                    crate::stats::mean,
                ),
                _ => (
                    interval::welch_log_ratio(b, h, self.confidence),
                    interval::geometric_mean,
                ),
            }
        };
        let iv = iv?;
        let threshold = if instructions {
            opts.instructions_threshold
        } else {
            opts.threshold
        };
        let verdict = if instructions {
            // The point ratio: see the module's note.
            let point = Interval {
                ratio: iv.ratio,
                lo: iv.ratio,
                hi: iv.ratio,
            };
            verdict(&point, false, threshold)
        } else {
            verdict(&iv, self.higher_is_better, threshold)
        };
        let pct = |r: f64| (r - 1.0) * 100.0;
        Some(Row {
            key: key.clone(),
            suite: key.suite.name(),
            variant: key.variant.clone(),
            workload: key.workload.clone(),
            level: key.level.clone(),
            figure: self.figure,
            higher_is_better: self.higher_is_better,
            verdict,
            threshold_pct: threshold,
            note: self.note.clone(),
            base: centre(b),
            head: centre(h),
            ratio: iv.ratio,
            ci_low: iv.lo,
            ci_high: iv.hi,
            change_pct: pct(iv.ratio),
            ci_low_pct: pct(iv.lo),
            ci_high_pct: pct(iv.hi),
            base_values: b.clone(),
            head_values: h.clone(),
        })
    }
}

fn side(run: &Run) -> Side {
    let m = &run.manifest;
    Side {
        run: run.root.display().to_string(),
        revision: m.git.revision.clone(),
        profile: m
            .profile
            .as_ref()
            .and_then(|p| p.name.clone())
            .unwrap_or_default(),
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

/// The command: prints the markdown, writes the files; exit status 0, 1
/// (a regression or a failure of head) or 2 (an error, printed here).
pub fn run(args: &CompareArgs) -> ExitCode {
    let outcome = compare_dirs(&args.base, &args.head, &args.opts, "Benchmark comparison")
        .and_then(|c| {
            write_outputs(&c, args.markdown.as_deref(), args.json.as_deref())?;
            Ok(c)
        });
    exit_status(outcome.inspect(|c| println!("{}", c.markdown())))
}

/// 0 or 1 from a comparison, 2 (with the error on stderr) without one.
pub fn exit_status(outcome: Result<Comparison>) -> ExitCode {
    match outcome {
        Ok(c) => ExitCode::from(c.exit_code() as u8),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
