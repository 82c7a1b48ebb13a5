//! The cold-start clock times the spawn and the first answer only: what a
//! variant needs (its runtime CLI, its images) is looked up once per
//! variant, not inside every sample. A stand-in `wasmtime` counts its
//! `--version` calls and hands everything else to the real CLI.

use crate::support::one_bench_at_a_time;

use std::path::{Path, PathBuf};
use std::process::Command;

/// `--version` calls the harness made during `bench cold` with `samples`
/// samples per repeat.
fn version_calls(real: &Path, samples: usize) -> usize {
    let dir = temp!(&format!("s{samples}"));
    let log = dir.join("calls.log");
    let stub = dir.join("wasmtime");
    std::fs::write(
        &stub,
        format!(
            "#!/bin/sh\nif [ \"$1\" = --version ]; then echo v >> '{}'; fi\nexec '{}' \"$@\"\n",
            log.display(),
            real.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&stub, std::fs::Permissions::from_mode(0o755)).unwrap();
    let status = Command::new(crate::support::xtask_exe())
        .args([
            "bench",
            "cold",
            "--no-build",
            "--no-report",
            "--variants",
            "wasm_host_wasmtime",
            "--cold-samples",
            &samples.to_string(),
            "--out",
        ])
        .arg(dir.join("run"))
        .env("WASMTIME", &stub)
        .status()
        .unwrap();
    assert!(status.success());
    let summary = std::fs::read_to_string(dir.join("run/summary/cold_start.csv")).unwrap();
    assert!(summary.contains("wasm_host_wasmtime,"), "{summary}");
    let calls = std::fs::read_to_string(&log)
        .unwrap_or_default()
        .lines()
        .count();
    std::fs::remove_dir_all(&dir).unwrap();
    calls
}

#[test]
fn lookups_do_not_grow_with_the_samples() {
    let _turn = one_bench_at_a_time();
    let Some(real) = std::env::var_os("WASMTIME").map(PathBuf::from) else {
        // `cargo xtask test` sets it; without the CLI the variant is skipped.
        eprintln!("WASMTIME not set: run through `cargo xtask test`");
        return;
    };
    let one = version_calls(&real, 1);
    let four = version_calls(&real, 4);
    assert!(one > 0, "the stand-in was used");
    assert_eq!(one, four, "a lookup per sample would be inside the clock");
}
