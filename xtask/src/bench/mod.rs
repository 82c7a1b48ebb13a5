//! `cargo xtask bench cold|warm|throughput|all`: the study's benchmark
//! pipeline. A suite starts variants (variants.rs), drives load (load/),
//! samples resources (sample.rs) and writes `raw/`; the summaries are
//! computed from `raw/` afterwards (report/), never written by a suite.

pub mod ab;
pub(crate) mod cold;
pub mod cost;
mod gateway;
mod headroom;
pub mod instructions;
pub mod micro;
mod profile;
mod session;
pub mod soak;
mod throughput;
mod warm;

pub use gateway::{Gateway, GatewaySampler};
pub use profile::Profile;
pub use session::Session;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;

use crate::rundata::{Client, Method, Suite};
use crate::{report, signals};

#[derive(clap::Subcommand, Debug)]
pub enum BenchCmd {
    /// Cold start: exec (or `docker run`) to the first HTTP 200 on `/`.
    Cold(BenchArgs),
    /// Warm latency on one persistent connection (and curl per request).
    Warm(BenchArgs),
    /// Throughput and resources across connection levels.
    Throughput(BenchArgs),
    /// Cold, warm and throughput into one run folder, then the summary.
    All(BenchArgs),
    /// Our load generator against `wrk -t1` on native_local hello, same
    /// pinning, alternating rounds: is the generator the bottleneck?
    Headroom(BenchArgs),
    /// Instructions per request under callgrind, for every variant whose
    /// gateway runs on the host: a count the machine's load does not move.
    Instructions(instructions::InstructionsArgs),
    /// A/B: build two revisions, run them interleaved, compare with
    /// confidence intervals (exit 1 on a regression, 2 on an error).
    Ab(Box<ab::AbArgs>),
    /// A/A: the current tree against itself, the runner's noise floor
    /// (with --head-env, the calibration check).
    Aa(Box<ab::AaArgs>),
    /// CPU per keep-alive hello request of each variant against native,
    /// in paired interleaved rounds (with --arm, the same build with other
    /// gateway settings) until every ratio is known to --target.
    Cost(Box<cost::CostArgs>),
    /// Criterion micro-benchmarks of gateway-host (instantiation, one
    /// transform, the work native vs in Wasm, parsing) into `raw/micro/`.
    Micro(micro::MicroArgs),
    /// Steady load on every variant at once for --minutes, with RSS, fds,
    /// threads and child processes over time and their growth per hour.
    Soak(soak::SoakArgs),
}

/// See [`BenchArgs::on_disturbance`].
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnDisturbance {
    #[default]
    Rerun,
    Record,
}

