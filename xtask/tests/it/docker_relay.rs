//! Docker's relay is part of `native_docker`: with its port published on
//! loopback every connection passes through `docker-proxy`, a host process
//! outside the container's cpuset and cgroup. It must be pinned with the
//! gateway and counted by the sampler. Runs where an engine and the images
//! are here; elsewhere it checks the skip reason.

use crate::support::one_bench_at_a_time;

use std::time::Duration;

use xtask::sample::{self, Target};
use xtask::variants::{self, StartOpts};

/// The CPUs every thread of `pid` may run on, as /proc lists them.
fn allowed(pid: u32) -> Vec<String> {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("status")).ok())
        .filter_map(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
                .map(|v| v.trim().to_owned())
        })
        .collect()
}

#[test]
fn docker_proxy_is_pinned_with_the_gateway_and_sampled() {
    let _turn = one_bench_at_a_time();
    let variant = variants::find("native_docker").unwrap();
    if let Err(reason) = variant.availability() {
        assert!(
            reason.contains("Docker") || reason.contains("docker") || reason.contains("image"),
            "{reason}"
        );
        eprintln!("native_docker cannot run here: {reason}");
        return;
    }
    let mut opts = StartOpts::new("127.0.0.1:9".parse().unwrap());
    opts.cpu = Some(0);
    opts.ready_timeout = Duration::from_secs(60);
    let running = variant.start(&opts).unwrap();
    let relays = running.relays().to_vec();
    if relays.is_empty() {
        // The engine runs without its userland proxy: nothing to pin.
        eprintln!("no docker-proxy for {}: userland proxy off", running.addr);
        return;
    }
    for &pid in &relays {
        let cpus = allowed(pid);
        assert!(!cpus.is_empty());
        assert!(
            cpus.iter().all(|c| c == "0"),
            "docker-proxy {pid}: {cpus:?}"
        );
    }
    let id = running.container_id().unwrap().to_owned();
    let target = Target::Container {
        pid: xtask::docker::main_pid(&id),
        id,
        relay: relays.first().copied(),
    };
    let reading = sample::read(&target).unwrap();
    let (relay_rss, _) = reading.relay.expect("the relay is read");
    assert!(relay_rss > 0);
    assert!(reading.rss_kb > relay_rss, "the total includes the gateway");
    running.stop();
}
