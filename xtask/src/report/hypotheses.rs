//! The study's five hypotheses (docs/study.md, "Goals and hypotheses"),
//! each judged on a run's own numbers as holds / does not hold / not
//! measured. The rules are the table [`HYPOTHESES`]: the study's words, the
//! rule as the report states it, and the function that applies it. The
//! thresholds are the constants just below; a unit test keeps the stated
//! rules in step with them.

use super::figures;
use super::format;
use super::summary::Summary;

/// H1: "within 3%": native may trail the best other variant by this much
/// and still count as the baseline (run-to-run noise on a shared machine).
pub const H1_TOLERANCE: f64 = 0.03;
/// H2: Docker's cold-start p50 at least this many times native's.
pub const H2_DOCKER_FACTOR: f64 = 2.0;
/// H3: embedded warm p50 at most this many µs above native's (the study's
/// own "within ~1 ms").
pub const H3_MAX_EXTRA_US: f64 = 1000.0;
/// H4: a CLI variant's peak hello rps below this share of native's.
pub const H4_CEILING: f64 = 0.10;
/// H5: every non-CLI variant's peak compute rps at least this share of native's.
pub const H5_PARITY: f64 = 0.90;

pub const NATIVE: &str = "native_local";
pub const DOCKER: &str = "native_docker";
pub const EMBEDDED: &str = "wasm_host_wasmtime_embedded";
/// The variants that spawn a runtime process per request.
pub const CLI: [&str; 2] = ["wasm_host_wasmtime", "wasm_host_cli"];

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
        rule: "native_local has the highest peak `hello` rps and the lowest warm `hello` p50 \
               (persistent client) among the variants measured, each within a 3% tolerance.",
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
        claim: "CLI-based Wasm variants will hit throughput ceilings due to per-request \
                process-spawn overhead.",
        rule: "each measured CLI variant (wasm_host_wasmtime, wasm_host_cli) has a peak `hello` \
               rps below 10% of native_local's.",
        judge: h4,
    },
    Hypothesis {
        id: "H5",
        claim: "For CPU-bound workloads the runtime invocation overhead will be negligible \
                compared to computation cost.",
        rule: "each measured non-CLI variant (native_docker, wasm_host_wasmtime_embedded) has a \
               peak `compute` rps of at least 90% of native_local's (CLI variants' ratios \
               reported, not judged).",
        judge: h5,
    },
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Holds,
    DoesNotHold,
    NotMeasured,
}

impl Verdict {
    pub fn text(self) -> &'static str {
        match self {
            Verdict::Holds => "holds",
            Verdict::DoesNotHold => "does not hold",
            Verdict::NotMeasured => "not measured",
        }
    }

    /// Three-valued "and": any failure fails; otherwise anything unmeasured
    /// leaves the whole unmeasured.
    fn and(self, other: Verdict) -> Verdict {
        use Verdict::*;
        match (self, other) {
            (DoesNotHold, _) | (_, DoesNotHold) => DoesNotHold,
            (NotMeasured, _) | (_, NotMeasured) => NotMeasured,
            _ => Holds,
        }
    }

    fn of(ok: bool) -> Verdict {
        if ok {
            Verdict::Holds
        } else {
            Verdict::DoesNotHold
        }
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

fn variant_names() -> impl Iterator<Item = &'static str> {
    crate::variants::VARIANTS.iter().map(|v| v.name)
}

fn peak_text(s: &Summary, variant: &str, workload: &str) -> Option<String> {
    figures::peak(s, variant, workload)
        .map(|(rps, c)| format!("{variant} {} rps (@{c})", format::rps(rps)))
}

