//! The study's five hypotheses (docs/study.md, "Goals and hypotheses"),
//! each judged on a run's own numbers as holds / fails / inconclusive / not
//! measured. The rules are the table [`HYPOTHESES`]: the study's words, the
//! rule as the report states it, and the function that applies it.
//!
//! Every ratio carries a 95% interval from the repeats, by the method
//! `compare` uses (Welch's interval on the log values: a ratio of geometric
//! means). A rule holds when the whole interval is on its side of the
//! threshold, fails when the whole interval is on the other side, and is
//! inconclusive when the interval straddles it. With one repeat there is no
//! interval and the point estimate decides (the evidence says so).
//!
//! Throughput comparisons rest on what measured the gateways: requests/s
//! when both peak cells were gateway-bound, otherwise CPU ms per 1000
//! requests (a ratio of costs, which a client-bound cell still measures
//! right). The evidence says which.
//!
//! Which variant plays which part (baseline, container, in-process runtime,
//! process per request) comes from the variant table's roles.

use super::figures;
use super::format;
use super::summary::{Bound, Summary};
use crate::rundata::Client;
use crate::stats::interval::{welch_log_ratio, Interval};
use crate::variants::{self, Role};

/// Confidence of every interval in the hypotheses.
pub const CONFIDENCE: f64 = 0.95;
/// H1: "within 3%": native may trail the best other variant by this much
/// and still count as the baseline (run-to-run noise on a shared machine).
pub const H1_TOLERANCE: f64 = 0.03;
/// H2: Docker's cold-start p50 at least this many times native's.
pub const H2_DOCKER_FACTOR: f64 = 2.0;
/// H3: embedded warm p50 at most this many µs above native's (the study's
/// own "within ~1 ms").
pub const H3_MAX_EXTRA_US: f64 = 1000.0;
/// H4: a per-request-process variant's hello throughput below this share of native's.
pub const H4_CEILING: f64 = 0.10;
/// H5: every other variant's compute throughput at least this share of native's.
pub const H5_PARITY: f64 = 0.90;

/// A hypothesis and how this project judges it.
pub struct Hypothesis {
    pub id: &'static str,
    /// The study's words.
    pub claim: &'static str,
    /// The rule applied, as stated in the report.
    pub rule: &'static str,
    pub judge: fn(&Summary) -> Judgement,
}

pub const HYPOTHESES: [Hypothesis; 5] = [
    Hypothesis {
        id: "H1",
        claim: "Native execution is the lowest-latency, highest-throughput baseline.",
        rule: "native_local's peak `hello` throughput is at least that of every other study \
               variant measured, and its warm `hello` p50 (persistent client) at most theirs, \
               each within a 3% tolerance (the variants beyond the study are reported, not \
               judged).",
        judge: h1,
    },
    Hypothesis {
        id: "H2",
        claim: "Docker cold-start will be noticeably slower than native.",
        rule: "native_docker cold-start p50 >= 2x native_local cold-start p50.",
        judge: h2,
    },
    Hypothesis {
        id: "H3",
        claim: "Embedded Wasmtime should approach native warm-latency (no fork).",
        rule: "wasm_host_wasmtime_embedded warm `hello` p50 (persistent client) exceeds \
               native_local's by at most 1 ms (the study's \"within ~1 ms\").",
        judge: h3,
    },
    Hypothesis {
        id: "H4",
        claim: "CLI-based Wasm variants (`wasmtime`, `wasmedge`) will hit throughput ceilings \
                due to per-request process-spawn overhead.",
        rule: "each measured study variant that starts a runtime process per request \
               (wasm_host_wasmtime, wasm_host_cli) has a peak `hello` throughput below 10% of \
               native_local's.",
        judge: h4,
    },
    Hypothesis {
        id: "H5",
        claim: "For CPU-bound workloads the runtime invocation overhead will be negligible \
                compared to computation cost.",
        rule: "each measured study variant without a process per request (native_docker, \
               wasm_host_wasmtime_embedded) keeps at least 90% of native_local's peak \
               `compute` throughput, and of its `compute_wasm` throughput where measured (the \
               chain computed inside the module); per-request-process variants are reported, \
               not judged.",
        judge: h5,
    },
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Holds,
    Fails,
    /// The interval straddles the rule's threshold.
    Inconclusive,
    NotMeasured,
}

