//! THE table of systems under test. Each row says what runs; `availability`
//! says whether it can run here (and if not, why), `start` brings it up on a
//! port and `Running` takes it down. Adding a variant is adding a row.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::docker::{self, Container};
use crate::process::{self, Proc};
use crate::{paths, probe, tools};

/// How a variant is launched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Launch {
    /// `gateway-native` on the host.
    Native,
    /// The static `gateway-native` in a `FROM scratch` container, its port
    /// published on loopback.
    Docker,
    /// `gateway-host --runtime <runtime>`.
    Host { runtime: &'static str },
}

#[derive(Debug)]
pub struct Variant {
    /// The study's name; results, flags and plots use it verbatim.
    pub name: &'static str,
    pub launch: Launch,
    pub about: &'static str,
}

pub const VARIANTS: &[Variant] = &[
    Variant {
        name: "native_local",
        launch: Launch::Native,
        about: "gateway-native on the host (baseline)",
    },
    Variant {
        name: "native_docker",
        launch: Launch::Docker,
        about: "the same binary, static, in a FROM scratch container with its port published",
    },
    Variant {
        name: "wasm_host_wasmtime_embedded",
        launch: Launch::Host {
            runtime: "wasmtime_embedded",
        },
        about: "gateway-host, Wasmtime in-process: module compiled once, a fresh Store + WASI ctx per request",
    },
    Variant {
        name: "wasm_host_wasmtime",
        launch: Launch::Host { runtime: "wasmtime" },
        about: "gateway-host spawning `wasmtime run` per request (CLI of the same version as the crate)",
    },
    Variant {
        name: "wasm_host_cli",
        launch: Launch::Host { runtime: "wasmedge" },
        about: "gateway-host spawning `wasmedge` per request",
    },
];

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

/// A started variant; dropping it stops it (processes killed and reaped,
/// containers removed).
pub struct Running {
    pub variant: &'static Variant,
    pub addr: SocketAddr,
    proc: Option<Proc>,
    // Gateway first: dropped before the upstream whose namespace it shares.
    containers: Vec<Container>,
}

impl Running {
    /// The gateway's host pid (not set for Docker).
    pub fn pid(&self) -> Option<u32> {
        self.proc.as_ref().map(Proc::pid)
    }

