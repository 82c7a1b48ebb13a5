//! `cargo xtask compare` on synthetic run folders written here as a bench
//! run leaves them (manifest.json with its variants and cells,
//! aggregated/throughput.csv, raw cold, warm and instruction samples), and
//! one real A/A with the calibration knob (needs `cargo xtask build` first,
//! as bench_all.rs).

use std::path::Path;
use std::process::{Command, Output};

use crate::support::{one_bench_at_a_time, text};
use xtask::report::summary;
use xtask::rundata::instructions::InstructionsRaw;
use xtask::rundata::manifest::{Cell, Git, Manifest, Outcome, VariantStatus};
use xtask::rundata::raw::ColdSample;
use xtask::rundata::{Suite, VariantState};

/// Fixed "noise": multipliers around 1 with a mean of exactly 1.
const WIGGLE: [f64; 6] = [0.0, 0.6, -0.4, 0.9, -0.8, -0.3];
const WIGGLE2: [f64; 6] = [-0.5, 0.2, 0.8, -0.9, 0.4, 0.0];

fn series(center: f64, spread: f64, wiggle: &[f64], n: usize) -> Vec<f64> {
    (0..n)
        .map(|i| center * (1.0 + spread * wiggle[i % wiggle.len()]))
        .collect()
}

/// One row of aggregated/throughput.csv: the columns the summary writes
/// that a comparison reads, with `bound` as the summary gives it.
#[derive(Clone)]
struct TpRow {
    variant: String,
    workload: String,
    connections: usize,
    repeat: usize,
    rps: f64,
    cpu_ms_per_1k: f64,
    bound: &'static str,
}

/// One synthetic run folder.
struct Run {
    throughput: Vec<TpRow>,
    cold: Vec<ColdSample>,
    /// (file stem, rows of (repeat, latency_us)).
    warm: Vec<(String, Vec<(usize, f64)>)>,
    instructions: Vec<InstructionsRaw>,
    variants: Vec<VariantStatus>,
    cells: Vec<Cell>,
}

impl Run {
    fn new() -> Run {
        Run {
            throughput: Vec::new(),
            cold: Vec::new(),
            warm: Vec::new(),
            instructions: Vec::new(),
            variants: Vec::new(),
            cells: Vec::new(),
        }
    }

    fn rps(self, variant: &str, workload: &str, c: usize, values: &[f64]) -> Run {
        let cpu = vec![80.0; values.len()];
        self.cell_of("gateway", variant, workload, c, values, &cpu)
    }

    /// A throughput cell with its bound and CPU ms per 1000 requests.
    fn cell_of(
        mut self,
        bound: &'static str,
        variant: &str,
        workload: &str,
        c: usize,
        rps: &[f64],
        cpu: &[f64],
    ) -> Run {
        for (repeat, (&rps, &cpu)) in rps.iter().zip(cpu).enumerate() {
            self.throughput.push(TpRow {
                variant: variant.to_owned(),
                workload: workload.to_owned(),
                connections: c,
                repeat,
                rps,
                cpu_ms_per_1k: cpu,
                bound,
            });
        }
        self
    }

    /// Instructions per request, one record per repeat.
    fn instructions(mut self, variant: &str, workload: &str, per_request: &[f64]) -> Run {
        for (repeat, &ipr) in per_request.iter().enumerate() {
            let total = (ipr * 10.0).round() as u64;
            self.instructions.push(InstructionsRaw {
                variant: variant.to_owned(),
                workload: workload.to_owned(),
                path: "/".to_owned(),
                repeat,
                warmup: 3,
                requests: 10,
                gateway: vec![total / 10; 10],
                children: Vec::new(),
                total,
                instructions_per_request: total as f64 / 10.0,
                gateway_raw: vec![total / 10; 10],
                children_raw: Vec::new(),
                raw_total: total,
                raw_instructions_per_request: total as f64 / 10.0,
                allocator_calls: 80,
                allocator_call_cost: 100,
                allocator_symbols: true,
                tool: "valgrind-3.19.0".to_owned(),
                options: Vec::new(),
            });
        }
        self
    }

