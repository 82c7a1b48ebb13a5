//! The fuzzer's liveness check: after every input it asks whether the
//! gateway is still up. A container's gateway is watched through its main
//! process (a pidfd), not by asking the engine (`docker inspect`, ~20 ms,
//! which held the Docker variants to ~45 inputs/s), and a killed container
//! is still seen as dead. Runs where an engine and the image are here;
//! elsewhere it says why and returns.

use crate::support::one_bench_at_a_time;

use std::time::{Duration, Instant};

use xtask::fuzz::{self, FuzzArgs, Liveness};
use xtask::upstream::Upstream;
use xtask::variants::{self, StartOpts, Variant};

fn runnable(name: &str) -> Option<&'static Variant> {
    let variant = variants::find(name).unwrap();
    match variant.availability() {
        Ok(_) => Some(variant),
        Err(reason) => {
            eprintln!("{name} cannot run here: {reason}");
            None
        }
    }
}

#[test]
fn a_container_is_watched_through_its_process_and_its_death_is_seen() {
    let _turn = one_bench_at_a_time();
    for name in ["native_docker_host", "native_docker"] {
        let Some(variant) = runnable(name) else {
            continue;
        };
        let mut opts = StartOpts::new("127.0.0.1:9".parse().unwrap());
        opts.ready_timeout = Duration::from_secs(60);
        let mut running = variant.start(&opts).unwrap();
        let liveness = Liveness::watch(&mut running);
        assert!(liveness.by_process(), "{name}: no pidfd on its process");
        assert!(liveness.alive(&mut running), "{name}");
        let id = running.container_id().unwrap().to_owned();
        let pid = xtask::docker::main_pid(&id).unwrap();
        // The gateway dies as a crash would end it.
        // SAFETY: a signal to a pid the engine just named as the container's.
        assert_eq!(unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) }, 0);
        let deadline = Instant::now() + Duration::from_secs(20);
        while liveness.alive(&mut running) {
            assert!(
                Instant::now() < deadline,
                "{name}: still alive after SIGKILL"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(!running.alive(), "{name}: the engine says it runs");
        running.stop();
    }
}

#[test]
fn a_process_variant_is_its_own_child() {
    let _turn = one_bench_at_a_time();
    let Some(variant) = runnable("native_local") else {
        return;
    };
    let upstream = Upstream::start(([127, 0, 0, 1], 0).into(), None, None).unwrap();
    let mut running = variant.start(&StartOpts::new(upstream.addr)).unwrap();
    let liveness = Liveness::watch(&mut running);
    assert!(!liveness.by_process());
    assert!(liveness.alive(&mut running));
    let pid = running.pid().unwrap();
    // SAFETY: our own child.
    assert_eq!(unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) }, 0);
    let deadline = Instant::now() + Duration::from_secs(10);
    while liveness.alive(&mut running) {
        assert!(Instant::now() < deadline, "still alive after SIGKILL");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn fuzzing_a_container_answers_and_finds_nothing() {
    let _turn = one_bench_at_a_time();
    let Some(variant) = runnable("native_docker_host") else {
        return;
    };
    let out = temp!("out");
    let upstream = Upstream::start(([127, 0, 0, 1], 0).into(), None, None).unwrap();
    let args = FuzzArgs {
        seconds: 2,
        variants: Vec::new(),
        seed: 12,
    };
    let totals = fuzz::fuzz_variant(variant, upstream.addr, &args, &out).unwrap();
    eprintln!(
        "{} inputs in {:.1} s, exchange p50 {} ms, check p50 {} ms",
        totals.requests, totals.seconds, totals.exchange_ms.p50, totals.check_ms.p50
    );
    assert!(totals.clean(), "{totals:?}");
    assert!(totals.requests > 0);
    // Answered inputs and closes account for every input.
    let answered: u64 = totals.by_class.iter().sum();
    assert_eq!(answered + totals.closed_without_answer, totals.requests);
    let _ = std::fs::remove_dir_all(&out);
}
