//! What the report says, section by section, built from the manifest, the
//! summary rows, the hypothesis verdicts and the charts that were drawn.
//! Nothing here reads a clock: the same run gives the same document.

use std::collections::BTreeMap;

use super::document::{md, text, Document, Inline, Span, Table};
use super::hypotheses::{Hypothesis, Judgement};
use super::plots::Rendered;
use super::summary::{ColdRow, Summary};
use super::{figures, format};
use crate::rundata::manifest::{Cell, DisturbanceRule, Manifest};
use crate::rundata::{CellStatus, ProfileRecord, Suite};
use crate::{variants, workloads};

const NOT_MEASURED: &str = "Not measured.";

pub fn build(
    m: &Manifest,
    s: &Summary,
    verdicts: &[(&'static Hypothesis, Judgement)],
    plots: &Rendered,
) -> Document {
    let mut d = Document {
        title: "wasm-gateway-bench report".to_owned(),
        blocks: Vec::new(),
    };
    let mut intro = md("Run started ");
    intro.extend(text(or_dash(&m.started)));
    intro.extend(md(", finished "));
    intro.extend(text(m.finished.as_deref().unwrap_or("-")));
    intro.extend(md(", status "));
    intro.push(Span::Strong(or_dash(&m.status)));
    intro.extend(md(
        ". Rebuilt by `cargo xtask report` from `raw/` and `manifest.json` alone: \
         every number below can be recomputed from them.",
    ));
    d.para(intro);

    super::answer::section(&mut d, s, verdicts, plots);
    environment(&mut d, m);
    what_ran(&mut d, m);
    hypotheses(&mut d, verdicts);
    cold(&mut d, s, plots);
    warm(&mut d, s, plots);
    throughput(&mut d, s, plots);
    resources(&mut d, s, plots);
    open_loop(&mut d, s, plots);
    files(&mut d, s, plots);
    d
}

fn or_dash(s: &str) -> String {
    if s.trim().is_empty() {
        "-".to_owned()
    } else {
        s.to_owned()
    }
}

fn image(d: &mut Document, plots: &Rendered, name: &str) {
    if let Some(p) = plots.get(name) {
        d.image(&p.name, &p.title);
    }
}

// ---------------------------------------------------------------------------

fn environment(d: &mut Document, m: &Manifest) {
    d.heading(2, "Environment");
    let mut t = Table::text(&["item", "value"]);
    let mut row = |k: &str, v: Inline| t.row(vec![text(k), v]);
    let code = |s: &str| vec![Span::Code(or_dash(s))];
    row("status", text(or_dash(&m.status)));
    row("command", code(&m.command));
    row("suites", text(or_dash(&m.suites.join(", "))));
    row("profile", text(profile(m.profile.as_ref())));
    row("started", text(or_dash(&m.started)));
    row("finished", text(m.finished.as_deref().unwrap_or("-")));
    let mut git = code(&m.git.revision);
    if m.git.dirty {
        git.extend(text(" (uncommitted changes in the working tree)"));
    }
    row("git revision", git);
    let machine = |m: &crate::rundata::manifest::Machine| {
        format!(
            "{}, {} CPUs, {:.1} GiB memory, host {}",
            or_dash(&m.cpu_model),
            m.cpus,
            m.mem_total_kb as f64 / (1024.0 * 1024.0),
            or_dash(&m.hostname)
        )
    };
    match &m.server {
        None => row("machine", text(machine(&m.machine))),
        Some(server) => {
            row("client machine (load generator)", text(machine(&m.machine)));
            let mut target = code(&server.target);
            target.extend(text(format!(
                " ({}): {}, kernel {}",
                server.address,
                machine(&server.machine),
                or_dash(&server.kernel)
            )));
            row("server host (gateways, over ssh)", target);
            row(
                "path between them",
                text(format!(
                    "{}, TCP connect round trip {:.0} µs (median of 5, at the start)",
                    server.path, server.round_trip_us
                )),
            );
            if !server.images_sent.is_empty() {
                row(
                    "images sent to the server",
                    text(format!(
                        "{} (removed after the run)",
                        server.images_sent.join(", ")
                    )),
                );
            }
        }
    }
    let p = &m.pinning;
    let cpu = |c: Option<usize>| c.map_or("-".to_owned(), |c| format!("CPU {c}"));
    row(
        "pinning",
        text(if p.enabled {
            format!(
                "gateway {}, load generator {}, upstream {}: {}",
                cpu(p.gateway_cpu),
                cpu(p.load_cpu),
                cpu(p.upstream_cpu),
                p.note
            )
        } else {
            format!("not pinned: {}", or_dash(&p.note))
        }),
    );
    let v = &m.versions;
    row("page residency", text(residency(&m.residency)));
    if let Some(rule) = &m.disturbance {
        row("disturbance", text(disturbance(rule, &m.cells)));
    }
    row("kernel", text(or_dash(&v.kernel)));
    row("rustc", text(or_dash(&v.rustc)));
    row("wasmtime (crate)", text(or_dash(&v.wasmtime_crate)));
    let mut cli = or_dash(&v.wasmtime_cli);
    if !v.wasmtime_cli_source.is_empty() {
        cli.push_str(&format!(" ({})", v.wasmtime_cli_source));
    }
    row("wasmtime (CLI)", text(cli));
    row("wasmtime CLI cache", text(or_dash(&v.wasmtime_cli_cache)));
    let mut wasmedge = or_dash(&v.wasmedge);
    if !v.wasmedge_mode.is_empty() {
        wasmedge.push_str(&format!(" ({})", v.wasmedge_mode));
    }
    row("wasmedge", text(wasmedge));
    row("docker", text(or_dash(&v.docker)));
    for (image, built) in &v.docker_images {
        row("docker image", text(format!("{image}: {built}")));
    }
    row("wrk", text(or_dash(&v.wrk)));
    row("hyperfine", text(or_dash(&v.hyperfine)));
    row("curl", text(or_dash(&v.curl)));
    d.table(t);
}

/// The profile's settings as `key=value` in key order.
/// What the gateways' `WASM_RESIDENCY` means for a reader of the figures.
fn residency(mode: &str) -> String {
    match mode {
        "release" => "release: pooled, lean and recycled give back every page a request \
                      mapped before the next one (no timing channel between requests)"
            .to_owned(),
        "keep" => "keep (opt-in): pooled and lean keep 2 MiB of a slot resident, recycled \
                   restores pages in place; the residency probe reads 63-64 of 64 bits \
                   from one request in the next"
            .to_owned(),
        "" => "not recorded: the run predates `--wasm-residency`; its pooled, lean and \
               recycled kept pages resident between requests, as `keep` does now"
            .to_owned(),
        other => other.to_owned(),
    }
}

fn profile(p: Option<&ProfileRecord>) -> String {
    let Some(p) = p else {
        return "null".to_owned();
    };
    p.settings()
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn what_ran(d: &mut Document, m: &Manifest) {
    d.heading(2, "What ran");
    let mut names: Vec<String> = variants::VARIANTS
        .iter()
        .map(|v| v.name.to_owned())
        .collect();
    for v in &m.variants {
        if !names.contains(&v.name) {
            names.push(v.name.clone());
        }
    }
    let suites = [Suite::Cold, Suite::Warm, Suite::Throughput];
    let mut t = Table::text(&["variant", "status", "cold", "warm", "throughput", "reason"]);
    for name in &names {
        let status = m.variants.iter().find(|v| &v.name == name);
        let (state, reason) = match status {
            Some(v) => (v.status.to_string(), v.reason.clone().unwrap_or_default()),
            None => ("not selected".to_owned(), String::new()),
        };
        let mut row = vec![vec![Span::Code(name.clone())], vec![Span::Strong(state)]];
        for suite in suites {
            row.push(text(cell_counts(&m.cells, name, suite)));
        }
        row.push(text(shorten(&reason, 240)));
        t.row(row);
    }
    d.table(t);

    let bad: Vec<&Cell> = m
        .cells
        .iter()
        .filter(|c| c.status != CellStatus::Ok)
        .collect();
    if bad.is_empty() {
        d.para(md("No cell failed or was skipped."));
    } else {
        d.heading(
            3,
            "Cells that failed, were skipped, disturbed or interrupted",
        );
        d.para(md(
            "None of these is in any table or chart. **skipped**: the cell could not measure \
             a steady state within the profile's limits (the reason gives the arithmetic). \
             **disturbed**: measured, but every attempt was disturbed (steal, foreign load on the \
             gateway's core, or an outlier against its own repeats).",
        ));
        let mut t = Table::text(&[
            "suite", "variant", "workload", "detail", "repeat", "status", "reason",
        ]);
        for c in bad {
            t.row(vec![
                text(c.suite.name()),
                vec![Span::Code(c.variant.clone())],
                text(c.workload.as_deref().unwrap_or("-")),
                text(&c.detail),
                text(c.repeat.map_or("-".to_owned(), |r| (r + 1).to_string())),
                text(c.status.name()),
                text(shorten(c.error.as_deref().unwrap_or("-"), 300)),
            ]);
        }
        d.table(t);
    }
}

/// The rule throughput cells were judged by, and what it caught.
fn disturbance(rule: &DisturbanceRule, cells: &[Cell]) -> String {
    let rerun: usize = cells.iter().filter(|c| c.reruns > 0).count();
    let attempts: usize = cells.iter().map(|c| c.reruns).sum();
    let left_out = cells
        .iter()
        .filter(|c| c.status == CellStatus::Disturbed)
        .count();
    let caught = if rule.on_disturbance == "rerun" {
        format!(
            "measured again up to {} times, then left out as `disturbed`; {rerun} cells              measured again ({attempts} attempts), {left_out} left out",
            rule.retries
        )
    } else {
        "readings recorded only (`--on-disturbance record`): no cell measured again or left out"
            .to_owned()
    };
    format!(
        "a throughput cell with steal over {}% on CPU {} or {}, busy time on the gateway's          CPU {} not its own over {}% of the window, or CPU per request over {} MADs and {}%          off its earlier repeats is disturbed: {caught}",
        rule.steal_pct,
        rule.gateway_core,
        rule.load_core,
        rule.gateway_core,
        rule.foreign_pct,
        rule.outlier_mads,
        rule.outlier_min_pct
    )
}

/// `3 ok`, `2 ok, 1 failed`, or `-`.
fn cell_counts(cells: &[Cell], variant: &str, suite: Suite) -> String {
    // By name: the order the counts have always been listed in.
    let mut by: BTreeMap<&str, usize> = BTreeMap::new();
    for c in cells
        .iter()
        .filter(|c| c.variant == variant && c.suite == suite)
    {
        *by.entry(c.status.name()).or_default() += 1;
    }
    if by.is_empty() {
        return "-".to_owned();
    }
    let mut parts = Vec::new();
    if let Some(n) = by.remove("ok") {
        parts.push(format!("{n} ok"));
    }
    parts.extend(by.into_iter().map(|(s, n)| format!("{n} {s}")));
    parts.join(", ")
}

fn shorten(s: &str, max: usize) -> String {
    let one_line = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= max {
        one_line
    } else {
        let cut: String = one_line.chars().take(max).collect();
        format!("{cut}…")
    }
}

fn hypotheses(d: &mut Document, verdicts: &[(&'static Hypothesis, Judgement)]) {
    d.heading(2, "Hypotheses");
    d.para(md(
        "The study's hypotheses (docs/study.md), each judged on this run's own numbers by the \
         rule stated in the table (xtask/src/report/hypotheses.rs). Every ratio has a 95% \
         interval from the repeats (Welch's interval on the log values, as `cargo xtask \
         compare`): **holds** when the whole interval is on the rule's side of its threshold, \
         **fails** when it is wholly on the other side, **inconclusive** when it straddles \
         it. **not measured**: a figure the rule needs is absent (variant skipped or failed, \
         workload or suite not run). Throughput comparisons use the peak cells' requests/s when \
         both were gateway-bound, and CPU ms per 1000 requests otherwise (a client-bound cell \
         measured the load generator, not the gateway); each line says which.",
    ));
    let mut t = Table::text(&["hypothesis", "verdict", "numbers", "rule"]);
    for (h, j) in verdicts {
        let mut claim = vec![Span::Strong(h.id.to_owned()), Span::Text(" ".to_owned())];
        claim.extend(text(h.claim));
        t.row(vec![
            claim,
            vec![Span::Strong(j.verdict.text().to_owned())],
            md(&j.evidence.join("; ")),
            md(h.rule),
        ]);
    }
    d.table(t);
}

fn cold_table(rows: &[ColdRow]) -> Table {
    let mut t = Table::numeric(&[
        "variant", "n", "p50 ms", "p90 ms", "p99 ms", "mean ms", "min ms", "max ms",
    ]);
    for r in rows {
        t.row(vec![
            vec![Span::Code(r.variant.clone())],
            text(r.n.to_string()),
            text(format::ms(r.p50_ms)),
            text(format::ms(r.p90_ms)),
            text(format::ms(r.p99_ms)),
            text(format::ms(r.mean_ms)),
            text(format::ms(r.min_ms)),
            text(format::ms(r.max_ms)),
        ]);
    }
    t
}

fn cold(d: &mut Document, s: &Summary, plots: &Rendered) {
    d.heading(2, "Cold start");
    if s.cold.is_empty() && s.cold_hyperfine.is_empty() {
        d.para(md(NOT_MEASURED));
        return;
    }
    if !s.cold.is_empty() {
        d.para(md(
            "Exec (or `docker run`) to the first HTTP 200 on `/`, timed inside the harness \
             with 100 µs polling; every sample of `raw/cold/<variant>.csv`.",
        ));
        image(d, plots, "cold_start");
        d.table(cold_table(&s.cold));
    }
    if !s.cold_hyperfine.is_empty() {
        d.heading(3, "The study's method: hyperfine + curl");
        d.para(md(
            "A shell started by hyperfine launches the gateway, polls `/health` with curl \
             every 10 ms and fires one curl: tool overhead is part of every sample.",
        ));
        d.table(cold_table(&s.cold_hyperfine));
    }
}

fn warm(d: &mut Document, s: &Summary, plots: &Rendered) {
    d.heading(2, "Warm latency");
    if s.warm.is_empty() {
        d.para(md(NOT_MEASURED));
        return;
    }
    d.para(md(
        "The variant started once; requests one after another. `persistent`: one keep-alive \
         connection, timed by the harness (HdrHistogram, 3 significant figures). `curl`: one \
         curl process per request, the study's method, whose start-up sits in every sample.",
    ));
    image(d, plots, "warm_latency");
    if plots.has("warm_persistent_vs_curl") {
        image(d, plots, "warm_persistent_vs_curl");
    } else {
        d.para(md(
            "Persistent connection against curl: not measured (no (variant, workload) was \
             measured with both clients).",
        ));
    }
    let mut t = Table::numeric(&[
        "variant", "workload", "client", "n", "p50 µs", "p90 µs", "p99 µs", "mean µs",
    ])
    .left(3);
    for r in &s.warm {
        t.row(vec![
            vec![Span::Code(r.variant.clone())],
            text(&r.workload),
            text(r.client.name()),
            text(r.n.to_string()),
            text(format::us(r.p50_us)),
            text(format::us(r.p90_us)),
            text(format::us(r.p99_us)),
            text(format::us(r.mean_us.round().max(0.0) as u64)),
        ]);
    }
    d.table(t);
}

fn measured_variants(names: impl Iterator<Item = String>) -> Vec<String> {
    let all: Vec<String> = names.collect();
    super::plots::ordered_variants(all.iter().map(String::as_str))
}

fn throughput(d: &mut Document, s: &Summary, plots: &Rendered) {
    d.heading(2, "Throughput");
    if s.throughput.is_empty() {
        d.para(md(NOT_MEASURED));
        return;
    }
    d.para(md(
        "Closed loop, like wrk: each connection sends its next request as soon as the previous \
         one is answered; only 2xx responses count. Every cell first warms up at its own level \
         until each connection has been answered once (a steady queue). The table gives each \
         variant's **peak requests per second** with one request per connection: the highest \
         mean over repeats across connection levels, and the level (`@connections`) where it \
         occurred. A peak that did not measure the gateway says so: **client-bound** (the load \
         generator's core was busy, the gateway's was not: the figure is the client's ceiling, \
         compare CPU per request instead), **not saturated** (neither was busy), **not steady** \
         (Little's law, rps x mean latency / connections, outside [0.9, 1.1]).",
    ));
    let names = measured_variants(s.throughput.iter().map(|r| r.variant.clone()));
    let loads = super::plots::ordered_workloads(s.throughput.iter().map(|r| r.workload.as_str()));
    let mut header = vec!["variant".to_owned()];
    header.extend(loads.iter().cloned());
    let mut t = Table::numeric(&header.iter().map(String::as_str).collect::<Vec<_>>());
    for v in &names {
        let mut row = vec![vec![Span::Code(v.clone())]];
        for w in &loads {
            row.push(text(figures::peak_point(s, v, w).map_or(
                "-".to_owned(),
                |p| {
                    format!(
                        "{} @{}{}",
                        format::rps(p.mean),
                        p.connections,
                        figures::caveat(&p)
                    )
                },
            )));
        }
        t.row(row);
    }
    d.table(t);

    let mut errors = Vec::new();
    for v in &names {
        for w in &loads {
            let n = figures::errors(&s.throughput, v, w);
            if n > 0 {
                let mut item = vec![Span::Code(v.clone())];
                item.extend(text(format!(
                    " {w}: {} failed or non-2xx requests over all cells",
                    format::thousands(n)
                )));
                errors.push(item);
            }
        }
    }
    if errors.is_empty() {
        d.para(md(
            "No request failed or answered non-2xx in any throughput cell.",
        ));
    } else {
        d.para(md(
            "Errors (connect, read, write, timeout) and non-2xx answers:",
        ));
        d.list(errors);
    }
    d.para(md(
        "In the charts a hollow dot is a level whose cells did not all measure the gateway \
         (client-bound, not saturated or not steady): compare such points on CPU per request \
         (Resources), not on their height.",
    ));
    for w in workloads::WORKLOADS {
        image(d, plots, &format!("throughput_{}", w.name));
    }
    let missing: Vec<&str> = workloads::WORKLOADS
        .iter()
        .map(|w| w.name)
        .filter(|w| !loads.iter().any(|l| l == w))
        .collect();
    if !missing.is_empty() {
        d.para(text(format!(
            "Workloads not measured: {}.",
            missing.join(", ")
        )));
    }
    // After the close-mode charts, so they stay under their own heading.
    keep_alive(d, s, plots, &names, &loads);
}

/// Keep-alive cells: persistent connections, no handshake per request.
fn keep_alive(d: &mut Document, s: &Summary, plots: &Rendered, names: &[String], loads: &[String]) {
    let mut t = Table::numeric(&[
        "variant",
        "workload",
        "connections",
        "rps (mean of repeats)",
        "p50 µs",
        "p99 µs",
        "vs one request per connection",
    ])
    .left(2);
    for v in names {
        for w in loads {
            for p in figures::points_in(&s.throughput, v, w, true) {
                let rows: Vec<_> = s
                    .throughput
                    .iter()
                    .filter(|r| {
                        r.variant == *v
                            && r.workload == *w
                            && r.keep_alive()
                            && r.connections == p.connections
                    })
                    .collect();
                let p50: Vec<f64> = rows.iter().map(|r| r.p50_us as f64).collect();
                let p99: Vec<f64> = rows.iter().map(|r| r.p99_us as f64).collect();
                let close = figures::peak_point(s, v, w)
                    .map_or("-".to_owned(), |c| format::times(p.mean / c.mean));
                t.row(vec![
                    vec![Span::Code(v.clone())],
                    text(w),
                    text(p.connections.to_string()),
                    text(format!("{}{}", format::rps(p.mean), figures::caveat(&p))),
                    text(format::us(crate::stats::median(&p50) as u64)),
                    text(format::us(crate::stats::median(&p99) as u64)),
                    text(close),
                ]);
            }
        }
    }
    if t.rows.is_empty() {
        return;
    }
    d.heading(3, "Keep-alive");
    d.para(md(
        "Persistent connections, each sending its next request when the previous answer \
         arrives (TechEmpower's mode): no TCP handshake and teardown per request. The gateway \
         is serial, so it serves one keep-alive connection at a time, until the connection \
         idles for `GATEWAY_KEEPALIVE_IDLE_MS` (50 ms, which a closed-loop client never does) \
         or has sent `GATEWAY_KEEPALIVE_MAX` (1000) requests: a reconnect per 1000 requests, \
         0.1% of them, so neither bound shapes the figure. Hence one connection: more would \
         only wait their turn. **vs one request per connection**: this rps over the variant's \
         peak above.",
    ));
    d.table(t);
    image(d, plots, "keep_alive");
}

fn resources(d: &mut Document, s: &Summary, plots: &Rendered) {
    d.heading(2, "Resources");
    let names = measured_variants(s.throughput.iter().map(|r| r.variant.clone()));
    let loads = super::plots::ordered_workloads(s.throughput.iter().map(|r| r.workload.as_str()));
    let mut t = Table::numeric(&[
        "variant",
        "workload",
        "peak RSS MiB",
        "CPU ms / 1000 requests",
        "cells sampled",
    ])
    .left(2);
    for v in &names {
        for w in &loads {
            if let Some(u) = figures::usage(&s.throughput, v, w) {
                t.row(vec![
                    vec![Span::Code(v.clone())],
                    text(w),
                    text(format::mib(u.rss_peak_kb as f64)),
                    text(format::ms(u.cpu_ms_per_1k)),
                    text(u.cells.to_string()),
                ]);
            }
            if let Some(r) = figures::relay_usage(&s.throughput, v, w) {
                t.row(vec![
                    vec![
                        Span::Code(v.clone()),
                        Span::Text(" of which docker-proxy".to_owned()),
                    ],
                    text(w),
                    text(format::mib(r.rss_peak_kb as f64)),
                    text(format!(
                        "{} ({} of the variant's)",
                        format::ms(r.cpu_ms_per_1k),
                        format::pct(r.share)
                    )),
                    text(r.cells.to_string()),
                ]);
            }
        }
    }
    if t.rows.is_empty() {
        d.para(md(NOT_MEASURED));
        return;
    }
    d.para(md(
        "Sampled every 50 ms during each throughput cell: the gateway process and its \
         descendants (`/proc`; CPU includes reaped children, so per-request runtime processes \
         count), or the container's cgroup for Docker plus Docker's relay: with a port \
         published on loopback every connection passes through `docker-proxy`, a host process \
         outside the container, pinned with the gateway here and counted as part of the \
         variant (its own line shows its share). CPU is read at both edges of each measured \
         window. **Peak RSS**: the highest reading in any cell of the workload. **CPU ms / \
         1000 requests**: CPU time over all the workload's cells (one request per connection) \
         divided by their requests.",
    ));
    image(d, plots, "resources");
    d.table(t);
}

fn open_loop(d: &mut Document, s: &Summary, plots: &Rendered) {
    d.heading(2, "Latency against offered rate");
    if s.open_loop.is_empty() {
        d.para(md(
            "Not measured (no open-loop cells: `cargo xtask bench throughput --rate R1,R2,...`).",
        ));
        return;
    }
    d.para(md(
        "Open loop, like wrk2: requests due at a constant rate, latency timed from the intended \
         send, so a server that falls behind shows its queueing delay. **unsent**: requests due \
         but never sent at the end (the server fell behind the offered rate).",
    ));
    image(d, plots, "latency_vs_rate");
    let mut t = Table::numeric(&[
        "variant",
        "workload",
        "offered rps",
        "repeat",
        "achieved rps",
        "p50 µs",
        "p90 µs",
        "p99 µs",
        "errors",
        "unsent",
    ])
    .left(2);
    for r in &s.open_loop {
        t.row(vec![
            vec![Span::Code(r.variant.clone())],
            text(&r.workload),
            text(format::rps(r.rate)),
            text((r.repeat + 1).to_string()),
            text(format::rps(r.rps)),
            text(format::us(r.p50_us)),
            text(format::us(r.p90_us)),
            text(format::us(r.p99_us)),
            text(format::thousands(r.errors)),
            text(format::thousands(r.unsent_at_end)),
        ]);
    }
    d.table(t);
}

fn files(d: &mut Document, s: &Summary, plots: &Rendered) {
    d.heading(2, "Files");
    let mut items = vec![
        md("`manifest.json`: what ran, versions, pinning, every cell and its error"),
        md("`raw/`: every sample (cold and warm CSVs, throughput JSON with HdrHistograms)"),
        md("`summary/cold_start.csv`, `summary/warm_latency.csv`"),
        md("`aggregated/throughput.csv`: one row per throughput cell (variant, workload, connections, repeat)"),
    ];
    if !s.cold_hyperfine.is_empty() {
        items.push(md("`summary/cold_start_hyperfine.csv`"));
    }
    if !s.open_loop.is_empty() {
        items.push(md("`aggregated/open_loop.csv`"));
    }
    if !plots.plots.is_empty() {
        items.push(md("`plots/`: every chart as SVG and PNG"));
    }
    d.list(items);
    if !plots.errors.is_empty() {
        d.para(md("Charts that had data but could not be drawn:"));
        d.list(
            plots
                .errors
                .iter()
                .map(|(name, e)| {
                    let mut item = vec![Span::Code(name.clone())];
                    item.extend(text(format!(": {}", shorten(e, 300))));
                    item
                })
                .collect(),
        );
    }
}
