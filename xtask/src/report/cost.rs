//! `summary/cost.csv` and `summary/cost.md` from `raw/cost/rounds.csv`
//! (`bench cost`): each variant's CPU time per request against
//! `native_local` measured in the same round, and each arm against the
//! default arm of the same variant, as means of per-round (paired) ratios
//! with a 95% Student t interval. A ratio whose interval is wider than
//! `±target` of it is `undecided`, never a result. Computed here, like every
//! summary, so `cargo xtask report` rebuilds it.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::rundata::CostKey;
use crate::stats::interval::mean_interval;
use crate::{results, variants};

/// The arm every other is compared with.
pub const DEFAULT_ARM: &str = "default";

/// One measured cell: a row of `raw/cost/rounds.csv`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Row {
    pub round: usize,
    /// Its place in the round's shuffled order.
    pub position: usize,
    pub variant: String,
    pub arm: String,
    /// The arm's gateway environment, `KEY=VALUE` separated by spaces.
    pub env: String,
    pub requests: u64,
    pub window_s: f64,
    /// The gateway's CPU time (every thread, the scheduler's account) in the
    /// window.
    pub cpu_ms: f64,
    pub cpu_us_per_req: f64,
    pub rps: f64,
    /// The gateway's minor page faults per request in the window.
    #[serde(default)]
    pub faults_per_req: f64,
    /// Steal time of the whole machine in the window (`/proc/stat`).
    pub steal_ms: f64,
    pub errors: u64,
    /// Steal time over 5% of the window's CPU time on every attempt: left
    /// out of the ratios.
    pub disturbed: bool,
    /// The target half-width the run stopped on (a fraction), for the summary.
    pub target: f64,
}

/// A row of `summary/cost.csv`: one ratio with its interval.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Ratio {
    pub variant: String,
    pub arm: String,
    /// Mean minor page faults per request of this variant and arm.
    pub faults_per_req: f64,
    /// `native_local` (CPU per request against native in the same round) or
    /// the default arm of the same variant.
    pub against: String,
    pub rounds: usize,
    pub cpu_us_per_req: f64,
    pub ratio: f64,
    pub lo: f64,
    pub hi: f64,
    /// Half the interval's width over the ratio.
    pub half_width: f64,
    /// `decided` when `half_width` is within the target, else `undecided`.
    pub verdict: String,
}

pub const SUMMARY: &str = "summary/cost.csv";
pub const SUMMARY_MD: &str = "summary/cost.md";

/// Every ratio of the rounds: each (variant, arm) against native in the
/// same round, and each non-default arm against the default arm.
pub fn compute(rows: &[Row]) -> Vec<Ratio> {
    let target = rows.first().map_or(0.05, |r| r.target);
    let baseline = variants::baseline().name;
    let faults = |variant: &str, arm: &str| mean_faults(rows, variant, arm);
    // (round, variant, arm) -> CPU µs per request.
    let cell: BTreeMap<(usize, &str, &str), f64> = rows
        .iter()
        .filter(|r| r.requests > 0 && r.errors == 0 && !r.disturbed)
        .map(|r| {
            (
                (r.round, r.variant.as_str(), r.arm.as_str()),
                r.cpu_us_per_req,
            )
        })
        .collect();
    let rounds: Vec<usize> = {
        let mut r: Vec<usize> = rows.iter().map(|r| r.round).collect();
        r.sort_unstable();
        r.dedup();
        r
    };
    let mut keys: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| (r.variant.as_str(), r.arm.as_str()))
        .collect();
    keys.sort();
    keys.dedup();
    let mut out = Vec::new();
    let mut push = |variant: &str, arm: &str, against: &str, pairs: Vec<(f64, f64)>| {
        let ratios: Vec<f64> = pairs.iter().map(|(v, b)| v / b).collect();
        let Some((ratio, lo, hi)) = mean_interval(&ratios, 0.95) else {
            return;
        };
        let cpu = pairs.iter().map(|(v, _)| v).sum::<f64>() / pairs.len() as f64;
        let half_width = (hi - lo) / 2.0 / ratio;
        out.push(Ratio {
            variant: variant.to_owned(),
            arm: arm.to_owned(),
            faults_per_req: faults(variant, arm),
            against: against.to_owned(),
            rounds: ratios.len(),
            cpu_us_per_req: round3(cpu),
            ratio: round3(ratio),
            lo: round3(lo),
            hi: round3(hi),
            half_width: round3(half_width),
            verdict: if half_width <= target {
                "decided"
            } else {
                "undecided"
            }
            .to_owned(),
        });
    };
    for &(variant, arm) in &keys {
        let against_native: Vec<(f64, f64)> = rounds
            .iter()
            .filter_map(|&k| {
                let v = cell.get(&(k, variant, arm))?;
                let native = cell.get(&(k, baseline, DEFAULT_ARM))?;
                Some((*v, *native))
            })
            .collect();
        if variant != baseline {
            push(variant, arm, baseline, against_native);
        }
        if arm != DEFAULT_ARM {
            let against_default: Vec<(f64, f64)> = rounds
                .iter()
                .filter_map(|&k| {
                    Some((
                        *cell.get(&(k, variant, arm))?,
                        *cell.get(&(k, variant, DEFAULT_ARM))?,
                    ))
                })
                .collect();
            push(variant, arm, DEFAULT_ARM, against_default);
        }
    }
    out
}