impl Verdict {
    pub fn text(self) -> &'static str {
        match self {
            Verdict::Holds => "holds",
            Verdict::Fails => "fails",
            Verdict::Inconclusive => "inconclusive",
            Verdict::NotMeasured => "not measured",
        }
    }

    /// "And" over parts: any failure fails; then anything inconclusive;
    /// then anything unmeasured leaves the whole unmeasured.
    fn and(self, other: Verdict) -> Verdict {
        use Verdict::*;
        match (self, other) {
            (Fails, _) | (_, Fails) => Fails,
            (Inconclusive, _) | (_, Inconclusive) => Inconclusive,
            (NotMeasured, _) | (_, NotMeasured) => NotMeasured,
            _ => Holds,
        }
    }

    fn all(parts: impl IntoIterator<Item = Verdict>) -> Verdict {
        let mut parts = parts.into_iter().peekable();
        if parts.peek().is_none() {
            return Verdict::NotMeasured;
        }
        parts.fold(Verdict::Holds, Verdict::and)
    }
}

/// A verdict and the numbers it rests on.
#[derive(Debug, Clone, PartialEq)]
pub struct Judgement {
    pub verdict: Verdict,
    pub evidence: Vec<String>,
}

/// Every hypothesis judged on `s`, in order.
pub fn judge_all(s: &Summary) -> Vec<(&'static Hypothesis, Judgement)> {
    HYPOTHESES.iter().map(|h| (h, (h.judge)(s))).collect()
}

/// An estimate with its interval (`None` with one repeat a side).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Estimate {
    point: f64,
    interval: Option<Interval>,
}

impl Estimate {
    /// `head / base` as a ratio of geometric means.
    fn ratio(base: &[f64], head: &[f64]) -> Option<Estimate> {
        let gm = |v: &[f64]| crate::stats::interval::geometric_mean(v);
        if base.is_empty() || head.is_empty() {
            return None;
        }
        let point = gm(head) / gm(base);
        point.is_finite().then(|| Estimate {
            point,
            interval: welch_log_ratio(base, head, CONFIDENCE),
        })
    }

    fn bounds(&self) -> (f64, f64) {
        self.interval
            .map_or((self.point, self.point), |i| (i.lo, i.hi))
    }

    /// The rule "value >= threshold".
    fn at_least(&self, threshold: f64) -> Verdict {
        let (lo, hi) = self.bounds();
        if lo >= threshold {
            Verdict::Holds
        } else if hi < threshold {
            Verdict::Fails
        } else {
            Verdict::Inconclusive
        }
    }

    /// The rule "value <= threshold".
    fn at_most(&self, threshold: f64) -> Verdict {
        let (lo, hi) = self.bounds();
        if hi <= threshold {
            Verdict::Holds
        } else if lo > threshold {
            Verdict::Fails
        } else {
            Verdict::Inconclusive
        }
    }

    /// The rule "value < threshold".
    fn below(&self, threshold: f64) -> Verdict {
        let (lo, hi) = self.bounds();
        if hi < threshold {
            Verdict::Holds
        } else if lo >= threshold {
            Verdict::Fails
        } else {
            Verdict::Inconclusive
        }
    }

    /// `1.23x [1.10x, 1.37x]`, formatted by `f`.
    fn text(&self, f: fn(f64) -> String) -> String {
        match self.interval {
            Some(i) => format!("{} [{}, {}]", f(self.point), f(i.lo), f(i.hi)),
            None => format!("{} (one repeat: no interval)", f(self.point)),
        }
    }
}

/// Throughput of `a` relative to `b` on `workload` (above 1: `a` serves
/// more), on the basis that measured both gateways.
struct Relative {
    estimate: Estimate,
    /// What the ratio compares, naming the line: "peak requests/s", or
    /// "requests per CPU second" (the inverse ratio of CPU per request).
    measure: &'static str,
    /// What the ratio rests on, for the evidence.
    basis: String,
}

