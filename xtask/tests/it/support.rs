//! Helpers shared by the test modules.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output};
use std::time::{Duration, Instant};

/// A fresh, empty scratch folder, named after the calling module so that
/// modules sharing this binary (and its process id) never collide.
macro_rules! temp {
    ($name:expr) => {
        $crate::support::temp_in(module_path!(), $name)
    };
}

pub fn temp_in(module: &str, name: &str) -> PathBuf {
    let module = module.rsplit("::").next().unwrap_or(module);
    let dir = std::env::temp_dir().join(format!("wgb-{module}-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The committed run folder most report, export, merge and history tests
/// start from.
pub fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/run_mixed")
}

/// Copy a folder tree.
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

/// Whether a process exists and is not a zombie.
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|s| !s[s.rfind(')').unwrap() + 2..].starts_with('Z'))
}

/// The Docker label the harness puts on every container it starts.
pub fn owner_label(pid: u32) -> String {
    format!("label=wasm-gateway-bench.owner={pid}")
}

/// The xtask binary under test: the copy `cargo xtask test` staged beside
/// the gateways (`WGB_BIN_DIR`), which another tree's build into the shared
/// target folder cannot replace mid-run; else the one cargo built.
pub fn xtask_exe() -> PathBuf {
    std::env::var_os("WGB_BIN_DIR")
        .map(|dir| PathBuf::from(dir).join("xtask"))
        .filter(|exe| exe.is_file())
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_xtask")))
}

/// Run `cargo xtask ARGS` to success; its stdout.
pub fn xtask_ok(args: &[&str]) -> String {
    let out = Command::new(xtask_exe()).args(args).output().unwrap();
    assert!(out.status.success(), "xtask {args:?}: {}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Wait for a child that was told to stop; a test failure if it takes
/// longer than `within`.
pub fn exit_within(child: &mut Child, within: Duration, what: &str) -> ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// No container labelled as started by harness `pid` is left.
pub fn assert_no_containers(pid: u32) {
    let containers = Command::new("docker")
        .args(["ps", "-aq", "--filter"])
        .arg(owner_label(pid))
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    assert_eq!(containers, "", "containers left behind");
}

/// How many cells a run's manifest lists so far (0 before it is written):
/// tests that interrupt a bench mid-run wait on it.
pub fn cells_done(run: &Path) -> usize {
    std::fs::read_to_string(run.join("manifest.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|m| m["cells"].as_array().map(Vec::len))
        .unwrap_or(0)
}

/// A finished command's stdout then stderr, for assertion messages.
pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Tests that run a bench or start pinned gateways take turns. They pin
/// CPUs 0 and 1, publish ports found free a moment before, and count
/// instructions; in one test binary they would otherwise run at once and
/// disturb each other (before, each file was its own binary, run one after
/// another).
pub fn one_bench_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());
    TURN.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Starts `cmd` (an `xtask run VARIANT ...`) and returns it with the address
/// it says the variant listens on and what it printed until then.
pub fn run_listening(mut cmd: Command, variant: &str) -> (Child, std::net::SocketAddr, String) {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let mut xtask = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(xtask.stderr.take().unwrap()).lines();
    let prefix = format!("{variant} listening on http://");
    let mut seen = String::new();
    let addr = loop {
        let line = lines
            .next()
            .unwrap_or_else(|| panic!("xtask run ended before listening:\n{seen}"))
            .unwrap();
        seen.push_str(&line);
        seen.push('\n');
        if let Some(rest) = line.strip_prefix(&prefix) {
            break rest.split_whitespace().next().unwrap().parse().unwrap();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    (xtask, addr, seen)
}