    /// The gateway container's id (Docker only).
    pub fn container_id(&self) -> Option<&str> {
        self.containers.first().map(|c| c.id.as_str())
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

    /// Does it need an upstream on the host for the proxy workload?
    pub fn needs_host_upstream(&self) -> bool {
        self.launch != Launch::Docker
    }

    /// `Ok` when everything it needs is here; otherwise the reason it is
    /// skipped, e.g. `wasmedge not found`.
    pub fn availability(&self) -> Result<(), String> {
        self.program().map(|_| ())
    }

    /// The gateway program and its runtime flags, or why it cannot run.
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
            Launch::Docker => {
                docker::engine_version().map_err(|e| format!("{e:#}"))?;
                for image in [docker::gateway_image(), docker::UPSTREAM_IMAGE.to_owned()] {
                    if !docker::image_exists(&image) {
                        return Err(format!(
                            "image {image} is not built (run `cargo xtask build`)"
                        ));
                    }
                }
                Ok((PathBuf::from("docker"), Vec::new()))
            }
            Launch::Host { runtime } => {
                // The runtime first: "wasmedge not found" is the reason a
                // reader needs, even before anything is built.
                let cli = match runtime {
                    "wasmtime" => Some(tools::wasmtime_cli().map_err(|e| format!("{e:#}"))?),
                    "wasmedge" => Some(tools::wasmedge().map_err(|e| format!("{e:#}"))?),
                    _ => None,
                };
                let bin = built("gateway-host")?;
                let module = paths::wasm_module();
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
                if let Some(cli) = cli {
                    args.push("--runtime-bin".to_owned());
                    args.push(cli.path.display().to_string());
                }
                Ok((bin, args))
            }
        }
    }

    /// Start the variant and wait until /health answers 200.
    pub fn start(&'static self, opts: &StartOpts) -> Result<Running> {
        let (program, runtime_args) = self.program().map_err(anyhow::Error::msg)?;
        let running = match self.launch {
            Launch::Docker => self.start_docker(opts)?,
            _ => {
                let listen = opts
                    .listen
                    .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
                let mut cmd = process::command(&program, opts.log.as_deref())?;
                cmd.args(&runtime_args)
                    .arg("--listen")
                    .arg(listen.to_string())
                    .arg("--upstream")
                    .arg(opts.upstream.to_string())
                    .envs(opts.env.iter().map(|(k, v)| (k, v)));
                let mut proc = Proc::spawn(self.name, cmd, opts.cpu)?;
                let addr = proc.wait_listening(opts.ready_timeout)?;
                Running {
                    variant: self,
                    addr,
                    proc: Some(proc),
                    containers: Vec::new(),
                }
            }
        };
        probe::wait_ok(
            running.addr,
            "/health",
            Duration::from_micros(500),
            opts.ready_timeout,
        )
        .with_context(|| format!("{} did not become healthy", self.name))?;
        Ok(running)
    }

    /// Spawn the variant on `port` without waiting for it: the cold-start
    /// suite times from here to the first 200. Docker runs the gateway
    /// container alone with its own published port, as the study's
    /// `docker run` did (the pod's upstream is not part of a cold start).
    pub fn spawn_cold(&'static self, port: u16, opts: &StartOpts) -> Result<Running> {
        let (program, runtime_args) = self.program().map_err(anyhow::Error::msg)?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        if self.launch == Launch::Docker {
            let mut args = vec!["-p".to_owned(), format!("{addr}:18081")];
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
            let name = format!("wgb-cold-{}-{port}-{}", std::process::id(), unique());
            let gateway = Container::run(&name, &args)?;
            return Ok(Running {
                variant: self,
                addr,
                proc: None,
                containers: vec![gateway],
            });
        }
        let mut cmd = process::command(&program, opts.log.as_deref())?;
        cmd.args(&runtime_args)
            .arg("--listen")
            .arg(addr.to_string())
            .arg("--upstream")
            .arg(opts.upstream.to_string())
            .envs(opts.env.iter().map(|(k, v)| (k, v)))
            .stdout(std::process::Stdio::null());
        let proc = Proc::spawn(self.name, cmd, opts.cpu)?;
        Ok(Running {
            variant: self,
            addr,
            proc: Some(proc),
            containers: Vec::new(),
        })
    }

    /// The gateway container joins the network namespace of its own upstream
    /// container (a pod): the proxy workload reaches the upstream on
    /// 127.0.0.1:18080 without DNS (a static glibc binary in a scratch image
    /// cannot resolve names) and without any traffic leaving loopback and
    /// Docker's own bridge; the gateway's port is published on the host's
    /// loopback through the pod.
    fn start_docker(&'static self, opts: &StartOpts) -> Result<Running> {
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

        let mut gw_args = vec![
            format!("--network=container:{}", upstream.id),
            "-e".to_owned(),
            "UPSTREAM_ADDR=127.0.0.1:18080".to_owned(),
        ];
        if let Some(cpu) = opts.cpu {
            gw_args.push(format!("--cpuset-cpus={cpu}"));
        }
        for (k, v) in &opts.env {
            if k != "GATEWAY_LISTEN" && k != "UPSTREAM_ADDR" {
                gw_args.push("-e".to_owned());
                gw_args.push(format!("{k}={v}"));
            }
        }
        gw_args.push(docker::gateway_image());
        let gateway = Container::run(&format!("wgb-gateway-{tag}"), &gw_args)?;
        if !gateway.running() {
            bail!("gateway container exited at once: {}", gateway.logs_tail());
        }
        Ok(Running {
            variant: self,
            addr: listen,
            proc: None,
            containers: vec![gateway, upstream],
        })
    }
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
    fn names_are_the_studys() {
        let names: Vec<_> = VARIANTS.iter().map(|v| v.name).collect();
        assert_eq!(
            names,
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
