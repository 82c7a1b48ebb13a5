//! `cargo xtask bench instructions`: instructions per request, counted by
//! callgrind, for every variant whose gateway runs on the host. Unlike time,
//! a count does not depend on the machine's load or the VM's neighbours,
//! so a change of 1% is visible in one run (see `callgrind.rs` for how only
//! the request-handling thread between two checkpoints is counted).
//!
//! Per (variant, workload): the gateway starts under callgrind (one start
//! per variant, the workloads in turn), then `--warmup` requests, a
//! checkpoint, `--requests` requests one after another (each on its own
//! connection, `Connection: close`, as wrk's requests get), a checkpoint.
//! The CLI variants' runtime processes (one per request) are counted too.
//! Docker variants are skipped: the gateway runs inside a container, out of
//! a host callgrind's reach.
//!
//! Precompiled modules (`.cwasm`, the pooled and AOT variants) are made for
//! the CPU they were compiled on, and callgrind's emulated CPU has fewer
//! features (no AVX-512): Wasmtime refuses to load them there. For this suite
//! they are compiled again from the same `.wasm`, by the same gateway-host
//! (or wasmtime CLI), under valgrind (`--tool=none`), so the code counted is
//! what that compiler makes for the CPU callgrind shows it.
//!
//! Writes `raw/instructions/<variant>__<workload>__r<repeat>.json` (the
//! per-request counts) and, through the report, `summary/instructions.csv`.
//! The last measured request's callgrind profile of the gateway thread is
//! kept in `meta/callgrind/` for `callgrind_annotate`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use super::{BenchArgs, Session};
use crate::callgrind::{self, InstructionsRaw};
use crate::process::{self, Proc};
use crate::rundata::manifest::{Cell, Outcome};
use crate::rundata::{CellStatus, InstructionsKey, Suite, VariantState};
use crate::variants::Variant;
use crate::workloads::Workload;
use crate::{probe, report, results, signals, tools};

/// Default requests before the first checkpoint (allocator pools, lazy
/// statics and first-call paths settle) and between the checkpoints.
pub const WARMUP: usize = 3;
pub const REQUESTS: usize = 10;

/// A Wasm call's deadline under callgrind, which runs code 20-100 times
/// slower: the default 1 s would turn a slow request into a 500.
const WASM_TIMEOUT_MS: &str = "600000";
/// How long one request may take under callgrind (a `wasmtime run` child is
/// a whole valgrind start-up).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(300);
/// Start-up under callgrind (embedded Wasmtime compiles the module first).
const START_TIMEOUT: Duration = Duration::from_secs(600);

#[derive(clap::Args, Debug, Clone)]
pub struct InstructionsArgs {
    #[command(flatten)]
    pub bench: BenchArgs,
    /// Requests counted per (variant, workload), between the checkpoints.
    #[arg(long, default_value_t = REQUESTS)]
    pub requests: usize,
    /// Requests made before the first checkpoint.
    #[arg(long, default_value_t = WARMUP)]
    pub warmup: usize,
}

pub fn run(args: &InstructionsArgs) -> Result<()> {
    if args.requests == 0 {
        bail!("--requests must be at least 1");
    }
    signals::install();
    let mut session = Session::open(&args.bench, &[Suite::Instructions])?;
    let outcome = measure(&mut session, args);
    let root = session.finish(&outcome)?;
    report::summarize(&root, !args.bench.no_report)?;
    println!("{}", report::instructions::screen_table(&root)?);
    println!("run folder: {}", root.display());
    outcome?;
    if signals::interrupted() {
        bail!(
            "interrupted: the finished cells are kept in {}",
            root.display()
        );
    }
    Ok(())
}

/// Why a variant is not counted here, if it is not.
pub fn skip_reason(variant: &Variant) -> Option<String> {
    match variant.program() {
        Ok((program, _)) if program.file_name().is_some_and(|n| n == "docker") => Some(
            "instructions: the gateway runs in a Docker container, out of reach of callgrind on the host (not counted)"
                .to_owned(),
        ),
        Ok(_) => None,
        Err(reason) => Some(reason),
    }
}

