//! `cargo xtask bench compare --base REV --head REV` (A/B) and `cargo xtask
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

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use serde::Serialize;

use super::Profile;
use crate::compare::{self, Comparison};
use crate::manifest::{Cell, Manifest, VariantStatus};
use crate::results::{self, RunDir};
use crate::{docker, paths, report, signals, variants, wasmtime_cli, workloads};

/// The variants an A/B measures by default: the three whose code differs
/// (the server core, the embedded Wasmtime transform, a runtime per request).
/// `native_docker` adds an image build per revision; ask for it by name.
pub const DEFAULT_VARIANTS: &str = "native_local,wasm_host_wasmtime_embedded,wasm_host_wasmtime";

#[derive(clap::Args, Debug, Clone)]
pub struct CompareArgs {
    /// The base revision (anything `git rev-parse` takes: a sha, a branch).
    #[arg(long)]
    pub base: String,
    /// The head revision.
    #[arg(long, default_value = "HEAD")]
    pub head: String,
    #[command(flatten)]
    pub ab: AbArgs,
}

#[derive(clap::Args, Debug, Clone)]
pub struct AaArgs {
    /// Do not build: run the target folder's binaries as they are.
    #[arg(long)]
    pub no_build: bool,
    #[command(flatten)]
    pub ab: AbArgs,
}

#[derive(clap::Args, Debug, Clone)]
pub struct AbArgs {
    /// Profile of each round (ci: sized for a pull request on 2 cores).
    #[arg(long, default_value = "ci")]
    pub profile: String,
    /// Variants, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = DEFAULT_VARIANTS)]
    pub variants: Vec<String>,
    /// Workloads, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "hello,compute")]
    pub workloads: Vec<String>,
    /// Throughput connection levels (default: the profile's).
    #[arg(long, value_delimiter = ',')]
    pub connections: Vec<usize>,
    /// Seconds per throughput cell (default: the profile's).
    #[arg(long)]
    pub duration: Option<f64>,
    /// Rounds (repeats per arm; default: the profile's repeats, at least 3;
    /// 2 for --suite instructions).
    #[arg(long)]
    pub rounds: Option<usize>,
    /// Suites of each round: all (cold, warm and throughput), cold, warm,
    /// throughput, or instructions (callgrind counts, judged against
    /// --instructions-threshold).
    #[arg(long, default_value = "all")]
    pub suite: String,
    /// Environment for both arms' gateways, KEY=VALUE, repeatable.
    #[arg(long = "env", value_name = "KEY=VALUE", value_parser = super::parse_env)]
    pub env: Vec<(String, String)>,
    /// Environment for the head arm only, e.g. the calibration knob
    /// GATEWAY_CALIBRATION_DELAY_US=200 (a known slowdown to detect).
    #[arg(long = "head-env", value_name = "KEY=VALUE", value_parser = super::parse_env)]
    pub head_env: Vec<(String, String)>,
    /// Output folder (default: results/runs/ab-<UTC timestamp>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Cargo target folder of the builds (default: the usual one, where
    /// Wasmtime is already compiled; its release/ then holds the last build).
    #[arg(long)]
    pub target_dir: Option<PathBuf>,
    #[command(flatten)]
    pub compare: compare::Options,
    /// Do not pin the gateway to CPU 0 and the load generator to CPU 1.
    #[arg(long)]
    pub no_pin: bool,
    /// Seed of the variant order; round k uses seed + k in both arms.
    #[arg(long, default_value_t = 20_260_101)]
    pub seed: u64,
    /// Do not render plots and the report of each arm.
    #[arg(long)]
    pub no_report: bool,
}

/// One side of the comparison.
#[derive(Debug, Clone, Serialize)]
struct Arm {
    name: &'static str,
    /// What was asked for (`main`, a sha, `working tree`).
    rev: String,
    /// The commit (or the working tree's HEAD for A/A).
    sha: String,
    dirty: bool,
    bin: PathBuf,
    image: Option<String>,
    env: Vec<(String, String)>,
}

/// `bench compare`: 0, 1 (regression, or head failed where base measured)
/// or 2 (error, printed).
pub fn compare(args: &CompareArgs) -> ExitCode {
    compare::exit_status(run_compare(args))
}

/// `bench aa`: 0, 1 (a cell flagged: a false alarm unless --head-env made
/// head slower) or 2 (error, printed).
pub fn aa(args: &AaArgs) -> ExitCode {
    compare::exit_status(run_aa(args))
}

