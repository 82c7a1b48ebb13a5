//! bench.yml past one machine: the suites as a matrix of variant groups,
//! the merge, the exports and the history page, and the pull request's one
//! updated comment. The steps that can run here run here, as the workflow
//! runs them: parts laid out as `download-artifact` leaves them, merged,
//! exported, and put on a history with an earlier run.

use crate::support::fixture;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn bench_yml() -> String {
    std::fs::read_to_string(root().join(".github/workflows/bench.yml")).unwrap()
}

#[test]
fn the_matrix_covers_every_variant_once_and_the_jobs_chain() {
    use clap::ValueEnum;
    use xtask::variants::{Role, VARIANTS};
    let yml = bench_yml();
    // The groups name roles; every role in exactly one group, so every
    // variant of the table (each has a role) is measured by one job.
    let groups: Vec<Vec<String>> = yml
        .lines()
        .filter_map(|l| l.trim().strip_prefix("roles: "))
        .map(|v| v.split(',').map(|s| s.trim().to_owned()).collect())
        .collect();
    assert!(groups.len() >= 2, "a matrix of role groups: {groups:?}");
    let mut all: Vec<String> = groups.concat();
    all.sort();
    let mut roles: Vec<String> = Role::value_variants()
        .iter()
        .map(|r| r.to_possible_value().unwrap().get_name().to_owned())
        .collect();
    roles.sort();
    assert_eq!(all, roles, "each role in exactly one group");
    for v in VARIANTS {
        let name = v.role.to_possible_value().unwrap().get_name().to_owned();
        assert_eq!(
            groups.iter().filter(|g| g.contains(&name)).count(),
            1,
            "{}",
            v.name
        );
    }
    for needle in [
        "matrix:",
        "fail-fast: false",
        "--roles \"$ROLES\"",
        "name: bench-part-${{ matrix.group.name }}-${{ github.sha }}",
        "needs: suites",
        "pattern: bench-part-*-${{ github.sha }}",
        "cargo xtask merge \"$PARTS\"/bench-part-* --out \"$RUN_DIR\"",
        "cargo xtask export --format bmf \"$RUN_DIR\"",
        "cargo xtask export --format gab \"$RUN_DIR\"",
        "name: bench-results-${{ github.sha }}",
        "needs: merge",
        "github.event_name == 'push' || github.event_name == 'schedule'",
        "gh run download",
        "cargo xtask history \"$RUNNER_TEMP\"/runs/*/bench-results-*",
        "actions/upload-pages-artifact@",
        "actions/deploy-pages@",
        "pages: write",
        // The pull request: instructions first, then the wall clock, then
        // one comment found by its marker and updated.
        "--suite instructions",
        "pull-requests: write",
        "<!-- wasm-gateway-bench:ab-verdict -->",
        "updateComment",
        "createComment",
    ] {
        assert!(yml.contains(needle), "bench.yml lacks {needle:?}");
    }
    // Every job that holds the KVM runner has the same label.
    let kvm = yml
        .matches("runs-on: [self-hosted, linux, x64, kvm]")
        .count();
    assert_eq!(kvm, 3, "ab, suites and merge on the KVM runner");
}

fn copy_tree(from: &Path, to: &Path, keep: &dyn Fn(&str) -> bool) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &to.join(&name), keep);
        } else if keep(&name) {
            std::fs::copy(e.path(), to.join(&name)).unwrap();
        }
    }
}

/// The fixture with only the variants `keep` accepts, as one matrix job's
/// artifact.
fn part(dir: &Path, keep: fn(&str) -> bool) {
    copy_tree(&fixture(), dir, &|name| {
        name == "manifest.json" || keep(name.split("__").next().unwrap().trim_end_matches(".csv"))
    });
    let path = dir.join("manifest.json");
    let mut m: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    for (list, key) in [("variants", "name"), ("cells", "variant")] {
        let kept: Vec<Value> = m[list]
            .as_array()
            .unwrap()
            .iter()
            .filter(|v| keep(v[key].as_str().unwrap()))
            .cloned()
            .collect();
        m[list] = Value::Array(kept);
    }
    std::fs::write(&path, serde_json::to_string_pretty(&m).unwrap()).unwrap();
}

