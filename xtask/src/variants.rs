//! THE table of systems under test. Each row says what runs; `availability`
//! says whether it can run here (and if not, why), `start` brings it up on a
//! port and `Running` takes it down. Adding a variant is adding a row.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::docker::{self, Container};
use crate::process::{self, Proc};
use crate::{affinity, paths, probe, tools};

/// How a variant is launched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Launch {
    /// `gateway-native` on the host.
    Native,
    /// The static `gateway-native` in a `FROM scratch` container, its port
    /// published on loopback.
    Docker,
    /// The same container on the host's network (`--network host`): no
    /// bridge, no published port, no docker-proxy relay.
    DockerHost,
    /// `gateway-host --runtime <runtime>` with the study's module and the
    /// work module, in the build `modules` names.
    Host {
        runtime: &'static str,
        modules: Modules,
    },
}

/// Which build of the two modules (the study's `gateway-wasm` and the work
/// module `gateway-work`) a Wasm variant loads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Modules {
    /// The `.wasm` files: the runtime compiles (or interprets) them.
    Wasm,
    /// `.cwasm` precompiled by `gateway-host --precompile-to` for its pooled
    /// engine (`cargo xtask build`).
    HostCwasm,
    /// `.cwasm` precompiled by `wasmtime compile` (`cargo xtask build`).
    CliCwasm,
    /// `.cwasm` of the modules prepared for recycling (their mutable
    /// globals exported), precompiled by `gateway-host --runtime
    /// wasmtime_recycled --precompile-to`.
    RecycledCwasm,
}

impl Modules {
    /// The suffix of the built files: `gateway-wasm<suffix>`, `gateway-work<suffix>`.
    pub fn suffix(self) -> &'static str {
        match self {
            Modules::Wasm => ".wasm",
            Modules::HostCwasm => ".pooled.cwasm",
            Modules::CliCwasm => ".cli.cwasm",
            Modules::RecycledCwasm => ".recycled.cwasm",
        }
    }

    /// The study's module and the work module in this build.
    pub fn files(self) -> (PathBuf, PathBuf) {
        let study = match self {
            Modules::Wasm => paths::wasm_module(),
            _ => paths::module_file(&format!("gateway-wasm{}", self.suffix())),
        };
        (
            study,
            paths::module_file(&format!("gateway-work{}", self.suffix())),
        )
    }
}

/// What a variant stands for in the comparison; the report and the
/// hypotheses ask the table for these instead of naming variants, and
/// `--roles` (bench.yml's matrix) selects by them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    /// The native gateway on the host: what everything is compared with.
    Baseline,
    /// The native gateway in a container.
    Container,
    /// A Wasm runtime inside the gateway's process.
    InProcess,
    /// A Wasm runtime process started for every request.
    ProcessPerRequest,
}

#[derive(Debug)]
pub struct Variant {
    /// The study's name; results, flags and plots use it verbatim.
    pub name: &'static str,
    pub launch: Launch,
    pub role: Role,
    /// One of the study's five systems (the others are its future work).
    pub study: bool,
    /// Its colour in every chart (Okabe and Ito's colour-blind-safe palette).
    pub colour: (u8, u8, u8),
    pub about: &'static str,
}

