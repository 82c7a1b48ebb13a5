//! The report's first screen: per variant, what a `hello` request costs and
//! how fast the variant starts and answers, each figure with its 95%
//! interval from the repeats and marked **decided** (the interval lies
//! within ±5% of the figure) or **undecided** (wider: not a result yet);
//! then the study's own published figures beside this run's, and its five
//! conclusions as this run judges them.

use super::document::{md, text, Document, Inline, Span, Table};
use super::hypotheses::{Hypothesis, Judgement, CONFIDENCE};
use super::plots::Rendered;
use super::summary::{Bound, Summary};
use super::{figures, format};
use crate::rundata::Client;
use crate::stats::interval::{mean_interval, welch_log_ratio};
use crate::variants;

/// A figure is decided when its 95% interval lies within this share of it.
pub const DECIDED_WITHIN: f64 = 0.05;

pub const HEADING: &str = "The answer";

/// A figure and its 95% interval; `lo`/`hi` are NaN with fewer than two
/// repeats (then it cannot be decided).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Figure {
    pub value: f64,
    pub lo: f64,
    pub hi: f64,
}

impl Figure {
    /// The mean of the repeats and Student's t interval of that mean.
    pub fn mean(values: &[f64]) -> Option<Figure> {
        let values: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        if values.is_empty() {
            return None;
        }
        Some(match mean_interval(&values, CONFIDENCE) {
            Some((value, lo, hi)) => Figure { value, lo, hi },
            None => Figure {
                value: values[0],
                lo: f64::NAN,
                hi: f64::NAN,
            },
        })
    }

    /// `other / base` as a ratio of geometric means, Welch's interval on
    /// the logs (as the hypotheses and `compare`).
    pub fn ratio(base: &[f64], other: &[f64]) -> Option<Figure> {
        let gm = crate::stats::interval::geometric_mean;
        if base.is_empty() || other.is_empty() {
            return None;
        }
        let value = gm(other) / gm(base);
        if !value.is_finite() {
            return None;
        }
        let (lo, hi) =
            welch_log_ratio(base, other, CONFIDENCE).map_or((f64::NAN, f64::NAN), |i| (i.lo, i.hi));
        Some(Figure { value, lo, hi })
    }

    /// The whole interval within ±5% of the figure.
    pub fn decided(&self) -> bool {
        self.value > 0.0
            && self.lo > 0.0
            && self.hi / self.value <= 1.0 + DECIDED_WITHIN
            && self.value / self.lo <= 1.0 + DECIDED_WITHIN
    }

    fn word(&self) -> &'static str {
        if self.decided() {
            "decided"
        } else {
            "undecided"
        }
    }

    /// `value [lo, hi] decided`, each number by `f`.
    fn show(&self, f: impl Fn(f64) -> String) -> String {
        if self.lo.is_finite() && self.hi.is_finite() {
            format!(
                "{} [{}, {}] {}",
                f(self.value),
                f(self.lo),
                f(self.hi),
                self.word()
            )
        } else {
            format!("{} (one repeat) {}", f(self.value), self.word())
        }
    }
}

