//! `cargo xtask history`: three copies of the checked-in run
//! (`tests/fixtures/run_mixed`) as three commits of main, one without a
//! recorded commit date. The page orders them by commit date, links every
//! commit, draws a chart per workload and one for cold start, and is the
//! same whatever the order of the inputs.

use crate::support::{copy_tree, fixture};

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// A copy of the fixture run as commit `revision` (dated `date`, or not
/// dated), started at `started`.
fn run(dir: &Path, revision: &str, date: Option<&str>, started: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    copy_tree(&fixture(), dir);
    let path = dir.join("manifest.json");
    let mut m: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    m["git"]["revision"] = Value::String(revision.to_owned());
    m["started"] = Value::String(started.to_owned());
    if let Some(date) = date {
        m["commit_date"] = Value::String(date.to_owned());
    }
    std::fs::write(&path, serde_json::to_string_pretty(&m).unwrap()).unwrap();
    dir.to_path_buf()
}

const REV: [&str; 3] = [
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
    "cccccccccccccccccccccccccccccccccccccccc",
];

fn history(runs: &[&PathBuf], out: &Path) {
    let mut cmd = Command::new(crate::support::xtask_exe());
    cmd.arg("history");
    for r in runs {
        cmd.arg(r);
    }
    cmd.args(["--repo-url", "https://github.com/owner/repo/", "--out"])
        .arg(out);
    let done = cmd.output().unwrap();
    assert!(
        done.status.success(),
        "{}{}",
        String::from_utf8_lossy(&done.stdout),
        String::from_utf8_lossy(&done.stderr)
    );
}

#[test]
fn history_orders_by_commit_date_links_commits_and_draws_a_chart_per_workload() {
    let base = temp!("page");
    // The oldest commit is given last; the undated one sits at its start.
    let newest = run(
        &base.join("r-new"),
        REV[2],
        Some("2026-03-01T10:00:00+00:00"),
        "2026-03-02T00:00:00Z",
    );
    let undated = run(&base.join("r-mid"), REV[1], None, "2026-02-01T00:00:00Z");
    let oldest = run(
        &base.join("r-old"),
        REV[0],
        Some("2026-01-01T10:00:00+00:00"),
        "2026-01-05T00:00:00Z",
    );
    let one = base.join("one");
    let two = base.join("two");
    // A folder that is not a run is left out, not fatal.
    let broken = base.join("broken");
    std::fs::create_dir_all(&broken).unwrap();
    history(&[&newest, &undated, &broken, &oldest], &one);
    history(&[&oldest, &newest, &undated], &two);

    let md = std::fs::read_to_string(one.join("history.md")).unwrap();
    for name in ["index.html", "history.md"] {
        assert!(
            std::fs::read(one.join(name)).unwrap() == std::fs::read(two.join(name)).unwrap(),
            "{name} depends on the input order"
        );
    }
    for chart in ["history_hello", "history_compute", "history_cold_start"] {
        for ext in ["svg", "png"] {
            let path = one.join(format!("plots/{chart}.{ext}"));
            assert!(path.is_file(), "{} missing", path.display());
        }
        assert!(md.contains(&format!("](plots/{chart}.svg)")), "{md}");
    }

    // Every commit is linked, in date order; the undated one is marked.
    let link = |rev: &str| {
        format!(
            "[{}](https://github.com/owner/repo/commit/{rev})",
            &rev[..10]
        )
    };
    let at = |rev: &str| md.find(&link(rev)).unwrap_or_else(|| panic!("{md}"));
    assert!(at(REV[0]) < at(REV[1]) && at(REV[1]) < at(REV[2]));
    assert!(md.contains("| 2026-02-01 \\* |"), "{md}");
    assert!(md.contains("| 2026-01-01 |"), "{md}");

    // The hello table has the headline figures of each run and variant.
    let hello = &md[md.find("## Workload hello").unwrap()..md.find("## Workload compute").unwrap()];
    for col in [
        "peak rps (requests/s)",
        "warm p50 (µs)",
        "CPU ms per 1000 requests (ms)",
    ] {
        assert!(hello.contains(col), "{hello}");
    }
    assert!(
        !hello.contains("instructions per request"),
        "no run counted instructions"
    );
    assert_eq!(
        hello
            .lines()
            .filter(|l| l.contains("| native_local |"))
            .count(),
        3
    );

    let html = std::fs::read_to_string(one.join("index.html")).unwrap();
    assert!(html.contains(&format!(
        "<a href=\"https://github.com/owner/repo/commit/{}\">",
        REV[2]
    )));
    assert!(html.contains("<svg role=\"img\""));
    std::fs::remove_dir_all(&base).unwrap();
}
