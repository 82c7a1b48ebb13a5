//! `cargo xtask bench ab --base REV --head REV` (A/B) and `cargo xtask
//! bench aa` (A/A): two builds measured in one interleaved run on the same
//! machine, then compared with confidence intervals (`compare/`).
//!
//! Building: both revisions are checked out, one after the other, in ONE git
//! worktree (`<target>/ab-worktree`) and built into ONE cargo target folder,
//! so Wasmtime is compiled at most once and head's build after base's is
//! incremental (same path, so the same fingerprints). After each build the
//! revision's release binaries and Wasm module (and, with `native_docker`,
//! its image under its own tag) are copied into `<out>/bin/<arm>/`; the
//! worktree is removed at the end. A/A builds the current tree once and runs
//! both arms from the same copy.
//!
//! Measuring: rounds. In each round each arm runs every suite once (one
//! repeat, a `bench` child process with `WGB_BIN_DIR` pointing at its
//! binaries), and the order alternates, base-head then head-base (ABBA), so
//! a linear drift of the machine does not favour either arm. Each arm's
//! rounds are then merged into one ordinary run folder (`<out>/base`,
//! `<out>/head`) whose repeats are the rounds: `cargo xtask report` works on
//! it, and `compare` reads it. The verdict goes to `<out>/compare.md` and
//! `<out>/compare.json`.
//!
//! Calibration: `--head-env GATEWAY_CALIBRATION_DELAY_US=N` sets the
//! gateways' busy delay per request in the head arm only, a known slowdown
//! the detector must flag (`bench aa --head-env ...` shows it on one build);
//! `GATEWAY_CALIBRATION_SPIN=N` adds N iterations of a fixed loop instead,
//! CPU work that instruction counts see (`--suite instructions`).
//!
//! `--suite instructions` runs `bench instructions` in each round: counts
//! from callgrind, which the machine's load does not move, so 2 rounds per
//! arm are the default (1 is enough to judge; 2 show the count's spread).
//!
//! Exit status: 0 without a regression, 1 with one or when head failed
//! where base measured (no round folder at all included), 2 on an error.
//!
//! The code, one job a file: `args` (the command lines), `worktree` (the
//! git worktree both revisions are checked out in), `build` (building a
//! revision and copying its binaries), `rounds` (the interleaved rounds and
//! the verdict), `arm_run` (an arm's round folders collected into one run folder).

mod args;
mod arm_run;
mod build;
mod rounds;
mod worktree;

pub use args::{AaArgs, AbArgs, AbSettings};

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use serde::Serialize;

use super::Profile;
use crate::compare::{self, Comparison};
use crate::files::copy_tree;
use crate::{docker, paths, signals, variants, workloads};
use build::{build_tree, copy_bins, tag_image};
use rounds::measure_and_compare;
use worktree::{rev_parse, Worktree};

/// One side of the comparison.
#[derive(Debug, Clone, Serialize)]
pub(super) struct Arm {
    pub(super) name: &'static str,
    /// What was asked for (`main`, a sha, `working tree`).
    pub(super) rev: String,
    /// The commit (or the working tree's HEAD for A/A).
    pub(super) sha: String,
    pub(super) dirty: bool,
    pub(super) bin: PathBuf,
    pub(super) image: Option<String>,
    pub(super) env: Vec<(String, String)>,
}

/// `bench ab`: 0, 1 (regression, or head failed where base measured)
/// or 2 (error, printed).
pub fn ab(args: &AbArgs) -> ExitCode {
    compare::exit_status(run_ab(args))
}

/// `bench aa`: 0, 1 (a cell flagged: a false alarm unless --head-env made
/// head slower) or 2 (error, printed).
pub fn aa(args: &AaArgs) -> ExitCode {
    compare::exit_status(run_aa(args))
}

pub(super) struct Plan {
    pub(super) rounds: usize,
    pub(super) out: PathBuf,
    pub(super) target: PathBuf,
    pub(super) docker: bool,
}

pub(super) fn plan(ab: &AbSettings) -> Result<Plan> {
    let profile = Profile::by_name(&ab.profile)?;
    if !["all", "cold", "warm", "throughput", "instructions"].contains(&ab.suite.as_str()) {
        bail!(
            "unknown --suite {:?}; use all, cold, warm, throughput or instructions",
            ab.suite
        );
    }
    let counts = ab.suite == "instructions";
    let rounds = ab
        .rounds
        .unwrap_or(if counts { 2 } else { profile.repeats });
    if counts && rounds == 0 {
        bail!("--rounds must be at least 1");
    }
    if !counts && rounds < compare::MIN_REPEATS {
        bail!(
            "{rounds} round(s): at least {} are needed for an interval (--rounds)",
            compare::MIN_REPEATS
        );
    }
    let selected = variants::select(&ab.variants)?;
    for w in &ab.workloads {
        workloads::find(w)?;
    }
    let out = match &ab.out {
        Some(dir) => absolute(dir)?,
        None => {
            let stamp = chrono::Utc::now().format("%Y-%m-%dT%H-%M-%SZ").to_string();
            // Under results/runs/ (git-ignored); not a run folder itself
            // (no manifest.json), its base/ and head/ are.
            paths::project_root()
                .join("results/runs")
                .join(format!("ab-{stamp}"))
        }
    };
    for arm in ["base", "head"] {
        if out.join(arm).join("manifest.json").exists() {
            bail!(
                "{} already holds an A/B; choose another --out",
                out.display()
            );
        }
    }
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let target = match &ab.target_dir {
        Some(dir) => absolute(dir)?,
        None => paths::target_dir(),
    };
    let docker = selected.iter().any(|v| v.is_container());
    Ok(Plan {
        rounds,
        out,
        target,
        docker,
    })
}