/// Mean minor faults per request of `variant` in `arm`, over its
/// measured, undisturbed cells.
fn mean_faults(rows: &[Row], variant: &str, arm: &str) -> f64 {
    let v: Vec<f64> = rows
        .iter()
        .filter(|r| r.variant == variant && r.arm == arm && r.requests > 0 && !r.disturbed)
        .map(|r| r.faults_per_req)
        .collect();
    round3(v.iter().sum::<f64>() / v.len().max(1) as f64)
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Whether every ratio is decided (the stopping rule of `bench cost`).
pub fn all_decided(ratios: &[Ratio]) -> bool {
    !ratios.is_empty() && ratios.iter().all(|r| r.verdict == "decided")
}

/// The table `summary/cost.md` holds and `bench cost` prints.
pub fn markdown(rows: &[Row], ratios: &[Ratio]) -> String {
    let target = rows.first().map_or(0.05, |r| r.target);
    let rounds = ratios.iter().map(|r| r.rounds).max().unwrap_or(0);
    let mut md = format!(
        "CPU per keep-alive `hello` request (1 connection), {rounds} paired rounds; \
         ratios are means of per-round ratios with 95% t intervals, `undecided` \
         when the interval is wider than ±{:.0}%; {} cells disturbed (steal) on \
         every attempt left out.\n\n\
         | variant | arm | against | CPU µs/req | faults/req | ratio | 95% interval | verdict |\n\
         | --- | --- | --- | ---: | ---: | ---: | --- | --- |\n",
        target * 100.0,
        rows.iter().filter(|r| r.disturbed).count()
    );
    let baseline = variants::baseline().name;
    let native: Vec<f64> = rows
        .iter()
        .filter(|r| r.variant == baseline && r.requests > 0 && !r.disturbed)
        .map(|r| r.cpu_us_per_req)
        .collect();
    if let Some((mean, lo, hi)) = mean_interval(&native, 0.95) {
        let _ = writeln!(
            md,
            "| {baseline} | {DEFAULT_ARM} | | {mean:.2} [{lo:.2}, {hi:.2}] | {:.1} | | | |",
            mean_faults(rows, baseline, DEFAULT_ARM)
        );
    }
    for r in ratios {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {:.2} | {:.1} | {:.3} | [{:.3}, {:.3}] | {} |",
            r.variant,
            r.arm,
            r.against,
            r.cpu_us_per_req,
            r.faults_per_req,
            r.ratio,
            r.lo,
            r.hi,
            r.verdict
        );
    }
    md
}

/// Write `summary/cost.csv` and `summary/cost.md` when the run has cost rows.
pub fn write(root: &Path) -> Result<()> {
    let raw = root.join(CostKey.path());
    if !raw.exists() {
        return Ok(());
    }
    let rows: Vec<Row> = results::read_csv(&raw)?;
    let ratios = compute(&rows);
    results::write_csv(&root.join(SUMMARY), &ratios)?;
    results::write_atomic(&root.join(SUMMARY_MD), markdown(&rows, &ratios).as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(round: usize, variant: &str, arm: &str, cpu: f64) -> Row {
        Row {
            round,
            position: 0,
            variant: variant.to_owned(),
            arm: arm.to_owned(),
            env: String::new(),
            requests: 1000,
            window_s: 1.0,
            cpu_ms: cpu,
            cpu_us_per_req: cpu,
            rps: 1000.0,
            faults_per_req: 0.0,
            steal_ms: 0.0,
            errors: 0,
            disturbed: false,
            target: 0.05,
        }
    }

    #[test]
    fn paired_ratios_with_intervals_and_verdicts() {
        let native = variants::baseline().name;
        let mut rows = Vec::new();
        // Native drifts from 10 to 14 µs; the variant stays at exactly 2x
        // native in its default arm, 3x in `keep`, and wobbles in `noisy`.
        for k in 0..5 {
            let n = 10.0 + k as f64;
            rows.push(row(k, native, DEFAULT_ARM, n));
            rows.push(row(k, "v", DEFAULT_ARM, 2.0 * n));
            rows.push(row(k, "v", "keep", 3.0 * n));
            rows.push(row(k, "v", "noisy", if k % 2 == 0 { n } else { 4.0 * n }));
        }
        let ratios = compute(&rows);
        let find = |arm: &str, against: &str| {
            ratios
                .iter()
                .find(|r| r.arm == arm && r.against == against)
                .unwrap_or_else(|| panic!("{arm} vs {against}: {ratios:?}"))
        };
        // Paired: the drift cancels, so the interval is a point.
        let v = find(DEFAULT_ARM, native);
        assert_eq!((v.ratio, v.lo, v.hi, v.rounds), (2.0, 2.0, 2.0, 5));
        assert_eq!(v.verdict, "decided");
        assert_eq!(find("keep", DEFAULT_ARM).ratio, 1.5);
        assert_eq!(find("noisy", native).verdict, "undecided");
        assert!(!all_decided(&ratios));
        // Native is not compared with itself.
        assert!(ratios.iter().all(|r| r.variant != native));
        let md = markdown(&rows, &ratios);
        assert!(md.contains("| v | keep | default |"), "{md}");
    }

    #[test]
    fn failed_cells_are_left_out() {
        let native = variants::baseline().name;
        let mut rows = vec![
            row(0, native, DEFAULT_ARM, 10.0),
            row(0, "v", DEFAULT_ARM, 20.0),
            row(1, native, DEFAULT_ARM, 10.0),
            row(1, "v", DEFAULT_ARM, 20.0),
        ];
        let mut bad = row(2, "v", DEFAULT_ARM, 99.0);
        bad.errors = 3;
        rows.push(row(2, native, DEFAULT_ARM, 10.0));
        rows.push(bad);
        let mut disturbed = row(3, "v", DEFAULT_ARM, 50.0);
        disturbed.disturbed = true;
        rows.push(row(3, native, DEFAULT_ARM, 10.0));
        rows.push(disturbed);
        let ratios = compute(&rows);
        assert_eq!(ratios[0].rounds, 2);
        assert_eq!(ratios[0].ratio, 2.0);
    }
}