/// H1, throughput half: native's peak hello rps against the best other's.
fn h1_throughput(s: &Summary) -> (Verdict, String) {
    let Some((native, _)) = figures::peak(s, NATIVE, "hello") else {
        return (
            Verdict::NotMeasured,
            "peak `hello` rps: native_local not measured".to_owned(),
        );
    };
    let others: Vec<(&str, f64)> = variant_names()
        .filter(|v| *v != NATIVE)
        .filter_map(|v| figures::peak(s, v, "hello").map(|(rps, _)| (v, rps)))
        .collect();
    let listed: Vec<String> = variant_names()
        .filter_map(|v| peak_text(s, v, "hello"))
        .collect();
    let Some(&(best_name, best)) = others.iter().max_by(|a, b| a.1.total_cmp(&b.1)) else {
        return (
            Verdict::NotMeasured,
            format!(
                "peak `hello` rps: {}; no other variant to compare",
                listed.join(", ")
            ),
        );
    };
    let ok = native >= best * (1.0 - H1_TOLERANCE);
    (
        Verdict::of(ok),
        format!(
            "peak `hello` rps: {}; native_local / best other ({best_name}) = {}",
            listed.join(", "),
            format::times(native / best)
        ),
    )
}

/// H1, latency half: native's warm hello p50 against the lowest other's.
fn h1_latency(s: &Summary) -> (Verdict, String) {
    let p50 = |v: &str| figures::warm(s, v, "hello", "persistent").map(|r| r.p50_us);
    let Some(native) = p50(NATIVE) else {
        return (
            Verdict::NotMeasured,
            "warm `hello` p50: native_local not measured".to_owned(),
        );
    };
    let listed: Vec<String> = variant_names()
        .filter_map(|v| p50(v).map(|us| format!("{v} {} µs", format::us(us))))
        .collect();
    let others: Vec<(&str, u64)> = variant_names()
        .filter(|v| *v != NATIVE)
        .filter_map(|v| p50(v).map(|us| (v, us)))
        .collect();
    let Some(&(best_name, best)) = others.iter().min_by_key(|o| o.1) else {
        return (
            Verdict::NotMeasured,
            format!(
                "warm `hello` p50: {}; no other variant to compare",
                listed.join(", ")
            ),
        );
    };
    let ok = native as f64 <= best as f64 * (1.0 + H1_TOLERANCE);
    (
        Verdict::of(ok),
        format!(
            "warm `hello` p50 (persistent): {}; native_local / lowest other ({best_name}) = {}",
            listed.join(", "),
            format::times(native as f64 / best as f64)
        ),
    )
}

pub fn h1(s: &Summary) -> Judgement {
    let (tv, te) = h1_throughput(s);
    let (lv, le) = h1_latency(s);
    Judgement {
        verdict: tv.and(lv),
        evidence: vec![te, le],
    }
}

pub fn h2(s: &Summary) -> Judgement {
    let native = figures::cold(s, NATIVE).map(|r| r.p50_ms);
    let docker = figures::cold(s, DOCKER).map(|r| r.p50_ms);
    match (native, docker) {
        (Some(n), Some(d)) if n > 0.0 => {
            let ratio = d / n;
            Judgement {
                verdict: Verdict::of(ratio >= H2_DOCKER_FACTOR),
                evidence: vec![format!(
                    "cold p50: native_docker {} ms, native_local {} ms; ratio {}",
                    format::ms(d),
                    format::ms(n),
                    format::times(ratio)
                )],
            }
        }
        _ => Judgement {
            verdict: Verdict::NotMeasured,
            evidence: vec![format!(
                "cold p50: native_local {}, native_docker {}",
                native.map_or("not measured".to_owned(), |v| format!(
                    "{} ms",
                    format::ms(v)
                )),
                docker.map_or("not measured".to_owned(), |v| format!(
                    "{} ms",
                    format::ms(v)
                )),
            )],
        },
    }
}

pub fn h3(s: &Summary) -> Judgement {
    let p50 = |v: &str| figures::warm(s, v, "hello", "persistent").map(|r| r.p50_us);
    match (p50(NATIVE), p50(EMBEDDED)) {
        (Some(n), Some(e)) if n > 0 => {
            let extra = e as f64 - n as f64;
            Judgement {
                verdict: Verdict::of(extra <= H3_MAX_EXTRA_US),
                evidence: vec![format!(
                    "warm `hello` p50 (persistent): wasm_host_wasmtime_embedded {} µs, \
                     native_local {} µs; difference {} µs ({} ms), ratio {}",
                    format::us(e),
                    format::us(n),
                    if extra < 0.0 {
                        format!("-{}", format::us((-extra) as u64))
                    } else {
                        format!("+{}", format::us(extra as u64))
                    },
                    format::ms(extra / 1000.0),
                    format::times(e as f64 / n as f64)
                )],
            }
        }
        (n, e) => {
            Judgement {
                verdict: Verdict::NotMeasured,
                evidence: vec![format!(
                "warm `hello` p50 (persistent): native_local {}, wasm_host_wasmtime_embedded {}",
                n.map_or("not measured".to_owned(), |v| format!("{} µs", format::us(v))),
                e.map_or("not measured".to_owned(), |v| format!("{} µs", format::us(v))),
            )],
            }
        }
    }
}