pub const VARIANTS: &[Variant] = &[
    Variant {
        name: "native_local",
        launch: Launch::Native,
        role: Role::Baseline,
        study: true,
        colour: (0, 114, 178), // blue
        about: "gateway-native on the host (baseline)",
    },
    Variant {
        name: "native_docker",
        launch: Launch::Docker,
        role: Role::Container,
        study: true,
        colour: (230, 159, 0), // orange
        about: "the same binary, static, in a FROM scratch container with its port published",
    },
    Variant {
        name: "native_docker_host",
        launch: Launch::DockerHost,
        role: Role::Container,
        study: false,
        colour: (140, 100, 20), // dark orange
        about: "the same container with --network host: no bridge, no docker-proxy relay",
    },
    Variant {
        name: "wasm_host_wasmtime_embedded",
        launch: Launch::Host {
            runtime: "wasmtime_embedded",
            modules: Modules::Wasm,
        },
        role: Role::InProcess,
        study: true,
        colour: (0, 158, 115), // bluish green
        about: "gateway-host, Wasmtime in-process: module compiled once, a fresh Store + WASI ctx per request",
    },
    Variant {
        name: "wasm_host_wasmtime_pooled",
        launch: Launch::Host {
            runtime: "wasmtime_pooled",
            modules: Modules::HostCwasm,
        },
        role: Role::InProcess,
        study: false,
        colour: (0, 0, 0), // black
        about: "gateway-host, Wasmtime in-process the production way: precompiled .cwasm, InstancePre, pooling allocator with CoW memory images; still a fresh instance, memory and WASI ctx per request",
    },
    Variant {
        name: "wasm_host_wasmtime_lean",
        launch: Launch::Host {
            runtime: "wasmtime_lean",
            // Its engine compiles as the pooled one does, so the same files.
            modules: Modules::HostCwasm,
        },
        role: Role::InProcess,
        study: false,
        colour: (117, 112, 179), // purple
        about: "gateway-host, the pooled design with a minimal WASI preview1 of its own (func_wrap host calls over two buffers) instead of wasmtime-wasi; still a fresh instance and memory per request",
    },
    Variant {
        name: "wasm_host_wasmtime_recycled",
        launch: Launch::Host {
            runtime: "wasmtime_recycled",
            modules: Modules::RecycledCwasm,
        },
        role: Role::InProcess,
        study: false,
        colour: (136, 34, 85), // wine (Paul Tol's muted palette)
        about: "gateway-host, lean's host calls on one instance per module kept between requests: its dirty memory pages and mutable globals restored after each, a fresh instance after a failure",
    },
    Variant {
        name: "wasm_host_wasmtime",
        launch: Launch::Host {
            runtime: "wasmtime",
            modules: Modules::Wasm,
        },
        role: Role::ProcessPerRequest,
        study: true,
        colour: (213, 94, 0), // vermillion
        about: "gateway-host spawning `wasmtime run` per request (CLI of the same version as the crate)",
    },
    Variant {
        name: "wasm_host_wasmtime_aot",
        launch: Launch::Host {
            runtime: "wasmtime_aot",
            modules: Modules::CliCwasm,
        },
        role: Role::ProcessPerRequest,
        study: false,
        colour: (86, 180, 233), // sky blue
        about: "gateway-host spawning `wasmtime run --allow-precompiled` on a .cwasm per request",
    },
    Variant {
        name: "wasm_host_cli",
        launch: Launch::Host {
            runtime: "wasmedge",
            modules: Modules::Wasm,
        },
        role: Role::ProcessPerRequest,
        study: true,
        colour: (204, 121, 167), // reddish purple
        about: "gateway-host spawning `wasmedge` per request (its interpreter: no AOT step)",
    },
];

/// The baseline (`native_local`).
pub fn baseline() -> &'static Variant {
    VARIANTS
        .iter()
        .find(|v| v.role == Role::Baseline)
        .expect("the table has a baseline")
}

/// The study's variants with `role`, in table order.
pub fn study_variants(role: Role) -> impl Iterator<Item = &'static Variant> {
    VARIANTS.iter().filter(move |v| v.study && v.role == role)
}

/// The table's variants that `pred` picks, comma-separated: messages about
/// a missing tool or build name the variants it costs from here.
pub fn names(pred: impl Fn(&Variant) -> bool) -> String {
    let picked: Vec<&str> = VARIANTS
        .iter()
        .filter(|v| pred(v))
        .map(|v| v.name)
        .collect();
    picked.join(", ")
}

/// [`select`], then only the variants of `roles` (all when empty).
pub fn select_roles(names: &[String], roles: &[Role]) -> Result<Vec<&'static Variant>> {
    let picked: Vec<&'static Variant> = select(names)?
        .into_iter()
        .filter(|v| roles.is_empty() || roles.contains(&v.role))
        .collect();
    if picked.is_empty() {
        bail!("no variant of the table is in both --variants and --roles");
    }
    Ok(picked)
}

/// What an A/B measures by default: the first of the study's variants in
/// each role whose code a pull request changes without a container image
/// (an image build per revision is slow; ask for containers by name).
pub fn ab_defaults() -> Vec<&'static Variant> {
    let mut out: Vec<&'static Variant> = Vec::new();
    for v in VARIANTS.iter().filter(|v| v.study && !v.is_container()) {
        if !out.iter().any(|o| o.role == v.role) {
            out.push(v);
        }
    }
    out
}

