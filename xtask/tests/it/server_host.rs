//! `--server-host` end to end, against the local sshd of `ssh.rs`: the same
//! small `bench all` run locally and with its gateways on the "server host"
//! writes the same files and measures the same cells, the manifest and the
//! report say where the gateways ran, and nothing is left on the host.
//! (That a variant started through the agent answers every workload with
//! the same body as here is `remote.rs`'s test.)

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::ssh::sshd;
use crate::support::{cells_done, exit_within, one_bench_at_a_time, text};

/// Every file of a run folder, relative to it.
fn files(root: &Path) -> BTreeSet<String> {
    fn walk(dir: &Path, root: &Path, out: &mut BTreeSet<String>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let path = e.path();
            if e.file_type().unwrap().is_dir() {
                walk(&path, root, out);
            } else {
                let rel = path.strip_prefix(root).unwrap();
                out.insert(rel.display().to_string());
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(root, root, &mut out);
    out
}

fn manifest(root: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(root.join("manifest.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// (suite, variant, workload, level, repeat, status) of every cell.
fn cells(m: &serde_json::Value) -> BTreeSet<String> {
    m["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            format!(
                "{} {} {} {} {} {}",
                c["suite"], c["variant"], c["workload"], c["level"], c["repeat"], c["status"]
            )
        })
        .collect()
}

/// The agent folders on the host, and processes running from one.
fn left_on_host() -> (String, String) {
    let folders = Command::new("sh")
        .args(["-c", "ls -d /tmp/wgb-remote.* 2>/dev/null; true"])
        .output()
        .unwrap();
    let procs = Command::new("pgrep")
        .args(["-af", "/tmp/wgb-remote\\."])
        .output()
        .unwrap();
    (text_of(&folders), text_of(&procs))
}

fn text_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn bench(out: &Path, extra: &[&str], variants: &str) -> Output {
    Command::new(crate::support::xtask_exe())
        .args([
            "bench",
            "all",
            "--variants",
            variants,
            "--workloads",
            "hello,proxy",
            "--connections",
            "4",
            "--keepalive-connections",
            "1",
            "--duration",
            "0.4",
            "--repeats",
            "1",
            "--cold-samples",
            "2",
            "--warm-requests",
            "20",
            "--client",
            "persistent",
            "--method",
            "harness",
        ])
        .args(extra)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap()
}

#[test]
fn a_run_on_a_server_host_writes_what_a_local_run_writes_and_leaves_nothing() {
    let Some(server) = sshd() else { return };
    let _turn = one_bench_at_a_time();
    let base = temp!("runs");
    let (local, remote): (PathBuf, PathBuf) = (base.join("local"), base.join("remote"));
    // Docker's variant too where an engine runs: it goes through the agent
    // like the others (this engine already holds the images, none is sent).
    let docker = Command::new("docker")
        .args(["version"])
        .output()
        .is_ok_and(|o| o.status.success());
    let variants = if docker {
        "native_local,wasm_host_wasmtime_pooled,native_docker"
    } else {
        "native_local,wasm_host_wasmtime_pooled"
    };
    let before = left_on_host();

    let out = bench(&local, &[], variants);
    assert!(out.status.success(), "local run: {}", text(&out));
    let config = server.config.display().to_string();
    let host_args = ["--server-host", "wgb-server", "--ssh-config", &config];
    let out = bench(&remote, &host_args, variants);
    assert!(out.status.success(), "remote run: {}", text(&out));

    // The same files: raw samples, summaries, plots, report, meta/ logs.
    let (l, r) = (files(&local), files(&remote));
    assert_eq!(l, r, "the run folders differ");
    for log in ["meta/native_local.log", "meta/upstream.log"] {
        assert!(r.contains(log), "{log} missing from the remote run");
    }
    // The same cells, all measured.
    let (lm, rm) = (manifest(&local), manifest(&remote));
    assert_eq!(rm["status"], "complete");
    assert_eq!(cells(&lm), cells(&rm));
    for m in [&lm, &rm] {
        for c in m["cells"].as_array().unwrap() {
            assert_eq!(c["status"], "ok", "{c}");
        }
        for v in m["variants"].as_array().unwrap() {
            assert_eq!(v["status"], "ran", "{v}");
        }
    }
    // Where the gateways ran, and the path to them.
    assert!(lm.get("server").is_none(), "{}", lm["server"]);
    let s = &rm["server"];
    assert_eq!(s["target"], "wgb-server");
    assert_eq!(s["address"], "127.0.0.1");
    assert_eq!(s["path"], "loopback");
    assert_eq!(s["machine"]["cpus"], lm["machine"]["cpus"]);
    assert!(s["kernel"].as_str().unwrap().starts_with("Linux "), "{s}");
    let rtt = s["round_trip_us"].as_f64().unwrap();
    assert!(rtt > 0.0, "{s}");
    assert_eq!(s["images_sent"], serde_json::json!([]));
    // The gateways ran from the agent's copied binaries.
    let raw =
        std::fs::read_to_string(remote.join("raw/throughput/native_local__hello__c4__r0.json"))
            .unwrap();
    let raw: serde_json::Value = serde_json::from_str(&raw).unwrap();
    assert!(
        raw["sampled"].as_str().unwrap().starts_with("process "),
        "{raw}"
    );
    assert!(raw["window"].as_array().unwrap().len() == 2, "{raw}");
    let report = std::fs::read_to_string(remote.join("report.md")).unwrap();
    assert!(
        report.contains("server host (gateways, over ssh)"),
        "{report}"
    );
    assert!(
        report.contains("loopback, TCP connect round trip"),
        "{report}"
    );

    // Nothing of the run is left on the host (the agent removes its
    // containers by its own label before it ends).
    assert_eq!(left_on_host(), before);
    std::fs::remove_dir_all(&base).unwrap();
}

#[test]
fn what_cannot_run_on_a_server_host_says_why() {
    let Some(server) = sshd() else { return };
    let _turn = one_bench_at_a_time();
    let config = server.config.display().to_string();
    let base = temp!("refused");

    // The study's hyperfine loop runs here only: skipped, with the reason.
    let out = Command::new(crate::support::xtask_exe())
        .args([
            "bench",
            "cold",
            "--variants",
            "native_local",
            "--method",
            "hyperfine",
        ])
        .args([
            "--server-host",
            "wgb-server",
            "--ssh-config",
            &config,
            "--out",
        ])
        .arg(base.join("hyperfine"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let m = manifest(&base.join("hyperfine"));
    let cell = &m["cells"][0];
    assert_eq!(cell["status"], "skipped", "{m}");
    assert!(
        cell["error"]
            .as_str()
            .unwrap()
            .contains("--method hyperfine runs"),
        "{cell}"
    );

    // A command that measures this machine only refuses the flag.
    let out = Command::new(crate::support::xtask_exe())
        .args(["bench", "headroom", "--server-host", "wgb-server"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        text(&out).contains("bench headroom does not take --server-host"),
        "{}",
        text(&out)
    );

    // A host nobody answers on is an error that names it, at once.
    let dead = base.join("dead_config");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    std::fs::write(
        &dead,
        format!("Host wgb-dead\n  HostName 127.0.0.1\n  Port {port}\n"),
    )
    .unwrap();
    let out = Command::new(crate::support::xtask_exe())
        .args(["bench", "cold", "--variants", "native_local"])
        .args(["--server-host", "wgb-dead", "--ssh-config"])
        .arg(&dead)
        .arg("--out")
        .arg(base.join("dead"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        text(&out).contains("--server-host wgb-dead: reaching it over ssh"),
        "{}",
        text(&out)
    );
    std::fs::remove_dir_all(&base).unwrap();
}

/// Start `bench throughput` on the server host; its child and run folder.
fn remote_throughput(config: &str, out: &Path) -> std::process::Child {
    Command::new(crate::support::xtask_exe())
        .args(["bench", "throughput", "--variants", "native_local"])
        .args(["--workloads", "hello,proxy", "--connections", "4"])
        .args(["--duration", "1", "--repeats", "3", "--no-report"])
        .args([
            "--server-host",
            "wgb-server",
            "--ssh-config",
            config,
            "--out",
        ])
        .arg(out)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(out.with_extension("stderr")).unwrap())
        .spawn()
        .unwrap()
}

/// Wait until the run has recorded `n` cells.
fn wait_cells(bench: &mut std::process::Child, out: &Path, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if cells_done(out) >= n {
            return;
        }
        assert!(Instant::now() < deadline, "no cell finished in time");
        assert!(
            bench.try_wait().unwrap().is_none(),
            "bench ended on its own: {}",
            std::fs::read_to_string(out.with_extension("stderr")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Wait (up to 20 s) until the host is as it was.
fn host_back_to(before: &(String, String)) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while left_on_host() != *before {
        assert!(
            Instant::now() < deadline,
            "left on the host: {:?}",
            left_on_host()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn ctrl_c_or_a_killed_harness_leaves_nothing_on_the_server_host() {
    let Some(server) = sshd() else { return };
    let _turn = one_bench_at_a_time();
    let config = server.config.display().to_string();
    let base = temp!("interrupt");
    let before = left_on_host();

    // Ctrl-C: the run stops in order, keeps its finished cells and the
    // host's logs, and the agent ends with everything it started.
    let out = base.join("sigint");
    let mut bench = remote_throughput(&config, &out);
    wait_cells(&mut bench, &out, 2);
    unsafe { libc::kill(bench.id() as i32, libc::SIGINT) };
    let status = exit_within(&mut bench, Duration::from_secs(30), "bench ignored SIGINT");
    assert!(status.success() || status.code() == Some(1), "{status}");
    let m = manifest(&out);
    assert_eq!(m["status"], "interrupted");
    for cell in m["cells"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "ok")
    {
        assert!(out.join(cell["raw"].as_str().unwrap()).exists(), "{cell}");
    }
    assert!(out.join("meta/native_local.log").exists());
    host_back_to(&before);

    // A harness killed outright: its ssh session ends, and with it the
    // agent, which stops the gateway and removes its folder.
    let out = base.join("sigkill");
    let mut bench = remote_throughput(&config, &out);
    wait_cells(&mut bench, &out, 1);
    bench.kill().unwrap();
    bench.wait().unwrap();
    host_back_to(&before);
    std::fs::remove_dir_all(&base).unwrap();
}

/// `bench aa` hands --server-host to every round: each arm's gateways run
/// on the host with the arm's own settings (the calibration knob reaches
/// the head arm's gateway there and is flagged), and nothing stays there.
#[test]
fn bench_aa_runs_every_round_on_the_server_host() {
    let Some(server) = sshd() else { return };
    let _turn = one_bench_at_a_time();
    let config = server.config.display().to_string();
    let base = temp!("aa");
    let out = base.join("ab");
    let before = left_on_host();
    let run = Command::new(crate::support::xtask_exe())
        .args(["bench", "aa", "--no-build", "--variants", "native_local"])
        .args(["--workloads", "hello", "--connections", "4"])
        .args(["--duration", "0.3", "--rounds", "3", "--no-report"])
        .args(["--head-env", "GATEWAY_CALIBRATION_DELAY_US=2000"])
        .args([
            "--server-host",
            "wgb-server",
            "--ssh-config",
            &config,
            "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    let log = text(&run);
    assert_eq!(run.status.code(), Some(1), "the slowdown is flagged: {log}");
    for arm in ["base", "head"] {
        let m = manifest(&out.join(arm));
        assert_eq!(m["status"], "complete", "{arm}");
        assert_eq!(m["server"]["target"], "wgb-server", "{arm}");
        assert_eq!(m["server"]["path"], "loopback", "{arm}");
    }
    assert_eq!(left_on_host(), before);
    std::fs::remove_dir_all(&base).unwrap();
}
