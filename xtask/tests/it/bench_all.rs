//! A small end-to-end `bench all`: tiny durations, `native_local` and the
//! embedded Wasm variant. Checks the run folder's files, CSV headers, and
//! that values are positive and consistent. Needs `cargo xtask build` first.

use crate::support::one_bench_at_a_time;

use std::path::Path;
use std::process::Command;

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Rows of a CSV as (header, records).
fn csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let text = read(path);
    let mut lines = text.lines();
    let header = lines
        .next()
        .unwrap()
        .split(',')
        .map(str::to_owned)
        .collect();
    let rows = lines
        .map(|l| l.split(',').map(str::to_owned).collect())
        .collect();
    (header, rows)
}

fn col(header: &[String], name: &str) -> usize {
    header
        .iter()
        .position(|h| h == name)
        .unwrap_or_else(|| panic!("no column {name} in {header:?}"))
}

#[test]
fn bench_all_writes_a_complete_consistent_run() {
    let _turn = one_bench_at_a_time();
    let out = std::env::temp_dir().join(format!("wgb-bench-all-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let status = Command::new(crate::support::xtask_exe())
        .args([
            "bench",
            "all",
            "--variants",
            "native_local,wasm_host_wasmtime_embedded,wasm_host_cli",
            "--workloads",
            "hello,state,proxy",
            "--connections",
            "2,8",
            "--duration",
            "0.4",
            "--repeats",
            "2",
            "--cold-samples",
            "2",
            "--warm-requests",
            "15",
            "--rate",
            "200",
            "--out",
        ])
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success(), "bench all failed: {status}");

    let manifest: serde_json::Value =
        serde_json::from_str(&read(&out.join("manifest.json"))).unwrap();
    assert_eq!(manifest["status"], "complete");
    assert_eq!(
        manifest["suites"],
        serde_json::json!(["cold", "warm", "throughput"])
    );
    for key in [
        "rustc",
        "wasmtime_crate",
        "wasmtime_cli",
        "docker",
        "kernel",
    ] {
        assert!(
            manifest["versions"][key]
                .as_str()
                .is_some_and(|v| !v.is_empty()),
            "versions.{key}"
        );
    }
    assert!(manifest["git"]["revision"].as_str().unwrap().len() >= 7);
    assert!(manifest["machine"]["cpus"].as_u64().unwrap() >= 1);
    assert!(manifest["pinning"]["enabled"].is_boolean());
    assert!(manifest["finished"].is_string());
    let variants = manifest["variants"].as_array().unwrap();
    let status_of = |name: &str| {
        variants
            .iter()
            .find(|v| v["name"] == name)
            .map(|v| v["status"].as_str().unwrap().to_owned())
    };
    assert_eq!(status_of("native_local").as_deref(), Some("ran"));
    assert_eq!(
        status_of("wasm_host_wasmtime_embedded").as_deref(),
        Some("ran")
    );
    // wasm_host_cli follows the machine: measured where wasmedge is
    // installed (CI sets WASMEDGE), skipped with the reason where it is not.
    let cli = variants
        .iter()
        .find(|v| v["name"] == "wasm_host_cli")
        .unwrap();
    let n: usize = match xtask::tools::wasmedge() {
        Ok(found) => {
            assert_eq!(cli["status"], "ran", "{cli}");
            assert_eq!(manifest["versions"]["wasmedge"], found.version.as_str());
            let mode = manifest["versions"]["wasmedge_mode"].as_str().unwrap();
            assert!(mode.contains("interpreter"), "{mode}");
            3
        }
        Err(_) => {
            assert_eq!(cli["status"], "skipped", "{cli}");
            assert!(cli["reason"]
                .as_str()
                .unwrap()
                .contains("wasmedge not found"));
            2
        }
    };
    let cells = manifest["cells"].as_array().unwrap();
    assert!(cells.iter().all(|c| c["status"] == "ok"), "{cells:?}");
    // cold: n variants x 3 repeats; warm: n x 3 workloads x (3 persistent
    // repeats + 1 curl, which may be missing); throughput: n x 3 x (2 levels
    // + 1 keep-alive level + 1 rate) x 2 repeats.
    let count = |suite: &str| cells.iter().filter(|c| c["suite"] == suite).count();
    assert_eq!(count("cold"), 3 * n);
    assert!(count("warm") >= 9 * n);
    assert_eq!(count("throughput"), 24 * n);
    for cell in cells {
        let raw = cell["raw"].as_str().unwrap();
        assert!(out.join(raw).exists(), "{raw}");
    }
    assert!(read(&out.join("meta/env_snapshot.txt")).contains("## kernel"));

    let (h, rows) = csv(&out.join("summary/cold_start.csv"));
    assert_eq!(
        h.join(","),
        "variant,n,p50_ms,p90_ms,p99_ms,mean_ms,min_ms,max_ms"
    );
    assert_eq!(rows.len(), n);
    for r in &rows {
        assert_eq!(r[col(&h, "n")], "6");
        let p50: f64 = r[col(&h, "p50_ms")].parse().unwrap();
        let min: f64 = r[col(&h, "min_ms")].parse().unwrap();
        let max: f64 = r[col(&h, "max_ms")].parse().unwrap();
        assert!(p50 > 0.0 && min <= p50 && p50 <= max, "{r:?}");
    }

    let (h, rows) = csv(&out.join("summary/warm_latency.csv"));
    assert_eq!(
        h.join(","),
        "variant,workload,client,n,p50_us,p90_us,p99_us,mean_us"
    );
    assert!(rows.len() >= 3 * n);
    for r in &rows {
        // Persistent: 3 repeats of 15; curl: the first repeat only.
        let expected = if r[col(&h, "client")] == "curl" {
            "15"
        } else {
            "45"
        };
        assert_eq!(r[col(&h, "n")], expected, "{r:?}");
        let p50: u64 = r[col(&h, "p50_us")].parse().unwrap();
        let p99: u64 = r[col(&h, "p99_us")].parse().unwrap();
        assert!(p50 > 0 && p50 <= p99, "{r:?}");
    }

    let (h, rows) = csv(&out.join("aggregated/throughput.csv"));
    assert_eq!(
        h.join(","),
        "variant,workload,mode,connections,repeat,duration_s,requests,rps,p50_us,p90_us,p99_us,errors,rss_peak_kb,rss_mean_kb,gateway_cpu_pct,cpu_ms_per_1k,loadgen_cpu_pct,bound,little_ratio,steady,relay_cpu_pct,relay_rss_peak_kb"
    );
    assert_eq!(rows.len(), n * 3 * 3 * 2);
    let modes = |m: &str| rows.iter().filter(|r| r[col(&h, "mode")] == m).count();
    assert_eq!(modes("close"), n * 3 * 2 * 2);
    assert_eq!(modes("keep-alive"), n * 3 * 2);
    for r in &rows {
        let f = |name: &str| r[col(&h, name)].parse::<f64>().unwrap();
        assert!(f("requests") > 0.0 && f("rps") > 0.0, "{r:?}");
        let expected = f("requests") / f("duration_s");
        assert!(
            (f("rps") - expected).abs() <= expected * 0.01 + 0.01,
            "rps != requests/duration: {r:?}"
        );
        assert!(f("duration_s") > 0.3 && f("duration_s") < 0.6, "{r:?}");
        assert!(f("p50_us") > 0.0 && f("p50_us") <= f("p99_us"));
        assert_eq!(f("errors"), 0.0, "{r:?}");
        assert!(f("rss_peak_kb") > 0.0 && f("rss_mean_kb") > 0.0);
        assert!(f("rss_mean_kb") <= f("rss_peak_kb"));
        assert!(f("cpu_ms_per_1k") >= 0.0 && f("gateway_cpu_pct") >= 0.0);
        assert!(f("loadgen_cpu_pct") > 0.0, "the load thread's CPU: {r:?}");
        assert!(
            ["gateway", "client", "neither"].contains(&r[col(&h, "bound")].as_str()),
            "{r:?}"
        );
        assert!(f("little_ratio") > 0.0, "{r:?}");
        assert!(["true", "false"].contains(&r[col(&h, "steady")].as_str()));
        // No Docker variant here: no relay.
        assert!(r[col(&h, "relay_cpu_pct")].is_empty(), "{r:?}");
    }
    let (h, rows) = csv(&out.join("aggregated/open_loop.csv"));
    assert_eq!(rows.len(), n * 3 * 2);
    assert!(rows
        .iter()
        .all(|r| r[col(&h, "rate")].parse::<f64>().unwrap() == 200.0));

    // The report is rebuilt from raw/ alone, to the same bytes.
    let before = read(&out.join("aggregated/throughput.csv"));
    let status = Command::new(crate::support::xtask_exe())
        .arg("report")
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(read(&out.join("aggregated/throughput.csv")), before);
    std::fs::remove_dir_all(&out).unwrap();
}

/// A CLI variant at many connections leaves seconds of queued requests when
/// a cell ends; the next cell must not pay for them (it measured 0 rps
/// before the drain barrier between cells), whether they are worked off or
/// discarded by a restart.
#[test]
fn a_cells_leftover_queue_is_not_charged_to_the_next_cell() {
    let _turn = one_bench_at_a_time();
    let out = std::env::temp_dir().join(format!("wgb-bench-drain-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let output = Command::new(crate::support::xtask_exe())
        .args([
            "bench",
            "throughput",
            "--variants",
            "wasm_host_wasmtime",
            "--workloads",
            "hello",
            "--connections",
            "120,800,2",
            "--duration",
            "0.5",
            "--repeats",
            "1",
            "--keepalive-connections",
            "--no-report",
            "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    // 800 queued requests (seconds of them) are discarded by a restart.
    assert!(
        stderr.contains("restarting wasm_host_wasmtime: it left"),
        "{stderr}"
    );
    let (h, rows) = csv(&out.join("aggregated/throughput.csv"));
    assert_eq!(rows.len(), 3);
    for r in &rows {
        let requests: u64 = r[col(&h, "requests")].parse().unwrap();
        assert!(requests > 0, "a cell measured nothing: {r:?}");
    }
    std::fs::remove_dir_all(&out).unwrap();
}

/// Every argument is checked before the first long step: a misspelt
/// profile, variant, workload or role, or an `--out` that cannot take a
/// run, fails before anything is built (no build step is printed), naming
/// the valid values or what is wrong with the path.
#[test]
fn a_wrong_name_fails_before_the_build() {
    // A folder that already holds a run.
    let held = std::env::temp_dir().join(format!("wgb-held-run-{}", std::process::id()));
    std::fs::create_dir_all(&held).unwrap();
    std::fs::write(held.join("manifest.json"), "{}").unwrap();
    let held = held.to_str().unwrap().to_owned();
    let cases: [(&[&str], &str); 6] = [
        (
            &["--profile", "qiuck"],
            "unknown profile \"qiuck\"; use quick, ci, standard or full",
        ),
        (
            &["--variants", "native_locl"],
            "unknown variant \"native_locl\"; the variants are native_local,",
        ),
        (
            &["--workloads", "helo"],
            "unknown workload \"helo\"; the workloads are hello,",
        ),
        (
            &["--roles", "nativ"],
            "[possible values: baseline, container, in-process, process-per-request]",
        ),
        (
            &["--out", "/proc/wgb-no-such-run"],
            "--out /proc/wgb-no-such-run: cannot write in /proc",
        ),
        (
            &["--out", held.as_str()],
            "already holds a run; choose another --out",
        ),
    ];
    for (args, message) in cases {
        let output = Command::new(crate::support::xtask_exe())
            .args(["bench", "all"])
            .args(args)
            // As a user runs it: building first unless the arguments fail.
            .env_remove("WGB_NO_BUILD")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?}: {stdout}{stderr}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
        assert!(
            !stdout.contains("==>") && !stderr.contains("==>"),
            "{args:?} started a build step first: {stdout}{stderr}"
        );
    }
    let _ = std::fs::remove_dir_all(&held);
}

/// `bench micro` checks its folders before it builds the benchmarks.
#[test]
fn micro_checks_its_folder_before_the_build() {
    let output = Command::new(crate::support::xtask_exe())
        .args(["bench", "micro", "--into", "/nonexistent/wgb-run"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stdout}{stderr}");
    assert!(
        stderr.contains("/nonexistent/wgb-run is not a run folder (no manifest.json)"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("==> building the micro-benchmarks"),
        "built before checking: {stderr}"
    );
}
