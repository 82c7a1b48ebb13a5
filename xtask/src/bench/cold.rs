//! Cold start: spawn the variant (or `docker run` it), poll `GET /` every
//! 100 µs until the first 200, take the time since the spawn, kill it. The
//! study timed `hyperfine` + `curl` + a 10 ms sleep loop, so its native figure
//! was mostly tool overhead; `--method hyperfine` reproduces that side by side.
//!
//! What a variant needs (its binary, runtime CLI, Docker images) is looked up
//! once per variant, before any sample: the clock starts immediately before
//! the spawn or `docker run`.

use std::time::Duration;

use anyhow::Result;

use super::Session;
use crate::rundata::manifest::{Cell, Outcome};
use crate::rundata::raw::ColdSample;
use crate::rundata::{ColdKey, HyperfineKey, Method, Suite};
use crate::variants::Resolved;
use crate::{docker, probe, results, signals};

pub fn run(s: &mut Session) -> Result<()> {
    if s.methods.contains(&Method::Harness) {
        harness(s)?;
    }
    if s.methods.contains(&Method::Hyperfine) {
        hyperfine(s)?;
    }
    Ok(())
}

fn harness(s: &mut Session) -> Result<()> {
    let mut rows: Vec<ColdSample> = Vec::new();
    let samples = s.profile.cold_samples;
    for repeat in 0..s.profile.cold_repeats {
        for variant in s.order(repeat) {
            if signals::interrupted() {
                return Ok(());
            }
            let label = format!("cold {} repeat {}", variant.name, repeat + 1);
            s.progress.cell(&label);
            let raw = ColdKey {
                variant: variant.name.to_owned(),
            }
            .path();
            let mut cell = Cell::new(
                Suite::Cold,
                variant.name,
                Some("hello"),
                format!("harness, {samples} samples"),
                Outcome::Ok,
            )
            .repeat(repeat)
            .raw(&raw);
            let mut outcome = String::new();
            // On a server host the agent resolves it there.
            let resolved = s
                .server_host()
                .is_none()
                .then(|| variant.resolve().map_err(anyhow::Error::msg));
            for i in 0..samples {
                let one = match &resolved {
                    None => s.remote_cold(variant),
                    Some(Ok(resolved)) => sample(s, resolved),
                    Some(Err(e)) => Err(anyhow::anyhow!("{e:#}")),
                };
                match one {
                    Ok(ms) => rows.push(ColdSample {
                        variant: variant.name.to_owned(),
                        repeat,
                        sample: i,
                        ms,
                    }),
                    Err(e) => {
                        cell.set(Outcome::Failed(format!("sample {i}: {e:#}")));
                        outcome = format!("failed: {e:#}");
                        break;
                    }
                }
            }
            let mine: Vec<&ColdSample> =
                rows.iter().filter(|r| r.variant == variant.name).collect();
            results::write_csv(&s.path(&raw), &mine)?;
            if outcome.is_empty() {
                let recent: Vec<f64> = mine.iter().rev().take(samples).map(|r| r.ms).collect();
                outcome = format!("median {:.2} ms", crate::stats::median(&recent));
            }
            let planned = Duration::from_secs_f64(0.3 * samples as f64);
            s.progress.done(&label, planned, &outcome);
            s.record(cell)?;
        }
    }
    Ok(())
}

/// One exec-to-first-200, in milliseconds.
fn sample(s: &Session, resolved: &Resolved) -> Result<f64> {
    crate::cold_start::exec_to_first_200(resolved, &s.start_opts(resolved.variant))
}

/// The study's method: hyperfine runs a shell that starts the gateway, polls
/// `/health` with curl every 10 ms, fires one `curl /`, then kills it.
fn hyperfine(s: &mut Session) -> Result<()> {
    if let Some(host) = s.server_host() {
        let reason = format!(
            "--method hyperfine runs its shell loop on this machine, so with --server-host \
             {host} it is not run (the harness method times the server host's cold starts there)"
        );
        s.progress
            .note(&format!("cold (hyperfine): skipped: {reason}"));
        for variant in s.variants.clone() {
            s.record(Cell::new(
                Suite::Cold,
                variant.name,
                Some("hello"),
                "hyperfine",
                Outcome::Skipped(reason.clone()),
            ))?;
        }
        return Ok(());
    }
    let Ok(found) = crate::tools::simple("hyperfine", &["--version"]) else {
        s.progress.note(
            "cold --method hyperfine: skipped: hyperfine not found (apt-get install hyperfine)",
        );
        return Ok(());
    };
    let runs = s.profile.cold_repeats * s.profile.cold_samples;
    for variant in s.order(0) {
        if signals::interrupted() {
            return Ok(());
        }
        let label = format!("cold {} (hyperfine)", variant.name);
        s.progress.cell(&label);
        let raw = HyperfineKey {
            variant: variant.name.to_owned(),
        }
        .path();
        let port = probe::free_port()?;
        let script = match variant
            .resolve()
            .map_err(anyhow::Error::msg)
            .and_then(|r| shell_script(s, &r, port))
        {
            Ok(script) => script,
            Err(e) => {
                s.progress.note(&format!("{label}: failed: {e:#}"));
                continue;
            }
        };
        let out = std::process::Command::new(&found.path)
            .args([
                "--warmup",
                "0",
                "--runs",
                &runs.to_string(),
                "--style",
                "none",
                "--export-json",
            ])
            .arg(s.path(&raw))
            .arg(&script)
            .stdin(std::process::Stdio::null())
            .output();
        docker::sweep_own();
        let outcome = match out {
            Ok(o) if o.status.success() => Outcome::Ok,
            Ok(o) => Outcome::Failed(String::from_utf8_lossy(&o.stderr).trim().to_owned()),
            Err(e) => Outcome::Failed(e.to_string()),
        };
        s.progress.done(
            &label,
            Duration::from_secs_f64(0.3 * runs as f64),
            outcome.status().name(),
        );
        let detail = format!("hyperfine, {runs} runs");
        s.record(Cell::new(Suite::Cold, variant.name, Some("hello"), detail, outcome).raw(&raw))?;
    }
    Ok(())
}

fn shell_script(s: &Session, resolved: &Resolved, port: u16) -> Result<String> {
    let variant = resolved.variant;
    let url = format!("http://127.0.0.1:{port}");
    let wait = format!(
        "until curl -fsS -o /dev/null {url}/health 2>/dev/null; do sleep 0.01; done; curl -fsS -o /dev/null {url}/"
    );
    let pin = s
        .gateway_cpu
        .map(|c| format!("taskset -c {c} "))
        .unwrap_or_default();
    if variant.is_container() {
        let name = format!("wgb-hyperfine-{}-{port}", std::process::id());
        let net = variant.cold_network_args(port).join(" ");
        let cpus = s
            .gateway_cpu
            .map(|c| format!("--cpuset-cpus={c} "))
            .unwrap_or_default();
        return Ok(format!(
            "docker run -d --rm --pull=never --name {name} --label {}={} {cpus}{net} {} >/dev/null; {wait}; docker rm -f {name} >/dev/null",
            docker::OWNER_LABEL,
            std::process::id(),
            docker::gateway_image()
        ));
    }
    let mut line = format!("{pin}{}", resolved.program.display());
    for arg in &resolved.args {
        line.push_str(&format!(" '{arg}'"));
    }
    Ok(format!(
        "{line} --listen 127.0.0.1:{port} >/dev/null 2>&1 & pid=$!; {wait}; kill -9 $pid; wait $pid 2>/dev/null; true"
    ))
}