    /// The variant as the run's manifest lists it.
    fn variant(mut self, name: &str, status: &str, reason: Option<&str>) -> Run {
        self.variants.push(VariantStatus {
            name: name.to_owned(),
            status: VariantState::from_name(status).expect("a variant status"),
            reason: reason.map(str::to_owned),
        });
        self
    }

    /// A failed cell in the manifest.
    fn failed(
        mut self,
        suite: &str,
        variant: &str,
        workload: &str,
        detail: &str,
        level: Option<&str>,
        error: &str,
    ) -> Run {
        let mut cell = Cell::new(
            Suite::from_name(suite).expect("a suite"),
            variant,
            Some(workload),
            detail,
            Outcome::Failed(error.to_owned()),
        )
        .repeat(0);
        cell.level = level.map(str::to_owned);
        self.cells.push(cell);
        self
    }

    /// Cold start: each repeat's samples spread around the repeat's value.
    fn cold(mut self, variant: &str, per_repeat_ms: &[f64]) -> Run {
        for (repeat, &ms) in per_repeat_ms.iter().enumerate() {
            for (sample, f) in [0.98, 1.0, 1.03, 0.99, 1.01].iter().enumerate() {
                self.cold.push(ColdSample {
                    variant: variant.to_owned(),
                    repeat,
                    sample,
                    ms: ms * f,
                });
            }
        }
        self
    }

    fn warm(mut self, variant: &str, workload: &str, per_repeat_us: &[f64]) -> Run {
        let mut rows = Vec::new();
        for (repeat, &us) in per_repeat_us.iter().enumerate() {
            for f in [0.95, 1.0, 1.1] {
                rows.push((repeat, us * f));
            }
        }
        self.warm
            .push((format!("{variant}__{workload}__persistent"), rows));
        self
    }

