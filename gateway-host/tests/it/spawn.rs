//! The process-per-request machinery with `/bin/sh` standing in for the
//! runtime (no runtime needs to be installed): results, exit statuses,
//! deadlines, caps, and that every child is reaped.

use std::ffi::OsString;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use gateway_host::child::{self, Bounds, RunError};
use gateway_host::spawn::UNGUARDED_EMPTY;
use gateway_host::{exit_guard, CliRuntime, Limits, SpawnTransform};
use gateway_native::{Transform, TransformError};

const TIMEOUT: Duration = Duration::from_millis(300);

fn limits() -> Limits {
    Limits {
        timeout: TIMEOUT,
        ..Limits::default()
    }
}

/// A "runtime" that is `sh -c SCRIPT`.
fn sh(script: &str) -> SpawnTransform {
    let args = ["-c", script, "stand-in"].map(OsString::from).to_vec();
    SpawnTransform::with_command(CliRuntime::Wasmtime, "/bin/sh", args, limits())
}

const ECHO: &str = "printf wasm:; exec cat";

/// Whether `pid` is gone or a zombie (not running).
fn not_running(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        // The state follows the parenthesised command name.
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z')),
    }
}

fn pids_in(stderr: &[u8]) -> Vec<u32> {
    String::from_utf8_lossy(stderr)
        .split_whitespace()
        .map(|p| p.parse().expect("pid"))
        .collect()
}

#[test]
fn echoes_through_the_child() {
    let mut t = sh(ECHO);
    assert_eq!(t.name(), "wasmtime");
    assert_eq!(t.apply(b"hello").unwrap(), b"wasm:hello");
    assert_eq!(t.apply(b"").unwrap(), b"wasm:");
}

#[test]
fn large_bodies_do_not_deadlock() {
    // Far more than a pipe buffer (64 KiB) both ways at once.
    let mut t = sh(ECHO);
    let body: Vec<u8> = (0..600_000u32).map(|i| (i % 253) as u8).collect();
    let out = t.apply(&body).unwrap();
    assert_eq!(&out[..5], b"wasm:");
    assert!(out[5..] == body[..], "body corrupted");
}

#[test]
fn a_child_that_ignores_stdin_still_answers() {
    let mut t = sh("printf done");
    assert_eq!(t.apply(&vec![b'x'; 1 << 20]).unwrap(), b"done");
}

#[test]
fn the_template_reaches_the_process() {
    // `/bin/echo` as `wasmedge`: it prints the arguments wasmedge would get,
    // the memory cap's flags and then the module's path.
    let dir = crate::support::paths::TempDir::new("template");
    let module = dir.path().join("module.wasm");
    let mut t = SpawnTransform::new(CliRuntime::Wasmedge, "/bin/echo", &module, limits());
    assert_eq!(t.name(), "wasmedge");
    let mut want =
        gateway_host::spawn::memory_cap_args(CliRuntime::Wasmedge, limits().max_memory_bytes);
    want.push(module.clone().into());
    assert_eq!(t.args(), want);
    let out = t.apply(b"").unwrap();
    let pages = limits().max_memory_bytes / (64 << 10);
    let line = format!("--memory-page-limit {pages} {}\n", module.display());
    assert_eq!(String::from_utf8_lossy(&out), line);
}

#[test]
fn non_zero_exit_is_exit() {
    let mut t = sh("cat >/dev/null; echo oops >&2; exit 7");
    assert_eq!(t.apply(b"x"), Err(TransformError::Exit(7)));
    assert_eq!(sh(ECHO).apply(b"ok").unwrap(), b"wasm:ok");
}

#[test]
fn death_by_signal_is_a_trap() {
    let mut t = sh("kill -SEGV $$");
    match t.apply(b"x") {
        Err(TransformError::Trap(msg)) => assert!(msg.contains("signal 11"), "{msg}"),
        other => panic!("expected a trap, got {other:?}"),
    }
}

/// Set in the child [`exiting`] starts: the status [`exit_helper`] exits with.
const EXIT_STATUS_ENV: &str = "GATEWAY_IT_EXIT_STATUS";