#[derive(clap::Args, Debug, Clone)]
pub struct BenchArgs {
    /// quick, ci (an A/B round), standard (the study's seven levels for
    /// everything) or full (the study's matrix); docs/methods.md gives how
    /// long each takes.
    #[arg(long, default_value = "quick")]
    pub profile: String,
    /// Variants to run, comma-separated (default: every variant in the table).
    #[arg(long, value_delimiter = ',')]
    pub variants: Vec<String>,
    /// Only the variants of these roles, comma-separated (with --variants,
    /// those of them in these roles): how bench.yml splits its matrix, so a
    /// new variant joins its role's job without a workflow edit.
    #[arg(long, value_delimiter = ',', value_enum)]
    pub roles: Vec<crate::variants::Role>,
    /// Workloads, comma-separated: hello, compute, state, proxy, compute_wasm,
    /// json (default: all).
    #[arg(long, value_delimiter = ',')]
    pub workloads: Vec<String>,
    /// Throughput connection levels (default: the profile's).
    #[arg(long, value_delimiter = ',')]
    pub connections: Vec<usize>,
    /// Keep-alive throughput levels (persistent connections), comma-separated;
    /// the flag without values runs none (default: the profile's).
    #[arg(long, value_delimiter = ',', num_args = 0..)]
    pub keepalive_connections: Option<Vec<usize>>,
    /// Seconds per throughput cell (default: the profile's).
    #[arg(long)]
    pub duration: Option<f64>,
    /// Throughput repeats, interleaved across variants (default: the profile's).
    #[arg(long)]
    pub repeats: Option<usize>,
    /// Open-loop offered rates in requests/s (wrk2's model), comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub rate: Vec<f64>,
    /// Cold start: samples per repeat (default: the profile's).
    #[arg(long)]
    pub cold_samples: Option<usize>,
    /// Warm latency: measured requests (default: the profile's).
    #[arg(long)]
    pub warm_requests: Option<usize>,
    /// Cold-start method: harness (exec to first 200, timed inside) and/or
    /// hyperfine (the study's method, side by side).
    #[arg(long, value_delimiter = ',', default_value = "harness")]
    pub method: Vec<Method>,
    /// Warm-latency client: persistent (one keep-alive connection) and/or
    /// curl (the study's curl per request).
    #[arg(long, value_delimiter = ',', default_value = "persistent,curl")]
    pub client: Vec<Client>,
    /// Run folder to create (default: results/runs/<UTC timestamp>, and
    /// results/latest points at it).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Do not pin the gateway to CPU 0 and the load generator to CPU 1.
    #[arg(long)]
    pub no_pin: bool,
    /// A throughput cell disturbed by steal, by foreign load on the
    /// gateway's core or as an outlier against its own repeats: `rerun`
    /// measures it again (at most twice) and then records it as `disturbed`,
    /// left out of every summary; `record` keeps the readings in its raw
    /// file and nothing else (`cargo xtask test` sets it: the tests share
    /// the machine with each other).
    #[arg(long, env = "WGB_ON_DISTURBANCE", value_enum, default_value_t = OnDisturbance::Rerun)]
    pub on_disturbance: OnDisturbance,
    /// Seed of the shuffled variant order.
    #[arg(long, default_value_t = 20_260_101)]
    pub seed: u64,
    /// Do not render plots and the report at the end.
    #[arg(long)]
    pub no_report: bool,
    /// Measure what is built as it is: without this, the suite first builds
    /// what is missing or stale (`cargo xtask build`; a no-op build takes
    /// seconds), so a run never measures an old binary or image.
    #[arg(long, env = "WGB_NO_BUILD", value_parser = clap::builder::FalseyValueParser::new())]
    pub no_build: bool,
    #[command(flatten)]
    pub server: ServerArgs,
    /// Extra environment for the gateways, KEY=VALUE, repeatable (e.g. the
    /// calibration knob GATEWAY_CALIBRATION_DELAY_US=200; never in a real run).
    #[arg(long = "env", value_name = "KEY=VALUE", value_parser = parse_env)]
    pub env: Vec<(String, String)>,
}

/// Where the gateways run: here, or on a server host over ssh.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ServerArgs {
    /// Run the gateways on this host, over ssh (`HOST`, `USER@HOST` or an
    /// alias of the ssh configuration, handed to ssh as it is); the load
    /// generator and the clients stay here, cold starts are timed there.
    #[arg(long, value_name = "HOST")]
    pub server_host: Option<String>,
    /// The ssh configuration file for --server-host (`ssh -F`), instead of
    /// `~/.ssh/config`.
    #[arg(long, env = "WGB_SSH_CONFIG", value_name = "FILE")]
    pub ssh_config: Option<PathBuf>,
}

impl ServerArgs {
    /// `--server-host` as a host, if given.
    pub fn host(&self) -> Option<crate::ssh::Host> {
        self.server_host.as_deref().map(|target| crate::ssh::Host {
            target: target.to_owned(),
            config: self.ssh_config.clone(),
        })
    }