fn relative(s: &Summary, a: &str, b: &str, workload: &str) -> Option<Relative> {
    let pa = figures::peak_point(s, a, workload)?;
    let pb = figures::peak_point(s, b, workload)?;
    if pa.bound == Bound::Gateway && pb.bound == Bound::Gateway {
        let estimate = Estimate::ratio(&pb.rps, &pa.rps)?;
        return Some(Relative {
            estimate,
            measure: "peak requests/s",
            basis: format!(
                "peak rps, both gateway-bound: {a} {} (@{}), {b} {} (@{})",
                format::rps(pa.mean),
                pa.connections,
                format::rps(pb.mean),
                pb.connections
            ),
        });
    }
    // A cell that measured the client says nothing about the gateway's rps,
    // but its CPU per request is still the gateway's own cost.
    let ca = figures::cpu_per_1k_by_repeat(&s.throughput, a, workload);
    let cb = figures::cpu_per_1k_by_repeat(&s.throughput, b, workload);
    let estimate = Estimate::ratio(&ca, &cb)?;
    let mean = |v: &[f64]| crate::stats::mean(v);
    Some(Relative {
        estimate,
        measure: "requests per CPU second",
        basis: format!(
            "CPU ms per 1000 requests, as a peak cell was not gateway-bound ({a} {}, {b} {}): \
             {a} {}, {b} {}",
            pa.bound.name(),
            pb.bound.name(),
            format::ms(mean(&ca)),
            format::ms(mean(&cb))
        ),
    })
}

fn native() -> &'static str {
    variants::baseline().name
}

fn role_names(role: Role) -> Vec<&'static str> {
    variants::study_variants(role).map(|v| v.name).collect()
}

/// The other variants of the study (`study`: judged) or beyond it (reported,
/// not judged: the hypotheses are the study's claims about its systems).
fn judged_then_reported() -> impl Iterator<Item = (bool, &'static str)> {
    others(true)
        .into_iter()
        .map(|v| (true, v))
        .chain(others(false).into_iter().map(|v| (false, v)))
}

fn others(study: bool) -> Vec<&'static str> {
    variants::VARIANTS
        .iter()
        .filter(|v| v.name != native() && v.study == study)
        .map(|v| v.name)
        .collect()
}

/// H1, throughput half: native against every other variant.
fn h1_throughput(s: &Summary) -> (Verdict, Vec<String>) {
    let n = native();
    let mut parts = Vec::new();
    let mut evidence = Vec::new();
    for (judged, other) in judged_then_reported() {
        if let Some(r) = relative(s, n, other, "hello") {
            if judged {
                parts.push(r.estimate.at_least(1.0 - H1_TOLERANCE));
            }
            evidence.push(format!(
                "{}`hello` {} {n} / {other} = {} ({})",
                if judged { "" } else { "not judged: " },
                r.measure,
                r.estimate.text(format::times),
                r.basis
            ));
        }
    }
    if parts.is_empty() {
        return (
            Verdict::NotMeasured,
            vec!["`hello` throughput: native_local and another variant not both measured".into()],
        );
    }
    (Verdict::all(parts), evidence)
}

fn warm_p50s(s: &Summary, variant: &str) -> Option<Vec<f64>> {
    s.warm_by_repeat
        .get(&(variant.into(), "hello".into(), Client::Persistent))
        .cloned()
        .or_else(|| {
            // Rows built without repeats (tests, old runs): one value.
            figures::warm(s, variant, "hello", Client::Persistent).map(|r| vec![r.p50_us as f64])
        })
        .filter(|v| !v.is_empty())
}

/// H1, latency half: native's warm hello p50 against every other's.
fn h1_latency(s: &Summary) -> (Verdict, Vec<String>) {
    let n = native();
    let Some(base) = warm_p50s(s, n) else {
        return (
            Verdict::NotMeasured,
            vec!["warm `hello` p50: native_local not measured".into()],
        );
    };
    let mut parts = Vec::new();
    let mut evidence = Vec::new();
    for (judged, other) in judged_then_reported() {
        let Some(theirs) = warm_p50s(s, other) else {
            continue;
        };
        if let Some(e) = Estimate::ratio(&theirs, &base) {
            if judged {
                parts.push(e.at_most(1.0 + H1_TOLERANCE));
            }
            evidence.push(format!(
                "{}warm `hello` p50 {n} / {other} = {} ({} vs {} µs)",
                if judged { "" } else { "not judged: " },
                e.text(format::times),
                format::us(crate::stats::median(&base) as u64),
                format::us(crate::stats::median(&theirs) as u64)
            ));
        }
    }
    if parts.is_empty() {
        return (
            Verdict::NotMeasured,
            vec!["warm `hello` p50: no other variant to compare".into()],
        );
    }
    (Verdict::all(parts), evidence)
}