struct Plan {
    rounds: usize,
    out: PathBuf,
    target: PathBuf,
    docker: bool,
}

fn plan(ab: &AbArgs) -> Result<Plan> {
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
    for v in &ab.variants {
        variants::find(v)?;
    }
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
    let docker = ab.variants.iter().any(|v| v == "native_docker");
    Ok(Plan {
        rounds,
        out,
        target,
        docker,
    })
}

fn absolute(p: &Path) -> Result<PathBuf> {
    Ok(if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()?.join(p)
    })
}

fn run_compare(args: &CompareArgs) -> Result<Comparison> {
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
                copy_dir(&arms[0].bin, &arm.bin)?;
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
    let git = crate::manifest::git();
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

fn arm(name: &'static str, rev: &str, sha: &str, plan: &Plan, ab: &AbArgs, head: bool) -> Arm {
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

fn rev_parse(root: &Path, rev: &str) -> Result<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["rev-parse", "--verify", "--quiet"])
        .arg(format!("{rev}^{{commit}}"))
        .output()
        .context("running git")?;
    if !out.status.success() {
        bail!(
            "revision {rev:?} is not a commit of {} (a shallow clone? check out with fetch-depth: 0)",
            root.display()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn git(args: &[&str], dir: &Path) -> Result<()> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .context("running git")?;
    if !out.status.success() {
        bail!(
            "git {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// The one worktree both revisions are built in; removed on drop.
struct Worktree {
    repo: PathBuf,
    path: PathBuf,
    added: std::cell::Cell<bool>,
}

impl Worktree {
    fn new(repo: &Path, path: &Path) -> Result<Worktree> {
        let wt = Worktree {
            repo: repo.to_path_buf(),
            path: path.to_path_buf(),
            added: std::cell::Cell::new(false),
        };
        wt.remove(); // a crashed run's leftovers
        Ok(wt)
    }

    fn checkout(&self, sha: &str) -> Result<()> {
        if self.added.get() {
            git(
                &["checkout", "--quiet", "--detach", "--force", sha],
                &self.path,
            )
        } else {
            if let Some(parent) = self.path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            let path = self.path.to_string_lossy().into_owned();
            git(
                &[
                    "worktree", "add", "--quiet", "--detach", "--force", &path, sha,
                ],
                &self.repo,
            )?;
            self.added.set(true);
            Ok(())
        }
    }

    fn remove(&self) {
        let path = self.path.to_string_lossy().into_owned();
        let _ = git(&["worktree", "remove", "--force", &path], &self.repo);
        let _ = std::fs::remove_dir_all(&self.path);
        let _ = git(&["worktree", "prune"], &self.repo);
    }
}

impl Drop for Worktree {
    fn drop(&mut self) {
        self.remove();
    }
}

fn cargo(dir: &Path, target: &Path, args: &[&str], extra_env: &[(&str, &str)]) -> Result<()> {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()));
    cmd.current_dir(dir)
        .env("CARGO_TARGET_DIR", target)
        .args(args)
        .stdin(std::process::Stdio::null());
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    let status = cmd
        .status()
        .with_context(|| format!("running cargo {}", args.join(" ")))?;
    if !status.success() {
        bail!(
            "cargo {} in {} failed ({status})",
            args.join(" "),
            dir.display()
        );
    }
    Ok(())
}

/// Build one tree's gateways, upstream and module into `target`, copy them
/// into the arm's folder, and build its image when asked.
fn build_tree(dir: &Path, target: &Path, arm: &Arm, with_docker: bool) -> Result<()> {
    cargo(
        dir,
        target,
        &[
            "build",
            "--release",
            "-p",
            "gateway-native",
            "-p",
            "gateway-host",
            "-p",
            "upstream-echo",
        ],
        &[],
    )?;
    cargo(
        dir,
        target,
        &[
            "build",
            "--release",
            "-p",
            "gateway-wasm",
            "--target",
            paths::WASM_TARGET,
        ],
        &[],
    )?;
    copy_bins(target, &arm.bin)?;
    if let (true, Some(tag)) = (with_docker, &arm.image) {
        if docker::engine_version().is_err() {
            eprintln!("no Docker engine: native_docker will be skipped");
            return Ok(());
        }
        cargo(
            dir,
            target,
            &[
                "build",
                "--release",
                "--target",
                paths::STATIC_TARGET,
                "-p",
                "gateway-native",
            ],
            &[(
                "CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUSTFLAGS",
                "-C target-feature=+crt-static",
            )],
        )?;
        let context = arm.bin.join("docker-context");
        std::fs::create_dir_all(&context)?;
        copy(
            &target
                .join(paths::STATIC_TARGET)
                .join("release/gateway-native"),
            &context.join("gateway-native"),
        )?;
        docker::build_image(tag, &dir.join("gateway-native/Dockerfile"), &context)?;
    }
    Ok(())
}

const BINS: &[&str] = &["gateway-native", "gateway-host", "upstream-echo"];

/// Copy what is built; a missing piece is left out (the variants that need
/// it then say "not built" and are skipped).
fn copy_bins(target: &Path, dest: &Path) -> Result<()> {
    std::fs::create_dir_all(dest).with_context(|| format!("creating {}", dest.display()))?;
    let module = target
        .join(paths::WASM_TARGET)
        .join("release/gateway-wasm.wasm");
    let mut pieces: Vec<(PathBuf, &str)> = BINS
        .iter()
        .map(|name| (target.join("release").join(name), *name))
        .collect();
    pieces.push((module, "gateway-wasm.wasm"));
    for (from, name) in pieces {
        if from.exists() {
            copy(&from, &dest.join(name))?;
        } else {
            eprintln!("{} is not built: left out", from.display());
        }
    }
    Ok(())
}

fn copy(from: &Path, to: &Path) -> Result<()> {
    std::fs::copy(from, to)
        .with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
    Ok(())
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let dest = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &dest)?;
        } else {
            copy(&entry.path(), &dest)?;
        }
    }
    Ok(())
}

