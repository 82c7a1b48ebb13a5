//! The measurement: interleaved rounds (ABBA), each a `bench` child process
//! per arm, then each arm's rounds collected into one run, and the verdict.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use serde::Serialize;

use super::args::AbSettings;
use super::arm_run::{collect, empty_run};
use super::build::remove_images;
use super::{short, Arm, Plan};
use crate::compare::{self, Comparison};
use crate::{files, results, signals, variants, wasmtime_cli};

/// What `<out>/ab.json` records.
#[derive(Serialize)]
struct AbRecord<'a> {
    command: String,
    aa: bool,
    rounds: usize,
    order: Vec<&'static str>,
    profile: &'a str,
    suite: &'a str,
    variants: &'a [String],
    workloads: &'a [String],
    arms: &'a [Arm],
    target_dir: String,
    build_s: f64,
    measure_s: f64,
    failed_rounds: Vec<String>,
}

pub(super) fn measure_and_compare(
    ab: &AbSettings,
    plan: &Plan,
    arms: &[Arm],
    build_s: f64,
    title: &str,
    aa: bool,
) -> Result<Comparison> {
    let cli: Vec<&str> = variants::select(&ab.variants)?
        .into_iter()
        .filter(|v| variants::uses_wasmtime_cli(v))
        .map(|v| v.name)
        .collect();
    if !cli.is_empty() {
        if let Err(e) = wasmtime_cli::ensure() {
            eprintln!("{} will be skipped: {e:#}", cli.join(", "));
        }
    }
    // Rounds run a copy of this binary: a build during the A/B (another
    // checkout's, or `cargo xtask build`) may replace the file we started
    // from, and a replaced executable can no longer be started by its path.
    let exe = plan.out.join("bin").join("xtask");
    files::copy(
        &std::env::current_exe().context("locating the xtask binary")?,
        &exe,
    )?;
    let rounds_dir = plan.out.join("rounds");
    let started = Instant::now();
    let mut done: BTreeMap<&'static str, Vec<(usize, PathBuf)>> = BTreeMap::new();
    let mut order = Vec::new();
    let mut failed = Vec::new();
    'rounds: for k in 0..plan.rounds {
        let pair: [&Arm; 2] = if k % 2 == 0 {
            [&arms[0], &arms[1]]
        } else {
            [&arms[1], &arms[0]]
        };
        for arm in pair {
            if signals::interrupted() {
                break 'rounds;
            }
            eprintln!(
                "\n==> round {}/{}: {} ({}, {:.0} s so far)",
                k + 1,
                plan.rounds,
                arm.name,
                short(&arm.sha),
                started.elapsed().as_secs_f64()
            );
            let dir = rounds_dir.join(format!("{}-r{k}", arm.name));
            let _ = std::fs::remove_dir_all(&dir);
            let status = round_command(&exe, ab, plan, arm, k, &dir)
                .status()
                .context("starting a round")?;
            order.push(arm.name);
            if !status.success() {
                failed.push(format!("{} round {}: {status}", arm.name, k + 1));
                eprintln!("{} round {} failed ({status})", arm.name, k + 1);
            }
            if dir.join("manifest.json").exists() {
                done.entry(arm.name).or_default().push((k, dir));
            }
        }
    }
    let measure_s = started.elapsed().as_secs_f64();
    remove_images(arms);

    for arm in arms {
        let rounds = done.get(arm.name).map(Vec::as_slice).unwrap_or_default();
        let root = plan.out.join(arm.name);
        if rounds.is_empty() {
            // Not one round left a run folder (say the gateway build is
            // broken in a way only running shows): an empty run that says
            // why, so head's failure is a verdict (exit 1), not an error.
            let why: Vec<&String> = failed.iter().filter(|f| f.starts_with(arm.name)).collect();
            empty_run(&root, ab, arm, &why)?;
        } else {
            collect(&root, rounds, arm, !ab.no_report)?;
        }
    }
    let _ = std::fs::remove_dir_all(&rounds_dir);
    let _ = std::fs::remove_dir_all(plan.out.join("bin"));
    results::write_json(
        &plan.out.join("ab.json"),
        &AbRecord {
            command: std::env::args().collect::<Vec<_>>().join(" "),
            aa,
            rounds: plan.rounds,
            order: order.clone(),
            profile: &ab.profile,
            suite: &ab.suite,
            variants: &ab.variants,
            workloads: &ab.workloads,
            arms,
            target_dir: plan.target.display().to_string(),
            build_s,
            measure_s,
            failed_rounds: failed.clone(),
        },
    )?;
    if signals::interrupted() {
        bail!(
            "interrupted: the finished rounds are merged in {}",
            plan.out.display()
        );
    }

    let mut c = compare::compare_dirs(
        &plan.out.join("base"),
        &plan.out.join("head"),
        &ab.compare,
        title,
    )?;
    // With --head-env the arms differ on purpose: not a noise-floor run.
    c.aa = aa && arms[0].env == arms[1].env;
    let env_text = |env: &[(String, String)]| {
        if env.is_empty() {
            "none".to_owned()
        } else {
            env.iter()
                .map(|(k, v)| format!("`{k}={v}`"))
                .collect::<Vec<_>>()
                .join(" ")
        }
    };
    let mut setup = vec![
        format!(
            "{} rounds per arm, interleaved base/head then head/base (ABBA); profile {}, suite {}, variants {}, workloads {}",
            plan.rounds,
            ab.profile,
            ab.suite,
            ab.variants.join(", "),
            ab.workloads.join(", ")
        ),
        format!(
            "build {:.0} s, measurement {:.0} s; gateway env: base {}, head {}",
            build_s,
            measure_s,
            env_text(&arms[0].env),
            env_text(&arms[1].env)
        ),
    ];
    let knob = |name: &str| arms[1].env.iter().any(|(k, _)| k == name);
    if knob("GATEWAY_CALIBRATION_DELAY_US") {
        setup.push(
            "calibration: head's gateways add a busy delay per request (GATEWAY_CALIBRATION_DELAY_US), a slowdown made on purpose that the check must flag".to_owned(),
        );
    }
    if knob("GATEWAY_CALIBRATION_SPIN") {
        setup.push(
            "calibration: head's gateways run a fixed loop per request (GATEWAY_CALIBRATION_SPIN), extra instructions made on purpose that the check must flag".to_owned(),
        );
    }
    for f in &failed {
        setup.push(format!("failed round: {f} (see its cells in the manifest)"));
    }
    c.setup = setup;
    compare::write_outputs(
        &c,
        Some(&plan.out.join("compare.md")),
        Some(&plan.out.join("compare.json")),
    )?;
    println!("{}", c.markdown());
    println!("A/B folder: {}", plan.out.display());
    Ok(c)
}

