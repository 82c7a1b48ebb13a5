//! Two clones sharing one cargo target folder (as `.ci/run`'s default
//! `CARGO_TARGET_DIR` makes every clone do): each run measures and serves
//! its own clone's build and writes under its own clone, even when cargo's
//! file times would hand one clone the other's binaries.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use xtask::probe;
use xtask::rundata::manifest::Manifest;
use xtask::rundata::CellStatus;
use xtask::source_hash::package_hash;

use crate::support::{exit_within, one_bench_at_a_time, run_listening, text};

/// The workspace's files as they are now (tracked and new ones git does not
/// ignore), without results/, as a fresh git repository with one commit.
fn clone_into(dest: &Path) {
    let root = xtask::project_root();
    let listed = Command::new("git")
        .arg("-C")
        .arg(&root)
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ])
        .output()
        .unwrap();
    assert!(listed.status.success(), "{}", text(&listed));
    for rel in listed.stdout.split(|b| *b == 0).filter(|r| !r.is_empty()) {
        let rel = Path::new(std::str::from_utf8(rel).unwrap());
        if rel.starts_with("results") || !root.join(rel).is_file() {
            continue;
        }
        let to = dest.join(rel);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(root.join(rel), &to).unwrap();
    }
    git(dest, &["init", "-q"]);
    git(dest, &["add", "-A"]);
    git(
        dest,
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "-qm",
            "clone",
        ],
    );
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {}", text(&out));
}

/// `cargo xtask ARGS` in `clone` as cargo runs it (`CARGO_MANIFEST_DIR` is
/// the clone's xtask), with the shared target folder. The binary is this
/// test's xtask, built from the same xtask sources as clone A's.
fn xtask_in(clone: &Path, target: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(crate::support::xtask_exe());
    cmd.current_dir(clone)
        .env("CARGO_MANIFEST_DIR", clone.join("xtask"))
        .env("CARGO_TARGET_DIR", target)
        // `cargo xtask test` sets them for this tree's own copy of its
        // build; a clone builds and runs its own.
        .env_remove("WGB_NO_BUILD")
        .env_remove("WGB_BIN_DIR")
        .env_remove("WGB_STATIC_DIR")
        .env_remove("GATEWAY_WASM_MODULE")
        .args(args);
    cmd
}

/// `bench cold` of native_local in `clone`: its run folder.
fn bench_cold(clone: &Path, target: &Path, extra_env: &[(&str, &str)]) -> (PathBuf, String) {
    let mut cmd = xtask_in(
        clone,
        target,
        &[
            "bench",
            "cold",
            "--variants",
            "native_local",
            "--profile",
            "quick",
            "--cold-samples",
            "2",
            "--no-report",
        ],
    );
    cmd.envs(extra_env.iter().copied());
    let out = cmd.output().unwrap();
    let all = text(&out);
    assert!(out.status.success(), "{all}");
    let run = all
        .lines()
        .find_map(|l| l.strip_prefix("run folder: "))
        .unwrap_or_else(|| panic!("no run folder in:\n{all}"));
    let name = clone.file_name().unwrap().to_string_lossy();
    for line in all.lines().filter(|l| l.starts_with("==> cleaning")) {
        eprintln!("{name}: bench cold: {line}");
    }
    eprintln!("{name}: bench cold: run folder {run}");
    (PathBuf::from(run.trim()), all)
}

/// `run native_local` in `clone`: the body of `GET /`.
fn served_hello(clone: &Path, target: &Path, extra_env: &[(&str, &str)]) -> String {
    let mut cmd = xtask_in(
        clone,
        target,
        &[
            "run",
            "native_local",
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            "127.0.0.1:0",
        ],
    );
    cmd.envs(extra_env.iter().copied());
    let (mut child, addr, log) = run_listening(cmd, "native_local");
    let reply = probe::get(addr, "/", Duration::from_secs(5)).unwrap();
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    exit_within(
        &mut child,
        Duration::from_secs(20),
        "xtask run ignored SIGTERM",
    );
    assert_eq!(reply.status, 200);
    let name = clone.file_name().unwrap().to_string_lossy();
    for line in log.lines().filter(|l| l.starts_with("==> cleaning")) {
        eprintln!("{name}: run: {line}");
    }
    eprintln!("{name}: run native_local: GET / -> {:?}", reply.body_text());
    reply.body_text()
}

fn check_run(run: &Path, clone: &Path) {
    assert!(
        run.starts_with(clone.join("results/runs")),
        "{} is not under {}",
        run.display(),
        clone.display()
    );
    let manifest = Manifest::read(run).unwrap();
    eprintln!(
        "manifest: git.root {}, revision {}, sources.gateway-native {}",
        manifest.git.root, manifest.git.revision, manifest.git.sources["gateway-native"]
    );
    assert_eq!(Path::new(&manifest.git.root), clone);
    assert_eq!(
        manifest.git.sources["gateway-native"],
        package_hash(clone, "gateway-native")
    );
    assert!(!manifest.cells.is_empty());
    assert!(
        manifest.cells.iter().all(|c| c.status == CellStatus::Ok),
        "{:?}",
        manifest.cells
    );
}

