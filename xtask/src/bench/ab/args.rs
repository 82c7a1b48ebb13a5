//! The command lines of `bench ab` and `bench aa`.

use std::path::PathBuf;

use crate::{compare, variants};

#[derive(clap::Args, Debug, Clone)]
pub struct AbArgs {
    /// The base revision (anything `git rev-parse` takes: a sha, a branch).
    #[arg(long)]
    pub base: String,
    /// The head revision.
    #[arg(long, default_value = "HEAD")]
    pub head: String,
    #[command(flatten)]
    pub ab: AbSettings,
}

#[derive(clap::Args, Debug, Clone)]
pub struct AaArgs {
    /// Do not build: run the target folder's binaries as they are.
    #[arg(long)]
    pub no_build: bool,
    #[command(flatten)]
    pub ab: AbSettings,
}

#[derive(clap::Args, Debug, Clone)]
pub struct AbSettings {
    /// Profile of each round (ci: sized for a pull request on 2 cores).
    #[arg(long, default_value = "ci")]
    pub profile: String,
    /// Variants, comma-separated. The default, from the variant table: the
    /// first study variant of each role but the containers (whose image
    /// every revision would rebuild; name them to include them).
    #[arg(long, value_delimiter = ',', default_values_t = variants::ab_defaults().iter().map(|v| v.name.to_owned()))]
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
    #[arg(long = "env", value_name = "KEY=VALUE", value_parser = crate::bench::parse_env)]
    pub env: Vec<(String, String)>,
    /// Environment for the head arm only, e.g. the calibration knob
    /// GATEWAY_CALIBRATION_DELAY_US=200 (a known slowdown to detect).
    #[arg(long = "head-env", value_name = "KEY=VALUE", value_parser = crate::bench::parse_env)]
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
    /// Every round's gateways on a server host (see `bench all --help`).
    #[command(flatten)]
    pub server: crate::bench::ServerArgs,
    /// Seed of the variant order; round k uses seed + k in both arms.
    #[arg(long, default_value_t = 20_260_101)]
    pub seed: u64,
    /// Do not render plots and the report of each arm.
    #[arg(long)]
    pub no_report: bool,
}