fn round_command(
    exe: &Path,
    ab: &AbSettings,
    plan: &Plan,
    arm: &Arm,
    k: usize,
    dir: &Path,
) -> Command {
    let mut cmd = Command::new(exe);
    cmd.arg("bench")
        .arg(&ab.suite)
        .args(["--profile", &ab.profile, "--repeats", "1"])
        .args(["--variants", &ab.variants.join(",")])
        .args(["--workloads", &ab.workloads.join(",")])
        .args(["--client", "persistent", "--method", "harness"])
        .arg("--seed")
        .arg(ab.seed.wrapping_add(k as u64).to_string())
        .arg("--no-report")
        .arg("--no-build") // each arm's binaries were built and copied already
        .arg("--out")
        .arg(dir);
    if !ab.connections.is_empty() {
        let levels: Vec<String> = ab.connections.iter().map(|c| c.to_string()).collect();
        cmd.args(["--connections", &levels.join(",")]);
    }
    if let Some(d) = ab.duration {
        cmd.arg("--duration").arg(d.to_string());
    }
    if ab.no_pin {
        cmd.arg("--no-pin");
    }
    if let Some(host) = &ab.server.server_host {
        cmd.args(["--server-host", host]);
    }
    if let Some(config) = &ab.server.ssh_config {
        cmd.arg("--ssh-config").arg(config);
    }
    for (key, value) in &arm.env {
        cmd.arg("--env").arg(format!("{key}={value}"));
    }
    cmd.env("WGB_BIN_DIR", &arm.bin)
        .env_remove("GATEWAY_WASM_MODULE")
        .env("CARGO_TARGET_DIR", &plan.target);
    match &arm.image {
        Some(tag) => cmd.env("WGB_GATEWAY_IMAGE", tag),
        None => cmd.env_remove("WGB_GATEWAY_IMAGE"),
    };
    cmd
}
