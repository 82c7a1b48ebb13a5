//! `cargo xtask bench micro`: the criterion micro-benchmarks of gateway-host
//! (`gateway-host/benches/micro.rs`), pinned to the gateway's CPU, with
//! criterion's estimates copied into the run folder as
//! `raw/micro/<group>__<benchmark>.json`. The report turns them into a table
//! and the split of a `hello` request's CPU cost.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::results::{self, RunDir};
use crate::rundata::manifest::{self, Manifest};
use crate::rundata::{MicroKey, RunStatus};
use crate::{paths, report};

#[derive(clap::Args, Debug)]
pub struct MicroArgs {
    /// Only the benchmarks whose id contains this, e.g. `hello` or
    /// `instantiate/pooled` (criterion's filter).
    pub filter: Option<String>,
    /// Seconds of measurement per benchmark (criterion's --measurement-time).
    #[arg(long, default_value_t = 2.0)]
    pub measurement_time: f64,
    /// Add the estimates to this existing run folder (e.g. results/latest,
    /// so the report can split the macro figures) instead of a new one.
    #[arg(long, conflicts_with = "out")]
    pub into: Option<PathBuf>,
    /// Run folder to create (default: results/runs/<UTC timestamp>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Do not pin the benchmarks to CPU 0.
    #[arg(long)]
    pub no_pin: bool,
    /// Do not render the report at the end.
    #[arg(long)]
    pub no_report: bool,
}

pub fn run(args: &MicroArgs) -> Result<()> {
    if !(args.measurement_time.is_finite() && args.measurement_time > 0.0) {
        bail!("--measurement-time must be a positive number of seconds");
    }
    // The folders are checked before the build, so a typo fails at once.
    let into = args.into.as_deref().map(RunDir::open).transpose()?;
    if let Some(out) = &args.out {
        results::check_out(out)?;
    }
    let bench = build()?;
    let root = match into {
        Some(run) => run.root,
        None => new_run(args)?,
    };
    let home = std::env::temp_dir().join(format!("wgb-criterion-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&home);
    let outcome = measure(args, &bench, &home).and_then(|()| copy_estimates(&home, &root));
    let _ = std::fs::remove_dir_all(&home);
    let copied = outcome?;
    if args.into.is_none() {
        let mut m = Manifest::read(&root)?;
        m.status = RunStatus::Complete.name().to_owned();
        m.finished = Some(super::session::now());
        m.write(&root)?;
    }
    report::summarize(&root, !args.no_report)?;
    println!("{}", report::micro::screen_table(&root)?);
    println!("{copied} estimates in {}", root.join("raw/micro").display());
    Ok(())
}

/// `cargo bench --no-run`, and the benchmark executable it built.
fn build() -> Result<PathBuf> {
    eprintln!("==> building the micro-benchmarks (cargo bench -p gateway-host --no-run)");
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()))
        .current_dir(paths::project_root())
        .env("CARGO_TARGET_DIR", paths::target_dir())
        .args([
            "bench",
            "-p",
            "gateway-host",
            "--bench",
            "micro",
            "--no-run",
            "--message-format=json-render-diagnostics",
        ])
        .output()
        .context("running cargo bench --no-run")?;
    if !out.status.success() {
        bail!("building the micro-benchmarks failed (cargo bench -p gateway-host --no-run)");
    }
    executable(&String::from_utf8_lossy(&out.stdout))
        .context("cargo bench --no-run named no `micro` executable")
}

/// The `micro` bench executable from cargo's JSON messages.
fn executable(messages: &str) -> Option<PathBuf> {
    messages
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "micro")
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
}

fn new_run(args: &MicroArgs) -> Result<PathBuf> {
    let run = RunDir::create(args.out.as_deref())?;
    let manifest = Manifest {
        schema: 1,
        command: std::env::args().collect::<Vec<_>>().join(" "),
        suites: vec!["micro".to_owned()],
        status: RunStatus::Running.name().to_owned(),
        started: super::session::now(),
        git: manifest::git(),
        versions: manifest::versions(),
        machine: manifest::machine(),
        ..Manifest::default()
    };
    manifest.write(&run.root)?;
    results::write_atomic(
        &run.path("meta/env_snapshot.txt"),
        manifest::env_snapshot().as_bytes(),
    )?;
    Ok(run.root)
}

fn measure(args: &MicroArgs, bench: &Path, home: &Path) -> Result<()> {
    let mut cmd = Command::new(bench);
    cmd.current_dir(paths::project_root())
        .env("CRITERION_HOME", home)
        .env("GATEWAY_WASM_MODULE", paths::wasm_module())
        .env("WASM_WORK_MODULE", paths::work_module())
        .arg("--bench")
        .arg("--measurement-time")
        .arg(args.measurement_time.to_string());
    if let Some(filter) = &args.filter {
        cmd.arg(filter);
    }
    eprintln!("==> {}", bench.display());
    let mut child = cmd.spawn().context("starting the micro-benchmarks")?;
    if !args.no_pin {
        // The gateway's CPU, as the macro suites pin it; the benches spend
        // their first milliseconds compiling modules, before any timing.
        let _ = crate::affinity::pin_pid(child.id(), 0);
    }
    let status = child.wait()?;
    if !status.success() {
        bail!("the micro-benchmarks failed: {status}");
    }
    Ok(())
}

/// `<home>/<group>/<bench>/new/estimates.json` -> `raw/micro/<group>__<bench>.json`.
fn copy_estimates(home: &Path, root: &Path) -> Result<usize> {
    let dest = root.join("raw/micro");
    std::fs::create_dir_all(&dest)?;
    let mut copied = 0;
    for group in read_dirs(home)? {
        for bench in read_dirs(&group)? {
            let estimates = bench.join("new/estimates.json");
            if !estimates.is_file() {
                continue;
            }
            let key = MicroKey {
                group: group
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into(),
                bench: bench
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into(),
            };
            let bytes = std::fs::read(&estimates)
                .with_context(|| format!("reading {}", estimates.display()))?;
            results::write_atomic(&root.join(key.path()), &bytes)?;
            copied += 1;
        }
    }
    if copied == 0 {
        bail!("criterion wrote no estimates under {}", home.display());
    }
    Ok(copied)
}

fn read_dirs(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir() && p.file_name().is_some_and(|n| n != "report"))
        .collect();
    dirs.sort();
    Ok(dirs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_bench_executable_in_cargos_messages() {
        let messages = r#"{"reason":"compiler-artifact","target":{"name":"gateway_host"},"executable":null}
{"reason":"compiler-artifact","target":{"name":"micro"},"executable":"/t/release/deps/micro-abc"}
{"reason":"build-finished","success":true}"#;
        assert_eq!(
            executable(messages),
            Some(PathBuf::from("/t/release/deps/micro-abc"))
        );
        assert_eq!(executable("{}"), None);
    }
}