/// Does it run the wasmtime CLI (which `cargo xtask build` installs)?
pub fn uses_wasmtime_cli(v: &Variant) -> bool {
    matches!(v.runtime(), Some("wasmtime" | "wasmtime_aot"))
}

/// The variants a `--variants` list names, in its order; every variant of
/// the table when it is empty.
pub fn select(names: &[String]) -> Result<Vec<&'static Variant>> {
    if names.is_empty() {
        return Ok(VARIANTS.iter().collect());
    }
    names.iter().map(|n| find(n)).collect()
}

/// Look a variant up by its exact name.
pub fn find(name: &str) -> Result<&'static Variant> {
    VARIANTS.iter().find(|v| v.name == name).with_context(|| {
        let names: Vec<_> = VARIANTS.iter().map(|v| v.name).collect();
        format!(
            "unknown variant {name:?}; the variants are {}",
            names.join(", ")
        )
    })
}

/// How to start a variant.
#[derive(Debug, Clone)]
pub struct StartOpts {
    /// Where the gateway listens; `None` picks a free loopback port.
    pub listen: Option<SocketAddr>,
    /// The host upstream (not used by `native_docker`, which brings its own
    /// upstream container into its network namespace).
    pub upstream: SocketAddr,
    /// Pin the gateway to this CPU.
    pub cpu: Option<usize>,
    /// Pin a variant's own upstream container to this CPU.
    pub upstream_cpu: Option<usize>,
    /// Where the gateway's stderr goes (inherited when `None`).
    pub log: Option<PathBuf>,
    /// Extra gateway settings (`GATEWAY_*`, `WASM_*`), e.g. from bench.env.
    pub env: Vec<(String, String)>,
    /// How long to wait for the first 200 on /health.
    pub ready_timeout: Duration,
}

impl StartOpts {
    pub fn new(upstream: SocketAddr) -> StartOpts {
        StartOpts {
            listen: None,
            upstream,
            cpu: None,
            upstream_cpu: None,
            log: None,
            env: Vec::new(),
            ready_timeout: Duration::from_secs(30),
        }
    }
}

/// A variant with everything it needs found: the program and its runtime
/// flags, resolved once (tool lookups, `docker version`, image checks take
/// milliseconds, which must not land inside a cold-start clock).
#[derive(Debug, Clone)]
pub struct Resolved {
    pub variant: &'static Variant,
    pub program: PathBuf,
    pub args: Vec<String>,
}

/// A started variant; dropping it stops it (processes killed and reaped,
/// containers removed).
pub struct Running {
    pub variant: &'static Variant,
    pub addr: SocketAddr,
    proc: Option<Proc>,
    // Gateway first: dropped before the upstream whose namespace it shares.
    containers: Vec<Container>,
    /// Docker's `docker-proxy` processes relaying the published port.
    relays: Vec<u32>,
}

impl Running {
    /// What to sample for a started gateway, and those words for the record:
    /// its process tree, or its container with Docker's relay.
    pub fn sample_target(&self) -> Result<(crate::sample::Target, String)> {
        use crate::sample::Target;
        let running = self;
        match (running.pid(), running.container_id()) {
            (Some(pid), _) => Ok((
                Target::Process(pid),
                format!("process {pid} and descendants"),
            )),
            (None, Some(id)) => {
                let relay = running.relays().first().copied();
                let relay_note = match relay {
                    Some(pid) => format!("; Docker's relay: docker-proxy {pid}, included"),
                    None => "; no docker-proxy relay".to_owned(),
                };
                Ok((
                    Target::Container {
                        id: id.to_owned(),
                        pid: crate::docker::main_pid(id),
                        relay,
                    },
                    format!("container {id} (CPU: its cgroup; RSS: its process tree){relay_note}"),
                ))
            }
            (None, None) => bail!("nothing to sample"),
        }
    }

    /// The gateway's host pid (not set for Docker).
    pub fn pid(&self) -> Option<u32> {
        self.proc.as_ref().map(Proc::pid)
    }

    /// The gateway container's id (Docker only).
    pub fn container_id(&self) -> Option<&str> {
        self.containers.first().map(|c| c.id.as_str())
    }

    /// The `docker-proxy` processes relaying the published port (pinned
    /// with the gateway; the sampler counts them as part of the variant).
    pub fn relays(&self) -> &[u32] {
        &self.relays
    }

