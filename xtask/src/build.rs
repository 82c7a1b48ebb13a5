//! `cargo xtask build`: every system under test. Release binaries, the two
//! Wasm modules (the study's and the work module) and their precompiled
//! `.cwasm` forms, the `FROM scratch` images when an engine answers, and the
//! wasmtime CLI at the embedded crate's version. What cannot be done here is
//! said precisely and does not stop the rest.

use std::path::Path;

use anyhow::{bail, Context, Result};
use xshell::{cmd, Shell};

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
    let sh = Shell::new()?;
    sh.change_dir(paths::project_root());
    let mut steps = Vec::new();

    eprintln!("==> release binaries");
    cmd!(
        sh,
        "cargo build --release -p gateway-native -p gateway-host -p upstream-echo -p xtask"
    )
    .run()
    .context("building the release binaries")?;
    steps.push(Step {
        what: "binaries",
        outcome: Ok(paths::target_dir().join("release").display().to_string()),
    });

    eprintln!("==> wasm modules ({})", paths::WASM_TARGET);
    build_wasm(&sh)?;
    steps.push(Step {
        what: "wasm modules",
        outcome: Ok(format!(
            "{}, {}",
            paths::wasm_module().display(),
            paths::work_module().display()
        )),
    });

    let pooled = variants::names(|v| v.modules() == Some(Modules::HostCwasm));
    eprintln!("==> .cwasm for {pooled}");
    let host = paths::release_bin("gateway-host");
    for stem in MODULES {
        let out = paths::module_file(&format!("{stem}.pooled.cwasm"));
        let wasm = paths::module_file(&format!("{stem}.wasm"));
        let tmp = out.with_extension("cwasm.tmp");
        cmd!(sh, "{host} --module {wasm} --precompile-to {tmp}")
            .run()
            .with_context(|| format!("precompiling {}", wasm.display()))?;
        replace(&tmp, &out)?;
    }
    steps.push(Step {
        what: "pooled .cwasm",
        outcome: Ok(paths::module_file("*.pooled.cwasm").display().to_string()),
    });

    eprintln!("==> docker images");
    let images = if args.no_docker {
        Err("--no-docker".to_owned())
    } else {
        match docker::engine_version() {
            Ok(_) => build_images(&sh).map_err(|e| format!("{e:#}")),
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

    eprintln!("==> wasmtime CLI");
    let cli = wasmtime_cli::ensure()
        .map_err(|e| format!("{}: {e:#}", variants::names(variants::uses_wasmtime_cli)));
    let aot = variants::names(|v| v.modules() == Some(Modules::CliCwasm));
    eprintln!("==> .cwasm for {aot}");
    let aot = match &cli {
        Ok(found) => cli_precompile(&sh, &found.path).map_err(|e| format!("{e:#}")),
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

    steps.push(Step {
        what: "wasmedge",
        outcome: tools::wasmedge()
            .map(|f| format!("{} ({})", f.path.display(), f.version))
            .map_err(|e| {
                let users = variants::names(|v| v.runtime() == Some("wasmedge"));
                format!("{users}: {e:#}; set WASMEDGE=/path to run it")
            }),
    });
    Ok(steps)
}

fn build_wasm(sh: &Shell) -> Result<()> {
    let target = paths::WASM_TARGET;
    if !tools::rustup_target_installed(target)? {
        cmd!(sh, "rustup target add {target}")
            .run()
            .with_context(|| format!("installing the {target} target with rustup"))?;
    }
    cmd!(
        sh,
        "cargo build --release -p gateway-wasm -p gateway-work --target {target}"
    )
    .run()
    .context("building the Wasm modules")?;
    for module in [paths::wasm_module(), paths::work_module()] {
        if !module.exists() {
            bail!(
                "the Wasm build finished but {} is missing",
                module.display()
            );
        }
    }
    Ok(())
}

/// The two modules' file stems: the study's and the work module.
const MODULES: [&str; 2] = ["gateway-wasm", "gateway-work"];

/// `wasmtime compile` with the CLI itself, so `wasmtime run
/// --allow-precompiled` loads a file made with its own settings.
fn cli_precompile(sh: &Shell, wasmtime: &Path) -> Result<String> {
    for stem in MODULES {
        let wasm = paths::module_file(&format!("{stem}.wasm"));
        let out = paths::module_file(&format!("{stem}.cli.cwasm"));
        let tmp = out.with_extension("cwasm.tmp");
        cmd!(sh, "{wasmtime} compile {wasm} -o {tmp}")
            .run()
            .with_context(|| format!("wasmtime compile {}", wasm.display()))?;
        replace(&tmp, &out)?;
    }
    Ok(paths::module_file("*.cli.cwasm").display().to_string())
}

/// Put a freshly written `.cwasm` in place by rename: gateways and runtime
/// processes map the old file, and rewriting it in place under them is a
/// SIGBUS (seen: a soak's `wasmtime run --allow-precompiled` children while
/// a build ran).
fn replace(tmp: &Path, out: &Path) -> Result<()> {
    std::fs::rename(tmp, out)
        .with_context(|| format!("moving {} to {}", tmp.display(), out.display()))
}

/// Static (`+crt-static`) builds of the gateway and the upstream, each copied
/// into its own context folder and built `FROM scratch`: nothing is pulled.
fn build_images(sh: &Shell) -> Result<String> {
    let target = paths::STATIC_TARGET;
    {
        let _flags = sh.push_env(
            "CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUSTFLAGS",
            "-C target-feature=+crt-static",
        );
        cmd!(
            sh,
            "cargo build --release --target {target} -p gateway-native -p upstream-echo"
        )
        .run()
        .context("building the static binaries")?;
    }
    let contexts = paths::target_dir().join("docker-context");
    for (name, image) in [
        ("gateway-native", docker::GATEWAY_IMAGE),
        ("upstream-echo", docker::UPSTREAM_IMAGE),
    ] {
        let context = contexts.join(name);
        sh.create_dir(&context)?;
        files::copy(&paths::static_bin(name), &context.join(name))?;
        let dockerfile = paths::project_root().join(name).join("Dockerfile");
        let sha = docker::file_sha256(&paths::static_bin(name))?;
        docker::build_image(
            image,
            &dockerfile,
            &context,
            &[(docker::BINARY_LABEL, sha.as_str())],
        )?;
    }
    Ok(format!(
        "{}, {}",
        docker::GATEWAY_IMAGE,
        docker::UPSTREAM_IMAGE
    ))
}
