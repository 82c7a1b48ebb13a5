//! `cargo xtask run VARIANT`: one variant in the foreground, with the
//! upstream it needs, until Ctrl-C or SIGTERM (the study's `run_*.sh`).

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::upstream::Upstream;
use crate::variants::{self, StartOpts};
use crate::{bench_env, docker, signals};

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// A name from the variant table, e.g. native_local or
    /// wasm_host_wasmtime_pooled (`cargo xtask doctor` lists them all).
    pub variant: String,
    /// Gateway address (default: GATEWAY_LISTEN from configs/bench.env).
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// Upstream address, started here (default: UPSTREAM_ADDR from
    /// configs/bench.env). native_docker runs its own upstream container
    /// in its network namespace instead.
    #[arg(long)]
    pub upstream: Option<SocketAddr>,
    /// Pin the gateway to this CPU (`--cpuset-cpus` for Docker), e.g. to
    /// measure it with `taskset -c 1 wrk ...` on the other core.
    #[arg(long)]
    pub cpu: Option<usize>,
    /// Start what is built as it is: without this, what the variant runs is
    /// first built from this checkout if missing or stale, as `cargo run`
    /// does; with it, it is checked to be this checkout's build.
    #[arg(long, env = "WGB_NO_BUILD", value_parser = clap::builder::FalseyValueParser::new())]
    pub no_build: bool,
}

pub fn run(args: &RunArgs) -> Result<()> {
    let variant = variants::find(&args.variant)?;
    crate::stale::sweep_at_start();
    let _snapshot = crate::build::ensure_built(args.no_build, &[variant])?;
    if let Err(reason) = variant.availability() {
        bail!("{}: skipped: {reason}", variant.name);
    }
    let env = bench_env::load()?;
    let addr = |flag: Option<SocketAddr>, key: &str| -> Result<SocketAddr> {
        match flag {
            Some(addr) => Ok(addr),
            None => bench_env::get(&env, key)
                .with_context(|| format!("{key} missing from configs/bench.env"))?
                .parse()
                .with_context(|| format!("{key} in configs/bench.env")),
        }
    };
    let listen = addr(args.listen, "GATEWAY_LISTEN")?;
    let upstream_addr = addr(args.upstream, "UPSTREAM_ADDR")?;
    signals::install();

    let upstream = if variant.needs_host_upstream() {
        let up = Upstream::start(upstream_addr, None, None)?;
        eprintln!("upstream-echo listening on http://{}", up.addr);
        Some(up)
    } else {
        if args.upstream.is_some() {
            eprintln!(
                "note: {} uses its own upstream container (127.0.0.1:18080 in its network namespace); --upstream is not used",
                variant.name
            );
        }
        None
    };
    let mut opts = StartOpts::new(upstream.as_ref().map_or(upstream_addr, |u| u.addr));
    opts.listen = Some(listen);
    opts.cpu = args.cpu;
    opts.env = env;
    let mut running = variant.start(&opts)?;
    eprintln!(
        "{} listening on http://{} (Ctrl-C to stop)",
        variant.name, running.addr
    );

    let outcome = loop {
        if signals::interrupted() {
            eprintln!("stopping {}", variant.name);
            break Ok(());
        }
        if !running.alive() {
            break Err(anyhow::anyhow!("{} exited on its own", variant.name));
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    running.stop();
    drop(upstream);
    docker::sweep_own();
    outcome
}
