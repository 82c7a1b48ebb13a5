//! One benchmark run: its folder and manifest, the variants that can run
//! (and the skipped ones with their reasons), the profile after overrides,
//! CPU pinning, the shared upstream, and progress. Suites ask it to start
//! variants (here, or on the `--server-host` through its agent) and hand it
//! each finished cell.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context, Result};

use super::gateway::{lock, Gateway, SharedServer};
use super::{BenchArgs, Profile};
use crate::progress::Progress;
use crate::remote::{self, RemoteStart};
use crate::results::{self, RunDir};
use crate::rundata::manifest::{self, Cell, Manifest, Pinning, ServerHost, VariantStatus};
use crate::rundata::{CellStatus, Client, Method, RunStatus, Suite, VariantState};
use crate::upstream::Upstream;
use crate::variants::{self, StartOpts, Variant};
use crate::workloads::{self, Workload};
use crate::{docker, signals};

pub struct Session {
    pub run: RunDir,
    pub manifest: Manifest,
    pub profile: Profile,
    pub variants: Vec<&'static Variant>,
    pub workloads: Vec<&'static Workload>,
    pub methods: Vec<Method>,
    pub clients: Vec<Client>,
    pub seed: u64,
    pub gateway_cpu: Option<usize>,
    pub load_cpu: Option<usize>,
    pub progress: Progress,
    /// `--env`: extra environment for every started gateway.
    pub env: Vec<(String, String)>,
    upstream: Option<Upstream>,
    /// `--server-host`: the agent there and how it starts each variant.
    server: Option<(SharedServer, RemoteStart)>,
    /// The cores a throughput cell's disturbance is judged on: only when
    /// pinned here (unpinned, anything may run on the gateway's core; on a
    /// server host, this machine's readings say nothing of the gateway's).
    pub disturbance: Option<crate::disturbance::Rule>,
    pub on_disturbance: super::OnDisturbance,
    /// CPU ms per request of each finished, undisturbed throughput cell so
    /// far, by raw file key without the repeat: the outlier rule's history.
    pub cpu_history: std::collections::HashMap<String, Vec<f64>>,
}

