//! `manifest.json`: what a run was asked to do, on what, with which versions
//! and pinning, what ran, what was skipped (and why), what failed (and the
//! error), and when. It is rewritten after every cell, so an interrupted run
//! still says what finished.

use std::path::Path;
use std::process::Command;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::rundata::{CellStatus, ProfileRecord, Suite, VariantState};
use crate::{docker, results, tools, wasmtime_cli};

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Manifest {
    pub schema: u32,
    pub command: String,
    pub suites: Vec<String>,
    /// `None` (`null`) in a run folder made without one (an A/B arm that never ran).
    pub profile: Option<ProfileRecord>,
    pub status: String,
    pub started: String,
    pub finished: Option<String>,
    pub git: Git,
    pub versions: Versions,
    pub machine: Machine,
    pub pinning: Pinning,
    /// `--server-host`: the host the gateways ran on (`machine` is then the
    /// load generator's). Absent when everything ran on this machine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<ServerHost>,
    /// `WASM_RESIDENCY` of the gateways (`release` or `keep`): whether
    /// pooled, lean and recycled give back the pages a request touched.
    /// Empty in runs made before the setting existed (they kept them).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub residency: String,
    /// How throughput cells were judged for disturbance (absent: they were
    /// not, e.g. unpinned, on a server host, or a run made before the check).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disturbance: Option<DisturbanceRule>,
    pub variants: Vec<VariantStatus>,
    pub cells: Vec<Cell>,
}

/// The rule a run judged its throughput cells by (`disturbance.rs`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct DisturbanceRule {
    /// `rerun` (measure again, then record as `disturbed`) or `record` (keep
    /// the readings only).
    pub on_disturbance: String,
    pub gateway_core: usize,
    pub load_core: usize,
    pub steal_pct: f64,
    pub foreign_pct: f64,
    pub outlier_mads: f64,
    pub outlier_min_pct: f64,
    pub retries: usize,
}

