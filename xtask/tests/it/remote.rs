//! The remote agent (`xtask::remote`) through the local sshd of `ssh.rs`:
//! every variant started on the "server host" answers every workload exactly
//! as the same variant started here, it is sampled there, and when the session
//! ends nothing of it is left (gateways, upstream, the copied folder).

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use xtask::probe;
use xtask::remote::{payload, RemoteStart, Server};
use xtask::ssh::Host;
use xtask::upstream::Upstream;
use xtask::variants::{self, StartOpts};
use xtask::workloads::WORKLOADS;

use crate::ssh::sshd;

const LOOPBACK: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

/// Start on the host's loopback, unpinned, with its upstream.
fn on_loopback() -> RemoteStart {
    RemoteStart {
        listen_ip: LOOPBACK,
        cpu: None,
        upstream_cpu: None,
        env: Vec::new(),
        upstream: true,
    }
}

/// Every workload's status and body, in the table's order.
fn answers(addr: SocketAddr) -> Vec<(u16, String)> {
    WORKLOADS
        .iter()
        .map(|w| {
            let reply = probe::get(addr, w.path, Duration::from_secs(10))
                .unwrap_or_else(|e| panic!("GET {} on {addr}: {e:#}", w.path));
            (reply.status, reply.body_text())
        })
        .collect()
}

fn gone(addr: SocketAddr) -> bool {
    probe::get(addr, "/health", Duration::from_millis(500)).is_err()
}

#[test]
fn a_variant_run_through_the_agent_answers_as_here_and_leaves_nothing() {
    let Some(server) = sshd() else { return };
    // server_host.rs counts the agent folders on this host.
    let _turn = crate::support::one_bench_at_a_time();
    let host = Host {
        target: "wgb-server".to_owned(),
        config: Some(server.config.clone()),
    };
    let upstream = Upstream::start("127.0.0.1:0".parse().unwrap(), None, None).unwrap();
    let agent_exe = &crate::support::xtask_exe();
    let mut agent = Server::connect(
        &host,
        agent_exe,
        &payload(&variants::VARIANTS.iter().collect::<Vec<_>>()),
    )
    .unwrap();
    let dir = agent.dir().to_owned();

    // Every variant that runs here, Docker's and the CLIs' too.
    for variant in variants::VARIANTS {
        let name = variant.name;
        if let Err(reason) = variant.availability() {
            eprintln!("skipping {name}: {reason}");
            continue;
        }
        // The host is this machine with the same environment (the test
        // sshd passes WASMEDGE on), so what runs here runs there.
        assert_eq!(agent.availability(name).unwrap(), None, "{name}");
        let local = variant.start(&StartOpts::new(upstream.addr)).unwrap();
        let here = answers(local.addr);
        local.stop();

        let (addr, sampled) = agent.start_variant(name, &on_loopback()).unwrap();
        if variant.is_container() {
            assert!(sampled.starts_with("container "), "{sampled}");
        } else {
            // It runs the copied binaries, not this machine's build.
            let pid = sampled
                .split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<u32>().ok())
                .unwrap_or_else(|| panic!("no pid in {sampled:?}"));
            let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap();
            assert!(exe.starts_with(format!("{dir}/bin")), "{}", exe.display());
        }
        agent.sample_start(Duration::from_millis(10)).unwrap();
        let before = agent.reading().unwrap().expect("a reading");
        let there = answers(addr);
        let after = agent.reading().unwrap().expect("a reading");
        let samples = agent.sample_finish().unwrap();
        assert!(here.iter().all(|(status, _)| *status == 200), "{here:?}");
        assert_eq!(there, here, "{name}: bodies differ from a local run");
        // What was compared, for a reader running this with --nocapture.
        let sizes: Vec<String> = WORKLOADS
            .iter()
            .zip(&there)
            .map(|(w, (status, body))| format!("{} {status} {} B", w.name, body.len()))
            .collect();
        eprintln!("{name}: same on the host as here: {}", sizes.join(", "));
        assert!(after.t_ms > before.t_ms, "{before:?} {after:?}");
        assert!(after.cpu_ms >= before.cpu_ms && after.rss_kb > 0);
        assert!(!samples.is_empty());
        assert!(agent.alive().unwrap());
        agent.stop_variant().unwrap();
        assert!(!agent.alive().unwrap());
        assert!(gone(addr), "{name} still answers after stop");
    }

    // Cold starts are timed on the host, each gateway killed after its 200.
    let ms = agent.cold("native_local", 3, None, &[]).unwrap();
    assert_eq!(ms.len(), 3);
    assert!(ms.iter().all(|&m| m > 0.0 && m < 10_000.0), "{ms:?}");
    let err = agent.cold("native_local", 0, None, &[]).unwrap_err();
    assert!(format!("{err:#}").contains("cold samples"), "{err:#}");

    // What the agent cannot do is an answer, not its end.
    let answer = agent.raw("{not json").unwrap();
    assert!(answer.contains(r#""reply":"error""#), "{answer}");
    let err = agent
        .start_variant("no_such_variant", &on_loopback())
        .unwrap_err();
    assert!(format!("{err:#}").contains("no_such_variant"), "{err:#}");
    assert!(!agent.alive().unwrap());

    // A gateway still running when the session ends is stopped with it,
    // and the copied folder goes.
    let (addr, _) = agent.start_variant("native_local", &on_loopback()).unwrap();
    drop(agent);
    assert!(gone(addr), "the gateway outlived its session");
    let left = host
        .run(&format!("test -e {dir} && echo left || echo gone"))
        .unwrap();
    assert_eq!(left.trim(), "gone", "{dir}");
    let running = Command::new("pgrep").args(["-af", &dir]).output().unwrap();
    assert!(
        running.stdout.is_empty(),
        "still running from {dir}: {}",
        String::from_utf8_lossy(&running.stdout)
    );
}

#[test]
fn the_agent_ends_with_its_stdin_and_removes_only_a_folder_of_its_own() {
    // server_host.rs counts the agent folders on this host.
    let _turn = crate::support::one_bench_at_a_time();
    let agent = |dir: &str| {
        Command::new(crate::support::xtask_exe())
            .args(["agent", "--remove-on-exit", dir])
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    };
    let refused = agent("/etc");
    assert!(!refused.status.success());
    assert!(
        crate::support::text(&refused).contains("only a /tmp/wgb-remote.* folder"),
        "{}",
        crate::support::text(&refused)
    );
    assert!(Path::new("/etc").is_dir());

    let dir = format!("/tmp/wgb-remote.test-{}", std::process::id());
    std::fs::create_dir_all(format!("{dir}/bin")).unwrap();
    let ended = agent(&dir);
    assert!(ended.status.success(), "{}", crate::support::text(&ended));
    assert!(!Path::new(&dir).exists(), "{dir} left behind");
}