/// Does nothing in a normal run. In the stand-in runtime [`exiting`] starts
/// (this test binary again), calls exit(3) with `$GATEWAY_IT_EXIT_STATUS`
/// after a thread has come and gone, as WasmEdge ends on `proc_exit`.
#[test]
fn exit_helper() {
    let Ok(status) = std::env::var(EXIT_STATUS_ENV) else {
        return;
    };
    std::thread::spawn(|| ()).join().unwrap();
    std::process::exit(status.parse().expect("a status"));
}

/// A "runtime" that writes nothing and exits with `status`, whole: this
/// binary's [`exit_helper`], its stdout and stderr sent to /dev/null.
fn exiting(status: i32) -> SpawnTransform {
    // This process's image, even if a concurrent build has replaced the file
    // at its path since it started (as `current_exe()` would then name).
    let exe = format!("/proc/{}/exe", std::process::id());
    let script = format!(
        "{EXIT_STATUS_ENV}={status} exec \"$0\" --exact spawn::exit_helper \
         --test-threads=1 >/dev/null 2>&1"
    );
    let args = vec!["-c".into(), script.into(), exe.into()];
    SpawnTransform::with_command(CliRuntime::Wasmedge, "/bin/sh", args, limits())
}

#[test]
fn an_exit_status_the_os_would_truncate_is_refused() {
    // exit(256) would arrive as 0 with no output: the 200 the guard prevents.
    let guarded = match exit_guard::available() {
        Ok(()) => true,
        Err(why) => {
            eprintln!("spawn: {why}; checking the fallback's refusal");
            false
        }
    };
    let want = if guarded {
        exit_guard::KILLED
    } else {
        UNGUARDED_EMPTY
    };
    for status in [256, 512, -1] {
        let mut t = exiting(status);
        assert_eq!(t.exit_guarded(), guarded);
        let got = t.apply(b"x");
        assert_eq!(
            got,
            Err(TransformError::Trap(want.into())),
            "exit({status})"
        );
    }
    // Whole statuses pass as they are, and so does a clean exit with output.
    assert_eq!(exiting(3).apply(b"x"), Err(TransformError::Exit(3)));
    assert_eq!(exiting(255).apply(b"x"), Err(TransformError::Exit(255)));
    assert_eq!(sh(ECHO).apply(b"ok").unwrap(), b"wasm:ok");
}

#[test]
fn without_the_exit_guard_an_empty_clean_exit_is_refused() {
    // The fallback where seccomp is unavailable: exit(256) arrives as 0.
    let mut t = exiting(256).without_exit_guard();
    assert_eq!(
        t.apply(b"x"),
        Err(TransformError::Trap(UNGUARDED_EMPTY.into()))
    );
    assert_eq!(
        exiting(0).without_exit_guard().apply(b"x"),
        Err(TransformError::Trap(UNGUARDED_EMPTY.into()))
    );
    // Output, or a non-zero status, is judged as before.
    let mut echo = sh(ECHO).without_exit_guard();
    assert_eq!(echo.apply(b"ok").unwrap(), b"wasm:ok");
    assert_eq!(
        exiting(3).without_exit_guard().apply(b"x"),
        Err(TransformError::Exit(3))
    );
}

#[test]
fn a_guarded_clean_exit_with_no_output_is_still_a_200() {
    // With the guard, an empty body is a module's own answer.
    let mut t = exiting(0);
    if t.exit_guarded() {
        assert_eq!(t.apply(b"x"), Ok(Vec::new()));
    }
}

#[test]
fn a_missing_binary_is_a_runtime_error() {
    let module = Path::new("/m.wasm");
    for rt in [CliRuntime::Wasmtime, CliRuntime::Wasmedge] {
        let mut t = SpawnTransform::new(rt, "/nonexistent/bin", module, limits());
        assert_eq!(
            t.apply(b"hello"),
            Err(TransformError::Runtime(rt.not_found_message()))
        );
    }
    let mut t = SpawnTransform::new(CliRuntime::Wasmtime, "no-such-wasmtime", module, limits());
    assert_eq!(
        t.apply(b"hello"),
        Err(TransformError::Runtime(
            "wasmtime not found: set WASMTIME=/path or put it on PATH".into()
        ))
    );
}

