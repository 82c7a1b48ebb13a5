//! What the history page says: the runs, then per workload its chart and a
//! table with a row per (commit, variant), each commit linked, then cold
//! start. Nothing reads a clock: the same runs give the same page.

use super::{DateSource, Point};
use crate::export::metrics::{Kind, Metric};
use crate::report::document::{md, text, Document, Inline, Span, Table};
use crate::report::format;
use crate::report::plots::{ordered_variants, ordered_workloads, Rendered};

pub(super) fn build(points: &[Point], plots: &Rendered, repo_url: Option<&str>) -> Document {
    let mut d = Document {
        title: "wasm-gateway-bench history".to_owned(),
        blocks: Vec::new(),
    };
    let mut intro = md("Headline figures of ");
    intro.extend(text(format!("{} runs", points.len())));
    intro.extend(md(
        " against the date of the commit they measured, oldest first; built by \
         `cargo xtask history` from the run folders alone. A run whose commit \
         date is unknown is placed at its start time (marked *). A run's own \
         report has the intervals and the conditions of every figure.",
    ));
    d.para(intro);

    d.heading(2, "Runs");
    let mut t = Table::text(&["date", "commit", "run", "status", "variants measured"]);
    for p in points {
        let variants = ordered_variants(p.metrics.iter().map(|m| m.variant.as_str()));
        t.row(vec![
            date(p),
            commit(p, repo_url),
            vec![Span::Code(p.run.clone())],
            text(p.status.clone()),
            text(variants.join(", ")),
        ]);
    }
    d.table(t);

    let workloads = ordered_workloads(
        points
            .iter()
            .flat_map(|p| p.metrics.iter())
            .filter_map(|m| m.workload.as_deref()),
    );
    for w in &workloads {
        d.heading(2, format!("Workload {w}"));
        if let Some(p) = plots.get(&format!("history_{w}")) {
            d.image(&p.name, &p.title);
        }
        let kinds = [
            Kind::PeakRps,
            Kind::WarmP50,
            Kind::CpuMsPer1k,
            Kind::InstructionsPerRequest,
        ];
        d.table(table(points, Some(w), &kinds, repo_url));
    }
    d.heading(2, "Cold start");
    if let Some(p) = plots.get("history_cold_start") {
        d.image(&p.name, &p.title);
    }
    d.table(table(points, None, &[Kind::ColdP50], repo_url));
    d
}

fn date(p: &Point) -> Inline {
    let day: String = p.date.chars().take(10).collect();
    text(match p.source {
        DateSource::Commit => day,
        DateSource::RunStart => format!("{day} *"),
    })
}

fn commit(p: &Point, repo_url: Option<&str>) -> Inline {
    let short: String = p.revision.chars().take(10).collect();
    match repo_url {
        Some(url) if !p.revision.is_empty() => vec![Span::Link {
            text: short,
            href: format!("{}/commit/{}", url.trim_end_matches('/'), p.revision),
        }],
        _ => vec![Span::Code(short)],
    }
}

fn value(m: Option<&Metric>) -> Inline {
    text(match m {
        None => "-".to_owned(),
        Some(m) => match m.kind {
            Kind::PeakRps => format::rps(m.value),
            Kind::WarmP50 => format::us(m.value.round().max(0.0) as u64),
            Kind::InstructionsPerRequest => format::thousands(m.value.round().max(0.0) as u64),
            Kind::ColdP50 | Kind::CpuMsPer1k => format::ms(m.value),
        },
    })
}

/// A row per (run, variant) with a column per figure; figures no run has
/// are left out.
fn table(
    points: &[Point],
    workload: Option<&str>,
    kinds: &[Kind],
    repo_url: Option<&str>,
) -> Table {
    let present: Vec<Kind> = kinds
        .iter()
        .copied()
        .filter(|&k| {
            points
                .iter()
                .flat_map(|p| p.metrics.iter())
                .any(|m| m.kind == k && m.workload.as_deref() == workload)
        })
        .collect();
    let headers: Vec<String> = present
        .iter()
        .map(|k| format!("{} ({})", k.title(), k.unit()))
        .collect();
    let mut header = vec!["date", "commit", "variant"];
    header.extend(headers.iter().map(String::as_str));
    let mut t = Table::numeric(&header).left(3);
    for p in points {
        let variants = ordered_variants(
            p.metrics
                .iter()
                .filter(|m| m.workload.as_deref() == workload && present.contains(&m.kind))
                .map(|m| m.variant.as_str()),
        );
        for v in variants {
            let mut row = vec![date(p), commit(p, repo_url), text(v.clone())];
            row.extend(present.iter().map(|&k| value(find(p, &v, k, workload))));
            t.row(row);
        }
    }
    t
}

fn find<'a>(p: &'a Point, variant: &str, kind: Kind, workload: Option<&str>) -> Option<&'a Metric> {
    p.metrics
        .iter()
        .find(|m| m.variant == variant && m.kind == kind && m.workload.as_deref() == workload)
}