pub(super) fn absolute(p: &Path) -> Result<PathBuf> {
    Ok(if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()?.join(p)
    })
}

fn run_ab(args: &AbArgs) -> Result<Comparison> {
    signals::install();
    let ab = &args.ab;
    let plan = plan(ab)?;
    let root = paths::project_root();
    let base_sha = rev_parse(&root, &args.base)?;
    let head_sha = rev_parse(&root, &args.head)?;
    let started = Instant::now();
    let mut arms = [
        arm("base", &args.base, &base_sha, &plan, ab, false),
        arm("head", &args.head, &head_sha, &plan, ab, true),
    ];
    {
        let worktree = Worktree::new(&root, &plan.target.join("ab-worktree"))?;
        for (i, arm) in arms.iter().enumerate() {
            if i == 1 && arm.sha == arms[0].sha {
                eprintln!("==> head is base ({}): one build", short(&arm.sha));
                copy_tree(&arms[0].bin, &arm.bin)?;
                continue;
            }
            eprintln!("==> {} {} ({}): build", arm.name, arm.rev, short(&arm.sha));
            worktree.checkout(&arm.sha)?;
            build_tree(&worktree.path, &plan.target, arm, plan.docker)?;
            if signals::interrupted() {
                bail!("interrupted while building");
            }
        }
    }
    if plan.docker && arms[0].sha == arms[1].sha {
        arms[1].image = arms[0].image.clone();
    }
    let build_s = started.elapsed().as_secs_f64();
    let title = format!(
        "Benchmark A/B: head {} vs base {}",
        short(&head_sha),
        short(&base_sha)
    );
    measure_and_compare(ab, &plan, &arms, build_s, &title, false)
}

fn run_aa(args: &AaArgs) -> Result<Comparison> {
    signals::install();
    let ab = &args.ab;
    let plan = plan(ab)?;
    let root = paths::project_root();
    let git = crate::rundata::manifest::git();
    let started = Instant::now();
    let bin = plan.out.join("bin/aa");
    let mut base = Arm {
        name: "base",
        rev: "working tree".to_owned(),
        sha: git.revision.clone(),
        dirty: git.dirty,
        bin: bin.clone(),
        image: None,
        env: ab.env.clone(),
    };
    if plan.docker {
        base.image = Some(format!("{}:ab-aa-{}", image_repo(), std::process::id()));
    }
    if args.no_build {
        eprintln!("==> A/A: the target folder's binaries as they are (--no-build)");
        copy_bins(&plan.target, &bin)?;
        if let Some(tag) = &base.image {
            tag_image(docker::GATEWAY_IMAGE, tag)?;
        }
    } else {
        eprintln!("==> A/A: build the current tree");
        build_tree(&root, &plan.target, &base, plan.docker)?;
    }
    let mut head = base.clone();
    head.name = "head";
    head.env.extend(ab.head_env.iter().cloned());
    let build_s = started.elapsed().as_secs_f64();
    let title = format!("Benchmark A/A: {} against itself", short(&git.revision));
    measure_and_compare(ab, &plan, &[base, head], build_s, &title, true)
}

fn arm(name: &'static str, rev: &str, sha: &str, plan: &Plan, ab: &AbSettings, head: bool) -> Arm {
    let mut env = ab.env.clone();
    if head {
        env.extend(ab.head_env.iter().cloned());
    }
    Arm {
        name,
        rev: rev.to_owned(),
        sha: sha.to_owned(),
        dirty: false,
        bin: plan.out.join("bin").join(name),
        image: plan.docker.then(|| {
            format!(
                "{}:ab-{name}-{}-{}",
                image_repo(),
                short(sha),
                std::process::id()
            )
        }),
        env,
    }
}

fn image_repo() -> &'static str {
    docker::GATEWAY_IMAGE
        .rsplit_once(':')
        .map_or(docker::GATEWAY_IMAGE, |(repo, _)| repo)
}

fn short(sha: &str) -> &str {
    sha.get(..12).unwrap_or(sha)
}