    fn write(&self, root: &Path, revision: &str) {
        let manifest = Manifest {
            schema: 1,
            command: "synthetic".to_owned(),
            suites: vec!["cold".into(), "warm".into(), "throughput".into()],
            profile: serde_json::from_value(serde_json::json!({"name": "ci", "repeats": 6}))
                .unwrap(),
            status: "complete".to_owned(),
            git: Git {
                revision: revision.to_owned(),
                dirty: false,
                ..Default::default()
            },
            variants: self.variants.clone(),
            cells: self.cells.clone(),
            ..Manifest::default()
        };
        manifest.write(root).unwrap();
        if !self.throughput.is_empty() {
            let mut text = "variant,workload,connections,repeat,duration_s,requests,rps,p50_us,p90_us,p99_us,errors,rss_peak_kb,rss_mean_kb,cpu_pct_mean,cpu_ms_per_1k,bound\n".to_owned();
            for r in &self.throughput {
                text.push_str(&format!(
                    "{},{},{},{},3.0,{},{},800,1200,2500,0,4000,3900.0,99.0,{},{}\n",
                    r.variant,
                    r.workload,
                    r.connections,
                    r.repeat,
                    (r.rps * 3.0) as u64,
                    r.rps,
                    r.cpu_ms_per_1k,
                    r.bound
                ));
            }
            let path = root.join("aggregated/throughput.csv");
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        for r in &self.instructions {
            let name = InstructionsRaw::file_name(&r.variant, &r.workload, r.repeat);
            xtask::results::write_json(&root.join("raw/instructions").join(name), r).unwrap();
        }
        let mut variants: Vec<&str> = self.cold.iter().map(|c| c.variant.as_str()).collect();
        variants.dedup();
        for v in variants {
            let rows: Vec<&ColdSample> = self.cold.iter().filter(|c| c.variant == v).collect();
            xtask::results::write_csv(&root.join(format!("raw/cold/{v}.csv")), &rows).unwrap();
        }
        for (stem, rows) in &self.warm {
            let mut text = "i,latency_us,repeat\n".to_owned();
            for (i, (repeat, us)) in rows.iter().enumerate() {
                text.push_str(&format!("{i},{us},{repeat}\n"));
            }
            let path = root.join(format!("raw/warm/{stem}.csv"));
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
    }
}

fn compare(base: &Path, head: &Path, extra: &[&str]) -> Output {
    Command::new(crate::support::xtask_exe())
        .arg("compare")
        .arg(base)
        .arg(head)
        .args(extra)
        .output()
        .unwrap()
}

/// Write base and head, compare with --json, return (exit code, json, output).
fn run_pair(name: &str, base: Run, head: Run) -> (i32, serde_json::Value, String) {
    let dir = temp!(name);
    let (b, h) = (dir.join("base"), dir.join("head"));
    base.write(&b, "b".repeat(40).as_str());
    head.write(&h, "e".repeat(40).as_str());
    let json = dir.join("compare.json");
    let md = dir.join("compare.md");
    let out = compare(
        &b,
        &h,
        &[
            "--json",
            json.to_str().unwrap(),
            "--markdown",
            md.to_str().unwrap(),
        ],
    );
    let code = out.status.code().unwrap();
    let value = if code == 2 {
        serde_json::Value::Null
    } else {
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
        assert_eq!(
            std::fs::read_to_string(&md).unwrap().trim(),
            String::from_utf8_lossy(&out.stdout).trim(),
            "--markdown holds what is printed"
        );
        v
    };
    let _ = std::fs::remove_dir_all(&dir);
    (code, value, text(&out))
}

fn rows_with(v: &serde_json::Value, verdict: &str) -> Vec<String> {
    v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["verdict"] == verdict)
        .map(|r| {
            format!(
                "{} {} {} {}",
                r["suite"].as_str().unwrap(),
                r["variant"].as_str().unwrap(),
                r["workload"].as_str().unwrap(),
                r["level"].as_str().unwrap()
            )
        })
        .collect()
}

/// A full synthetic run: throughput at two levels, cold, warm.
fn full(rps: f64, spread: f64, wiggle: &[f64], cold_ms: f64, warm_us: f64) -> Run {
    Run::new()
        .rps("native_local", "hello", 10, &series(rps, spread, wiggle, 6))
        .rps(
            "native_local",
            "hello",
            100,
            &series(rps * 0.9, spread, wiggle, 6),
        )
        .rps(
            "wasm_host_wasmtime_embedded",
            "compute",
            10,
            &series(rps / 40.0, spread, wiggle, 6),
        )
        .cold("native_local", &series(cold_ms, spread, wiggle, 6))
        .warm("native_local", "hello", &series(warm_us, spread, wiggle, 6))
}

#[test]
fn identical_runs_are_no_change() {
    let (code, v, out) = run_pair(
        "identical",
        full(12_000.0, 0.02, &WIGGLE, 1.0, 60.0),
        full(12_000.0, 0.02, &WIGGLE, 1.0, 60.0),
    );
    assert_eq!(code, 0, "{out}");
    assert_eq!(v["verdict"], "no change");
    assert_eq!(v["regressions"], 0);
    assert_eq!(v["improvements"], 0);
    // 3 throughput cells, 1 cold, 1 warm.
    assert_eq!(v["rows"].as_array().unwrap().len(), 5, "{out}");
    for r in v["rows"].as_array().unwrap() {
        assert!((r["ratio"].as_f64().unwrap() - 1.0).abs() < 1e-9);
    }
    assert!(out.contains("no change"), "{out}");
    assert!(out.contains("Welch"), "the method is named: {out}");
}

#[test]
fn twenty_percent_slower_with_tight_spread_is_a_regression() {
    let base = full(12_000.0, 0.01, &WIGGLE, 1.0, 60.0);
    // Head: native_local hello throughput 20% lower at both levels, the rest equal.
    let head = Run::new()
        .rps(
            "native_local",
            "hello",
            10,
            &series(12_000.0 * 0.8, 0.01, &WIGGLE2, 6),
        )
        .rps(
            "native_local",
            "hello",
            100,
            &series(12_000.0 * 0.9 * 0.8, 0.01, &WIGGLE2, 6),
        )
        .rps(
            "wasm_host_wasmtime_embedded",
            "compute",
            10,
            &series(300.0, 0.01, &WIGGLE, 6),
        )
        .cold("native_local", &series(1.0, 0.01, &WIGGLE, 6))
        .warm("native_local", "hello", &series(60.0, 0.01, &WIGGLE, 6));
    let (code, v, out) = run_pair("slower", base, head);
    assert_eq!(code, 1, "a regression exits 1: {out}");
    assert_eq!(v["verdict"], "regression");
    assert_eq!(
        rows_with(&v, "regression"),
        [
            "throughput native_local hello c10",
            "throughput native_local hello c100"
        ]
    );
    let row = &v["rows"][0];
    assert!((row["change_pct"].as_f64().unwrap() + 20.0).abs() < 0.5);
    assert!(row["ci_high_pct"].as_f64().unwrap() < -5.0, "{row}");
    // Regressions lead the markdown table.
    let table: Vec<&str> = out.lines().filter(|l| l.starts_with("| ")).collect();
    assert!(table[2].contains("regression"), "{table:?}");
    assert!(table[3].contains("regression"), "{table:?}");
    assert!(table[4].contains("no change"), "{table:?}");
}

#[test]
fn a_noisy_three_percent_difference_is_no_change() {
    let base = Run::new().rps(
        "native_local",
        "hello",
        10,
        &series(10_000.0, 0.08, &WIGGLE, 6),
    );
    let head = Run::new().rps(
        "native_local",
        "hello",
        10,
        &series(9_700.0, 0.08, &WIGGLE2, 6),
    );
    let (code, v, out) = run_pair("noisy", base, head);
    assert_eq!(code, 0, "{out}");
    let row = &v["rows"][0];
    assert_eq!(row["verdict"], "no change", "{row}");
    let change = row["change_pct"].as_f64().unwrap();
    assert!((-4.0..-2.0).contains(&change), "{change}");
    // The interval straddles the threshold: not enough evidence.
    assert!(row["ci_low_pct"].as_f64().unwrap() < -5.0);
    assert!(row["ci_high_pct"].as_f64().unwrap() > -5.0);
}

#[test]
fn improvements_are_reported_as_such_in_both_directions() {
    let base = full(12_000.0, 0.01, &WIGGLE, 2.0, 80.0);
    // 25% more throughput everywhere, cold and warm 30% lower (better).
    let head = full(15_000.0, 0.01, &WIGGLE2, 1.4, 56.0);
    let (code, v, out) = run_pair("better", base, head);
    assert_eq!(code, 0, "an improvement is not a failure: {out}");
    assert_eq!(v["verdict"], "improvement");
    assert_eq!(v["regressions"], 0);
    assert_eq!(v["improvements"], 5, "{out}");
    assert!(out.contains("🟢 improvement"), "{out}");
}

#[test]
fn slower_cold_start_and_warm_latency_are_regressions() {
    let base = full(12_000.0, 0.01, &WIGGLE, 1.0, 60.0);
    // Lower is better for latency: head 50% higher.
    let head = full(12_000.0, 0.01, &WIGGLE, 1.5, 90.0);
    let (code, v, out) = run_pair("latency", base, head);
    assert_eq!(code, 1, "{out}");
    assert_eq!(
        rows_with(&v, "regression"),
        [
            "warm native_local hello persistent",
            "cold native_local hello "
        ]
    );
}

#[test]
fn the_threshold_decides_what_counts() {
    let dir = temp!("threshold");
    let (b, h) = (dir.join("base"), dir.join("head"));
    Run::new()
        .rps(
            "native_local",
            "hello",
            10,
            &series(10_000.0, 0.005, &WIGGLE, 6),
        )
        .write(&b, "b");
    Run::new()
        .rps(
            "native_local",
            "hello",
            10,
            &series(9_200.0, 0.005, &WIGGLE2, 6),
        )
        .write(&h, "h");
    assert_eq!(compare(&b, &h, &[]).status.code(), Some(1), "8% > 5%");
    let lenient = compare(&b, &h, &["--threshold", "10"]);
    assert_eq!(lenient.status.code(), Some(0), "{}", text(&lenient));
    let boot = compare(&b, &h, &["--method", "bootstrap"]);
    assert_eq!(boot.status.code(), Some(1), "{}", text(&boot));
    assert!(text(&boot).contains("bootstrap"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn garbage_input_exits_2_with_a_message() {
    let dir = temp!("garbage");
    let good = dir.join("good");
    full(12_000.0, 0.01, &WIGGLE, 1.0, 60.0).write(&good, "g");

    // Not a run folder at all.
    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let out = compare(&good, &empty, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("manifest.json is missing"),
        "{}",
        text(&out)
    );

    // Missing folder.
    let out = compare(&good, &dir.join("nope"), &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("does not exist"), "{}", text(&out));

    // A manifest that is not JSON.
    let bad = dir.join("bad-manifest");
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::write(bad.join("manifest.json"), "{ not json").unwrap();
    let out = compare(&good, &bad, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("manifest.json"), "{}", text(&out));

    // A throughput table with garbage in it names the file.
    let corrupt = dir.join("corrupt");
    full(12_000.0, 0.01, &WIGGLE, 1.0, 60.0).write(&corrupt, "c");
    std::fs::write(
        corrupt.join("aggregated/throughput.csv"),
        "variant,workload,connections\nnative_local,hello,lots\n",
    )
    .unwrap();
    let out = compare(&good, &corrupt, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("throughput.csv"), "{}", text(&out));

    // Too few repeats: says which cell and how many.
    let two = dir.join("two");
    Run::new()
        .rps("native_local", "hello", 10, &[10_000.0, 10_100.0])
        .write(&two, "t");
    let out = compare(&good, &two, &[]);
    assert_eq!(out.status.code(), Some(2));
    let msg = text(&out);
    assert!(msg.contains("too few repeats"), "{msg}");
    assert!(
        msg.contains("throughput native_local hello c10: base has 6 repeat(s), head has 2"),
        "{msg}"
    );

    // Nothing in common.
    let other = dir.join("other");
    Run::new()
        .rps(
            "native_docker",
            "state",
            50,
            &series(5_000.0, 0.01, &WIGGLE, 6),
        )
        .write(&other, "o");
    let out = compare(&good, &other, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("no cell in common"), "{}", text(&out));

    // Bad options.
    let out = compare(&good, &good, &["--confidence", "120"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("--confidence"), "{}", text(&out));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn cells_in_one_run_only_are_listed_not_failed() {
    let base = full(12_000.0, 0.01, &WIGGLE, 1.0, 60.0);
    let head = full(12_000.0, 0.01, &WIGGLE, 1.0, 60.0).rps(
        "wasm_host_wasmtime",
        "hello",
        10,
        &series(90.0, 0.01, &WIGGLE, 6),
    );
    let (code, v, out) = run_pair("one-sided", base, head);
    assert_eq!(code, 0, "{out}");
    let missing = v["not_compared"].as_array().unwrap();
    assert!(
        missing
            .iter()
            .any(|m| m == "throughput wasm_host_wasmtime hello c10: only in head"),
        "{missing:?}"
    );
}

#[test]
fn the_library_and_the_command_agree() {
    let dir = temp!("library");
    let (b, h) = (dir.join("base"), dir.join("head"));
    full(12_000.0, 0.02, &WIGGLE, 1.0, 60.0).write(&b, "b");
    full(11_000.0, 0.02, &WIGGLE2, 1.0, 60.0).write(&h, "h");
    let c = xtask::compare::compare_dirs(&b, &h, &Default::default(), "t").unwrap();
    let out = compare(&b, &h, &[]);
    assert_eq!(out.status.code(), Some(c.exit_code()));
    assert!(c.widest_bound_pct > 0.0);
    assert_eq!(
        c.supported_threshold_pct,
        c.widest_bound_pct.ceil().max(1.0)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Instructions per request are a count: one repeat per side is enough,
/// and 2% more is a regression against the 1% default, whatever the spread
/// of the timing cells beside it.
#[test]
fn two_percent_more_instructions_is_a_regression() {
    let base = Run::new()
        .instructions("native_local", "hello", &[12_467.0])
        .instructions("wasm_host_wasmtime_embedded", "hello", &[67_948.3]);
    let head = Run::new()
        .instructions("native_local", "hello", &[12_467.0 * 1.02])
        .instructions("wasm_host_wasmtime_embedded", "hello", &[67_995.3]);
    let (code, v, out) = run_pair("instr-2pct", base, head);
    assert_eq!(code, 1, "{out}");
    assert_eq!(
        rows_with(&v, "regression"),
        ["instructions native_local hello "]
    );
    // +0.07% (the count's own spread across processes) is no change.
    assert_eq!(
        rows_with(&v, "no change"),
        ["instructions wasm_host_wasmtime_embedded hello "]
    );
    assert_eq!(v["instructions_threshold_pct"], 1.0);
    let row = &v["rows"][0];
    assert_eq!(row["figure"], "instructions/req");
    assert!(
        (row["change_pct"].as_f64().unwrap() - 2.0).abs() < 0.01,
        "{row}"
    );
    assert!(out.contains("instructions threshold 1%"), "{out}");
    assert!(out.contains("+2.00%"), "{out}");
}

#[test]
fn the_instructions_threshold_is_its_own() {
    let dir = temp!("instr-threshold");
    let (b, h) = (dir.join("base"), dir.join("head"));
    Run::new()
        .instructions("native_local", "hello", &[10_000.0, 10_001.0])
        .write(&b, "b");
    Run::new()
        .instructions("native_local", "hello", &[10_150.0, 10_149.0])
        .write(&h, "h");
    assert_eq!(compare(&b, &h, &[]).status.code(), Some(1), "1.5% > 1%");
    let out = compare(&b, &h, &["--instructions-threshold", "2"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // --threshold is the timing cells' and does not loosen the count's.
    let out = compare(&b, &h, &["--threshold", "10"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    // Fewer instructions: an improvement, exit 0.
    let out = compare(&h, &b, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("improvement"), "{}", text(&out));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Issue 8, defect 9: a variant base measured and head did not (it failed
/// to start in head) fails the check, with the reason from head's manifest
/// in the markdown a workflow puts in the job summary.
#[test]
fn a_variant_that_failed_in_head_fails_the_check() {
    let base = full(12_000.0, 0.01, &WIGGLE, 1.0, 60.0)
        .variant("native_local", "ran", None)
        .variant("wasm_host_wasmtime_embedded", "ran", None);
    let head = Run::new()
        .rps(
            "native_local",
            "hello",
            10,
            &series(12_000.0, 0.01, &WIGGLE, 6),
        )
        .rps(
            "native_local",
            "hello",
            100,
            &series(12_000.0 * 0.9, 0.01, &WIGGLE, 6),
        )
        .cold("native_local", &series(1.0, 0.01, &WIGGLE, 6))
        .warm("native_local", "hello", &series(60.0, 0.01, &WIGGLE, 6))
        .variant("native_local", "ran", None)
        .variant(
            "wasm_host_wasmtime_embedded",
            "failed",
            Some("start: wasm_host_wasmtime_embedded exited before listening"),
        )
        .failed(
            "throughput",
            "wasm_host_wasmtime_embedded",
            "compute",
            "closed loop, 10 connections, one request per connection",
            Some("c10"),
            "start: wasm_host_wasmtime_embedded exited before listening (exit status: 1)",
        );
    let (code, v, out) = run_pair("head-failed", base, head);
    assert_eq!(code, 1, "a broken head is not a pass: {out}");
    assert_eq!(v["regressions"], 0, "{out}");
    let failures = v["failures"].as_array().unwrap();
    assert_eq!(failures.len(), 1, "{out}");
    assert_eq!(
        failures[0]["cell"],
        "throughput wasm_host_wasmtime_embedded compute c10"
    );
    let reason = failures[0]["reason"].as_str().unwrap();
    assert!(reason.contains("exited before listening"), "{reason}");
    assert!(out.contains("Failed in head"), "{out}");
    assert!(out.contains("exited before listening"), "{out}");
    assert!(
        out.lines()
            .next()
            .unwrap()
            .contains("1 cell base measured and head did not"),
        "{out}"
    );
}

/// A variant head skipped (its runtime missing) where base measured it is a
/// failure too, with the skip's reason.
#[test]
fn a_variant_skipped_in_head_fails_with_the_skip_reason() {
    let base = Run::new()
        .instructions("native_local", "hello", &[12_467.0])
        .instructions("wasm_host_wasmtime", "hello", &[9_020_838.0])
        .variant("native_local", "ran", None)
        .variant("wasm_host_wasmtime", "ran", None);
    let head = Run::new()
        .instructions("native_local", "hello", &[12_467.0])
        .variant("native_local", "ran", None)
        .variant("wasm_host_wasmtime", "skipped", Some("wasmtime not found"));
    let (code, v, out) = run_pair("head-skipped", base, head);
    assert_eq!(code, 1, "{out}");
    let reason = v["failures"][0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("variant skipped: wasmtime not found"),
        "{reason}"
    );
}

/// 0 requests/s in every repeat of head (the gateway answered nothing) is a
/// failure, not a cell left out.
#[test]
fn zero_rps_in_head_fails_the_check() {
    let base = Run::new()
        .rps(
            "native_local",
            "hello",
            10,
            &series(12_000.0, 0.01, &WIGGLE, 6),
        )
        .variant("native_local", "ran", None);
    let head = Run::new()
        .rps("native_local", "hello", 10, &[0.0; 6])
        .variant("native_local", "ran", None);
    let (code, v, out) = run_pair("zero-rps", base, head);
    assert_eq!(code, 1, "{out}");
    let reason = v["failures"][0]["reason"].as_str().unwrap();
    assert!(reason.contains("not a positive number"), "{reason}");
}

/// A round that failed in head (one repeat lost, with its error in the
/// manifest) fails the check even though the other repeats compare fine.
#[test]
fn a_failed_round_in_head_fails_the_check() {
    let base = Run::new()
        .rps(
            "native_local",
            "hello",
            10,
            &series(12_000.0, 0.01, &WIGGLE, 6),
        )
        .variant("native_local", "ran", None);
    let head = Run::new()
        .rps(
            "native_local",
            "hello",
            10,
            &series(12_000.0, 0.01, &WIGGLE, 5),
        )
        .variant("native_local", "failed", Some("the gateway died"))
        .failed(
            "throughput",
            "native_local",
            "hello",
            "closed loop, 10 connections, one request per connection",
            // As an older manifest has it: found by its detail.
            None,
            "the gateway exited during the cell (signal 11)",
        );
    let (code, v, out) = run_pair("failed-round", base, head);
    assert_eq!(code, 1, "{out}");
    assert_eq!(v["rows"][0]["verdict"], "no change", "{out}");
    let reason = v["failures"][0]["reason"].as_str().unwrap();
    assert!(reason.contains("signal 11"), "{reason}");
}

/// Issue 8, defect 3: a client-bound cell's rps measures the load
/// generator, so an 11% increase of the gateway's CPU per request there
/// (21.6 -> 23.9 ms per 1000 requests) is judged on CPU, and flagged.
#[test]
fn a_client_bound_cell_is_judged_on_cpu_per_request() {
    let rps_b = series(9_000.0, 0.03, &WIGGLE, 6);
    let rps_h = series(9_060.0, 0.03, &WIGGLE2, 6);
    let base = Run::new().cell_of(
        "client",
        "native_local",
        "hello",
        100,
        &rps_b,
        &series(21.6, 0.01, &WIGGLE, 6),
    );
    let head = Run::new().cell_of(
        "client",
        "native_local",
        "hello",
        100,
        &rps_h,
        &series(23.9, 0.01, &WIGGLE2, 6),
    );
    let (code, v, out) = run_pair("client-bound", base, head);
    assert_eq!(code, 1, "{out}");
    let row = &v["rows"][0];
    assert_eq!(row["verdict"], "regression", "{row}");
    assert_eq!(row["figure"], "CPU ms/1k req");
    assert_eq!(row["higher_is_better"], false);
    assert!(
        (row["change_pct"].as_f64().unwrap() - 10.6).abs() < 1.0,
        "{row}"
    );
    assert!(out.contains("client-bound"), "{out}");
    // The same cell bound by the gateway is judged on rps: no change.
    let base = Run::new().cell_of(
        "gateway",
        "native_local",
        "hello",
        100,
        &rps_b,
        &series(21.6, 0.01, &WIGGLE, 6),
    );
    let head = Run::new().cell_of(
        "gateway",
        "native_local",
        "hello",
        100,
        &rps_h,
        &series(23.9, 0.01, &WIGGLE2, 6),
    );
    let (code, v, out) = run_pair("gateway-bound", base, head);
    assert_eq!(code, 0, "{out}");
    assert_eq!(v["rows"][0]["figure"], "rps");
}

/// The whole pipeline on real gateways: `bench aa` runs one build against
/// itself in interleaved rounds, with the calibration knob slowing the head
/// arm by 2 ms per request; the merged run folders are ordinary runs with
/// one repeat per round, and the detector flags the slowdown (exit 1).
#[test]
fn bench_aa_with_the_calibration_knob_flags_head() {
    let _turn = one_bench_at_a_time();
    let out = temp!("aa").join("ab");
    let run = Command::new(crate::support::xtask_exe())
        .args([
            "bench",
            "aa",
            "--no-build",
            "--variants",
            "native_local",
            "--workloads",
            "hello",
            "--connections",
            "4",
            "--duration",
            "0.3",
            "--rounds",
            "3",
            "--no-report",
            "--head-env",
            "GATEWAY_CALIBRATION_DELAY_US=2000",
            "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    let log = text(&run);
    assert_eq!(run.status.code(), Some(1), "the slowdown is flagged: {log}");
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("compare.json")).unwrap()).unwrap();
    // 2 ms per request makes hello 20-30x slower: warm p50, throughput
    // and cold start all move. Which cells clear the 99% bar with 3 rounds
    // depends on the machine's noise (a busy neighbour can stall a round),
    // so only "at least one" is asserted; warm p50 nearly always is.
    let regressions = rows_with(&v, "regression");
    assert!(!regressions.is_empty(), "{log}");
    assert!(
        regressions.iter().all(|r| r.contains("native_local hello")),
        "{regressions:?}"
    );
    assert_eq!(v["aa"], false, "a calibration run is not an A/A");
    assert!(std::fs::read_to_string(out.join("compare.md"))
        .unwrap()
        .contains("calibration"));
    let ab: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("ab.json")).unwrap()).unwrap();
    assert_eq!(
        ab["order"],
        serde_json::json!(["base", "head", "head", "base", "base", "head"])
    );
    for arm in ["base", "head"] {
        let root = out.join(arm);
        let m: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(root.join("manifest.json")).unwrap())
                .unwrap();
        assert_eq!(m["status"], "complete", "{arm}");
        // Each arm is an ordinary run folder: the summary rebuilds from raw/.
        let s = summary::compute(&root).unwrap();
        let repeats: Vec<usize> = s.throughput.iter().map(|r| r.repeat).collect();
        assert_eq!(repeats, [0, 1, 2], "{arm}: one repeat per round");
        let cold_repeats: std::collections::BTreeSet<String> =
            std::fs::read_to_string(root.join("raw/cold/native_local.csv"))
                .unwrap()
                .lines()
                .skip(1)
                .map(|l| l.split(',').nth(1).unwrap().to_owned())
                .collect();
        assert_eq!(cold_repeats.len(), 3, "{arm}");
        assert!(root.join("aggregated/throughput.csv").exists());
        assert!(root.join("meta/rounds/r0").is_dir());
    }
    assert!(!out.join("rounds").exists() && !out.join("bin").exists());
    let _ = std::fs::remove_dir_all(out.parent().unwrap());
}