fn tag_image(from: &str, to: &str) -> Result<()> {
    let status = Command::new("docker")
        .args(["tag", from, to])
        .status()
        .context("running docker tag")?;
    if !status.success() {
        bail!("docker tag {from} {to} failed");
    }
    Ok(())
}

fn remove_images(arms: &[Arm]) {
    let mut tags: Vec<&str> = arms.iter().filter_map(|a| a.image.as_deref()).collect();
    tags.dedup();
    for tag in tags {
        let _ = Command::new("docker")
            .args(["rmi", "--no-prune", tag])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
}

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

fn measure_and_compare(
    ab: &AbArgs,
    plan: &Plan,
    arms: &[Arm],
    build_s: f64,
    title: &str,
    aa: bool,
) -> Result<Comparison> {
    if ab.variants.iter().any(|v| v == "wasm_host_wasmtime") {
        if let Err(e) = wasmtime_cli::ensure() {
            eprintln!("wasm_host_wasmtime will be skipped: {e:#}");
        }
    }
    let exe = std::env::current_exe().context("locating the xtask binary")?;
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
            merge(&root, rounds, arm, !ab.no_report)?;
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

fn round_command(exe: &Path, ab: &AbArgs, plan: &Plan, arm: &Arm, k: usize, dir: &Path) -> Command {
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

/// Merge an arm's round folders into one run folder whose repeats are the
/// rounds (round k's repeat j becomes k * repeats_per_round + j), then
/// summarize it (and render its report).
fn merge(root: &Path, rounds: &[(usize, PathBuf)], arm: &Arm, render: bool) -> Result<()> {
    if rounds.is_empty() {
        bail!("{}: no round produced a run folder", arm.name);
    }
    let run = RunDir::create(Some(root))?;
    let mut merged: Option<Manifest> = None;
    let mut csvs: BTreeMap<PathBuf, (csv::StringRecord, Vec<csv::StringRecord>)> = BTreeMap::new();
    let mut statuses = Vec::new();
    let mut total_cold = 0;
    let mut total_tp = 0;
    for (k, dir) in rounds {
        let k = *k;
        let m = Manifest::read(dir)?;
        let per = |key: &str| {
            m.profile
                .get(key)
                .and_then(|v| v.as_u64())
                .map_or(1, |n| n.max(1) as usize)
        };
        let (r_cold, r_tp) = (per("cold_repeats"), per("repeats"));
        total_cold += r_cold;
        total_tp += r_tp;
        let kept = dir.join("meta");
        let meta_dest = run.path(&format!("meta/rounds/r{k}"));
        if k == rounds[0].0 {
            let snap = kept.join("env_snapshot.txt");
            if snap.exists() {
                copy(&snap, &run.path("meta/env_snapshot.txt"))?;
            }
        }
        move_dir(&kept, &meta_dest)?;

        // raw/: cold and warm CSVs concatenated with the repeat remapped or
        // added, throughput cells renamed; anything else kept under meta.
        let raw = dir.join("raw");
        for sub in list(&raw)? {
            let name = file_name(&sub);
            for file in list(&sub)? {
                let fname = file_name(&file);
                match (
                    name.as_str(),
                    fname.ends_with(".csv"),
                    fname.ends_with(".json"),
                ) {
                    ("cold", true, _) => append_csv(
                        &mut csvs,
                        &file,
                        &run.path(&format!("raw/cold/{fname}")),
                        |j| k * r_cold + j.unwrap_or(0),
                    )?,
                    ("warm", true, _) => append_csv(
                        &mut csvs,
                        &file,
                        &run.path(&format!("raw/warm/{fname}")),
                        |_| k,
                    )?,
                    ("throughput" | "instructions", _, true) => {
                        let text = std::fs::read_to_string(&file)?;
                        let mut v: serde_json::Value = serde_json::from_str(&text)
                            .with_context(|| format!("parsing {}", file.display()))?;
                        let j = v.get("repeat").and_then(|r| r.as_u64()).unwrap_or(0) as usize;
                        let new = k * r_tp + j;
                        v["repeat"] = serde_json::json!(new);
                        let renamed = rename_repeat(&fname, j, new);
                        results::write_json(&run.path(&format!("raw/{name}/{renamed}")), &v)?;
                    }
                    _ => move_dir(&file, &meta_dest.join("raw").join(&name).join(&fname))?,
                }
            }
        }

        let mut cells: Vec<Cell> = m.cells.clone();
        for cell in &mut cells {
            match cell.suite.as_str() {
                "cold" => cell.repeat = cell.repeat.map(|j| k * r_cold + j),
                "throughput" | "instructions" => {
                    if let Some(j) = cell.repeat {
                        let new = k * r_tp + j;
                        cell.repeat = Some(new);
                        cell.raw = cell.raw.as_ref().map(|r| rename_repeat(r, j, new));
                    }
                }
                _ => cell.repeat = Some(k),
            }
        }
        statuses.push((k, m.status.clone()));
        match &mut merged {
            None => {
                let mut first = m.clone();
                first.cells = cells;
                merged = Some(first);
            }
            Some(acc) => {
                acc.cells.extend(cells);
                acc.finished = m.finished.clone();
                for v in &m.variants {
                    merge_variant(&mut acc.variants, v);
                }
            }
        }
    }
    for (dest, (header, rows)) in &csvs {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(header)?;
        for r in rows {
            w.write_record(r)?;
        }
        results::write_atomic(dest, &w.into_inner().context("flushing CSV")?)?;
    }
    let mut m = merged.expect("at least one round");
    m.command = std::env::args().collect::<Vec<_>>().join(" ");
    if let Some(p) = m.profile.as_object_mut() {
        p.insert("repeats".to_owned(), serde_json::json!(total_tp));
        p.insert("cold_repeats".to_owned(), serde_json::json!(total_cold));
    }
    m.git.revision = arm.sha.clone();
    m.git.dirty = arm.dirty;
    m.status = match statuses.iter().find(|(_, s)| s != "complete") {
        None => "complete".to_owned(),
        Some((k, s)) => format!("round {}: {s}", k + 1),
    };
    m.write(&run.root)?;
    results::write_json(&run.path("meta/ab.json"), arm)?;
    if let Err(e) = report::summarize(&run.root, render) {
        if !render {
            return Err(e);
        }
        eprintln!(
            "{}: rendering the report failed ({e:#}); summaries only",
            arm.name
        );
        report::summarize(&run.root, false)?;
    }
    Ok(())
}

/// An arm's run folder when none of its rounds left one: a manifest whose
/// variants all failed, with the failed rounds as the reason.
fn empty_run(root: &Path, ab: &AbArgs, arm: &Arm, failed: &[&String]) -> Result<()> {
    let run = RunDir::create(Some(root))?;
    let reason = if failed.is_empty() {
        "no round produced a run folder".to_owned()
    } else {
        failed
            .iter()
            .map(|f| f.as_str())
            .collect::<Vec<_>>()
            .join("; ")
    };
    let m = Manifest {
        schema: 1,
        command: std::env::args().collect::<Vec<_>>().join(" "),
        suites: vec![ab.suite.clone()],
        status: format!("failed: {reason}"),
        git: crate::manifest::Git {
            revision: arm.sha.clone(),
            dirty: arm.dirty,
        },
        variants: ab
            .variants
            .iter()
            .map(|v| VariantStatus {
                name: v.clone(),
                status: "failed".to_owned(),
                reason: Some(format!("no round ran: {reason}")),
            })
            .collect(),
        ..Manifest::default()
    };
    m.write(&run.root)?;
    results::write_json(&run.path("meta/ab.json"), arm)
}

fn merge_variant(acc: &mut Vec<VariantStatus>, v: &VariantStatus) {
    match acc.iter_mut().find(|a| a.name == v.name) {
        None => acc.push(v.clone()),
        Some(a) => {
            let rank = |s: &str| match s {
                "failed" => 2,
                "ran" => 1,
                _ => 0,
            };
            if rank(&v.status) > rank(&a.status) {
                a.status = v.status.clone();
                if a.reason.is_none() || v.status == "failed" {
                    a.reason = v.reason.clone();
                }
            }
        }
    }
}

/// `x__c10__r0.json` -> `x__c10__r4.json`.
fn rename_repeat(name: &str, old: usize, new: usize) -> String {
    let from = format!("__r{old}.json");
    match name.strip_suffix(&from) {
        Some(stem) => format!("{stem}__r{new}.json"),
        None => name.to_owned(),
    }
}

/// Append a CSV's rows to the merged file's, with its `repeat` column
/// (added when missing) set by `repeat(old)`.
fn append_csv(
    acc: &mut BTreeMap<PathBuf, (csv::StringRecord, Vec<csv::StringRecord>)>,
    file: &Path,
    dest: &Path,
    repeat: impl Fn(Option<usize>) -> usize,
) -> Result<()> {
    let mut reader =
        csv::Reader::from_path(file).with_context(|| format!("reading {}", file.display()))?;
    let mut header = reader.headers()?.clone();
    let col = match header.iter().position(|h| h == "repeat") {
        Some(i) => i,
        None => {
            header.push_field("repeat");
            header.len() - 1
        }
    };
    let entry = acc
        .entry(dest.to_path_buf())
        .or_insert_with(|| (header.clone(), Vec::new()));
    if entry.0 != header {
        bail!(
            "{}: its columns differ from an earlier round's",
            file.display()
        );
    }
    for record in reader.records() {
        let record = record.with_context(|| format!("parsing {}", file.display()))?;
        let old = record.get(col).and_then(|s| s.parse().ok());
        let mut fields: Vec<String> = record.iter().map(str::to_owned).collect();
        fields.resize(header.len(), String::new());
        fields[col] = repeat(old).to_string();
        entry.1.push(csv::StringRecord::from(fields));
    }
    Ok(())
}

fn list(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| !file_name(p).starts_with('.'))
            .collect(),
        Err(_) => Vec::new(),
    };
    out.sort();
    Ok(out)
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Move a file or folder (rename, or copy when across file systems).
fn move_dir(from: &Path, to: &Path) -> Result<()> {
    if !from.exists() {
        return Ok(());
    }
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent)?;
    }
    if std::fs::rename(from, to).is_ok() {
        return Ok(());
    }
    if from.is_dir() {
        copy_dir(from, to)
    } else {
        copy(from, to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throughput_names_get_the_new_repeat() {
        assert_eq!(
            rename_repeat("native_local__hello__c10__r0.json", 0, 4),
            "native_local__hello__c10__r4.json"
        );
        assert_eq!(rename_repeat("raw/x__r1.json", 1, 7), "raw/x__r7.json");
        assert_eq!(rename_repeat("odd.json", 0, 3), "odd.json");
    }

    #[test]
    fn variant_status_keeps_the_worst() {
        let mut acc = vec![VariantStatus {
            name: "a".into(),
            status: "ran".into(),
            reason: None,
        }];
        merge_variant(
            &mut acc,
            &VariantStatus {
                name: "a".into(),
                status: "failed".into(),
                reason: Some("boom".into()),
            },
        );
        assert_eq!(acc[0].status, "failed");
        assert_eq!(acc[0].reason.as_deref(), Some("boom"));
    }
}