/// The `run:` script of the step named `step` in a workflow, dedented.
fn step_script(workflow: &str, step: &str) -> String {
    let lines: Vec<&str> = workflow.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.trim() == format!("- name: {step}"))
        .unwrap_or_else(|| panic!("no step named {step:?}"));
    let (run_at, run) = lines[at + 1..]
        .iter()
        .enumerate()
        .find(|(_, l)| l.trim_start().starts_with("run: |"))
        .unwrap_or_else(|| panic!("step {step:?} has no run: | block"));
    let indent = run.len() - run.trim_start().len();
    lines[at + 2 + run_at..]
        .iter()
        .take_while(|l| l.trim().is_empty() || l.len() - l.trim_start().len() > indent)
        .map(|l| l.get(indent + 2..).unwrap_or("").to_owned() + "\n")
        .collect()
}

/// Runs a workflow script with bash, `cargo xtask` being this build's
/// xtask; its stdout.
fn run_script(script: &str, env: &[(&str, &Path)]) -> String {
    let mut cmd = Command::new("bash");
    cmd.arg("-euo")
        .arg("pipefail")
        .arg("-c")
        .arg(format!(
            "cargo() {{ [ \"$1\" = xtask ] || exit 99; shift; \"$XTASK\" \"$@\"; }}\n{script}"
        ))
        .env("XTASK", crate::support::xtask_exe())
        .env("GITHUB_SERVER_URL", "https://github.com")
        .env("GITHUB_REPOSITORY", "owner/repo");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{script}\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn parts_merge_export_and_join_the_history_as_the_workflow_runs_them() {
    let yml = bench_yml();
    let tmp = std::env::temp_dir().join(format!("wgb-pipeline-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let sha = "0123456789abcdef0123456789abcdef01234567";
    let parts = tmp.join("parts");
    part(&parts.join(format!("bench-part-native-{sha}")), |v| {
        v.starts_with("native")
    });
    part(&parts.join(format!("bench-part-cli-{sha}")), |v| {
        v.starts_with("wasm")
    });

    // The merge job's scripts, as bench.yml has them.
    let run = tmp.join(format!("runs/new/bench-results-{sha}"));
    let env = [
        ("PARTS", parts.as_path()),
        ("RUN_DIR", run.as_path()),
        ("RUNNER_TEMP", tmp.as_path()),
    ];
    let screen = run_script(&step_script(&yml, "cargo xtask merge"), &env);
    assert!(screen.contains("native_local") && screen.contains("wasm_host_wasmtime"));
    for f in [
        "manifest.json",
        "report.md",
        "index.html",
        "summary/cold_start.csv",
    ] {
        assert!(run.join(f).is_file(), "{f}");
    }

    run_script(
        &step_script(&yml, "Exports for Bencher and github-action-benchmark"),
        &env,
    );
    let bmf: Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("export/bmf.json")).unwrap())
            .unwrap();
    assert!(bmf["native_local/hello"]["throughput"]["value"].is_f64());
    assert!(bmf["wasm_host_wasmtime/hello"]["throughput"]["value"].is_f64());
    assert!(run.join("export/gab_bigger_is_better.json").is_file());
    assert!(run.join("export/gab_smaller_is_better.json").is_file());

    // An earlier run of main, as `gh run download` leaves it.
    let old = tmp.join("runs/1234/bench-results-feedface");
    copy_tree(&fixture(), &old, &|_| true);
    let site = tmp.join("site");
    run_script(&step_script(&yml, "cargo xtask history"), &env);
    let md = std::fs::read_to_string(site.join("history.md")).unwrap();
    assert!(md.contains("`bench-results-feedface`"), "{md}");
    assert!(md.contains(&format!("`bench-results-{sha}`")), "{md}");
    assert!(site.join("index.html").is_file());
    assert!(site.join("plots/history_hello.svg").is_file());
    std::fs::remove_dir_all(&tmp).unwrap();
}