pub fn h1(s: &Summary) -> Judgement {
    let (tv, mut te) = h1_throughput(s);
    let (lv, le) = h1_latency(s);
    te.extend(le);
    Judgement {
        verdict: tv.and(lv),
        evidence: te,
    }
}

pub fn h2(s: &Summary) -> Judgement {
    let n = native();
    let cold = |v: &str| {
        s.cold_by_repeat
            .get(v)
            .cloned()
            .or_else(|| figures::cold(s, v).map(|r| vec![r.p50_ms]))
            .filter(|v| !v.is_empty())
    };
    let mut parts = Vec::new();
    let mut evidence = Vec::new();
    for docker in role_names(Role::Container) {
        let (Some(base), Some(head)) = (cold(n), cold(docker)) else {
            evidence.push(format!("cold p50: {n} or {docker} not measured"));
            continue;
        };
        if let Some(e) = Estimate::ratio(&base, &head) {
            parts.push(e.at_least(H2_DOCKER_FACTOR));
            evidence.push(format!(
                "cold p50 {docker} / {n} = {} ({} vs {} ms, median of each repeat)",
                e.text(format::times),
                format::ms(crate::stats::median(&head)),
                format::ms(crate::stats::median(&base))
            ));
        }
    }
    Judgement {
        verdict: Verdict::all(parts),
        evidence,
    }
}

/// Welch's interval on `mean(head) - mean(base)` (µs), or the point
/// difference with fewer than 2 values a side.
fn difference(base: &[f64], head: &[f64]) -> Estimate {
    let mean = |v: &[f64]| crate::stats::mean(v);
    let var = |v: &[f64]| {
        let m = mean(v);
        v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (v.len() as f64 - 1.0)
    };
    let point = mean(head) - mean(base);
    if base.len() < 2 || head.len() < 2 {
        return Estimate {
            point,
            interval: None,
        };
    }
    let (sb, sh) = (var(base) / base.len() as f64, var(head) / head.len() as f64);
    let se2 = sb + sh;
    let half = if se2 > 0.0 {
        let df =
            se2 * se2 / (sb * sb / (base.len() as f64 - 1.0) + sh * sh / (head.len() as f64 - 1.0));
        crate::stats::interval::student_t_quantile(0.5 + CONFIDENCE / 2.0, df) * se2.sqrt()
    } else {
        0.0
    };
    Estimate {
        point,
        interval: Some(Interval {
            ratio: point,
            lo: point - half,
            hi: point + half,
        }),
    }
}

pub fn h3(s: &Summary) -> Judgement {
    let n = native();
    let mut parts = Vec::new();
    let mut evidence = Vec::new();
    for embedded in role_names(Role::InProcess) {
        let (Some(base), Some(head)) = (warm_p50s(s, n), warm_p50s(s, embedded)) else {
            evidence.push(format!(
                "warm `hello` p50 (persistent): {n} or {embedded} not measured"
            ));
            continue;
        };
        let e = difference(&base, &head);
        parts.push(e.at_most(H3_MAX_EXTRA_US));
        evidence.push(format!(
            "warm `hello` p50 (persistent) {embedded} - {n} = {} µs ({} vs {} µs)",
            e.text(|us| format!("{us:+.0}")),
            format::us(crate::stats::mean(&head) as u64),
            format::us(crate::stats::mean(&base) as u64)
        ));
    }
    Judgement {
        verdict: Verdict::all(parts),
        evidence,
    }
}

pub fn h4(s: &Summary) -> Judgement {
    let n = native();
    let mut parts = Vec::new();
    let mut evidence = Vec::new();
    for cli in role_names(Role::ProcessPerRequest) {
        match relative(s, cli, n, "hello") {
            Some(r) => {
                parts.push(r.estimate.below(H4_CEILING));
                evidence.push(format!(
                    "`hello` {} {cli} / {n} = {} ({})",
                    r.measure,
                    r.estimate.text(format::pct),
                    r.basis
                ));
            }
            None => evidence.push(format!("{cli}: not measured")),
        }
    }
    Judgement {
        verdict: Verdict::all(parts),
        evidence,
    }
}

