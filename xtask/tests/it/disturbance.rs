//! Disturbing a run for real: a CPU hog pinned to the gateway's core (CPU 0)
//! while `bench throughput` measures `native_local`. The cells it overlaps
//! are caught (foreign load on the gateway's core), measured again, and left
//! out of the summary when every attempt was disturbed; once the hog is
//! gone, the cell's figure matches an undisturbed run's.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use xtask::rundata::manifest::Manifest;
use xtask::rundata::raw::ThroughputRaw;
use xtask::rundata::{CellStatus, Suite};

use crate::support::{one_bench_at_a_time, text, xtask_exe};

/// A busy loop pinned to CPU 0, killed on drop.
struct Hog(Child);

impl Hog {
    fn start() -> Hog {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "while :; do :; done"]);
        // SAFETY: only sched_setaffinity between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                let mut set: libc::cpu_set_t = std::mem::zeroed();
                libc::CPU_SET(0, &mut set);
                if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        Hog(cmd.spawn().unwrap())
    }
}

impl Drop for Hog {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn bench(out: &Path) -> Command {
    let mut cmd = Command::new(xtask_exe());
    cmd.args([
        "bench",
        "throughput",
        "--variants",
        "native_local",
        "--workloads",
        "hello",
        "--connections",
        "10",
        "--keepalive-connections",
        "--repeats",
        "3",
        "--duration",
        "1",
        "--no-report",
        "--on-disturbance",
        "rerun",
        "--out",
    ])
    .arg(out);
    cmd
}

fn cells(out: &Path) -> Vec<xtask::rundata::manifest::Cell> {
    Manifest::read(out)
        .unwrap()
        .cells
        .into_iter()
        .filter(|c| c.suite == Suite::Throughput)
        .collect()
}

fn raw(out: &Path, cell: &xtask::rundata::manifest::Cell) -> ThroughputRaw {
    let path = out.join(cell.raw.as_deref().expect("a measured cell has a raw file"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// CPU ms per request of each ok cell.
fn cpu_per_request(out: &Path) -> Vec<f64> {
    cells(out)
        .iter()
        .filter(|c| c.status == CellStatus::Ok)
        .map(|c| {
            let r = raw(out, c);
            let [start, end] = r.window.as_slice() else {
                panic!("no window readings in {:?}", c.raw)
            };
            (end.cpu_ms - start.cpu_ms) / r.load.ok as f64
        })
        .collect()
}

fn scratch(name: &str) -> PathBuf {
    let dir = crate::support::temp_in("disturbance", name);
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn a_hog_on_the_gateways_core_is_caught_re_run_and_left_out() {
    let _turn = one_bench_at_a_time();
    // SAFETY: sysconf has no preconditions.
    if unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) } < 2 {
        // Unpinned, nothing is judged: the raw files then carry no readings.
        eprintln!("one CPU: the gateway cannot have a core of its own; not judged");
        return;
    }

    // 1. The hog through the whole run: every attempt is disturbed, so each
    // cell is recorded as such after its retries, and summarized nowhere.
    let all = scratch("hog-throughout");
    let hog = Hog::start();
    let out = bench(&all).output().unwrap();
    drop(hog);
    assert!(out.status.success(), "{}", text(&out));
    let got = cells(&all);
    assert_eq!(got.len(), 3, "{got:?}");
    for c in &got {
        assert_eq!(c.status, CellStatus::Disturbed, "{c:?}");
        assert_eq!(c.reruns, 2, "{c:?}");
        let why = c.error.as_deref().unwrap();
        assert!(
            why.contains("foreign load") && why.contains("CPU 0"),
            "{why}"
        );
        let r = raw(&all, c);
        assert_eq!(r.disturbed_attempts.len(), 2);
        assert!(r.disturbance.unwrap().foreign_pct > xtask::disturbance::FOREIGN_PCT);
    }
    xtask_report(&all);
    let summary = std::fs::read_to_string(all.join("aggregated/throughput.csv")).unwrap();
    assert_eq!(summary.lines().count(), 1, "only the header: {summary}");

    // 2. The hog until the first attempt is caught: that cell is measured
    // again, undisturbed, and kept; it records the disturbed attempt.
    let once = scratch("hog-once");
    let hog = Hog::start();
    let mut child = bench(&once).stderr(Stdio::piped()).spawn().unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let mut hog = Some(hog);
    let mut log = String::new();
    for line in stderr.lines().map_while(Result::ok) {
        if line.contains("measuring it again") {
            hog.take(); // the machine is quiet again
        }
        log.push_str(&line);
        log.push('\n');
    }
    drop(hog);
    assert!(child.wait().unwrap().success(), "{log}");
    let got = cells(&once);
    let first = got.iter().find(|c| c.repeat == Some(0)).unwrap();
    assert!(first.reruns >= 1, "{first:?}\n{log}");
    assert_eq!(first.status, CellStatus::Ok, "{first:?}\n{log}");
    let why = raw(&once, first).disturbed_attempts[0].why.clone().unwrap();
    assert!(why.contains("foreign load"), "{why}");

    // 3. Undisturbed: the run that recovered matches it within the interval.
    let quiet = scratch("quiet");
    let out = bench(&quiet).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let (a, b) = (cpu_per_request(&once), cpu_per_request(&quiet));
    assert!(a.len() >= 2 && b.len() >= 2, "{a:?} {b:?}");
    let i = xtask::stats::interval::welch_log_ratio(&b, &a, 0.95).unwrap();
    eprintln!(
        "CPU per request after a re-run against a quiet run: {:.3}x [{:.3}, {:.3}] ({a:?} vs {b:?})",
        i.ratio, i.lo, i.hi
    );
    assert!(i.lo <= 1.0 && 1.0 <= i.hi, "{i:?}: {a:?} vs {b:?}");
    for dir in [all, once, quiet] {
        let _ = std::fs::remove_dir_all(dir);
    }
}

fn xtask_report(run: &Path) {
    let out = Command::new(xtask_exe())
        .arg("report")
        .arg(run)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
}