fn measure(s: &mut Session, args: &InstructionsArgs) -> Result<()> {
    let valgrind = match tools::simple("valgrind", &["--version"]) {
        Ok(found) => found,
        Err(e) => {
            let reason = format!("valgrind not found (apt-get install valgrind): {e:#}");
            for v in s.variants.clone() {
                skip(s, v, &reason)?;
            }
            return Ok(());
        }
    };
    // The repeat this run's files carry: `--repeats` is how many times each
    // cell is counted (an A/B round passes 1 and renumbers on merge).
    let repeats = args.bench.repeats.unwrap_or(1).max(1);
    for repeat in 0..repeats {
        for variant in s.order(repeat) {
            if signals::interrupted() {
                return Ok(());
            }
            if let Some(reason) = skip_reason(variant) {
                if repeat == 0 {
                    skip(s, variant, &reason)?;
                }
                continue;
            }
            measure_variant(s, args, variant, repeat, &valgrind)?;
        }
    }
    Ok(())
}

fn skip(s: &mut Session, variant: &Variant, reason: &str) -> Result<()> {
    s.progress
        .note(&format!("{}: skipped: {reason}", variant.name));
    if let Some(v) = s.manifest.variant_mut(variant.name) {
        v.status = VariantState::Skipped;
        v.reason = Some(reason.to_owned());
    }
    s.manifest.write(&s.run.root)
}

fn measure_variant(
    s: &mut Session,
    args: &InstructionsArgs,
    variant: &'static Variant,
    repeat: usize,
    valgrind: &tools::Found,
) -> Result<()> {
    let work = s.path(format!("meta/callgrind/.work-{}-r{repeat}", variant.name));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
    let started = start(s, variant, &work, valgrind);
    let (mut gateway, addr, options) = match started {
        Ok(g) => g,
        Err(e) => {
            s.progress.note(&format!(
                "instructions {}: failed to start: {e:#}",
                variant.name
            ));
            for w in s.workloads.clone() {
                s.record(cell(variant, w, repeat, Err(format!("start: {e:#}"))))?;
            }
            let _ = std::fs::remove_dir_all(&work);
            return Ok(());
        }
    };
    for workload in s.workloads.clone() {
        if signals::interrupted() {
            break;
        }
        let label = format!("instructions {} {} r{repeat}", variant.name, workload.name);
        s.progress.cell(&label);
        let t0 = Instant::now();
        let counted = count(&mut gateway, addr, &work, workload, args);
        let raw_rel = InstructionsKey {
            variant: variant.name.to_owned(),
            workload: workload.name.to_owned(),
            repeat,
        }
        .path()
        .display()
        .to_string();
        let outcome = match counted {
            Ok((gw, children, last_dump)) => {
                let mut all = callgrind::Counts::default();
                for c in gw.iter().chain(&children) {
                    all.add(c);
                }
                let n = args.requests as f64;
                let record = InstructionsRaw {
                    variant: variant.name.to_owned(),
                    workload: workload.name.to_owned(),
                    path: workload.path.to_owned(),
                    repeat,
                    warmup: args.warmup,
                    requests: args.requests,
                    gateway: gw.iter().map(callgrind::Counts::normalized).collect(),
                    children: children.iter().map(callgrind::Counts::normalized).collect(),
                    total: all.normalized(),
                    instructions_per_request: all.normalized() as f64 / n,
                    gateway_raw: gw.iter().map(|c| c.total).collect(),
                    children_raw: children.iter().map(|c| c.total).collect(),
                    raw_total: all.total,
                    raw_instructions_per_request: all.total as f64 / n,
                    allocator_calls: all.allocator_calls,
                    allocator_call_cost: callgrind::ALLOC_CALL_COST,
                    allocator_symbols: all.allocator_symbols || all.allocator_calls == 0,
                    tool: valgrind.version.clone(),
                    options: options.clone(),
                };
                results::write_json(&s.path(&raw_rel), &record)?;
                if let Some(dump) = last_dump {
                    let keep = s.path(format!(
                        "meta/callgrind/{}__{}__r{repeat}.gateway.callgrind",
                        variant.name, workload.name
                    ));
                    let _ = std::fs::copy(dump, keep);
                }
                Ok(format!(
                    "{:.0} instructions/request",
                    record.instructions_per_request
                ))
            }
            Err(e) => Err(format!("{e:#}")),
        };
        let text = match &outcome {
            Ok(t) => t.clone(),
            Err(e) => format!("failed: {e}"),
        };
        s.progress.done(&label, t0.elapsed(), &text);
        let mut c = cell(variant, workload, repeat, outcome.map(|_| ()));
        if c.status == CellStatus::Ok {
            c.raw = Some(raw_rel);
        }
        s.record(c)?;
        if !gateway_alive(&mut gateway) {
            // A dead gateway fails the cells after it too, with the reason.
            for w in s
                .workloads
                .clone()
                .into_iter()
                .skip_while(|w| w.name != workload.name)
                .skip(1)
            {
                s.record(cell(
                    variant,
                    w,
                    repeat,
                    Err("the gateway exited during an earlier workload".to_owned()),
                ))?;
            }
            break;
        }
    }
    gateway.stop();
    let _ = std::fs::remove_dir_all(&work);
    Ok(())
}

