//! Ctrl-C in the middle of a suite: the run stops, every process and
//! container it started is gone, and the manifest keeps what finished.

use crate::support::{alive, assert_no_containers, cells_done, exit_within, one_bench_at_a_time};

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Live descendants of `pid`, from /proc.
fn descendants(pid: u32) -> Vec<u32> {
    let mut parents = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(p) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
            continue;
        };
        let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
        if fields[0] != "Z" {
            parents.push((p, fields[1].parse::<u32>().unwrap()));
        }
    }
    let mut out = Vec::new();
    let mut frontier = vec![pid];
    while let Some(parent) = frontier.pop() {
        for &(child, ppid) in &parents {
            if ppid == parent {
                out.push(child);
                frontier.push(child);
            }
        }
    }
    out
}

#[test]
fn sigint_mid_suite_tears_everything_down_and_keeps_finished_cells() {
    let _turn = one_bench_at_a_time();
    let out = std::env::temp_dir().join(format!("wgb-bench-int-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let mut bench = Command::new(crate::support::xtask_exe())
        .args([
            "bench",
            "throughput",
            "--variants",
            "native_local,native_docker,wasm_host_wasmtime",
            "--workloads",
            "hello,proxy",
            "--connections",
            "4",
            "--duration",
            "1",
            "--repeats",
            "3",
            "--no-report",
            "--out",
        ])
        .arg(&out)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = bench.id();

    // Wait until at least two cells are done, then interrupt.
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut seen = Vec::new();
    loop {
        let done = cells_done(&out);
        for p in descendants(pid) {
            if !seen.contains(&p) {
                seen.push(p);
            }
        }
        if done >= 2 {
            break;
        }
        assert!(Instant::now() < deadline, "no cell finished in time");
        assert!(
            bench.try_wait().unwrap().is_none(),
            "bench ended on its own"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!seen.is_empty(), "the gateway should have been a child");
    unsafe { libc::kill(pid as i32, libc::SIGINT) };

    let status = exit_within(&mut bench, Duration::from_secs(30), "bench ignored SIGINT");
    assert!(status.success() || status.code() == Some(1), "{status}");
    for p in seen {
        assert!(!alive(p), "process {p} outlived the interrupted bench");
    }
    assert_no_containers(pid);

    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["status"], "interrupted");
    let cells = manifest["cells"].as_array().unwrap();
    assert!(cells.len() >= 2);
    for cell in cells.iter().filter(|c| c["status"] == "ok") {
        assert!(out.join(cell["raw"].as_str().unwrap()).exists());
    }
    // What finished is summarized.
    assert!(out.join("aggregated/throughput.csv").exists());
    std::fs::remove_dir_all(&out).unwrap();
}