    /// For a command that measures this machine only.
    pub fn refuse(&self, command: &str, why: &str) -> Result<()> {
        match &self.server_host {
            Some(host) => anyhow::bail!("{command} does not take --server-host {host}: {why}"),
            None => Ok(()),
        }
    }
}

/// `KEY=VALUE` of `--env`.
pub fn parse_env(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() && !key.contains(char::is_whitespace) => {
            Ok((key.to_owned(), value.to_owned()))
        }
        _ => Err(format!("expected KEY=VALUE, got {text:?}")),
    }
}

/// Runs a bench command; `ab` and `aa` give their verdict as the exit
/// status (0, 1 or 2), the suites `SUCCESS` or an error.
pub fn run(cmd: &BenchCmd) -> Result<ExitCode> {
    // What a killed harness left behind goes first, whichever suite this is.
    crate::stale::sweep_at_start();
    let (suites, args): (&[Suite], &BenchArgs) = match cmd {
        BenchCmd::Cold(a) => (&[Suite::Cold], a),
        BenchCmd::Warm(a) => (&[Suite::Warm], a),
        BenchCmd::Throughput(a) => (&[Suite::Throughput], a),
        BenchCmd::All(a) => (&[Suite::Cold, Suite::Warm, Suite::Throughput], a),
        BenchCmd::Headroom(a) => {
            a.server.refuse(
                "bench headroom",
                "it compares the load generator with wrk on this machine",
            )?;
            let _snapshot = build_first(a)?;
            return headroom::run(a).map(|()| ExitCode::SUCCESS);
        }
        BenchCmd::Instructions(a) => {
            a.bench.server.refuse(
                "bench instructions",
                "callgrind counts the gateway's instructions on this machine",
            )?;
            let _snapshot = build_first(&a.bench)?;
            return instructions::run(a).map(|()| ExitCode::SUCCESS);
        }
        BenchCmd::Cost(a) => {
            let mut a = a.clone();
            a.bench.server.refuse(
                "bench cost",
                "it reads the gateway's CPU time on this machine",
            )?;
            cost::normalize(&mut a)?;
            let _snapshot = build_first(&a.bench)?;
            return cost::run(&a).map(|()| ExitCode::SUCCESS);
        }
        BenchCmd::Ab(a) => return Ok(ab::ab(a)),
        BenchCmd::Aa(a) => return Ok(ab::aa(a)),
        BenchCmd::Soak(a) => return soak::run(a).map(|()| ExitCode::SUCCESS),
        BenchCmd::Micro(a) => return micro::run(a).map(|()| ExitCode::SUCCESS),
    };
    let _snapshot = build_first(args)?;
    signals::install();
    let mut session = Session::open(args, suites)?;
    let outcome = run_suites(&mut session, suites);
    let root = session.finish(&outcome)?;
    report::summarize(&root, !args.no_report)?;
    println!("{}", report::screen_table(&root)?);
    println!("run folder: {}", root.display());
    outcome?;
    if signals::interrupted() {
        anyhow::bail!(
            "interrupted: the finished cells are kept in {}",
            root.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Check every argument, then build what the selected variants run, as
/// `cargo run` would, or with `--no-build` check that it is this
/// checkout's build; the run measures a copy of it, removed when the
/// returned value drops.
fn build_first(args: &BenchArgs) -> Result<Option<crate::provenance::snapshot::Snapshot>> {
    let checked = session::check(args)?;
    crate::build::ensure_built(args.no_build, &checked.variants)
}

fn run_suites(session: &mut Session, suites: &[Suite]) -> Result<()> {
    for suite in suites {
        if signals::interrupted() {
            break;
        }
        match suite {
            Suite::Cold => cold::run(session)?,
            Suite::Warm => warm::run(session)?,
            Suite::Throughput => throughput::run(session)?,
            Suite::Headroom | Suite::Instructions | Suite::Cost => {
                unreachable!("suites are fixed above")
            }
        }
    }
    Ok(())
}