/// Each listed variant's peak rps on `workload` as a share of native's:
/// (variant, peak, share), for those measured.
fn shares(s: &Summary, workload: &str, variants: &[&str], native: f64) -> Vec<(String, f64, f64)> {
    variants
        .iter()
        .filter_map(|v| {
            figures::peak(s, v, workload).map(|(rps, _)| (v.to_string(), rps, rps / native))
        })
        .collect()
}

fn share_text(list: &[(String, f64, f64)]) -> String {
    list.iter()
        .map(|(v, rps, share)| {
            format!(
                "{v} {} rps = {} of native",
                format::rps(*rps),
                format::pct(*share)
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// `; x not measured` for the listed variants without a peak on `workload`.
fn unmeasured(s: &Summary, workload: &str, variants: &[&str]) -> String {
    variants
        .iter()
        .filter(|v| figures::peak(s, v, workload).is_none())
        .map(|v| format!("; {v} not measured"))
        .collect()
}

pub fn h4(s: &Summary) -> Judgement {
    let Some((native, c)) = figures::peak(s, NATIVE, "hello").filter(|(r, _)| *r > 0.0) else {
        return Judgement {
            verdict: Verdict::NotMeasured,
            evidence: vec!["peak `hello` rps: native_local not measured".to_owned()],
        };
    };
    let list = shares(s, "hello", &CLI, native);
    let head = format!(
        "peak `hello` rps: native_local {} (@{c})",
        format::rps(native)
    );
    if list.is_empty() {
        return Judgement {
            verdict: Verdict::NotMeasured,
            evidence: vec![format!("{head}; no CLI variant measured")],
        };
    }
    let ok = list.iter().all(|(_, _, share)| *share < H4_CEILING);
    Judgement {
        verdict: Verdict::of(ok),
        evidence: vec![format!(
            "{head}; {}{}",
            share_text(&list),
            unmeasured(s, "hello", &CLI)
        )],
    }
}

pub fn h5(s: &Summary) -> Judgement {
    let Some((native, c)) = figures::peak(s, NATIVE, "compute").filter(|(r, _)| *r > 0.0) else {
        return Judgement {
            verdict: Verdict::NotMeasured,
            evidence: vec!["peak `compute` rps: native_local not measured".to_owned()],
        };
    };
    let judged = shares(s, "compute", &[DOCKER, EMBEDDED], native);
    let reported = shares(s, "compute", &CLI, native);
    let mut evidence = vec![format!(
        "peak `compute` rps: native_local {} (@{c}); {}{}",
        format::rps(native),
        if judged.is_empty() {
            "no non-CLI variant measured".to_owned()
        } else {
            share_text(&judged)
        },
        unmeasured(s, "compute", &[DOCKER, EMBEDDED])
    )];
    if !reported.is_empty() {
        evidence.push(format!(
            "CLI variants (not judged): {}",
            share_text(&reported)
        ));
    }
    let verdict = if judged.is_empty() {
        Verdict::NotMeasured
    } else {
        Verdict::of(judged.iter().all(|(_, _, share)| *share >= H5_PARITY))
    };
    Judgement { verdict, evidence }
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
        for name in CLI.iter().chain([&NATIVE, &DOCKER, &EMBEDDED]) {
            assert!(crate::variants::find(name).is_ok(), "{name} is a variant");
        }
    }

    #[test]
    fn three_valued_and() {
        use Verdict::*;
        assert_eq!(Holds.and(Holds), Holds);
        assert_eq!(Holds.and(NotMeasured), NotMeasured);
        assert_eq!(NotMeasured.and(DoesNotHold), DoesNotHold);
    }
}