    /// Is the gateway still up? (A dead gateway mid-run is a failed cell.)
    pub fn alive(&mut self) -> bool {
        match (&mut self.proc, self.containers.first()) {
            (Some(proc), _) => matches!(proc.try_wait(), Ok(None)),
            (None, Some(container)) => container.running(),
            (None, None) => false,
        }
    }

    /// SIGKILL and reap at once, or remove the container (the cold suite's
    /// `kill -9`).
    pub fn kill(mut self) {
        if let Some(mut proc) = self.proc.take() {
            proc.kill_now();
        }
        for c in self.containers.drain(..) {
            c.remove();
        }
    }

    /// Stop it now (Drop does the same).
    pub fn stop(mut self) {
        if let Some(mut proc) = self.proc.take() {
            proc.stop();
        }
        for c in self.containers.drain(..) {
            c.remove();
        }
    }
}

impl Variant {
    /// Do Wasm variants' bodies carry the module's `wasm:` prefix?
    pub fn is_wasm(&self) -> bool {
        matches!(self.launch, Launch::Host { .. })
    }

    /// The body this variant answers for a workload whose native body is `native`.
    pub fn expected_body(&self, native: &str) -> String {
        if self.is_wasm() {
            format!("wasm:{native}")
        } else {
            native.to_owned()
        }
    }

    /// The Wasm runtime it runs modules with (`gateway-host --runtime`).
    pub fn runtime(&self) -> Option<&'static str> {
        match self.launch {
            Launch::Host { runtime, .. } => Some(runtime),
            _ => None,
        }
    }

    /// The build of the modules it loads.
    pub fn modules(&self) -> Option<Modules> {
        match self.launch {
            Launch::Host { modules, .. } => Some(modules),
            _ => None,
        }
    }

    /// Does it run in a container (started and sampled through Docker)?
    pub fn is_container(&self) -> bool {
        matches!(self.launch, Launch::Docker | Launch::DockerHost)
    }

    /// The `docker run` network arguments of a cold start on `port` (the
    /// hyperfine method writes its own `docker run`): the published port, or
    /// the host's network with the gateway listening on that port.
    pub fn cold_network_args(&self, port: u16) -> Vec<String> {
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        match self.launch {
            Launch::DockerHost => vec![
                "--network=host".to_owned(),
                "-e".to_owned(),
                format!("GATEWAY_LISTEN={addr}"),
            ],
            _ => vec!["-p".to_owned(), format!("{addr}:18081")],
        }
    }

    /// Does it need an upstream on the host for the proxy workload?
    pub fn needs_host_upstream(&self) -> bool {
        self.launch != Launch::Docker
    }

    /// `Ok` when everything it needs is here; otherwise the reason it is
    /// skipped, e.g. `wasmedge not found`.
    pub fn availability(&'static self) -> Result<(), String> {
        self.resolve().map(|_| ())
    }

    /// Resolve, then start and wait until /health answers 200.
    pub fn start(&'static self, opts: &StartOpts) -> Result<Running> {
        self.resolve().map_err(anyhow::Error::msg)?.start(opts)
    }

    /// The gateway program and its runtime flags, or why it cannot run.
    pub fn resolve(&'static self) -> Result<Resolved, String> {
        let (program, args) = self.program()?;
        Ok(Resolved {
            variant: self,
            program,
            args,
        })
    }

    /// Prefer [`Variant::resolve`]: it carries the variant along.
    pub fn program(&self) -> Result<(PathBuf, Vec<String>), String> {
        let built = |name: &str| {
            let path = paths::release_bin(name);
            if path.exists() {
                Ok(path)
            } else {
                Err(format!(
                    "{} is not built (run `cargo xtask build`)",
                    path.display()
                ))
            }
        };
        match self.launch {
            Launch::Native => Ok((built("gateway-native")?, Vec::new())),
            Launch::Docker | Launch::DockerHost => {
                docker::engine_version().map_err(|e| format!("{e:#}"))?;
                let mut images = vec![docker::gateway_image()];
                if self.launch == Launch::Docker {
                    // Its pod brings its own upstream container.
                    images.push(docker::UPSTREAM_IMAGE.to_owned());
                }
                for image in images {
                    // An image is known by the binary it holds, not its tag:
                    // another checkout may have left one under the same tag.
                    // (A/B arms tag their own images, built just before.)
                    let binary = if image == docker::UPSTREAM_IMAGE {
                        paths::static_bin("upstream-echo")
                    } else {
                        paths::static_bin("gateway-native")
                    };
                    if image == docker::GATEWAY_IMAGE || image == docker::UPSTREAM_IMAGE {
                        docker::image_matches(&image, &binary)?;
                    } else if !docker::image_exists(&image) {
                        return Err(format!(
                            "image {image} is not built (run `cargo xtask build`)"
                        ));
                    }
                }
                Ok((PathBuf::from("docker"), Vec::new()))
            }
            Launch::Host { runtime, modules } => {
                // The runtime first: "wasmedge not found" is the reason a
                // reader needs, even before anything is built.
                let cli = match runtime {
                    "wasmtime" | "wasmtime_aot" => {
                        Some(tools::wasmtime_cli().map_err(|e| format!("{e:#}"))?)
                    }
                    "wasmedge" => Some(tools::wasmedge().map_err(|e| format!("{e:#}"))?),
                    _ => None,
                };
                let bin = built("gateway-host")?;
                let (module, work) = modules.files();
                if !module.exists() {
                    return Err(format!(
                        "{} is not built (run `cargo xtask build`)",
                        module.display()
                    ));
                }
                let mut args = vec![
                    "--runtime".to_owned(),
                    runtime.to_owned(),
                    "--module".to_owned(),
                    module.display().to_string(),
                ];
                // Optional: a revision built without it (`bench ab`'s
                // older arm) still runs the study's workloads; compute_wasm
                // and json then answer 500 "no work module".
                if work.exists() {
                    args.push("--work-module".to_owned());
                    args.push(work.display().to_string());
                }
                if let Some(cli) = cli {
                    args.push("--runtime-bin".to_owned());
                    args.push(cli.path.display().to_string());
                }
                Ok((bin, args))
            }
        }
    }
}

