//! `summary/headroom.csv` from `raw/headroom/rounds.csv` (`bench headroom`):
//! the medians of our load generator's and wrk's rounds and their ratio.
//! Computed here, like every summary, so `cargo xtask report` rebuilds it.

use std::path::Path;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::rundata::HeadroomKey;
use crate::{results, stats};

/// One round of one tool: a row of `raw/headroom/rounds.csv`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Round {
    pub round: usize,
    /// `ours` or `wrk`.
    pub tool: String,
    pub connections: usize,
    pub duration_s: f64,
    pub rps: f64,
    pub errors: u64,
}

/// The row of `summary/headroom.csv`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Headroom {
    pub connections: usize,
    pub rounds: usize,
    pub ours_rps_median: f64,
    pub wrk_rps_median: f64,
    pub ratio: f64,
}

pub const SUMMARY: &str = "summary/headroom.csv";

pub fn compute(rounds: &[Round]) -> Option<Headroom> {
    let median = |tool: &str| {
        let v: Vec<f64> = rounds
            .iter()
            .filter(|r| r.tool == tool)
            .map(|r| r.rps)
            .collect();
        stats::median(&v)
    };
    let (ours, theirs) = (median("ours"), median("wrk"));
    let first = rounds.first()?;
    (ours.is_finite() && theirs > 0.0).then(|| Headroom {
        connections: first.connections,
        rounds: rounds.iter().filter(|r| r.tool == "ours").count(),
        ours_rps_median: (ours * 10.0).round() / 10.0,
        wrk_rps_median: (theirs * 10.0).round() / 10.0,
        ratio: (ours / theirs * 1000.0).round() / 1000.0,
    })
}

/// Write `summary/headroom.csv` when the run has headroom rounds.
pub fn write(root: &Path) -> Result<()> {
    let raw = root.join(HeadroomKey.path());
    if !raw.exists() {
        return Ok(());
    }
    let rounds: Vec<Round> = results::read_csv(&raw)?;
    if let Some(h) = compute(&rounds) {
        results::write_csv(&root.join(SUMMARY), &[h])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_their_ratio() {
        let r = |round, tool: &str, rps| Round {
            round,
            tool: tool.to_owned(),
            connections: 100,
            duration_s: 5.0,
            rps,
            errors: 0,
        };
        let rounds = [
            r(0, "ours", 100.0),
            r(0, "wrk", 80.0),
            r(1, "ours", 120.0),
            r(1, "wrk", 100.0),
            r(2, "ours", 110.0),
            r(2, "wrk", 90.0),
        ];
        let h = compute(&rounds).unwrap();
        assert_eq!((h.ours_rps_median, h.wrk_rps_median), (110.0, 90.0));
        assert_eq!(h.ratio, 1.222);
        assert_eq!(h.rounds, 3);
        assert!(compute(&[]).is_none());
    }
}
