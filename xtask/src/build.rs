//! `cargo xtask build`: every system under test. Release binaries, the two
//! Wasm modules (the study's and the work module) and their precompiled
//! `.cwasm` forms, the `FROM scratch` images when an engine answers, and the
//! wasmtime CLI at the embedded crate's version. What cannot be done here is
//! said precisely and does not stop the rest.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use xshell::{cmd, Shell};

use crate::provenance;
use crate::variants::{self, Modules, Variant};
use crate::{docker, files, paths, tools, wasmtime_cli};

#[derive(clap::Args, Debug, Default)]
pub struct BuildArgs {
    /// Skip the Docker images even when an engine answers.
    #[arg(long)]
    pub no_docker: bool,
}

/// One line of the build summary.
pub struct Step {
    pub what: &'static str,
    pub outcome: Result<String, String>,
}

pub fn run(args: &BuildArgs) -> Result<()> {
    let steps = build_all(args)?;
    println!();
    for step in &steps {
        match &step.outcome {
            Ok(detail) => println!("{:<16} ok: {detail}", step.what),
            Err(reason) => println!("{:<16} skipped: {reason}", step.what),
        }
    }
    Ok(())
}

/// Build everything; the hard failures (a crate that does not compile) are
/// errors, the missing optional pieces are skipped steps.
pub fn build_all(args: &BuildArgs) -> Result<Vec<Step>> {
    let every: Vec<&'static Variant> = variants::VARIANTS.iter().collect();
    build_for(args, &every)
}