impl Resolved {
    /// Start the variant and wait until /health answers 200.
    pub fn start(&self, opts: &StartOpts) -> Result<Running> {
        let (program, runtime_args) = (&self.program, &self.args);
        let name = self.variant.name;
        let running = match self.variant.launch {
            Launch::Docker => self.start_docker(opts)?,
            Launch::DockerHost => self.start_docker_host(opts)?,
            _ => {
                let listen = opts
                    .listen
                    .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
                let mut cmd = process::command(program, opts.log.as_deref())?;
                cmd.args(runtime_args)
                    .arg("--listen")
                    .arg(listen.to_string())
                    .arg("--upstream")
                    .arg(opts.upstream.to_string())
                    .envs(opts.env.iter().map(|(k, v)| (k, v)));
                let mut proc = Proc::spawn(name, cmd, opts.cpu)?;
                let addr = proc.wait_listening(opts.ready_timeout)?;
                Running {
                    variant: self.variant,
                    addr,
                    proc: Some(proc),
                    containers: Vec::new(),
                    relays: Vec::new(),
                }
            }
        };
        probe::wait_ok(
            running.addr,
            "/health",
            Duration::from_micros(500),
            opts.ready_timeout,
        )
        .with_context(|| format!("{name} did not become healthy"))?;
        Ok(running)
    }

    /// Spawn the variant on `port` without waiting for it: the cold-start
    /// suite times from here to the first 200. Docker runs the gateway
    /// container alone with its own published port, as the study's
    /// `docker run` did (the pod's upstream is not part of a cold start).
    /// Nothing is looked up here: the clock is already running.
    pub fn spawn_cold(&self, port: u16, opts: &StartOpts) -> Result<Running> {
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        if self.variant.launch == Launch::DockerHost {
            let name = format!("wgb-cold-{}-{port}-{}", std::process::id(), unique());
            let gateway = Container::run(&name, &docker_host_args(addr, opts))?;
            return Ok(Running {
                variant: self.variant,
                addr,
                proc: None,
                containers: vec![gateway],
                relays: Vec::new(),
            });
        }
        if self.variant.launch == Launch::Docker {
            let args = gateway_container_args(vec!["-p".to_owned(), format!("{addr}:18081")], opts);
            let name = format!("wgb-cold-{}-{port}-{}", std::process::id(), unique());
            let gateway = Container::run(&name, &args)?;
            return Ok(Running {
                variant: self.variant,
                addr,
                proc: None,
                containers: vec![gateway],
                relays: Vec::new(),
            });
        }
        let mut cmd = process::command(&self.program, opts.log.as_deref())?;
        cmd.args(&self.args)
            .arg("--listen")
            .arg(addr.to_string())
            .arg("--upstream")
            .arg(opts.upstream.to_string())
            .envs(opts.env.iter().map(|(k, v)| (k, v)))
            .stdout(std::process::Stdio::null());
        let proc = Proc::spawn(self.variant.name, cmd, opts.cpu)?;
        Ok(Running {
            variant: self.variant,
            addr,
            proc: Some(proc),
            containers: Vec::new(),
            relays: Vec::new(),
        })
    }

