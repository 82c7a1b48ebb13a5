//! `cargo xtask export`: the checked-in run (`tests/fixtures/run_mixed`) as
//! Bencher Metric Format and as github-action-benchmark's custom JSON; every
//! exported number is the report's own.

use crate::support::{fixture, xtask_ok};

use std::path::Path;

use serde_json::Value;
use xtask::export::metrics::{self, Kind};
use xtask::report::{figures, instructions::InstructionsRow, summary};
use xtask::rundata::Client;

fn read(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn bmf_holds_the_reports_figures_in_bencher_units() {
    let out = temp!("bmf");
    let run = fixture();
    xtask_ok(&[
        "export",
        "--format",
        "bmf",
        run.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    let bmf = read(&out.join("bmf.json"));
    let s = summary::compute(&run).unwrap();

    let (rps, _) = figures::peak(&s, "native_local", "hello").unwrap();
    let tp = &bmf["native_local/hello"]["throughput"];
    assert_eq!(tp["value"].as_f64().unwrap(), rps);
    assert!(tp["lower_value"].as_f64().unwrap() <= rps);
    assert!(tp["upper_value"].as_f64().unwrap() >= rps);

    let warm = figures::warm(&s, "native_local", "hello", Client::Persistent).unwrap();
    assert_eq!(
        bmf["native_local/hello"]["latency"]["value"].as_f64(),
        Some(warm.p50_us as f64 * 1e3),
        "latency in nanoseconds"
    );
    let cold = figures::cold(&s, "wasm_host_wasmtime_embedded").unwrap();
    assert_eq!(
        bmf["wasm_host_wasmtime_embedded/cold_start"]["latency"]["value"].as_f64(),
        Some(cold.p50_ms * 1e6)
    );
    let cpu = figures::usage(&s.throughput, "native_local", "hello").unwrap();
    assert_eq!(
        bmf["native_local/hello"]["cpu-ms-per-1k-requests"]["value"].as_f64(),
        Some(cpu.cpu_ms_per_1k)
    );
    // The skipped variant has nothing; every value is a finite number.
    assert!(bmf.get("wasm_host_cli/cold_start").is_none());
    for (bench, measures) in bmf.as_object().unwrap() {
        for (measure, v) in measures.as_object().unwrap() {
            let value = v["value"].as_f64().unwrap();
            assert!(value.is_finite(), "{bench} {measure}");
        }
    }
    std::fs::remove_dir_all(&out).unwrap();
}

#[test]
fn gab_splits_bigger_and_smaller_is_better() {
    let out = temp!("gab");
    let run = fixture();
    xtask_ok(&[
        "export",
        "--format",
        "gab",
        run.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    let bigger = read(&out.join("gab_bigger_is_better.json"));
    let smaller = read(&out.join("gab_smaller_is_better.json"));
    let names = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|e| {
                assert!(e["value"].as_f64().unwrap().is_finite());
                assert!(e["unit"].is_string());
                e["name"].as_str().unwrap().to_owned()
            })
            .collect()
    };
    let (b, s) = (names(&bigger), names(&smaller));
    assert!(b.iter().all(|n| n.ends_with(": peak rps")), "{b:?}");
    assert!(b.contains(&"native_local hello: peak rps".to_owned()));
    assert!(
        s.contains(&"native_local hello: warm p50".to_owned()),
        "{s:?}"
    );
    assert!(
        s.contains(&"native_local: cold start p50".to_owned()),
        "{s:?}"
    );
    assert!(s.iter().all(|n| !n.ends_with("peak rps")));
    let mut all = [b, s].concat();
    let n = all.len();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), n, "names are unique");
    let first = &bigger[0];
    assert!(first["extra"]
        .as_str()
        .unwrap()
        .contains("revision 0123456789abcdef"));
    std::fs::remove_dir_all(&out).unwrap();
}

#[test]
fn instructions_per_request_are_exported_where_measured() {
    let s = summary::compute(&fixture()).unwrap();
    let row = InstructionsRow {
        variant: "native_local".into(),
        workload: "hello".into(),
        requests: 100,
        instructions_per_request: 12345.5,
    };
    let all = metrics::collect(&s, &[row]);
    let found: Vec<_> = all
        .iter()
        .filter(|m| m.kind == Kind::InstructionsPerRequest)
        .collect();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].value, 12345.5);
    let bmf = xtask::export::bmf(&all);
    assert_eq!(
        bmf["native_local/hello"]["instructions-per-request"].value,
        12345.5
    );
}
