//! `cargo xtask bench instructions` and the instruction-count gate on real
//! gateways under callgrind. Needs `cargo xtask build` first (as
//! bench_all.rs) and valgrind (`apt-get install valgrind`); without valgrind
//! each test says so and passes, as the suite itself skips with the reason.
//!
//! What is checked is behaviour, not speed: two processes of the same build
//! count the same instructions per request (within 0.1%), the calibration
//! knob GATEWAY_CALIBRATION_SPIN raises the count, and `bench aa --suite
//! instructions` exits 1 with the knob in head and 0 without it.

use std::path::Path;
use std::process::{Command, Output};

use crate::support::{one_bench_at_a_time, text};

fn valgrind() -> bool {
    let found = Command::new("valgrind")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        eprintln!("skipped: valgrind is not installed (apt-get install valgrind)");
    }
    found
}

/// `cargo xtask ARGS --out OUT`, measuring what is built (`cargo xtask
/// test` builds first; a test does not).
fn xtask(args: &[&str], out: &Path) -> Output {
    Command::new(crate::support::xtask_exe())
        .env("WGB_NO_BUILD", "true")
        .args(args)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap()
}

fn json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// `instructions_per_request` of each repeat of a cell.
fn per_request(root: &Path, variant: &str, workload: &str, repeats: usize) -> Vec<f64> {
    (0..repeats)
        .map(|r| {
            let v = json(&root.join(format!("raw/instructions/{variant}__{workload}__r{r}.json")));
            v["instructions_per_request"].as_f64().unwrap()
        })
        .collect()
}

fn spread_pct(values: &[f64]) -> f64 {
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (hi / lo - 1.0) * 100.0
}

#[test]
fn native_counts_repeat_and_the_spin_knob_raises_them() {
    let _turn = one_bench_at_a_time();
    if !valgrind() {
        return;
    }
    let dir = temp!("native");
    let plain = dir.join("plain");
    let out = xtask(
        &[
            "bench",
            "instructions",
            "--variants",
            "native_local",
            "--workloads",
            "hello",
            "--repeats",
            "2",
            "--requests",
            "5",
            "--warmup",
            "2",
        ],
        &plain,
    );
    assert!(out.status.success(), "{}", text(&out));
    let counts = per_request(&plain, "native_local", "hello", 2);
    assert!(counts[0] > 1_000.0, "{counts:?}");
    assert!(
        spread_pct(&counts) <= 0.1,
        "two processes differ: {counts:?}"
    );
    let raw = json(&plain.join("raw/instructions/native_local__hello__r0.json"));
    assert_eq!(raw["requests"], 5);
    assert_eq!(raw["gateway"].as_array().unwrap().len(), 5);
    assert!(raw["children"].as_array().unwrap().is_empty());
    // The summary: one row over both repeats, exactly these columns.
    let csv = std::fs::read_to_string(plain.join("summary/instructions.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("variant,workload,requests,instructions_per_request")
    );
    let row: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(row[..3], ["native_local", "hello", "10"]);
    assert!(lines.next().is_none());
    // Shown in the report.
    let report = std::fs::read_to_string(plain.join("report.md")).unwrap();
    assert!(report.contains("## Instructions per request"), "{report}");
    let m = json(&plain.join("manifest.json"));
    assert_eq!(m["status"], "complete");
    assert!(m["cells"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["suite"] == "instructions" && c["status"] == "ok"));

    // 1000 iterations of the spin loop: a few instructions each, per request.
    let spun = dir.join("spun");
    let out = xtask(
        &[
            "bench",
            "instructions",
            "--variants",
            "native_local",
            "--workloads",
            "hello",
            "--requests",
            "3",
            "--warmup",
            "1",
            "--no-report",
            "--env",
            "GATEWAY_CALIBRATION_SPIN=1000",
        ],
        &spun,
    );
    assert!(out.status.success(), "{}", text(&out));
    let more = per_request(&spun, "native_local", "hello", 1)[0] - counts[0];
    assert!(
        (2_000.0..=30_000.0).contains(&more),
        "the knob added {more} instructions per request"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Embedded Wasmtime: the whole-process count drifts (compiler threads, the
/// epoch thread, heap history), the request thread's allocator-normalized
/// count between checkpoints does not.
#[test]
fn embedded_counts_of_three_processes_agree_within_a_tenth_of_a_percent() {
    let _turn = one_bench_at_a_time();
    if !valgrind() {
        return;
    }
    let root = temp!("embedded");
    let out = xtask(
        &[
            "bench",
            "instructions",
            "--variants",
            "wasm_host_wasmtime_embedded",
            "--workloads",
            "hello",
            "--repeats",
            "3",
            "--no-report",
        ],
        &root,
    );
    assert!(out.status.success(), "{}", text(&out));
    let counts = per_request(&root, "wasm_host_wasmtime_embedded", "hello", 3);
    assert!(spread_pct(&counts) <= 0.1, "{counts:?}");
    let _ = std::fs::remove_dir_all(&root);
}

/// Docker variants are not counted: skipped, with the reason.
#[test]
fn docker_variants_are_skipped_with_a_reason() {
    let _turn = one_bench_at_a_time();
    if !valgrind() {
        return;
    }
    let root = temp!("docker");
    let out = xtask(
        &[
            "bench",
            "instructions",
            "--variants",
            "native_docker",
            "--workloads",
            "hello",
            "--no-report",
        ],
        &root,
    );
    assert!(out.status.success(), "{}", text(&out));
    let m = json(&root.join("manifest.json"));
    let v = &m["variants"][0];
    assert_eq!(v["status"], "skipped", "{v}");
    let reason = v["reason"].as_str().unwrap();
    assert!(!reason.is_empty());
    assert!(!root.join("raw/instructions").exists());
    let _ = std::fs::remove_dir_all(&root);
}

/// The calibration the issue asks for, on one build: `bench aa --suite
/// instructions` exits 1 when head's gateways spin (about +8% on hello)
/// and 0 when both arms are the same.
#[test]
fn bench_aa_suite_instructions_flags_the_spin_knob_and_passes_without_it() {
    let _turn = one_bench_at_a_time();
    if !valgrind() {
        return;
    }
    let dir = temp!("aa");
    let args = [
        "bench",
        "aa",
        "--no-build",
        "--suite",
        "instructions",
        "--variants",
        "native_local",
        "--workloads",
        "hello",
        "--rounds",
        "1",
        "--no-report",
    ];
    let flagged = dir.join("spin");
    let mut with_knob = args.to_vec();
    with_knob.extend(["--head-env", "GATEWAY_CALIBRATION_SPIN=100"]);
    let out = xtask(&with_knob, &flagged);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let c = json(&flagged.join("compare.json"));
    assert_eq!(c["regressions"], 1, "{c}");
    assert_eq!(c["rows"][0]["suite"], "instructions");
    let md = std::fs::read_to_string(flagged.join("compare.md")).unwrap();
    assert!(md.contains("GATEWAY_CALIBRATION_SPIN"), "{md}");
    // Each arm is an ordinary run folder with the count in its summary.
    for arm in ["base", "head"] {
        assert!(flagged
            .join(arm)
            .join("raw/instructions/native_local__hello__r0.json")
            .exists());
        assert!(flagged.join(arm).join("summary/instructions.csv").exists());
    }

    let same = dir.join("same");
    let out = xtask(&args, &same);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let c = json(&same.join("compare.json"));
    assert_eq!(c["aa"], true);
    assert!(c["widest_instructions_pct"].as_f64().unwrap() <= 0.1, "{c}");
    let _ = std::fs::remove_dir_all(&dir);
}
