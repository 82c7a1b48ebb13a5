//! The sampler counts the CPU of children a process forks and reaps, which
//! the study's 200 ms psutil sampler missed.

use std::process::{Command, Stdio};
use std::time::Duration;

use xtask::sample::{Sampler, Target};

/// `times` prints "0m0.001s 0m0.002s\n0m0.520s 0m0.010s": the shell's own
/// user/system time, then its reaped children's. Milliseconds, summed.
fn parse_times(line: &str) -> f64 {
    line.split_whitespace()
        .map(|t| {
            let (m, s) = t.trim_end_matches('s').split_once('m').unwrap();
            m.parse::<f64>().unwrap() * 60_000.0 + s.parse::<f64>().unwrap() * 1000.0
        })
        .sum()
}

#[test]
fn counts_cpu_of_reaped_busy_children() {
    // A shell forks ten short busy subshells one after another and reaps
    // each: nearly all CPU is its children's. It then reports the kernel's
    // own accounting with `times` and idles, so the sampler's last readings
    // fall after all the work.
    let script = "for n in 1 2 3 4 5 6 7 8 9 10; do ( i=0; while [ $i -lt 30000 ]; do i=$((i+1)); done ); done; times; sleep 0.4";
    let child = Command::new("sh")
        .args(["-c", script])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let sampler = Sampler::start(Target::Process(child.id()), Duration::from_millis(20));
    let out = child.wait_with_output().unwrap();
    let samples = sampler.finish();

    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    let own_ms = parse_times(lines.next().unwrap());
    let children_ms = parse_times(lines.next().unwrap());
    assert!(
        children_ms > 100.0,
        "the busy children used only {children_ms} ms"
    );
    assert!(
        own_ms < children_ms / 2.0,
        "the work should be in the children"
    );

    let sampled_ms = samples.iter().map(|s| s.cpu_ms).fold(0.0, f64::max);
    let reference = own_ms + children_ms;
    // 10 ms clock ticks on either side: within 15% or 30 ms.
    assert!(
        (sampled_ms - reference).abs() <= (reference * 0.15).max(30.0),
        "sampler saw {sampled_ms} ms, the kernel says {reference} ms"
    );
    assert!(samples.iter().all(|s| s.rss_kb > 0));
}
