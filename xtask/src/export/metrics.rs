//! The headline figures of a run, one list for `export` and `history`: per
//! variant its cold-start p50, and per (variant, workload) the peak
//! closed-loop rps, the warm p50 on a persistent connection, the CPU ms per
//! 1000 requests and, where `bench instructions` ran, the instructions per
//! request. Each comes from the report's own figures (report::figures), so
//! an exported number is the report's number.

use std::path::Path;

use anyhow::Result;

use crate::report::{figures, instructions, summary};
use crate::rundata::{Client, RunData};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    PeakRps,
    WarmP50,
    ColdP50,
    CpuMsPer1k,
    InstructionsPerRequest,
}

impl Kind {
    pub const ALL: [Kind; 5] = [
        Kind::PeakRps,
        Kind::WarmP50,
        Kind::ColdP50,
        Kind::CpuMsPer1k,
        Kind::InstructionsPerRequest,
    ];

    /// What it is, for titles and names.
    pub fn title(self) -> &'static str {
        match self {
            Kind::PeakRps => "peak rps",
            Kind::WarmP50 => "warm p50",
            Kind::ColdP50 => "cold start p50",
            Kind::CpuMsPer1k => "CPU ms per 1000 requests",
            Kind::InstructionsPerRequest => "instructions per request",
        }
    }

    pub fn unit(self) -> &'static str {
        match self {
            Kind::PeakRps => "requests/s",
            Kind::WarmP50 => "µs",
            Kind::ColdP50 => "ms",
            Kind::CpuMsPer1k => "ms",
            Kind::InstructionsPerRequest => "instructions",
        }
    }

    pub fn bigger_is_better(self) -> bool {
        matches!(self, Kind::PeakRps)
    }
}

/// One figure. `workload` is `None` for cold start (measured on `/`).
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    pub variant: String,
    pub workload: Option<String>,
    pub kind: Kind,
    pub value: f64,
    /// The spread over repeats (lowest and highest repeat), when there
    /// were several.
    pub range: Option<(f64, f64)>,
    /// Where it was measured, when that is part of the figure (the peak's
    /// connection level).
    pub note: Option<String>,
}

/// Every headline figure of the run folder `root`, in the variant table's
/// order, then the workload table's, then `Kind::ALL`'s.
pub fn of(root: &Path) -> Result<Vec<Metric>> {
    let data = RunData::load(root)?;
    let s = summary::of(&data);
    let instr = instructions::of(&data);
    Ok(collect(&s, &instr))
}

fn spread(values: Option<&Vec<f64>>) -> Option<(f64, f64)> {
    let v = values.filter(|v| v.len() > 1)?;
    let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    Some((lo, hi))
}

pub fn collect(s: &summary::Summary, instr: &[instructions::InstructionsRow]) -> Vec<Metric> {
    let variants = crate::report::plots::ordered_variants(
        s.cold
            .iter()
            .map(|r| r.variant.as_str())
            .chain(s.warm.iter().map(|r| r.variant.as_str()))
            .chain(s.throughput.iter().map(|r| r.variant.as_str()))
            .chain(instr.iter().map(|r| r.variant.as_str())),
    );
    let workloads = crate::report::plots::ordered_workloads(
        s.warm
            .iter()
            .map(|r| r.workload.as_str())
            .chain(s.throughput.iter().map(|r| r.workload.as_str()))
            .chain(instr.iter().map(|r| r.workload.as_str())),
    );
    let mut out = Vec::new();
    for v in &variants {
        if let Some(c) = figures::cold(s, v) {
            out.push(Metric {
                variant: v.clone(),
                workload: None,
                kind: Kind::ColdP50,
                value: c.p50_ms,
                range: spread(s.cold_by_repeat.get(v.as_str())),
                note: None,
            });
        }
        for w in &workloads {
            let mut push = |kind, value: f64, range, note| {
                if value.is_finite() {
                    out.push(Metric {
                        variant: v.clone(),
                        workload: Some(w.clone()),
                        kind,
                        value,
                        range,
                        note,
                    });
                }
            };
            let peak = figures::points(&s.throughput, v, w)
                .into_iter()
                .max_by(|a, b| a.mean.total_cmp(&b.mean));
            if let Some(p) = peak {
                let range = (p.repeats > 1).then_some((p.min, p.max));
                let note = Some(format!("at {} connections", p.connections));
                push(Kind::PeakRps, p.mean, range, note);
            }
            if let Some(r) = figures::warm(s, v, w, Client::Persistent) {
                let key = (v.clone(), w.clone(), Client::Persistent);
                push(
                    Kind::WarmP50,
                    r.p50_us as f64,
                    spread(s.warm_by_repeat.get(&key)),
                    None,
                );
            }
            if let Some(u) = figures::usage(&s.throughput, v, w) {
                push(Kind::CpuMsPer1k, u.cpu_ms_per_1k, None, None);
            }
            if let Some(r) = instr.iter().find(|r| &r.variant == v && &r.workload == w) {
                push(
                    Kind::InstructionsPerRequest,
                    r.instructions_per_request,
                    None,
                    None,
                );
            }
        }
    }
    out
}