impl Session {
    pub fn open(args: &BenchArgs, suites: &[Suite]) -> Result<Session> {
        let Checked {
            profile,
            variants: selected,
            workloads,
        } = check(args)?;

        // The machine's online CPUs: available_parallelism() would count only
        // the CPUs this thread may use, which is one once a session pinned it.
        // SAFETY: sysconf has no preconditions.
        let cpus = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
        let pin = !args.no_pin && cpus >= 2;
        let (gateway_cpu, load_cpu) = if pin {
            (Some(0), Some(1))
        } else {
            (None, None)
        };
        if let Some(cpu) = load_cpu {
            // Every harness thread (load generator, sampler, curl and docker
            // CLIs we spawn) inherits this; gateways are pinned to CPU 0.
            crate::affinity::pin_thread(cpu).context("pinning the harness to its CPU")?;
        }

        // The server host first: a host that cannot be reached leaves no
        // run folder behind.
        let needs_upstream =
            workloads.iter().any(|w| w.name == "proxy") && suites.iter().any(|s| *s != Suite::Cold);
        let remote = match args.server.host() {
            None => None,
            Some(host) => Some(connect(&host, &selected, pin, needs_upstream, &args.env)?),
        };
        let run = RunDir::create(args.out.as_deref())?;
        crate::stale::hold_run_lock(&run.root)?;
        let mut manifest = Manifest {
            schema: 1,
            command: std::env::args().collect::<Vec<_>>().join(" "),
            suites: suites.iter().map(|s| s.name().to_owned()).collect(),
            profile: Some((&profile).into()),
            status: RunStatus::Running.name().to_owned(),
            started: now(),
            git: manifest::git(),
            versions: manifest::versions(),
            machine: manifest::machine(),
            pinning: Pinning {
                enabled: pin,
                gateway_cpu,
                load_cpu,
                upstream_cpu: load_cpu,
                note: if let Some((_, record)) = &remote {
                    match (pin, record.machine.cpus >= 2) {
                        (true, true) => "gateway on the server host's CPU 0, its upstream, sampler and cold-start polling on its CPU 1; load generator and clients here on CPU 1".to_owned(),
                        (true, false) => "gateway not pinned (the server host has 1 CPU); load generator and clients here on CPU 1".to_owned(),
                        (false, _) => "--no-pin".to_owned(),
                    }
                } else if pin {
                    "gateway (process or container --cpuset-cpus) on CPU 0; load generator, sampler, clients and upstream on CPU 1".to_owned()
                } else if args.no_pin {
                    "--no-pin".to_owned()
                } else {
                    "fewer than 2 CPUs: not pinned".to_owned()
                },
            },
            server: remote.as_ref().map(|(_, record)| record.clone()),
            residency: residency(&args.env),
            disturbance: match (gateway_cpu, load_cpu, &remote) {
                (Some(gateway_core), Some(load_core), None) => {
                    use crate::disturbance as d;
                    Some(manifest::DisturbanceRule {
                        on_disturbance: format!("{:?}", args.on_disturbance).to_lowercase(),
                        gateway_core,
                        load_core,
                        steal_pct: d::STEAL_PCT,
                        foreign_pct: d::FOREIGN_PCT,
                        outlier_mads: d::OUTLIER_MADS,
                        outlier_min_pct: d::OUTLIER_MIN_PCT,
                        retries: d::RETRIES,
                    })
                }
                _ => None,
            },
            ..Manifest::default()
        };
        results::write_atomic(
            &run.path("meta/env_snapshot.txt"),
            manifest::env_snapshot().as_bytes(),
        )?;

        let progress_plan = plan(&profile, &selected, &workloads, suites, args);
        let progress = Progress::new(progress_plan);
        let mut runnable = Vec::new();
        for variant in selected {
            let availability = match &remote {
                None => variant.availability(),
                Some(((server, _), record)) => match lock(server).availability(variant.name) {
                    Ok(None) => Ok(()),
                    Ok(Some(reason)) => Err(format!("on {}: {reason}", record.target)),
                    Err(e) => Err(format!("{e:#}")),
                },
            };
            match availability {
                Ok(()) => {
                    runnable.push(variant);
                    manifest.variants.push(VariantStatus {
                        name: variant.name.to_owned(),
                        status: VariantState::Ran,
                        reason: None,
                    });
                }
                Err(reason) => {
                    progress.note(&format!("{}: skipped: {reason}", variant.name));
                    manifest.variants.push(VariantStatus {
                        name: variant.name.to_owned(),
                        status: VariantState::Skipped,
                        reason: Some(reason),
                    });
                }
            }
        }
        manifest.write(&run.root)?;

        // Remotely the agent starts the upstream beside the gateway.
        let upstream = if needs_upstream
            && remote.is_none()
            && runnable.iter().any(|v| v.needs_host_upstream())
        {
            Some(Upstream::start(
                "127.0.0.1:0".parse().expect("a literal address"),
                load_cpu,
                Some(&run.path("meta/upstream.log")),
            )?)
        } else {
            None
        };

        let disturbance = manifest
            .disturbance
            .as_ref()
            .map(|r| crate::disturbance::Rule {
                gateway_core: r.gateway_core,
                load_core: r.load_core,
            });
        Ok(Session {
            run,
            manifest,
            profile,
            variants: runnable,
            workloads,
            methods: args.method.clone(),
            clients: args.client.clone(),
            seed: args.seed,
            gateway_cpu,
            load_cpu,
            progress,
            env: args.env.clone(),
            upstream,
            disturbance,
            on_disturbance: args.on_disturbance,
            cpu_history: Default::default(),
            server: remote.map(|(server, _)| server),
        })
    }

    /// Start a variant: here, or on the server host.
    pub fn start(&self, variant: &'static Variant) -> Result<Gateway> {
        match &self.server {
            None => variant.start(&self.start_opts(variant)).map(Gateway::Local),
            Some((server, start)) => {
                let (addr, sampled) = lock(server).start_variant(variant.name, start)?;
                Ok(Gateway::Remote {
                    server: server.clone(),
                    addr,
                    sampled,
                })
            }
        }
    }

    /// The server host, when the gateways run on one.
    pub fn server_host(&self) -> Option<&str> {
        self.manifest.server.as_ref().map(|s| s.target.as_str())
    }

    /// One cold start of `variant` timed on the server host, milliseconds.
    pub fn remote_cold(&self, variant: &Variant) -> Result<f64> {
        let (server, start) = self.server.as_ref().context("no --server-host")?;
        let ms = lock(server).cold(variant.name, 1, start.cpu, &self.env)?;
        ms.first().copied().context("the agent timed no cold start")
    }

    /// Options to start a variant: gateway pinned, its stderr in the run's
    /// `meta/<variant>.log`.
    pub fn start_opts(&self, variant: &Variant) -> StartOpts {
        let upstream = self
            .upstream
            .as_ref()
            .map_or(SocketAddr::from(([127, 0, 0, 1], 9)), |u| u.addr);
        let mut opts = StartOpts::new(upstream);
        opts.cpu = self.gateway_cpu;
        opts.upstream_cpu = self.load_cpu;
        opts.log = Some(self.run.path(&format!("meta/{}.log", variant.name)));
        opts.env.extend(self.env.iter().cloned());
        opts
    }