/// The server host of a remote run, and the path to it.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
pub struct ServerHost {
    /// As given to `--server-host` (handed to ssh as it is).
    pub target: String,
    /// The address the gateways listened on, as this machine reaches it.
    pub address: String,
    pub machine: Machine,
    pub kernel: String,
    /// `loopback` (the host is this machine's 127.0.0.0/8) or `network`.
    pub path: String,
    /// Median of 5 TCP connects to the host's ssh port at the run's start.
    pub round_trip_us: f64,
    /// Docker images sent to the host for the run (removed afterwards).
    #[serde(default)]
    pub images_sent: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Git {
    pub revision: String,
    pub dirty: bool,
    /// The workspace the run was started in: its results/ and its builds.
    #[serde(default)]
    pub root: String,
    /// The source hash of each package the run built or checked its
    /// outputs against (`provenance`), so two runs of equal revision but
    /// different uncommitted sources can be told apart.
    #[serde(default)]
    pub sources: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Versions {
    pub rustc: String,
    pub wasmtime_crate: String,
    pub wasmtime_cli: String,
    pub wasmtime_cli_source: String,
    /// `wasmtime run`'s compilation cache: the CLI's default (on), stated
    /// because it moves the per-spawn cost from ~83 ms to ~11 ms.
    pub wasmtime_cli_cache: String,
    pub wasmedge: String,
    /// How `wasm_host_cli` runs modules (WasmEdge's interpreter, no AOT).
    #[serde(default)]
    pub wasmedge_mode: String,
    pub docker: String,
    /// The images the Docker variants run, each with the SHA-256 of the
    /// static binary it was built from (its label), so a reader can tell
    /// which build was measured.
    #[serde(default)]
    pub docker_images: std::collections::BTreeMap<String, String>,
    pub kernel: String,
    pub wrk: String,
    pub hyperfine: String,
    pub curl: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
pub struct Machine {
    pub cpu_model: String,
    pub cpus: usize,
    pub mem_total_kb: u64,
    pub hostname: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Pinning {
    pub enabled: bool,
    pub gateway_cpu: Option<usize>,
    pub load_cpu: Option<usize>,
    pub upstream_cpu: Option<usize>,
    pub note: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VariantStatus {
    pub name: String,
    pub status: VariantState,
    pub reason: Option<String>,
}

/// One measured unit: a cold-start series, a warm (workload, client) series,
/// or a throughput (workload, connections/rate, repeat) run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Cell {
    pub suite: Suite,
    pub variant: String,
    pub workload: Option<String>,
    pub detail: String,
    pub repeat: Option<usize>,
    /// The throughput level (`c100`, `ka1`, `rate500`) or the warm client,
    /// as the raw file's key names it: how a reader finds a cell that failed
    /// before writing a raw file. Absent in older manifests (`detail` then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
    pub status: CellStatus,
    pub error: Option<String>,
    /// The raw file, relative to the run folder.
    pub raw: Option<String>,
    /// How often the cell was measured again because an attempt was
    /// disturbed (the attempts' readings are in its raw file).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub reruns: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// How a cell ended: the one input [`Cell::new`] takes for its status and
/// error, so a cell never says `failed` without why, or `ok` with an error.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Ok,
    /// Not run, with the reason.
    Skipped(String),
    Failed(String),
    /// Cut short by Ctrl-C.
    Interrupted,
    /// Measured, but disturbed, with why.
    Disturbed(String),
}

impl Outcome {
    /// `Ok(())` is ok; an error message is a failure.
    pub fn of(result: Result<(), String>) -> Outcome {
        match result {
            Ok(()) => Outcome::Ok,
            Err(e) => Outcome::Failed(e),
        }
    }

    pub fn status(&self) -> CellStatus {
        self.clone().parts().0
    }

    fn parts(self) -> (CellStatus, Option<String>) {
        match self {
            Outcome::Ok => (CellStatus::Ok, None),
            Outcome::Skipped(why) => (CellStatus::Skipped, Some(why)),
            Outcome::Failed(why) => (CellStatus::Failed, Some(why)),
            Outcome::Interrupted => (CellStatus::Interrupted, None),
            Outcome::Disturbed(why) => (CellStatus::Disturbed, Some(why)),
        }
    }
}

impl Cell {
    /// A cell of `suite` for `variant` (and `workload`), as it ended; its
    /// repeat, level and raw file are added with the methods below.
    pub fn new(
        suite: Suite,
        variant: &str,
        workload: Option<&str>,
        detail: impl Into<String>,
        outcome: Outcome,
    ) -> Cell {
        let (status, error) = outcome.parts();
        Cell {
            suite,
            variant: variant.to_owned(),
            workload: workload.map(str::to_owned),
            detail: detail.into(),
            repeat: None,
            level: None,
            status,
            error,
            raw: None,
            reruns: 0,
        }
    }

    pub fn repeat(mut self, repeat: usize) -> Cell {
        self.repeat = Some(repeat);
        self
    }

    /// The level or warm client, as the raw file's key names it.
    pub fn level(mut self, level: impl Into<String>) -> Cell {
        self.level = Some(level.into());
        self
    }

    /// The raw file, relative to the run folder.
    pub fn raw(mut self, raw: &Path) -> Cell {
        self.raw = Some(raw.display().to_string());
        self
    }

    /// The cell ended otherwise than first recorded (e.g. the gateway died
    /// after the measurement).
    pub fn set(&mut self, outcome: Outcome) {
        (self.status, self.error) = outcome.parts();
    }
}

impl Manifest {
    pub fn write(&self, run: &Path) -> Result<()> {
        results::write_json(&run.join("manifest.json"), self)
    }

    pub fn read(run: &Path) -> Result<Manifest> {
        let path = run.join("manifest.json");
        let text = std::fs::read_to_string(&path)
            .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
        Ok(serde_json::from_str(&text)?)
    }

    pub fn variant_mut(&mut self, name: &str) -> Option<&mut VariantStatus> {
        self.variants.iter_mut().find(|v| v.name == name)
    }
}

fn first_line(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .map(|l| l.trim().to_owned())
        })
        .unwrap_or_else(|| "not found".to_owned())
}

pub fn git() -> Git {
    let root_dir = crate::paths::project_root();
    let root = root_dir.to_string_lossy();
    let sources = crate::source_hash::PACKAGES
        .iter()
        .filter(|(name, dir, _)| *name != "xtask" && root_dir.join(dir).is_dir())
        .map(|(name, _, _)| {
            let hash = crate::source_hash::package_hash(&root_dir, name);
            ((*name).to_owned(), hash)
        })
        .collect();
    Git {
        root: root.clone().into_owned(),
        sources,
        revision: first_line("git", &["-C", &root, "rev-parse", "HEAD"]),
        dirty: Command::new("git")
            .args(["-C", &root, "status", "--porcelain", "--untracked-files=no"])
            .output()
            .map(|o| !o.stdout.is_empty())
            .unwrap_or(false),
    }
}

pub fn versions() -> Versions {
    let crate_version = tools::wasmtime_crate_version().unwrap_or_else(|e| format!("{e:#}"));
    let (cli, source) = match tools::wasmtime_cli() {
        Ok(found) => (
            found.version,
            wasmtime_cli::source(&crate_version)
                .unwrap_or_else(|| format!("{}", found.path.display())),
        ),
        Err(e) => (format!("missing: {e:#}"), String::new()),
    };
    let tool = |name: &str, args: &[&str]| {
        tools::simple(name, args)
            .map(|f| f.version)
            .unwrap_or_else(|_| "not found".to_owned())
    };
    Versions {
        rustc: first_line("rustc", &["--version"]),
        wasmtime_crate: crate_version,
        wasmtime_cli: cli,
        wasmtime_cli_source: source,
        wasmtime_cli_cache: "wasmtime default (compilation cache enabled)".to_owned(),
        wasmedge: tools::wasmedge()
            .map(|f| f.version)
            .unwrap_or_else(|e| format!("{e:#}")),
        wasmedge_mode: match tools::wasmedge() {
            Ok(_) => tools::WASMEDGE_MODE.to_owned(),
            Err(_) => String::new(),
        },
        docker: docker::engine_version().unwrap_or_else(|e| format!("{e:#}")),
        docker_images: [docker::gateway_image(), docker::UPSTREAM_IMAGE.to_owned()]
            .into_iter()
            .map(|image| {
                let label = docker::image_label(&image, docker::BINARY_LABEL).map_or_else(
                    || "not built".to_owned(),
                    |sha| format!("binary sha256 {sha}"),
                );
                (image, label)
            })
            .collect(),
        kernel: first_line("uname", &["-srm"]),
        wrk: tool("wrk", &["--version"]),
        hyperfine: tool("hyperfine", &["--version"]),
        curl: tool("curl", &["--version"]),
    }
}

pub fn machine() -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    Machine {
        cpu_model: cpuinfo
            .lines()
            .find_map(|l| {
                l.strip_prefix("model name")?
                    .split_once(':')
                    .map(|(_, v)| v.trim().to_owned())
            })
            .unwrap_or_default(),
        // Online CPUs of the machine, not of this (pinned) thread.
        // SAFETY: sysconf has no preconditions.
        cpus: usize::try_from(unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) }).unwrap_or(0),
        mem_total_kb: meminfo
            .lines()
            .find_map(|l| {
                l.strip_prefix("MemTotal:")?
                    .trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse()
                    .ok()
            })
            .unwrap_or(0),
        hostname: std::fs::read_to_string("/proc/sys/kernel/hostname")
            .unwrap_or_default()
            .trim()
            .to_owned(),
    }
}

/// `meta/env_snapshot.txt`, as the study's: the machine as the tools see it.
pub fn env_snapshot() -> String {
    let mut out = String::new();
    let mut section = |title: &str, program: &str, args: &[&str]| {
        out.push_str(&format!("## {title}: {program} {}\n", args.join(" ")));
        match Command::new(program).args(args).output() {
            Ok(o) => {
                out.push_str(&String::from_utf8_lossy(&o.stdout));
                out.push_str(&String::from_utf8_lossy(&o.stderr));
            }
            Err(e) => out.push_str(&format!("not available: {e}\n")),
        }
        out.push('\n');
    };
    section("date", "date", &["-u", "+%Y-%m-%dT%H:%M:%SZ"]);
    section("kernel", "uname", &["-a"]);
    section("os", "cat", &["/etc/os-release"]);
    section("cpu", "lscpu", &[]);
    section("memory", "free", &["-m"]);
    section("rustc", "rustc", &["-vV"]);
    section("cargo", "cargo", &["--version"]);
    section("docker", "docker", &["version"]);
    section(
        "governor",
        "cat",
        &["/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"],
    );
    section("load", "cat", &["/proc/loadavg"]);
    out
}
