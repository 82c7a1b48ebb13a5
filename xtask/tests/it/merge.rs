//! `cargo xtask merge`: the checked-in run (`tests/fixtures/run_mixed`) split
//! in two by variant, as two matrix jobs would have measured it, and merged
//! back. The merged folder is the same whatever the input order, its
//! summaries are the unsplit run's, and mixed machines are refused unless
//! allowed, and then the report says so at the top.

use crate::support::{copy_tree, fixture};

use std::path::{Path, PathBuf};

use serde_json::Value;
use xtask::merge;
use xtask::rundata::merged::MergeInfo;

/// Files under `dir`, relative, sorted.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        for e in std::fs::read_dir(dir.join(&rel)).unwrap().flatten() {
            let p = rel.join(e.file_name());
            if e.file_type().unwrap().is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The variant a raw file belongs to: `cold/<v>.csv`, `*/<v>__...`.
fn variant_of(rel: &Path) -> String {
    let name = rel.file_name().unwrap().to_string_lossy().into_owned();
    let stem = name.split("__").next().unwrap();
    stem.trim_end_matches(".csv").to_owned()
}

/// A copy of the fixture with only `variants` measured (raw files, cells,
/// variant list), started at `started`, as `bench all --variants` on one
/// matrix job would leave it.
fn part(dir: &Path, variants: &[&str], started: &str, edit: impl Fn(&mut Value)) -> PathBuf {
    let src = fixture();
    for rel in files(&src.join("raw")) {
        if variants.contains(&variant_of(&rel).as_str()) {
            let to = dir.join("raw").join(&rel);
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(src.join("raw").join(&rel), to).unwrap();
        }
    }
    let mut m: Value =
        serde_json::from_str(&std::fs::read_to_string(src.join("manifest.json")).unwrap()).unwrap();
    let keep = |v: &Value, key: &str| variants.contains(&v[key].as_str().unwrap());
    let vs: Vec<Value> = m["variants"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| keep(v, "name"))
        .cloned()
        .collect();
    let cells: Vec<Value> = m["cells"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| keep(c, "variant"))
        .cloned()
        .collect();
    m["variants"] = Value::Array(vs);
    m["cells"] = Value::Array(cells);
    m["started"] = Value::String(started.to_owned());
    edit(&mut m);
    std::fs::create_dir_all(dir.join("meta")).unwrap();
    std::fs::write(
        dir.join("manifest.json"),
        serde_json::to_string_pretty(&m).unwrap(),
    )
    .unwrap();
    std::fs::write(dir.join("meta/env_snapshot.txt"), format!("{started}\n")).unwrap();
    dir.to_path_buf()
}

const NATIVE: &[&str] = &["native_local", "native_docker"];
const WASM: &[&str] = &[
    "wasm_host_wasmtime_embedded",
    "wasm_host_wasmtime",
    "wasm_host_cli",
];

fn two_parts(base: &Path, edit_b: impl Fn(&mut Value)) -> (PathBuf, PathBuf) {
    let a = part(
        &base.join("native"),
        NATIVE,
        "2026-01-02T03:04:05.678Z",
        |_| {},
    );
    let b = part(&base.join("wasm"), WASM, "2026-01-02T03:05:00.000Z", edit_b);
    (a, b)
}

fn assert_same_tree(x: &Path, y: &Path) {
    let (fx, fy) = (files(x), files(y));
    assert_eq!(fx, fy, "the merged folders hold different files");
    for rel in fx {
        assert!(
            std::fs::read(x.join(&rel)).unwrap() == std::fs::read(y.join(&rel)).unwrap(),
            "{} differs with the input order",
            rel.display()
        );
    }
}

