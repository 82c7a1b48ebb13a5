//! `cargo xtask <command>`: see `cargo xtask --help`.

use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

use xtask::{
    bench, build, ci, compare, doctor, export, fuzz, history, merge, provenance, remote, report,
    run, test,
};

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    about = "Build and benchmark the wasm-gateway-bench variants",
    bin_name = "cargo xtask"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build every system under test: binaries, Wasm module, Docker images, wasmtime CLI.
    Build(build::BuildArgs),
    /// Start one variant in the foreground (with its upstream) until Ctrl-C.
    Run(run::RunArgs),
    /// List every prerequisite as found or missing, and which variants can run.
    Doctor,
    /// Build what the tests need, then run them (the README's test command).
    Test(test::TestArgs),
    /// Run benchmark suites into a run folder (results/runs/<timestamp>).
    #[command(subcommand)]
    Bench(Box<bench::BenchCmd>),
    /// Rebuild summaries, plots and the report of a run from its raw data.
    Report(report::ReportArgs),
    /// Compare two run folders: head/base with confidence intervals; exit 1
    /// on a regression, 2 on an error.
    Compare(compare::CompareArgs),
    /// Run locally what CI runs: fmt check, clippy -D warnings, the tests.
    Ci(ci::CiArgs),
    /// Mutation-fuzz every runnable variant's HTTP front; exit 1 on a crash,
    /// hang or unexpected 5xx.
    Fuzz(fuzz::FuzzArgs),
    /// Merge run folders measured on separate machines (e.g. a CI matrix)
    /// into one run folder, and rebuild its summaries and report.
    Merge(merge::MergeArgs),
    /// Write a run's headline figures for Bencher (BMF JSON) or
    /// github-action-benchmark (custom bigger/smaller-is-better JSON).
    Export(export::ExportArgs),
    /// Trend charts of many runs' headline figures against commit date
    /// (markdown and HTML, each commit linked).
    History(history::HistoryArgs),
    /// The server side of a remote run: answers requests on stdin, one JSON
    /// line each, until stdin closes (started over ssh by the harness).
    #[command(hide = true)]
    Agent(remote::agent::AgentArgs),
}

fn main() -> ExitCode {
    let command = Cli::parse().command;
    // The agent runs from a copied binary on a server host, with no sources.
    if !matches!(command, Command::Agent(_)) {
        if let Err(e) = provenance::self_check::ensure() {
            return exit(Err(e));
        }
    }
    let done: Result<()> = match command {
        Command::Build(args) => build::run(&args),
        Command::Run(args) => run::run(&args),
        Command::Doctor => doctor::run(),
        Command::Test(args) => test::run(&args),
        Command::Bench(cmd) => return exit(bench::run(&cmd)),
        Command::Report(args) => report::run(&args),
        Command::Compare(args) => return compare::run(&args),
        Command::Ci(args) => ci::run(&args),
        Command::Fuzz(args) => fuzz::run(&args),
        Command::Merge(args) => merge::run(&args),
        Command::Export(args) => export::run(&args),
        Command::History(args) => history::run(&args),
        Command::Agent(args) => remote::agent::run(&args),
    };
    exit(done.map(|()| ExitCode::SUCCESS))
}

/// An error is printed as `fn main() -> Result` would, with exit status 1.
fn exit(outcome: Result<ExitCode>) -> ExitCode {
    outcome.unwrap_or_else(|e| {
        eprintln!("Error: {e:?}");
        ExitCode::FAILURE
    })
}
