//! `cargo xtask bench headroom`: is the built-in load generator the
//! bottleneck? Against `native_local` `hello` (the fastest target), it and
//! `wrk -t1` take turns at the same connection count, with the same pinning
//! (gateway on CPU 0, load on CPU 1); every round goes to
//! `raw/headroom/rounds.csv`, and the report computes the ratio of the medians
//! into `summary/headroom.csv`. A ratio of at least 1.0 means our generator
//! delivers at least what wrk does on the same target.

use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};

use super::{BenchArgs, Session};
use crate::report::headroom::{self as summary, Round};
use crate::rundata::manifest::{Cell, Outcome};
use crate::rundata::{HeadroomKey, Suite};
use crate::{report, results, signals, tools, variants};
use loadgen::LoadSpec;

pub fn run(args: &BenchArgs) -> Result<()> {
    signals::install();
    let wrk = tools::simple("wrk", &["--version"])
        .context("bench headroom needs wrk (apt-get install wrk)")?;
    let mut args = args.clone();
    args.variants = vec![variants::baseline().name.to_owned()];
    args.workloads = vec!["hello".to_owned()];
    // Defaults for this check: 100 connections, 3 rounds of 5 s each.
    if args.connections.is_empty() {
        args.connections = vec![100];
    }
    args.duration.get_or_insert(5.0);
    args.repeats.get_or_insert(3);
    let mut s = Session::open(&args, &[Suite::Headroom])?;
    let outcome = measure(&mut s, &wrk.path);
    let root = s.finish(&outcome)?;
    outcome?;
    report::summarize(&root, !args.no_report)?;
    println!("{}", std::fs::read_to_string(root.join(summary::SUMMARY))?);
    println!("run folder: {}", root.display());
    Ok(())
}

fn measure(s: &mut Session, wrk: &std::path::Path) -> Result<()> {
    let variant = variants::baseline();
    let connections = s.profile.connections.iter().copied().max().unwrap_or(100);
    let duration = s.profile.duration;
    let rounds = s.profile.repeats.max(1);
    let running = variant.start(&s.start_opts(variant))?;
    let mut rows = Vec::new();
    for round in 0..rounds {
        for tool in ["ours", "wrk"] {
            if signals::interrupted() {
                bail!("interrupted");
            }
            let label = format!("headroom round {} {tool} c{connections}", round + 1);
            s.progress.cell(&label);
            let (rps, errors) = if tool == "ours" {
                let mut spec = LoadSpec::new(running.addr);
                spec.connections = connections;
                spec.duration = duration;
                let r = loadgen::run(&spec, &signals::interrupted)?;
                (r.rps, r.errors.total() + r.non_2xx)
            } else {
                run_wrk(wrk, running.addr, connections, duration, s.load_cpu)?
            };
            s.progress.done(&label, duration, &format!("{rps:.0} rps"));
            rows.push(Round {
                round,
                tool: tool.to_owned(),
                connections,
                duration_s: duration.as_secs_f64(),
                rps,
                errors,
            });
        }
    }
    running.stop();
    results::write_csv(&s.path(HeadroomKey.path()), &rows)?;
    s.record(
        Cell::new(
            Suite::Headroom,
            variant.name,
            Some("hello"),
            format!("ours vs wrk -t1, {connections} connections, {rounds} rounds"),
            Outcome::Ok,
        )
        .raw(&HeadroomKey.path()),
    )
}

/// `wrk -t1 -cN -dS --latency URL`, pinned like our generator; its
/// `Requests/sec:` line and its error count.
fn run_wrk(
    wrk: &std::path::Path,
    addr: std::net::SocketAddr,
    connections: usize,
    duration: Duration,
    cpu: Option<usize>,
) -> Result<(f64, u64)> {
    let secs = duration.as_secs().max(1).to_string();
    let mut cmd = match cpu {
        Some(cpu) => {
            let mut c = Command::new("taskset");
            c.args(["-c", &cpu.to_string()]).arg(wrk);
            c
        }
        None => Command::new(wrk),
    };
    let out = cmd
        .args(["-t1", &format!("-c{connections}"), &format!("-d{secs}s")])
        .arg(format!("http://{addr}/"))
        .stdin(Stdio::null())
        .output()
        .context("running wrk")?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!("wrk failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    parse_wrk(&text)
}

/// Requests/sec and the total of wrk's socket errors and non-2xx responses.
fn parse_wrk(text: &str) -> Result<(f64, u64)> {
    let rps = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Requests/sec:"))
        .context("no Requests/sec line in wrk's output")?
        .trim()
        .parse()?;
    let mut errors = 0;
    for line in text.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("Socket errors:") {
            errors += rest
                .split(',')
                .filter_map(|part| part.split_whitespace().last()?.parse::<u64>().ok())
                .sum::<u64>();
        }
        if let Some(rest) = line.strip_prefix("Non-2xx or 3xx responses:") {
            errors += rest.trim().parse::<u64>().unwrap_or(0);
        }
    }
    Ok((rps, errors))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_wrk_output() {
        let text = "Running 10s test @ http://127.0.0.1:1/\n  1 threads and 100 connections\n  Socket errors: connect 0, read 3, write 0, timeout 2\n  Non-2xx or 3xx responses: 4\nRequests/sec:  12345.67\nTransfer/sec:      1.2MB\n";
        assert_eq!(parse_wrk(text).unwrap(), (12345.67, 9));
        assert!(parse_wrk("nothing").is_err());
    }
}