    /// `native_docker_host`: the container on the host's network, listening
    /// on a free loopback port and proxying to the host's upstream, as
    /// `native_local` does; only namespaces and the cgroup differ.
    fn start_docker_host(&self, opts: &StartOpts) -> Result<Running> {
        let listen = match opts.listen {
            Some(addr) => addr,
            None => SocketAddr::from(([127, 0, 0, 1], probe::free_port()?)),
        };
        let name = format!(
            "wgb-gateway-host-{}-{}-{}",
            std::process::id(),
            listen.port(),
            unique()
        );
        let gateway = Container::run(&name, &docker_host_args(listen, opts))?;
        if !gateway.running() {
            bail!("gateway container exited at once: {}", gateway.logs_tail());
        }
        Ok(Running {
            variant: self.variant,
            addr: listen,
            proc: None,
            containers: vec![gateway],
            relays: Vec::new(),
        })
    }

    /// The gateway container joins the network namespace of its own upstream
    /// container (a pod): the proxy workload reaches the upstream on
    /// 127.0.0.1:18080 without DNS (a static glibc binary in a scratch image
    /// cannot resolve names) and without any traffic leaving loopback and
    /// Docker's own bridge; the gateway's port is published on the host's
    /// loopback through the pod.
    fn start_docker(&self, opts: &StartOpts) -> Result<Running> {
        let listen = match opts.listen {
            Some(addr) => addr,
            None => SocketAddr::from(([127, 0, 0, 1], probe::free_port()?)),
        };
        let tag = format!("{}-{}-{}", std::process::id(), listen.port(), unique());
        let mut up_args = vec!["-p".to_owned(), format!("{listen}:18081")];
        if let Some(cpu) = opts.upstream_cpu {
            up_args.push(format!("--cpuset-cpus={cpu}"));
        }
        up_args.push(docker::UPSTREAM_IMAGE.to_owned());
        let upstream = Container::run(&format!("wgb-upstream-{tag}"), &up_args)?;

        let gw_args = vec![
            format!("--network=container:{}", upstream.id),
            "-e".to_owned(),
            "UPSTREAM_ADDR=127.0.0.1:18080".to_owned(),
        ];
        let gw_args = gateway_container_args(gw_args, opts);
        let gateway = Container::run(&format!("wgb-gateway-{tag}"), &gw_args)?;
        if !gateway.running() {
            bail!("gateway container exited at once: {}", gateway.logs_tail());
        }
        // Docker's relay for the published port runs on the host, outside
        // the container's cpuset: pin it with the gateway, whose cost it is.
        let relays = crate::sample::docker_proxies(listen.port());
        if let Some(cpu) = opts.cpu {
            for &pid in &relays {
                affinity::pin_pid(pid, cpu)
                    .with_context(|| format!("pinning docker-proxy {pid} to CPU {cpu}"))?;
            }
        }
        Ok(Running {
            variant: self.variant,
            addr: listen,
            proc: None,
            containers: vec![gateway, upstream],
            relays,
        })
    }
}

/// `docker run` arguments of `native_docker_host`: the host's network, the
/// gateway listening on `listen` and reaching the host's upstream directly.
fn docker_host_args(listen: SocketAddr, opts: &StartOpts) -> Vec<String> {
    let network = vec![
        "--network=host".to_owned(),
        "-e".to_owned(),
        format!("GATEWAY_LISTEN={listen}"),
        "-e".to_owned(),
        format!("UPSTREAM_ADDR={}", opts.upstream),
    ];
    gateway_container_args(network, opts)
}