fn gateway_alive(p: &mut Proc) -> bool {
    matches!(p.try_wait(), Ok(None))
}

/// The variant's gateway under callgrind, listening and healthy.
fn start(
    s: &Session,
    variant: &'static Variant,
    work: &Path,
    valgrind: &tools::Found,
) -> Result<(Proc, SocketAddr, Vec<String>)> {
    let (program, runtime_args) = variant.program().map_err(anyhow::Error::msg)?;
    let runtime_args = recompile_cwasm(s, &program, runtime_args, valgrind)?;
    let opts = s.start_opts(variant);
    let mut options = callgrind::valgrind_args(work);
    let mut cmd = process::command(&valgrind.path, opts.log.as_deref())?;
    cmd.args(&options)
        .arg(&program)
        .args(&runtime_args)
        .arg("--listen")
        .arg("127.0.0.1:0")
        .arg("--upstream")
        .arg(opts.upstream.to_string())
        .env("WASM_TIMEOUT_MS", WASM_TIMEOUT_MS)
        .envs(opts.env.iter().map(|(k, v)| (k, v)));
    if runtime_args.iter().any(|a| a.ends_with(".cwasm")) {
        // Recorded with the options (not passed to valgrind).
        options.push("(.cwasm recompiled under valgrind --tool=none)".to_owned());
    }
    let mut proc = Proc::spawn(variant.name, cmd, opts.cpu)?;
    let addr = proc.wait_listening(START_TIMEOUT)?;
    probe::wait_ok(addr, "/health", Duration::from_millis(5), START_TIMEOUT)
        .with_context(|| format!("{} did not become healthy under callgrind", variant.name))?;
    Ok((proc, addr, options))
}

