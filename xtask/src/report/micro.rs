//! The criterion estimates of `bench micro` (`raw/micro/`): the report's
//! table of them, and for `hello` the split of each Wasm variant's CPU time
//! per request into HTTP (what native_local spends), instantiation, the call,
//! and the rest, so the macro figures are explained by the micro ones.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use serde::Deserialize;

use super::document::{md, text, Document, Span, Table};
use super::summary::Summary;
use crate::rundata::{ConnMode, MicroKey};
use crate::variants::{self, Launch, Role};

/// One benchmark: criterion's mean (with its 95% interval) and median, in ns.
#[derive(Debug, Clone, PartialEq)]
pub struct Estimate {
    pub group: String,
    pub bench: String,
    pub mean_ns: f64,
    pub mean_lo_ns: f64,
    pub mean_hi_ns: f64,
    pub median_ns: f64,
}

impl Estimate {
    pub fn id(&self) -> String {
        format!("{}/{}", self.group, self.bench)
    }
}

#[derive(Deserialize)]
struct Estimates {
    mean: Stat,
    median: Stat,
}

#[derive(Deserialize)]
struct Stat {
    point_estimate: f64,
    confidence_interval: Interval,
}

#[derive(Deserialize)]
struct Interval {
    lower_bound: f64,
    upper_bound: f64,
}

/// Every `raw/micro/<group>__<bench>.json`, sorted by id.
pub fn read(root: &Path) -> Result<Vec<Estimate>> {
    let dir = root.join("raw/micro");
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir)? {
        let path = entry?.path();
        let Some(MicroKey { group, bench }) = MicroKey::parse(&path) else {
            continue;
        };
        let text = std::fs::read_to_string(&path)?;
        let e: Estimates =
            serde_json::from_str(&text).with_context(|| format!("reading {}", path.display()))?;
        out.push(Estimate {
            group,
            bench,
            mean_ns: e.mean.point_estimate,
            mean_lo_ns: e.mean.confidence_interval.lower_bound,
            mean_hi_ns: e.mean.confidence_interval.upper_bound,
            median_ns: e.median.point_estimate,
        });
    }
    out.sort_by_key(Estimate::id);
    Ok(out)
}

/// A duration in ns, with a unit that keeps 3 significant figures readable.
pub fn duration(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.1} µs", ns / 1e3)
    } else {
        format!("{ns:.0} ns")
    }
}

/// For each in-process runtime (gateway-host's `--runtime`): its
/// instantiation benchmark and its whole-transform benchmark.
const IN_PROCESS: &[(&str, &str, &str)] = &[
    (
        "wasmtime_embedded",
        "instantiate/linker_instantiate",
        "hello/embedded",
    ),
    ("wasmtime_pooled", "instantiate/pooled", "hello/pooled"),
    ("wasmtime_lean", "instantiate/lean", "hello/lean"),
];

/// One row of the `hello` split, all in µs of CPU per request.
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    pub variant: String,
    pub total_us: f64,
    pub http_us: f64,
    /// In-process variants only: instantiation and the call (micro).
    pub instantiate_us: Option<f64>,
    pub call_us: Option<f64>,
    /// What is left: for a per-request process, the whole runtime process.
    pub rest_us: f64,
}

/// Mean CPU per request (ms per 1000 = µs per request) of `hello` over the
/// closed-loop cells (one connection per request, the study's mode).
fn hello_cpu_us(s: &Summary, variant: &str) -> Option<f64> {
    let cells: Vec<f64> = s
        .throughput
        .iter()
        .filter(|r| r.variant == variant && r.workload == "hello" && r.mode == ConnMode::Close)
        .filter(|r| r.cpu_ms_per_1k > 0.0)
        .map(|r| r.cpu_ms_per_1k)
        .collect();
    (!cells.is_empty()).then(|| cells.iter().sum::<f64>() / cells.len() as f64)
}

/// The split for every Wasm variant that has a `hello` CPU figure.
pub fn hello_split(s: &Summary, micro: &[Estimate]) -> Vec<Split> {
    let Some(http_us) = hello_cpu_us(s, variants::baseline().name) else {
        return Vec::new();
    };
    let mean_us = |id: &str| micro.iter().find(|e| e.id() == id).map(|e| e.mean_ns / 1e3);
    let mut out = Vec::new();
    for v in variants::VARIANTS.iter().filter(|v| v.is_wasm()) {
        let Some(total_us) = hello_cpu_us(s, v.name) else {
            continue;
        };
        let runtime = match v.launch {
            Launch::Host { runtime, .. } => runtime,
            _ => continue,
        };
        let pair = IN_PROCESS
            .iter()
            .find(|(name, _, _)| *name == runtime)
            .and_then(|(_, inst, whole)| Some((mean_us(inst)?, mean_us(whole)?)));
        let (instantiate_us, call_us, rest_us) = match (v.role, pair) {
            (Role::InProcess, Some((inst, whole))) => {
                (Some(inst), Some(whole - inst), total_us - http_us - whole)
            }
            _ => (None, None, total_us - http_us),
        };
        out.push(Split {
            variant: v.name.to_owned(),
            total_us,
            http_us,
            instantiate_us,
            call_us,
            rest_us,
        });
    }
    out
}