#[test]
fn merged_run_is_the_same_whatever_the_order_and_summarizes_as_the_whole() {
    let base = temp!("order");
    let (a, b) = two_parts(&base, |_| {});
    let ab = merge::merge(&[a.clone(), b.clone()], &base.join("ab"), false).unwrap();
    let ba = merge::merge(&[b.clone(), a.clone()], &base.join("ba"), false).unwrap();
    assert_same_tree(&ab, &ba);

    // The summaries are those of the run the parts were split from.
    let whole = base.join("whole");
    copy_tree(&fixture(), &whole);
    xtask::report::summarize(&whole, false).unwrap();
    for rel in files(&whole.join("summary"))
        .into_iter()
        .map(|r| Path::new("summary").join(r))
        .chain(
            files(&whole.join("aggregated"))
                .into_iter()
                .map(|r| Path::new("aggregated").join(r)),
        )
    {
        assert_eq!(
            std::fs::read_to_string(whole.join(&rel)).unwrap(),
            std::fs::read_to_string(ab.join(&rel)).unwrap(),
            "{}",
            rel.display()
        );
    }

    // The manifest lists the parts with their machines, and every variant.
    let info = MergeInfo::read(&ab).unwrap();
    let names: Vec<&str> = info.parts.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["native", "wasm"]);
    assert_eq!(info.parts[0].machine.cpu_model, "Test CPU @ 2.0GHz");
    assert_eq!(
        info.parts[1].variants,
        ["wasm_host_wasmtime_embedded", "wasm_host_wasmtime"]
    );
    assert!(info.mixed.is_empty());
    let m = xtask::rundata::manifest::Manifest::read(&ab).unwrap();
    let vs: Vec<&str> = m.variants.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(
        vs,
        [
            "native_local",
            "native_docker",
            "wasm_host_wasmtime_embedded",
            "wasm_host_wasmtime",
            "wasm_host_cli"
        ]
    );
    assert_eq!(m.command, "cargo xtask merge native wasm");
    assert_eq!(m.started, "2026-01-02T03:04:05.678Z");
    assert!(ab.join("meta/parts/wasm/manifest.json").is_file());
    assert_eq!(
        std::fs::read_to_string(ab.join("meta/env_snapshot.txt")).unwrap(),
        "2026-01-02T03:04:05.678Z\n"
    );

    let report = std::fs::read_to_string(ab.join("report.md")).unwrap();
    assert!(report.contains("## Parts of this merged run"), "{report}");
    assert!(!report.contains("Mixed machines"));
    assert!(ab.join("index.html").is_file());
    std::fs::remove_dir_all(&base).unwrap();
}

#[test]
fn mixed_machines_are_refused_unless_allowed_and_then_reported_at_the_top() {
    let base = temp!("mixed");
    let (a, b) = two_parts(&base, |m| {
        m["machine"]["cpu_model"] = Value::String("Other CPU @ 3.0GHz".into());
        m["versions"]["kernel"] = Value::String("Linux 6.12.0 x86_64".into());
    });
    let err = merge::merge(&[a.clone(), b.clone()], &base.join("refused"), false)
        .unwrap_err()
        .to_string();
    assert!(err.contains("--allow-mixed"), "{err}");
    assert!(err.contains("CPU model"), "{err}");
    assert!(err.contains("kernel"), "{err}");
    assert!(!base.join("refused/manifest.json").exists());

    let ab = merge::merge(&[a.clone(), b.clone()], &base.join("ab"), true).unwrap();
    let ba = merge::merge(&[b, a], &base.join("ba"), true).unwrap();
    assert_same_tree(&ab, &ba);
    let report = std::fs::read_to_string(ab.join("report.md")).unwrap();
    let first = report.lines().nth(2).unwrap();
    assert!(
        first.starts_with("**Mixed machines or versions"),
        "{report}"
    );
    assert!(
        report.contains("CPU model: \"Test CPU @ 2.0GHz\" (native); \"Other CPU @ 3.0GHz\" (wasm)")
    );
    let info = MergeInfo::read(&ab).unwrap();
    assert_eq!(info.mixed.len(), 2, "{:?}", info.mixed);
    std::fs::remove_dir_all(&base).unwrap();
}

#[test]
fn a_cell_measured_in_two_parts_is_refused() {
    let base = temp!("clash");
    let a = part(
        &base.join("one"),
        NATIVE,
        "2026-01-02T03:04:05.678Z",
        |_| {},
    );
    let b = part(
        &base.join("two"),
        NATIVE,
        "2026-01-02T03:04:06.000Z",
        |_| {},
    );
    let err = merge::merge(&[a, b], &base.join("out"), false)
        .unwrap_err()
        .to_string();
    assert!(err.contains("more than one part"), "{err}");
    assert!(
        err.contains("raw/cold/native_local.csv (one, two)"),
        "{err}"
    );
    assert!(!base.join("out").exists(), "nothing written on a refusal");
    std::fs::remove_dir_all(&base).unwrap();
}