/// The variant's arguments with every `.cwasm` replaced by one compiled under
/// valgrind from the `.wasm` beside it (see the module's note), kept in
/// `meta/callgrind/cwasm/` for the run's other repeats.
fn recompile_cwasm(
    s: &Session,
    program: &Path,
    args: Vec<String>,
    valgrind: &tools::Found,
) -> Result<Vec<String>> {
    let cli = args
        .iter()
        .position(|a| a == "--runtime-bin")
        .and_then(|i| args.get(i + 1))
        .cloned();
    let dir = s.path("meta/callgrind/cwasm");
    let mut out = Vec::with_capacity(args.len());
    for arg in args {
        let (stem, host_runtime) = if let Some(stem) = arg.strip_suffix(".pooled.cwasm") {
            (stem, Some("wasmtime_pooled"))
        } else if let Some(stem) = arg.strip_suffix(".recycled.cwasm") {
            (stem, Some("wasmtime_recycled"))
        } else if let Some(stem) = arg.strip_suffix(".cli.cwasm") {
            (stem, None)
        } else {
            out.push(arg);
            continue;
        };
        let wasm = PathBuf::from(format!("{stem}.wasm"));
        let name = Path::new(&arg)
            .file_name()
            .context("a .cwasm argument without a file name")?;
        let dest = dir.join(name);
        if !dest.exists() {
            std::fs::create_dir_all(&dir)?;
            let mut cmd = std::process::Command::new(&valgrind.path);
            cmd.args(["--tool=none", "-q"]);
            if let Some(runtime) = host_runtime {
                cmd.arg(program)
                    .args(["--runtime", runtime])
                    .arg("--module")
                    .arg(&wasm)
                    .arg("--precompile-to")
                    .arg(&dest);
            } else {
                let cli = cli
                    .as_deref()
                    .context("an AOT variant without --runtime-bin")?;
                cmd.arg(cli).arg("compile").arg(&wasm).arg("-o").arg(&dest);
            }
            let done = cmd
                .stdin(std::process::Stdio::null())
                .output()
                .context("running valgrind to precompile")?;
            if !done.status.success() {
                bail!(
                    "precompiling {} under valgrind failed: {}",
                    wasm.display(),
                    String::from_utf8_lossy(&done.stderr).trim()
                );
            }
        }
        out.push(dest.display().to_string());
    }
    Ok(out)
}

/// Warm-up, checkpoint, the measured requests, checkpoint: the gateway
/// thread's count per request, the children's, and the last request's dump.
fn count(
    gateway: &mut Proc,
    addr: SocketAddr,
    work: &Path,
    workload: &Workload,
    args: &InstructionsArgs,
) -> Result<(
    Vec<callgrind::Counts>,
    Vec<callgrind::Counts>,
    Option<PathBuf>,
)> {
    for _ in 0..args.warmup {
        request(addr, workload)?;
    }
    let before = checkpoint(gateway, work)?;
    for _ in 0..args.requests {
        if signals::interrupted() {
            bail!("interrupted");
        }
        request(addr, workload)?;
    }
    let after = checkpoint(gateway, work)?;
    let (gw, children) = callgrind::window(work, &before, &after, args.requests)?;
    let last = after.dumps.values().next_back().cloned();
    Ok((gw, children, last))
}

fn request(addr: SocketAddr, workload: &Workload) -> Result<()> {
    let reply = probe::get(addr, workload.path, REQUEST_TIMEOUT)?;
    if reply.status != 200 {
        bail!(
            "GET {} answered {} under callgrind: {}",
            workload.path,
            reply.status,
            reply.body_text().chars().take(200).collect::<String>()
        );
    }
    Ok(())
}

/// Wait until the gateway is idle in `accept4` (every dump before it is on
/// disk), then read the callgrind folder.
fn checkpoint(gateway: &mut Proc, work: &Path) -> Result<callgrind::Snapshot> {
    let pid = gateway.pid();
    let deadline = Instant::now() + REQUEST_TIMEOUT;
    loop {
        if !gateway_alive(gateway) {
            bail!("the gateway exited under callgrind (see its log in meta/)");
        }
        if callgrind::in_accept(pid)? {
            return callgrind::snapshot(work, pid);
        }
        if Instant::now() > deadline {
            bail!("the gateway did not return to accept4 within {REQUEST_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn cell(
    variant: &Variant,
    workload: &Workload,
    repeat: usize,
    outcome: Result<(), String>,
) -> Cell {
    Cell::new(
        Suite::Instructions,
        variant.name,
        Some(workload.name),
        "",
        Outcome::of(outcome),
    )
    .repeat(repeat)
}