pub fn h5(s: &Summary) -> Judgement {
    let n = native();
    let mut parts = Vec::new();
    let mut evidence = Vec::new();
    let judged: Vec<&str> = role_names(Role::Container)
        .into_iter()
        .chain(role_names(Role::InProcess))
        .collect();
    for workload in ["compute", "compute_wasm"] {
        for v in &judged {
            if let Some(r) = relative(s, v, n, workload) {
                parts.push(r.estimate.at_least(H5_PARITY));
                evidence.push(format!(
                    "`{workload}` {} {v} / {n} = {} ({})",
                    r.measure,
                    r.estimate.text(format::pct),
                    r.basis
                ));
            }
        }
        for cli in role_names(Role::ProcessPerRequest) {
            if let Some(r) = relative(s, cli, n, workload) {
                evidence.push(format!(
                    "not judged: `{workload}` {} {cli} / {n} = {} ({})",
                    r.measure,
                    r.estimate.text(format::pct),
                    r.basis
                ));
            }
        }
    }
    Judgement {
        verdict: Verdict::all(parts),
        evidence,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stated_rules_match_the_thresholds() {
        let rule = |id: &str| HYPOTHESES.iter().find(|h| h.id == id).unwrap().rule;
        assert!(rule("H1").contains(&format!("{:.0}%", H1_TOLERANCE * 100.0)));
        assert!(rule("H2").contains(&format!(">= {H2_DOCKER_FACTOR:.0}x")));
        assert!(rule("H3").contains(&format!("{:.0} ms", H3_MAX_EXTRA_US / 1000.0)));
        assert!(rule("H4").contains(&format!("{:.0}%", H4_CEILING * 100.0)));
        assert!(rule("H5").contains(&format!("{:.0}%", H5_PARITY * 100.0)));
        // The variants the rules name are the ones the roles give.
        assert!(rule("H1").contains(native()));
        for name in role_names(Role::ProcessPerRequest) {
            assert!(rule("H4").contains(name), "{name}");
        }
        for name in role_names(Role::Container)
            .into_iter()
            .chain(role_names(Role::InProcess))
        {
            assert!(rule("H5").contains(name), "{name}");
        }
    }

    #[test]
    fn verdicts_combine() {
        use Verdict::*;
        assert_eq!(Holds.and(Holds), Holds);
        assert_eq!(Holds.and(NotMeasured), NotMeasured);
        assert_eq!(Inconclusive.and(NotMeasured), Inconclusive);
        assert_eq!(NotMeasured.and(Fails), Fails);
        assert_eq!(Verdict::all([]), NotMeasured);
    }

    #[test]
    fn an_interval_across_the_threshold_is_inconclusive() {
        let e = |lo, hi| Estimate {
            point: (lo + hi) / 2.0,
            interval: Some(Interval {
                ratio: (lo + hi) / 2.0,
                lo,
                hi,
            }),
        };
        assert_eq!(e(0.95, 1.2).at_least(0.9), Verdict::Holds);
        assert_eq!(e(0.5, 0.8).at_least(0.9), Verdict::Fails);
        assert_eq!(e(0.85, 1.2).at_least(0.9), Verdict::Inconclusive);
        assert_eq!(e(0.01, 0.05).at_most(0.1), Verdict::Holds);
        assert_eq!(e(0.05, 0.2).at_most(0.1), Verdict::Inconclusive);
        // Three repeats a side, clearly apart: the interval decides.
        let r = Estimate::ratio(&[100.0, 102.0, 98.0], &[50.0, 51.0, 49.0]).unwrap();
        assert!((r.point - 0.5).abs() < 0.01);
        assert_eq!(r.at_most(0.6), Verdict::Holds);
        // Noisy: a similar point, an interval past the threshold.
        let r = Estimate::ratio(&[100.0, 60.0, 140.0], &[30.0, 60.0, 80.0]).unwrap();
        assert_eq!(r.at_most(0.6), Verdict::Inconclusive);
    }

    #[test]
    fn a_difference_has_its_own_interval() {
        let d = difference(&[100.0, 110.0, 90.0], &[300.0, 310.0, 290.0]);
        assert!((d.point - 200.0).abs() < 1e-9);
        let i = d.interval.unwrap();
        assert!(i.lo < 200.0 && i.hi > 200.0 && i.hi < 1000.0, "{i:?}");
        assert_eq!(d.at_most(1000.0), Verdict::Holds);
        assert!(difference(&[1.0], &[2.0]).interval.is_none());
    }
}