pub fn section(
    d: &mut Document,
    s: &Summary,
    verdicts: &[(&'static Hypothesis, Judgement)],
    plots: &Rendered,
) {
    d.heading(2, HEADING);
    if s.throughput.is_empty() && s.cold.is_empty() && s.warm.is_empty() {
        d.para(md("Not measured."));
        return;
    }
    d.para(md(
        "Each figure is the mean over this run's repeats with its 95% interval; **decided** \
         when the whole interval lies within ±5% of the figure, **undecided** when it is \
         wider (more repeats would be needed before it is a result). CPU per `hello` request: \
         the gateway's CPU time (its process tree, or container and relay) over the requests \
         of every one-request-per-connection `hello` cell of a repeat, and its ratio to \
         `native_local` (ratio of geometric means, Welch's interval). Peak `hello` rps only \
         where the peak cells were bound by the gateway and steady; otherwise it measured \
         the load generator or an unsaturated gateway, and says so.",
    ));
    d.table(headline(s));
    if let Some(p) = plots.get("cpu_per_request") {
        d.image(&p.name, &p.title);
    }
    study(d, s, verdicts);
}

/// One row per variant that measured anything.
pub fn headline(s: &Summary) -> Table {
    let native = variants::baseline().name;
    let native_cpu = figures::cpu_per_1k_by_repeat(&s.throughput, native, "hello");
    let mut t = Table::numeric(&[
        "variant",
        "CPU per hello request",
        "x native_local",
        "cold start p50",
        "warm hello p50",
        "peak hello rps",
        "RSS peak (hello)",
    ]);
    for v in variants::VARIANTS {
        let cpu = figures::cpu_per_1k_by_repeat(&s.throughput, v.name, "hello");
        let cold = s
            .cold_by_repeat
            .get(v.name)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let warm = s
            .warm_by_repeat
            .get(&(v.name.into(), "hello".into(), Client::Persistent))
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let rss = figures::rss_by_repeat(&s.throughput, v.name, "hello");
        let peak = figures::peak_point(s, v.name, "hello");
        if cpu.is_empty() && cold.is_empty() && warm.is_empty() && peak.is_none() {
            continue;
        }
        let dash = || text("-");
        let ratio = if v.name == native {
            text("1 (the baseline)")
        } else {
            Figure::ratio(&native_cpu, &cpu).map_or_else(dash, |f| text(f.show(format::times)))
        };
        t.row(vec![
            vec![Span::Code(v.name.to_owned())],
            Figure::mean(&cpu)
                .map_or_else(dash, |f| text(f.show(|x| format!("{} µs", format::ms(x))))),
            ratio,
            Figure::mean(cold)
                .map_or_else(dash, |f| text(f.show(|x| format!("{} ms", format::ms(x))))),
            Figure::mean(warm)
                .map_or_else(dash, |f| text(f.show(|x| format!("{} µs", format::ms(x))))),
            peak.map_or_else(dash, |p| peak_cell(&p)),
            Figure::mean(&rss).map_or_else(dash, |f| {
                text(f.show(|x| format!("{} MiB", format::mib(x))))
            }),
        ]);
    }
    t
}

fn peak_cell(p: &figures::Point) -> Inline {
    if p.bound == Bound::Gateway && p.steady {
        let f = Figure::mean(&p.rps).expect("a peak has repeats");
        text(format!("{} @{}", f.show(format::rps), p.connections))
    } else {
        text(format!(
            "{} @{}{}, not the gateway's",
            format::rps(p.mean),
            p.connections,
            figures::caveat(p)
        ))
    }
}

/// The study's published figures (docs/study.md, "What the study found"),
/// this run's beside them, and why they differ where they do.
fn study(d: &mut Document, s: &Summary, verdicts: &[(&'static Hypothesis, Judgement)]) {
    d.heading(3, "The study's findings, re-checked");
    let cold = |v: &str| {
        figures::cold(s, v).map_or("-".to_owned(), |r| format!("{} ms", format::ms(r.p50_ms)))
    };
    let warm = |v: &str, c: Client| {
        figures::warm(s, v, "hello", c)
            .map_or("-".to_owned(), |r| format!("{} µs", format::us(r.p50_us)))
    };
    let peak = |v: &str, w: &str| {
        figures::peak_point(s, v, w).map_or("-".to_owned(), |p| {
            format!("{}{}", format::rps(p.mean), figures::caveat(&p))
        })
    };
    let rss = |v: &str| {
        figures::usage(&s.throughput, v, "hello").map_or("-".to_owned(), |u| {
            format!("{} MiB", format::mib(u.rss_peak_kb as f64))
        })
    };
    let (n, dk, emb, wt, we) = (
        "native_local",
        "native_docker",
        "wasm_host_wasmtime_embedded",
        "wasm_host_wasmtime",
        "wasm_host_cli",
    );
    let mut t = Table::text(&["measure", "the study", "this run", "why they differ"]);
    t.row(vec![
        text("cold start p50"),
        text("native ~176 ms, embedded ~232 ms, Docker ~3,143 ms"),
        text(format!(
            "native {}, embedded {}, Docker {}",
            cold(n),
            cold(emb),
            cold(dk)
        )),
        md(
            "the study timed a shell that started the gateway, polled `/health` with curl \
            every 10 ms and sent one curl; here the clock runs from exec (or `docker run`) to \
            the first 200, polled every 100 µs (`--method hyperfine` runs the study's way)",
        ),
    ]);
    t.row(vec![
        md("warm `hello` p50"),
        text("native, Docker, embedded 8.8 to 9.4 ms (curl per request)"),
        text(format!(
            "persistent connection: native {}, Docker {}, embedded {}; curl per request: native {}, Docker {}, embedded {}",
            warm(n, Client::Persistent),
            warm(dk, Client::Persistent),
            warm(emb, Client::Persistent),
            warm(n, Client::Curl),
            warm(dk, Client::Curl),
            warm(emb, Client::Curl)
        )),
        md("curl's own start-up sits in every sample of the study's; a persistent \
            connection times the gateway"),
    ]);
    t.row(vec![
        md("peak `hello` rps"),
        text("native ~22,745, Docker ~9,000, embedded ~3,600, CLI variants ~100 or fewer"),
        text(format!(
            "native {}, Docker {}, embedded {}, wasmtime CLI {}, wasmedge {}",
            peak(n, "hello"),
            peak(dk, "hello"),
            peak(emb, "hello"),
            peak(wt, "hello"),
            peak(we, "hello")
        )),
        md(
            "the study's `wrk -t4` shared a 4-core VM with the gateway; here one pinned \
            load-generator thread has its own core, and a client-bound peak is that \
            thread's ceiling, not the gateway's (compare CPU per request above)",
        ),
    ]);
    t.row(vec![
        md("peak `compute` rps"),
        text("native, Docker, embedded all ~130"),
        text(format!(
            "native {}, Docker {}, embedded {}",
            peak(n, "compute"),
            peak(dk, "compute"),
            peak(emb, "compute")
        )),
        md(
            "the 20,000 SHA-256 rounds run natively in every variant, there and here, so \
            the figure is the CPU's hashing rate; the machines differ",
        ),
    ]);
    t.row(vec![
        text("memory (RSS)"),
        text("embedded ~19 MB, native ~0.8 MB"),
        text(format!(
            "hello peak: embedded {}, native {}",
            rss(emb),
            rss(n)
        )),
        md(
            "the study sampled with psutil every 200 ms; here `/proc` every 50 ms and at \
            both edges of each window",
        ),
    ]);
    d.table(t);
    let items: Vec<Inline> = verdicts
        .iter()
        .map(|(h, j)| {
            let mut item = vec![
                Span::Strong(format!("{} {}", h.id, j.verdict.text())),
                Span::Text(": ".to_owned()),
            ];
            item.extend(text(h.claim));
            item
        })
        .collect();
    if !items.is_empty() {
        d.para(md(
            "Its five hypotheses, judged on this run (the rules and numbers are under \
             Hypotheses below):",
        ));
        d.list(items);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tight_interval_is_decided_and_a_wide_one_is_not() {
        let tight = Figure::mean(&[100.0, 101.0, 99.0, 100.5, 99.5]).unwrap();
        assert!(tight.decided(), "{tight:?}");
        let wide = Figure::mean(&[80.0, 120.0, 100.0]).unwrap();
        assert!(!wide.decided(), "{wide:?}");
        let one = Figure::mean(&[100.0]).unwrap();
        assert!(!one.decided(), "one repeat has no interval: {one:?}");
        let r = Figure::ratio(&[10.0, 10.1, 9.9], &[20.0, 20.2, 19.8]).unwrap();
        assert!((r.value - 2.0).abs() < 1e-9 && r.decided(), "{r:?}");
        assert!(r.show(format::times).ends_with(" decided"));
        assert!(wide.show(format::rps).ends_with(" undecided"));
    }
}