/// Build what `selected` run, from this checkout: a bench of `native_local`
/// alone does not wait for Wasmtime. Outputs this build cannot vouch for as
/// built from these sources are cleaned first, and afterwards every output
/// is checked to be this tree's (`provenance`).
pub fn build_for(args: &BuildArgs, selected: &[&'static Variant]) -> Result<Vec<Step>> {
    let _lock = provenance::lock(&paths::target_dir())?;
    build_locked(args, selected)
}

/// [`build_for`] for a caller that holds the build lock already (`cargo
/// xtask test` holds it on to build its tests and copy their outputs).
pub fn build_locked(args: &BuildArgs, selected: &[&'static Variant]) -> Result<Vec<Step>> {
    let mut steps = Vec::new();
    let tree = Tree::here();
    let units = provenance::units_for(selected);
    provenance::prepare(&tree, &units, provenance::Clean::Doubtful)?;
    let wants = |pred: &dyn Fn(&Variant) -> bool| selected.iter().any(|v| pred(v));

    eprintln!("==> release binaries");
    // Not xtask: `cargo xtask` (cargo run) has just built it.
    let bins: Vec<&str> = BINS
        .into_iter()
        .filter(|bin| units.iter().any(|u| u.package == *bin))
        .collect();
    tree.binaries(&bins)?;
    steps.push(Step {
        what: "binaries",
        outcome: Ok(paths::target_dir().join("release").display().to_string()),
    });

    if wants(&Variant::is_wasm) {
        eprintln!("==> wasm modules ({})", paths::WASM_TARGET);
        tree.modules()?;
        steps.push(Step {
            what: "wasm modules",
            outcome: Ok(format!(
                "{}, {}",
                paths::wasm_module().display(),
                paths::work_module().display()
            )),
        });

        let host = paths::release_bin("gateway-host");
        for modules in [Modules::HostCwasm, Modules::RecycledCwasm] {
            let users = variants::names(|v| v.modules() == Some(modules));
            eprintln!("==> .cwasm for {users}");
            for stem in MODULES {
                let wasm = paths::module_file(&format!("{stem}.wasm"));
                let out = paths::module_file(&format!("{stem}{}", modules.suffix()));
                precompile_host(&host, modules, &wasm, &out)?;
            }
        }
        steps.push(Step {
            what: "gateway-host .cwasm",
            outcome: Ok(format!(
                "{}, {}",
                paths::module_file("*.pooled.cwasm").display(),
                paths::module_file("*.recycled.cwasm").display()
            )),
        });
    }

    if wants(&Variant::is_container) {
        eprintln!("==> docker images");
        let images = if args.no_docker {
            Err("--no-docker".to_owned())
        } else {
            match docker::engine_version() {
                Ok(_) => build_images(&tree).map_err(|e| format!("{e:#}")),
                Err(e) => Err(format!("{}: {e:#}", variants::names(Variant::is_container))),
            }
        };
        if let Err(reason) = &images {
            eprintln!("docker images: skipped: {reason}");
        }
        steps.push(Step {
            what: "docker images",
            outcome: images,
        });
    }

    if wants(&variants::uses_wasmtime_cli) {
        eprintln!("==> wasmtime CLI");
        let cli = wasmtime_cli::ensure()
            .map_err(|e| format!("{}: {e:#}", variants::names(variants::uses_wasmtime_cli)));
        let aot = variants::names(|v| v.modules() == Some(Modules::CliCwasm));
        eprintln!("==> .cwasm for {aot}");
        let aot = match &cli {
            Ok(found) => MODULES
                .iter()
                .try_for_each(|stem| {
                    let wasm = paths::module_file(&format!("{stem}.wasm"));
                    precompile_cli(
                        &found.path,
                        &wasm,
                        &paths::module_file(&format!("{stem}.cli.cwasm")),
                    )
                })
                .map(|()| paths::module_file("*.cli.cwasm").display().to_string())
                .map_err(|e| format!("{e:#}")),
            Err(reason) => Err(format!("no wasmtime CLI to compile with ({reason})")),
        };
        steps.push(Step {
            what: "wasmtime CLI",
            outcome: cli.map(|f| format!("{} ({})", f.path.display(), f.version)),
        });
        steps.push(Step {
            what: "CLI .cwasm",
            outcome: aot,
        });
    }

    if wants(&|v: &Variant| v.runtime() == Some("wasmedge")) {
        steps.push(Step {
            what: "wasmedge",
            outcome: tools::wasmedge()
                .map(|f| format!("{} ({})", f.path.display(), f.version))
                .map_err(|e| {
                    let users = variants::names(|v| v.runtime() == Some("wasmedge"));
                    format!("{users}: {e:#}; set WASMEDGE=/path to run it")
                }),
        });
    }

    provenance::record(&tree, &units)?;
    provenance::verify(&tree, &provenance::built(&tree, &units))?;
    Ok(steps)
}

/// What a suite or `run` does first: build what `selected` run, as `cargo
/// run` would, or with `no_build` check that what is built is this tree's;
/// then run from a copy of it, which another clone's build cannot replace
/// mid-run. An A/B arm's copied binaries (`WGB_BIN_DIR`) were built for it.
pub fn ensure_built(
    no_build: bool,
    selected: &[&'static Variant],
) -> Result<Option<provenance::snapshot::Snapshot>> {
    if paths::bin_dir().is_some() {
        return Ok(None);
    }
    if !no_build {
        eprintln!(
            "==> building what is missing or stale first (--no-build measures what is built)"
        );
        build_for(&BuildArgs::default(), selected)?;
    }
    let tree = Tree::here();
    let units = provenance::built(&tree, &provenance::units_for(selected));
    let _lock = provenance::lock(&tree.target)?;
    provenance::verify(&tree, &units)?;
    provenance::snapshot::take(&tree, &units).map(Some)
}

/// The two modules' file stems: the study's and the work module.
pub const MODULES: [&str; 2] = ["gateway-wasm", "gateway-work"];

/// The binaries the variants and the suites start.
pub const BINS: [&str; 3] = ["gateway-native", "gateway-host", "upstream-echo"];

pub use paths::Tree;

/// How a [`Tree`] builds (the struct lives in `paths`, below `provenance`,
/// which records what a tree built).
impl Tree {
    pub(crate) fn cargo(&self, args: &[&str], env: &[(&str, &str)]) -> Result<()> {
        let sh = Shell::new()?;
        sh.change_dir(&self.source);
        let _target = sh.push_env("CARGO_TARGET_DIR", &self.target);
        let _env: Vec<_> = env.iter().map(|(k, v)| sh.push_env(k, v)).collect();
        cmd!(sh, "cargo {args...}")
            .stdin("")
            .run()
            .with_context(|| format!("cargo {} in {}", args.join(" "), self.source.display()))
    }

    /// `packages`' binaries in release.
    pub fn binaries(&self, packages: &[&str]) -> Result<()> {
        let mut args = vec!["build", "--release"];
        for p in packages {
            args.extend(["-p", p]);
        }
        self.cargo(&args, &[])
            .context("building the release binaries")
    }

    /// The Wasm modules; the stems built (a revision older than the work
    /// module has only the study's).
    pub fn modules(&self) -> Result<&'static [&'static str]> {
        let target = paths::WASM_TARGET;
        if !tools::rustup_target_installed(target)? {
            let sh = Shell::new()?;
            cmd!(sh, "rustup target add {target}")
                .run()
                .with_context(|| format!("installing the {target} target with rustup"))?;
        }
        let stems: &'static [&'static str] = if self.has_package("gateway-work") {
            &MODULES
        } else {
            &MODULES[..1]
        };
        let mut args = vec!["build", "--release", "--target", target];
        for stem in stems {
            args.extend(["-p", stem]);
        }
        self.cargo(&args, &[])
            .context("building the Wasm modules")?;
        for stem in stems {
            let module = self.module(&format!("{stem}.wasm"));
            if !module.exists() {
                bail!(
                    "the Wasm build finished but {} is missing",
                    module.display()
                );
            }
        }
        Ok(stems)
    }

    /// `+crt-static` builds of `packages`, for the `FROM scratch` images.
    pub fn static_binaries(&self, packages: &[&str]) -> Result<()> {
        let mut args = vec!["build", "--release", "--target", paths::STATIC_TARGET];
        for p in packages {
            args.extend(["-p", p]);
        }
        self.cargo(
            &args,
            &[(
                "CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUSTFLAGS",
                "-C target-feature=+crt-static",
            )],
        )
        .context("building the static binaries")
    }

    /// The image of `package`'s static binary, tagged `tag` and labelled
    /// with the binary's hash (a run checks the label, not the tag).
    pub fn image(&self, package: &str, tag: &str) -> Result<()> {
        let binary = self
            .target
            .join(paths::STATIC_TARGET)
            .join("release")
            .join(package);
        let context = self
            .target
            .join("docker-context")
            .join(tag.replace(['/', ':'], "_"));
        files::copy(&binary, &context.join(package))?;
        let sha = docker::file_sha256(&binary)?;
        docker::build_image(
            tag,
            &self.source.join(package).join("Dockerfile"),
            &context,
            &[(docker::BINARY_LABEL, sha.as_str())],
        )
    }

    pub fn release_bin(&self, name: &str) -> PathBuf {
        self.target.join("release").join(name)
    }

    pub fn module(&self, file: &str) -> PathBuf {
        self.target
            .join(paths::WASM_TARGET)
            .join("release")
            .join(file)
    }

    /// Does the tree have `package`'s folder (an older A/B revision may
    /// predate a package)?
    pub fn has_package_dir(&self, package: &str) -> bool {
        crate::source_hash::PACKAGES
            .iter()
            .find(|(name, _, _)| *name == package)
            .is_some_and(|(_, dir, _)| self.source.join(dir).join("Cargo.toml").is_file())
    }

    /// Is `name` a package of the tree's workspace?
    fn has_package(&self, name: &str) -> bool {
        std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()))
            .current_dir(&self.source)
            .args(["pkgid", "--offline", name])
            .stdin(std::process::Stdio::null())
            .output()
            .is_ok_and(|o| o.status.success())
    }
}