#[test]
fn a_hung_child_times_out() {
    let mut t = sh("exec sleep 1000");
    let start = Instant::now();
    assert_eq!(
        t.apply(b"x"),
        Err(TransformError::Timeout { after_ms: 300 })
    );
    let took = start.elapsed();
    assert!(took >= TIMEOUT && took < Duration::from_secs(5), "{took:?}");
    assert_eq!(sh(ECHO).apply(b"ok").unwrap(), b"wasm:ok");
}

#[test]
fn a_child_that_closes_its_pipes_and_lingers_times_out() {
    // EOF on both pipes is not the end: the exit (pidfd) is awaited too.
    let mut t = sh("exec >&- 2>&-; sleep 1000");
    let start = Instant::now();
    assert_eq!(
        t.apply(b"x"),
        Err(TransformError::Timeout { after_ms: 300 })
    );
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[test]
fn flooding_stdout_is_stopped_at_the_cap() {
    let mut t = sh("exec yes");
    let start = Instant::now();
    match t.apply(b"x") {
        Err(TransformError::Trap(msg)) => assert!(msg.contains("1048576 bytes"), "{msg}"),
        other => panic!("expected the output cap, got {other:?}"),
    }
    assert!(start.elapsed() < TIMEOUT, "{:?}", start.elapsed());
}

fn bounds() -> Bounds {
    Bounds {
        timeout: TIMEOUT,
        max_stdout: 1 << 20,
        stderr_tail: 4096,
        max_address_space: None,
    }
}

#[test]
fn a_killed_child_and_its_children_are_reaped() {
    // The shell forks a sleeper, reports both pids, and waits forever.
    let mut cmd = Command::new("/bin/sh");
    cmd.args(["-c", "sleep 1000 & echo $$ $! >&2; wait"]);
    let err = child::run(&mut cmd, b"", bounds()).unwrap_err();
    let RunError::TimedOut { stderr_tail } = err else {
        panic!("expected a timeout, got {err:?}");
    };
    let pids = pids_in(&stderr_tail);
    assert_eq!(pids.len(), 2, "{pids:?}");
    // Our child was reaped by us: no /proc entry, not even a zombie.
    assert!(
        !Path::new(&format!("/proc/{}", pids[0])).exists(),
        "child {} was not reaped",
        pids[0]
    );
    // The grandchild belongs to init now; it must at least be dead.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !not_running(pids[1]) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(not_running(pids[1]), "grandchild {} still runs", pids[1]);
}

#[test]
fn a_child_that_exits_is_reaped() {
    let mut cmd = Command::new("/bin/sh");
    cmd.args(["-c", "echo $$ >&2; exit 7"]);
    let out = child::run(&mut cmd, b"", bounds()).unwrap();
    assert_eq!(out.status.code(), Some(7));
    let pid = pids_in(&out.stderr_tail)[0];
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "{pid} not reaped"
    );
}

#[test]
fn spawn_errors_are_reported_as_such() {
    let mut cmd = Command::new("/nonexistent/runtime");
    match child::run(&mut cmd, b"", bounds()) {
        Err(RunError::Spawn(e)) => assert_eq!(e.kind(), std::io::ErrorKind::NotFound),
        other => panic!("expected a spawn error, got {other:?}"),
    }
}

#[test]
fn the_address_space_limit_is_set_in_the_child() {
    let mut cmd = Command::new("/bin/sh");
    // `ulimit -v` prints RLIMIT_AS in KiB.
    cmd.args(["-c", "ulimit -v"]);
    let bounds = Bounds {
        max_address_space: Some(512 << 20),
        ..bounds()
    };
    let out = child::run(&mut cmd, b"", bounds).unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "524288");
}

#[test]
fn the_memory_cap_is_passed_to_each_runtime_before_the_module() {
    let limits = Limits::from_flags(1000, 64);
    let module = Path::new("/m/gateway-wasm.wasm");
    let wasmtime = SpawnTransform::new(CliRuntime::Wasmtime, "wasmtime", module, limits);
    assert_eq!(
        wasmtime.args(),
        [
            "run",
            "-W",
            "max-memory-size=67108864",
            "/m/gateway-wasm.wasm"
        ]
    );
    let wasmedge = SpawnTransform::new(CliRuntime::Wasmedge, "wasmedge", module, limits);
    assert_eq!(
        wasmedge.args(),
        ["--memory-page-limit", "1024", "/m/gateway-wasm.wasm"]
    );
}
