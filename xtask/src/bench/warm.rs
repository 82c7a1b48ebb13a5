//! Warm latency: the variant is started once; for each workload, requests one
//! after another on one persistent keep-alive connection (`persistent`), and
//! optionally one `curl` process per request (`curl`), the study's method,
//! whose ~8 ms of curl start-up sits in every sample. The persistent series
//! is repeated (`warm_repeats`, variants reshuffled each time), so a ratio
//! of two variants' p50s has an interval from the repeats; the curl series,
//! there to show the study's method side by side, runs in the first repeat.
//! A (variant, workload) whose series would take over [`BUDGET`] (one
//! request times the series' length) is skipped with that reason.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use super::Gateway;
use super::Session;
use crate::rundata::manifest::{Cell, Outcome};
use crate::rundata::raw::WarmSample;
use crate::rundata::{CellStatus, Client, Suite, WarmKey};
use crate::variants::Variant;
use crate::workloads::Workload;
use crate::{results, signals, stats, tools};

pub fn run(s: &mut Session) -> Result<()> {
    let curl = tools::simple("curl", &["--version"]).ok();
    if s.clients.contains(&Client::Curl) && curl.is_none() {
        s.progress
            .note("warm --client curl: skipped: curl not found (apt-get install curl)");
    }
    let mut series: BTreeMap<WarmKey, Vec<WarmSample>> = Default::default();
    for repeat in 0..s.profile.warm_repeats {
        for variant in s.order(repeat) {
            if signals::interrupted() {
                return Ok(());
            }
            run_variant(s, variant, repeat, curl.as_ref(), &mut series)?;
        }
    }
    Ok(())
}

fn run_variant(
    s: &mut Session,
    variant: &'static Variant,
    repeat: usize,
    curl: Option<&tools::Found>,
    series: &mut BTreeMap<WarmKey, Vec<WarmSample>>,
) -> Result<()> {
    {
        let running = match s.start(variant) {
            Ok(r) => r,
            Err(e) => {
                for workload in s.workloads.clone() {
                    for client in s.clients.clone() {
                        s.record(cell(
                            variant,
                            workload,
                            client,
                            repeat,
                            Err(format!("start: {e:#}")),
                        ))?;
                    }
                }
                s.progress
                    .note(&format!("warm {}: failed to start: {e:#}", variant.name));
                return Ok(());
            }
        };
        for workload in s.workloads.clone() {
            let too_slow = too_slow(s, &running, workload);
            for client in s.clients.clone() {
                if signals::interrupted() {
                    return Ok(());
                }
                let curl_path = match (client, curl) {
                    (Client::Curl, None) => continue,
                    (Client::Curl, _) if repeat > 0 => continue,
                    (Client::Curl, Some(found)) => Some(found.path.clone()),
                    (Client::Persistent, _) => None,
                };
                if let Some(reason) = &too_slow {
                    let mut c = cell(variant, workload, client, repeat, Ok(()));
                    c.set(Outcome::Skipped(reason.clone()));
                    s.record(c)?;
                    continue;
                }
                let label = format!(
                    "warm {} {} ({client}) repeat {}",
                    variant.name,
                    workload.name,
                    repeat + 1
                );
                s.progress.cell(&label);
                let key = WarmKey {
                    variant: variant.name.to_owned(),
                    workload: workload.name.to_owned(),
                    client,
                };
                let raw = key.path();
                let measured = measure(s, &running, workload, curl_path.as_deref());
                let outcome = match &measured {
                    Ok(us) => {
                        let rows = series.entry(key).or_default();
                        rows.extend(us.iter().enumerate().map(|(i, &latency_us)| WarmSample {
                            repeat,
                            i,
                            latency_us,
                        }));
                        results::write_csv(&s.path(&raw), rows)?;
                        Ok(format!("p50 {:.0} µs", stats::median(us)))
                    }
                    Err(e) => Err(format!("{e:#}")),
                };
                let planned = Duration::from_secs_f64(
                    0.005 * (s.profile.warm_warmup + s.profile.warm_requests) as f64,
                );
                let text = match &outcome {
                    Ok(t) => t.clone(),
                    Err(e) => format!("failed: {e}"),
                };
                s.progress.done(&label, planned, &text);
                let mut c = cell(variant, workload, client, repeat, outcome.map(|_| ()));
                if c.status == CellStatus::Ok {
                    c.raw = Some(raw.display().to_string());
                }
                s.record(c)?;
            }
        }
        running.stop();
    }
    Ok(())
}

fn cell(
    variant: &Variant,
    workload: &Workload,
    client: Client,
    repeat: usize,
    outcome: Result<(), String>,
) -> Cell {
    Cell::new(
        Suite::Warm,
        variant.name,
        Some(workload.name),
        client.name(),
        Outcome::of(outcome),
    )
    .level(client.name())
    .repeat(repeat)
}

/// The longest a (variant, workload) series may take.
const BUDGET: Duration = Duration::from_secs(60);

/// Why a series would take over [`BUDGET`], from one probe request; `None`
/// to measure it (a failing probe is measured, so the failure is recorded).
fn too_slow(s: &Session, running: &Gateway, workload: &Workload) -> Option<String> {
    let seq = loadgen::sequential(running.addr(), workload.path, 0, 1).ok()?;
    let one = Duration::from_nanos(*seq.samples_ns.first()?);
    let n = (s.profile.warm_warmup + s.profile.warm_requests) as u32;
    (one * n > BUDGET).then(|| {
        format!(
            "one request takes {:.0} ms: {n} would take over {} s",
            one.as_secs_f64() * 1e3,
            BUDGET.as_secs()
        )
    })
}

/// Latencies in µs of the measured requests.
fn measure(
    s: &Session,
    running: &Gateway,
    workload: &Workload,
    curl: Option<&std::path::Path>,
) -> Result<Vec<f64>> {
    let (warmup, count) = (s.profile.warm_warmup, s.profile.warm_requests);
    match curl {
        None => {
            let seq = loadgen::sequential(running.addr(), workload.path, warmup, count)?;
            Ok(seq.samples_ns.iter().map(|&ns| ns as f64 / 1e3).collect())
        }
        Some(curl) => {
            let url = format!("http://{}{}", running.addr(), workload.path);
            let mut out = Vec::with_capacity(count);
            for i in 0..warmup + count {
                if signals::interrupted() {
                    bail!("interrupted");
                }
                let started = Instant::now();
                let status = Command::new(curl)
                    .args(["-fsS", "-o", "/dev/null", &url])
                    .stdin(Stdio::null())
                    .status()
                    .context("running curl")?;
                let us = started.elapsed().as_secs_f64() * 1e6;
                if !status.success() {
                    bail!("curl {url} failed ({status})");
                }
                if i >= warmup {
                    out.push(us);
                }
            }
            Ok(out)
        }
    }
}