/// `<stem>.pooled.cwasm` or `<stem>.recycled.cwasm` (`modules`): the module
/// compiled by `host` (a gateway-host) with its pooled engine's settings,
/// prepared for recycling first for the latter.
pub fn precompile_host(host: &Path, modules: Modules, wasm: &Path, out: &Path) -> Result<()> {
    let runtime = match modules {
        Modules::RecycledCwasm => "wasmtime_recycled",
        _ => "wasmtime_pooled",
    };
    // Per process: two builds at once must not rename each other's file.
    let tmp = out.with_extension(format!("cwasm.{}.tmp", std::process::id()));
    let sh = Shell::new()?;
    cmd!(
        sh,
        "{host} --runtime {runtime} --module {wasm} --precompile-to {tmp}"
    )
    .run()
    .with_context(|| format!("precompiling {}", wasm.display()))?;
    replace(&tmp, out)
}

/// `<stem>.cli.cwasm`: `wasmtime compile` with the CLI itself, so `wasmtime
/// run --allow-precompiled` loads a file made with its own settings.
pub fn precompile_cli(wasmtime: &Path, wasm: &Path, out: &Path) -> Result<()> {
    // Per process: two builds at once must not rename each other's file.
    let tmp = out.with_extension(format!("cwasm.{}.tmp", std::process::id()));
    let sh = Shell::new()?;
    cmd!(sh, "{wasmtime} compile {wasm} -o {tmp}")
        .run()
        .with_context(|| format!("wasmtime compile {}", wasm.display()))?;
    replace(&tmp, out)
}

/// Put a freshly written `.cwasm` in place by rename: gateways and runtime
/// processes map the old file, and rewriting it in place under them is a
/// SIGBUS (seen: a soak's `wasmtime run --allow-precompiled` children while
/// a build ran).
fn replace(tmp: &Path, out: &Path) -> Result<()> {
    std::fs::rename(tmp, out)
        .with_context(|| format!("moving {} to {}", tmp.display(), out.display()))
}

/// Static (`+crt-static`) builds of the gateway and the upstream, each built
/// `FROM scratch` from its own context folder: nothing is pulled.
fn build_images(tree: &Tree) -> Result<String> {
    tree.static_binaries(&["gateway-native", "upstream-echo"])?;
    tree.image("gateway-native", docker::GATEWAY_IMAGE)?;
    tree.image("upstream-echo", docker::UPSTREAM_IMAGE)?;
    Ok(format!(
        "{}, {}",
        docker::GATEWAY_IMAGE,
        docker::UPSTREAM_IMAGE
    ))
}