/// The gateway container's `docker run` arguments after its network ones:
/// pinned like a host gateway, the gateway settings passed on (its address
/// and upstream are the network's business), then the image.
fn gateway_container_args(mut args: Vec<String>, opts: &StartOpts) -> Vec<String> {
    if let Some(cpu) = opts.cpu {
        args.push(format!("--cpuset-cpus={cpu}"));
    }
    for (k, v) in &opts.env {
        if k != "GATEWAY_LISTEN" && k != "UPSTREAM_ADDR" {
            args.push("-e".to_owned());
            args.push(format!("{k}={v}"));
        }
    }
    args.push(docker::gateway_image());
    args
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_select_and_the_ab_defaults_come_from_the_table() {
        let names = |v: Vec<&Variant>| v.iter().map(|v| v.name).collect::<Vec<_>>();
        let in_process = select_roles(&[], &[Role::InProcess]).unwrap();
        assert!(in_process.iter().all(|v| v.role == Role::InProcess));
        assert_eq!(
            in_process.len(),
            VARIANTS
                .iter()
                .filter(|v| v.role == Role::InProcess)
                .count()
        );
        let base = vec![baseline().name.to_owned()];
        assert_eq!(names(select_roles(&base, &[]).unwrap()), [baseline().name]);
        assert!(select_roles(&base, &[Role::Container]).is_err());
        // One study variant per role but the containers, the first in the table.
        let ab = ab_defaults();
        assert_eq!(ab[0].name, baseline().name);
        assert!(ab.iter().all(|v| v.study && !v.is_container()));
        let mut roles: Vec<_> = ab.iter().map(|v| v.role as u8).collect();
        roles.dedup();
        assert_eq!(roles.len(), ab.len());
        assert!(names(ab).contains(&"wasm_host_wasmtime_embedded"));
    }

    #[test]
    fn names_are_the_studys() {
        let names: Vec<_> = VARIANTS.iter().map(|v| v.name).collect();
        assert_eq!(
            names,
            [
                "native_local",
                "native_docker",
                "native_docker_host",
                "wasm_host_wasmtime_embedded",
                "wasm_host_wasmtime_pooled",
                "wasm_host_wasmtime_lean",
                "wasm_host_wasmtime_recycled",
                "wasm_host_wasmtime",
                "wasm_host_wasmtime_aot",
                "wasm_host_cli"
            ]
        );
        let study: Vec<_> = VARIANTS
            .iter()
            .filter(|v| v.study)
            .map(|v| v.name)
            .collect();
        assert_eq!(
            study,
            [
                "native_local",
                "native_docker",
                "wasm_host_wasmtime_embedded",
                "wasm_host_wasmtime",
                "wasm_host_cli"
            ]
        );
        assert!(find("native").is_err());
    }

    #[test]
    fn roles_and_colours_come_from_the_table() {
        assert_eq!(baseline().name, "native_local");
        let names = |role| study_variants(role).map(|v| v.name).collect::<Vec<_>>();
        assert_eq!(names(Role::Container), ["native_docker"]);
        assert_eq!(names(Role::InProcess), ["wasm_host_wasmtime_embedded"]);
        assert_eq!(
            names(Role::ProcessPerRequest),
            ["wasm_host_wasmtime", "wasm_host_cli"]
        );
        let mut colours: Vec<_> = VARIANTS.iter().map(|v| v.colour).collect();
        colours.sort();
        colours.dedup();
        assert_eq!(
            colours.len(),
            VARIANTS.len(),
            "every variant has its own colour"
        );
        assert!(find("native_docker_host").unwrap().is_container());
        assert!(find("native_docker_host").unwrap().needs_host_upstream());
        assert!(!find("native_docker").unwrap().needs_host_upstream());
    }

    #[test]
    fn wasm_variants_expect_the_prefix() {
        assert_eq!(
            find("native_local").unwrap().expected_body("hello"),
            "hello"
        );
        assert_eq!(
            find("wasm_host_cli").unwrap().expected_body("hello"),
            "wasm:hello"
        );
    }

    #[test]
    fn wasmedge_absent_is_a_skip_with_the_reason() {
        if tools::wasmedge().is_ok() {
            return; // Installed here: nothing to check about its absence.
        }
        let reason = find("wasm_host_cli").unwrap().availability().unwrap_err();
        assert!(reason.contains("wasmedge not found"), "{reason}");
    }
}