    /// Variants in a shuffled order from the seed, different per repeat, so
    /// drift of the machine spreads evenly over them (Sightglass's habit).
    pub fn order(&self, repeat: usize) -> Vec<&'static Variant> {
        use rand::seq::SliceRandom;
        use rand::SeedableRng;
        let mut order = self.variants.clone();
        let mut rng = rand::rngs::StdRng::seed_from_u64(self.seed.wrapping_add(repeat as u64));
        order.shuffle(&mut rng);
        order
    }

    /// Record a finished (or failed) cell in the manifest, on disk at once.
    pub fn record(&mut self, mut cell: Cell) -> Result<()> {
        if cell.status == CellStatus::Failed && signals::interrupted() {
            // Cut short by Ctrl-C: not the variant's failure.
            cell.status = CellStatus::Interrupted;
            cell.raw = None;
        }
        if cell.status == CellStatus::Failed {
            if let Some(v) = self.manifest.variant_mut(&cell.variant) {
                v.status = VariantState::Failed;
                if v.reason.is_none() {
                    v.reason = cell.error.clone();
                }
            }
        }
        self.manifest.cells.push(cell);
        self.manifest.write(&self.run.root)
    }

    pub fn path(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.run.root.join(rel)
    }

    /// Final manifest status; tears down the upstream and any container.
    pub fn finish(mut self, outcome: &Result<()>) -> Result<PathBuf> {
        self.progress.finish();
        self.upstream.take();
        if let Some((server, _)) = self.server.take() {
            self.finish_remote(&server);
        }
        docker::sweep_own();
        self.manifest.status = if signals::interrupted() {
            RunStatus::Interrupted.name().to_owned()
        } else if let Err(e) = outcome {
            format!("failed: {e:#}")
        } else {
            RunStatus::Complete.name().to_owned()
        };
        self.manifest.finished = Some(now());
        self.manifest.write(&self.run.root)?;
        if signals::interrupted() {
            eprintln!("interrupted: everything started was stopped; finished cells are kept");
        }
        Ok(self.run.root)
    }
}

impl Session {
    /// Bring the server host's logs into `meta/` as a local run writes them,
    /// remove the images sent there, and end the agent (dropping the last
    /// handle closes its stdin: it stops everything and removes its folder).
    fn finish_remote(&mut self, server: &SharedServer) {
        let mut agent = lock(server);
        let _ = agent.stop_variant();
        match agent.logs() {
            Ok(files) => {
                for (name, text) in files {
                    let to = self.run.path(&format!("meta/{name}"));
                    if let Err(e) = results::write_atomic(&to, text.as_bytes()) {
                        self.progress.note(&format!("server log {name}: {e:#}"));
                    }
                }
            }
            Err(e) => self.progress.note(&format!("the server's logs: {e:#}")),
        }
        if let Some(record) = &self.manifest.server {
            if let Err(e) = remote::images::remove(agent.host(), &record.images_sent) {
                self.progress
                    .note(&format!("removing the images sent: {e:#}"));
            }
        }
    }
}