#[test]
fn two_clones_sharing_a_target_folder_each_measure_and_serve_their_own_build() {
    let base = temp!("clones");
    let (a, b, target) = (base.join("a"), base.join("b"), base.join("target"));
    clone_into(&a);
    clone_into(&b);
    let workloads = b.join("gateway-native/src/handlers.rs");
    let source = std::fs::read_to_string(&workloads).unwrap();
    assert!(source.contains(r#"b"hello")"#));
    std::fs::write(
        &workloads,
        source.replacen(r#"b"hello")"#, r#"b"hello from b")"#, 1),
    )
    .unwrap();
    // B's files older than anything A builds: cargo alone would call A's
    // outputs fresh for B (a clone made before the other's last build).
    let old = Command::new("find")
        .arg(&b)
        .args(["-exec", "touch", "-h", "-d", "2020-01-01", "{}", "+"])
        .output()
        .unwrap();
    assert!(old.status.success(), "{}", text(&old));

    // This binary's xtask sources are A's; B's gateway-native (linked into
    // xtask) differs, so in B it says it would rebuild itself. The test
    // stops that there (the rebuild is a full xtask build in an empty
    // target folder) and checks the gateways B measures.
    let b_env = [("WGB_XTASK_REBUILT", "1")];

    // `run` builds what native_local needs (unpinned, so not in turn with
    // the benches); `bench cold` then measures it, pinned.
    assert_eq!(served_hello(&a, &target, &[]), "hello");
    let (run_a, _) = {
        let _turn = one_bench_at_a_time();
        bench_cold(&a, &target, &[])
    };
    check_run(&run_a, &a);

    let log_b = {
        let out = xtask_in(&b, &target, &["doctor"])
            .envs(b_env)
            .output()
            .unwrap();
        text(&out)
    };
    assert!(
        log_b.contains("xtask was rebuilt in") && log_b.contains("still differs"),
        "B did not notice that this xtask is A's:\n{log_b}"
    );
    assert_eq!(served_hello(&b, &target, &b_env), "hello from b");
    let (run_b, log_b) = {
        let _turn = one_bench_at_a_time();
        bench_cold(&b, &target, &b_env)
    };
    check_run(&run_b, &b);
    assert!(
        !log_b.contains("cleaning gateway-native"),
        "B's bench rebuilt what B's run had just built:\n{log_b}"
    );

    // Back in A, then B: each time cargo would call the other's outputs
    // fresh; each is cleaned and rebuilt from the clone's own sources.
    assert_eq!(served_hello(&a, &target, &[]), "hello");
    assert_eq!(served_hello(&b, &target, &b_env), "hello from b");

    // Without building, each clone refuses what the other built last.
    let out = xtask_in(
        &a,
        &target,
        &[
            "run",
            "native_local",
            "--no-build",
            "--listen",
            "127.0.0.1:0",
        ],
    )
    .output()
    .unwrap();
    assert!(!out.status.success());
    assert!(
        text(&out).contains("are not this checkout's"),
        "{}",
        text(&out)
    );
    eprintln!("a: run --no-build after b's build:\n{}", text(&out).trim());

    let _ = std::fs::remove_dir_all(&base);
}

/// `GET /` of `xtask run native_local` started by `cmd`.
fn hello_of(cmd: Command) -> String {
    let (mut child, addr, _) = run_listening(cmd, "native_local");
    let reply = probe::get(addr, "/", Duration::from_secs(5)).unwrap();
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    exit_within(
        &mut child,
        Duration::from_secs(20),
        "xtask run ignored SIGTERM",
    );
    assert_eq!(reply.status, 200);
    reply.body_text()
}

/// This tree's `run native_local` as the tests start it: from the copy
/// `cargo xtask test` staged (`WGB_BIN_DIR`), without building.
fn served_here() -> String {
    let mut cmd = Command::new(crate::support::xtask_exe());
    cmd.args([
        "run",
        "native_local",
        "--no-build",
        "--listen",
        "127.0.0.1:0",
        "--upstream",
        "127.0.0.1:0",
    ]);
    hello_of(cmd)
}

/// Another tree building into the target folder these tests run from (a
/// second runner on the host, a developer's clone) while they run: that
/// tree's build replaces the target folder's binaries and build record, and
/// serves its own body; this tree's tests run the copy `cargo xtask test`
/// staged, so they keep serving this tree's body, during and after.
#[test]
fn another_tree_building_into_this_target_folder_during_the_tests_changes_nothing_here() {
    assert!(
        std::env::var_os("WGB_BIN_DIR").is_some(),
        "run under `cargo xtask test`, which stages this tree's build (WGB_BIN_DIR)"
    );
    let target = xtask::paths::target_dir();
    let base = temp!("other-tree");
    let b = base.join("b");
    clone_into(&b);
    let workloads = b.join("gateway-native/src/handlers.rs");
    let source = std::fs::read_to_string(&workloads).unwrap();
    std::fs::write(
        &workloads,
        source.replacen(r#"b"hello")"#, r#"b"hello from b")"#, 1),
    )
    .unwrap();
    assert_eq!(served_here(), "hello");
    // B builds what native_local needs into the shared folder and serves it.
    let builder = {
        let (b, target) = (b.clone(), target.clone());
        std::thread::spawn(move || served_hello(&b, &target, &[("WGB_XTASK_REBUILT", "1")]))
    };
    let mut during = 0;
    while !builder.is_finished() {
        assert_eq!(served_here(), "hello", "while the other tree builds");
        during += 1;
    }
    assert_eq!(builder.join().unwrap(), "hello from b");
    assert!(during > 0, "the other tree's build ended before any check");
    assert_eq!(served_here(), "hello", "after the other tree built");
    eprintln!("this tree served its own body {during} times while the other built");
    let _ = std::fs::remove_dir_all(&base);
}