/// The report's section, placed before "Files" (or at the end).
pub fn add_section(doc: &mut Document, root: &Path, s: &Summary) -> Result<()> {
    let micro = read(root)?;
    if micro.is_empty() {
        return Ok(());
    }
    let mut section = Document::default();
    section.heading(2, "Micro-benchmarks");
    section.para(md(
        "Criterion (`cargo xtask bench micro`, `gateway-host/benches/micro.rs`), one thread \
         pinned to the gateway's CPU; `instantiate/*` is a fresh Store, WASI context and \
         instance of the study's module without a call; `hello/*` is one whole transform \
         (instantiate, `_start`, stdout, the store's drop); `hello/lean_start_only` is \
         `_start` alone on an instance made and dropped outside the timed part (the \
         module's own work); `hello/recycled` is `_start` on the one kept instance and its \
         restore (dirty pages, globals); the work benchmarks run the work module (pooled) against the \
         same Rust code compiled natively.",
    ));
    let mut t =
        Table::numeric(&["benchmark", "mean", "95% interval of the mean", "median"]).left(1);
    for e in &micro {
        t.row(vec![
            vec![Span::Code(e.id())],
            text(duration(e.mean_ns)),
            text(format!(
                "{} – {}",
                duration(e.mean_lo_ns),
                duration(e.mean_hi_ns)
            )),
            text(duration(e.median_ns)),
        ]);
    }
    section.table(t);

    let split = hello_split(s, &micro);
    if !split.is_empty() {
        section.heading(3, "Where a hello request's CPU time goes");
        section.para(md(
            "CPU per request is the throughput suite's `hello` CPU ms per 1000 requests \
             (closed loop, mean over its cells). HTTP is native_local's figure (accept, parse, \
             answer, close). For the in-process variants the micro-benchmarks give \
             instantiation and the call (whole transform minus instantiation); the rest is \
             what neither explains (cache and TLB effects under load, the epoch thread). For a \
             process per request the rest is the runtime process: spawn, start-up, loading or \
             compiling the module, running it, exit. A negative rest means the micro figure, \
             taken on a quiet cache, exceeds what the macro run spent.",
        ));
        let mut t = Table::numeric(&[
            "variant",
            "CPU / request",
            "HTTP",
            "instantiate",
            "call",
            "rest",
        ])
        .left(1);
        let us = |x: f64| format!("{x:.1} µs");
        let or_dash = |x: Option<f64>| x.map(us).unwrap_or_else(|| "-".to_owned());
        for r in &split {
            t.row(vec![
                vec![Span::Code(r.variant.clone())],
                text(us(r.total_us)),
                text(us(r.http_us)),
                text(or_dash(r.instantiate_us)),
                text(or_dash(r.call_us)),
                text(us(r.rest_us)),
            ]);
        }
        section.table(t);
    }

    doc.insert_before("Files", section);
    Ok(())
}

/// What `bench micro` prints at the end.
pub fn screen_table(root: &Path) -> Result<String> {
    let mut out = String::new();
    writeln!(out, "\n{:<36} {:>12} {:>12}", "benchmark", "mean", "median")?;
    for e in read(root)? {
        writeln!(
            out,
            "{:<36} {:>12} {:>12}",
            e.id(),
            duration(e.mean_ns),
            duration(e.median_ns)
        )?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_keep_three_figures() {
        assert_eq!(duration(206.4), "206 ns");
        assert_eq!(duration(19_583.0), "19.6 µs");
        assert_eq!(duration(2_447_500.0), "2.45 ms");
    }

    #[test]
    fn reads_criterions_estimates() {
        let dir = std::env::temp_dir().join(format!("wgb-micro-{}", std::process::id()));
        let raw = dir.join("raw/micro");
        std::fs::create_dir_all(&raw).unwrap();
        let est = r#"{"mean":{"confidence_interval":{"confidence_level":0.95,"lower_bound":9.0,"upper_bound":11.0},"point_estimate":10.0,"standard_error":0.5},
            "median":{"confidence_interval":{"confidence_level":0.95,"lower_bound":8.0,"upper_bound":12.0},"point_estimate":9.5,"standard_error":0.5}}"#;
        std::fs::write(raw.join("hello__pooled.json"), est).unwrap();
        std::fs::write(raw.join("instantiate__pooled.json"), est).unwrap();
        let got = read(&dir).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].id(), "hello/pooled");
        assert_eq!(got[1].id(), "instantiate/pooled");
        assert_eq!(
            (got[0].mean_ns, got[0].mean_lo_ns, got[0].mean_hi_ns),
            (10.0, 9.0, 11.0)
        );
        assert_eq!(got[0].median_ns, 9.5);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