/// Connect to the `--server-host`: its facts and the path to it for the
/// manifest, the Docker images it lacks sent if a Docker variant is
/// selected, and the agent started with this build's binaries.
fn connect(
    host: &crate::ssh::Host,
    selected: &[&'static Variant],
    pin: bool,
    upstream: bool,
    env: &[(String, String)],
) -> Result<((SharedServer, RemoteStart), ServerHost)> {
    let endpoint = host
        .endpoint()
        .with_context(|| format!("--server-host {}: resolving it with ssh -G", host.target))?;
    let (machine, kernel) = host
        .machine()
        .with_context(|| format!("--server-host {}: reaching it over ssh", host.target))?;
    let round_trip = host.round_trip(5)?;
    let images_sent = if selected.iter().any(|v| v.is_container()) {
        remote::images::send(host, &remote::images::needed())?
    } else {
        Vec::new()
    };
    // This very binary, even if a build has replaced its file since it
    // started (`build_first` can, when cargo relinks it).
    let exe = PathBuf::from("/proc/self/exe");
    let mut server = remote::Server::connect(host, &exe, &remote::payload(selected))?;
    let two = pin && machine.cpus >= 2;
    if two {
        server.pin(1)?;
    }
    let start = RemoteStart {
        listen_ip: endpoint.ip(),
        cpu: two.then_some(0),
        upstream_cpu: two.then_some(1),
        env: env.to_vec(),
        upstream,
    };
    let record = ServerHost {
        target: host.target.clone(),
        address: endpoint.ip().to_string(),
        machine,
        kernel,
        path: if endpoint.ip().is_loopback() {
            "loopback".to_owned()
        } else {
            "network".to_owned()
        },
        round_trip_us: round_trip.as_secs_f64() * 1e6,
        images_sent,
    };
    Ok(((Arc::new(Mutex::new(server)), start), record))
}

pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Planned measurement time, for the progress estimate.
/// What a bench command line selects, every argument checked.
pub struct Checked {
    pub profile: Profile,
    pub variants: Vec<&'static Variant>,
    pub workloads: Vec<&'static Workload>,
}

/// Checks every argument of a bench command line and resolves the profile,
/// variants and workloads it names: called before the first long step (the
/// build), so a misspelt name fails at once, listing the valid ones.
pub fn check(args: &BenchArgs) -> Result<Checked> {
    let mut profile = Profile::by_name(&args.profile)?;
    if !args.connections.is_empty() {
        profile.connections = args.connections.clone();
    }
    if let Some(levels) = &args.keepalive_connections {
        profile.keepalive_connections = levels.clone();
    }
    if let Some(secs) = args.duration {
        if !(secs.is_finite() && secs > 0.0 && secs <= 3600.0) {
            bail!("--duration must be between 0 and 3600 seconds, got {secs}");
        }
        profile.duration = Duration::from_secs_f64(secs);
        profile.primer = profile.primer.min(profile.duration);
        profile.warmup = profile.warmup.min(profile.duration);
    }
    if let Some(n) = args.repeats {
        profile.repeats = n.max(1);
    }
    if let Some(n) = args.cold_samples {
        profile.cold_samples = n.max(1);
    }
    if let Some(n) = args.warm_requests {
        profile.warm_requests = n.max(1);
        profile.warm_warmup = profile.warm_warmup.min(n);
    }
    if !args.rate.is_empty() {
        if let Some(bad) = args.rate.iter().find(|r| !(r.is_finite() && **r > 0.0)) {
            bail!("--rate values must be positive requests/s, got {bad}");
        }
        profile.rates = args.rate.clone();
    }
    if profile.connections.contains(&0) || profile.keepalive_connections.contains(&0) {
        bail!("--connections levels must be at least 1");
    }
    if let Some(out) = &args.out {
        crate::results::check_out(out)?;
    }
    let variants = variants::select_roles(&args.variants, &args.roles)?;
    let workloads: Vec<&'static Workload> = if args.workloads.is_empty() {
        workloads::WORKLOADS.iter().collect()
    } else {
        args.workloads
            .iter()
            .map(|n| workloads::find(n))
            .collect::<Result<_>>()?
    };
    Ok(Checked {
        profile,
        variants,
        workloads,
    })
}

/// The `WASM_RESIDENCY` the gateways get: `--env`, else the harness's own
/// environment (which they inherit), else gateway-host's default.
fn residency(env: &[(String, String)]) -> String {
    env.iter()
        .rev()
        .find(|(k, _)| k == "WASM_RESIDENCY")
        .map(|(_, v)| v.clone())
        .or_else(|| std::env::var("WASM_RESIDENCY").ok())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "release".to_owned())
}

fn plan(
    profile: &Profile,
    variants: &[&Variant],
    workloads: &[&Workload],
    suites: &[Suite],
    args: &BenchArgs,
) -> Duration {
    let v = variants.len() as f64;
    let w = workloads.len() as f64;
    let mut secs = 0.0;
    if suites.contains(&Suite::Cold) {
        secs += v * (profile.cold_repeats * profile.cold_samples) as f64 * 0.3;
    }
    if suites.contains(&Suite::Warm) {
        let per_request = 0.005 * args.client.len() as f64;
        secs += v
            * w
            * profile.warm_repeats as f64
            * (profile.warm_warmup + profile.warm_requests) as f64
            * per_request;
    }
    if suites.contains(&Suite::Throughput) {
        let cells = (profile.connections.len()
            + profile.keepalive_connections.len()
            + profile.rates.len()) as f64;
        // Each cell is credited warmup + duration when it ends (throughput.rs).
        secs += v
            * profile.repeats as f64
            * w
            * cells
            * (profile.warmup + profile.duration).as_secs_f64();
    }
    if suites.contains(&Suite::Cost) {
        // `repeats` is the minimum of rounds; more may follow.
        secs += v * profile.repeats as f64 * (0.5 + profile.duration.as_secs_f64());
    }
    Duration::from_secs_f64(secs.max(1.0))
}
