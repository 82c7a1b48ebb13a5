//! The check that a merge's parts ran on comparable machines (what they say
//! about themselves is run data: `rundata::merged`).

use crate::rundata::manifest::Manifest;

/// Every way the parts' machines, versions, revision or settings differ, as
/// one line each ("CPU model: A (part x), B (part y)"). Host names and
/// memory may differ: runners of one label are alike in what is measured.
pub fn differences(parts: &[(String, Manifest)]) -> Vec<String> {
    let mut out = Vec::new();
    let mut check = |what: &str, value: &dyn Fn(&Manifest) -> String| {
        let mut seen: Vec<(String, Vec<&str>)> = Vec::new();
        for (name, m) in parts {
            let v = value(m);
            match seen.iter_mut().find(|(s, _)| *s == v) {
                Some((_, names)) => names.push(name),
                None => seen.push((v, vec![name])),
            }
        }
        if seen.len() > 1 {
            let list: Vec<String> = seen
                .iter()
                .map(|(v, names)| format!("{v:?} ({})", names.join(", ")))
                .collect();
            out.push(format!("{what}: {}", list.join("; ")));
        }
    };
    check("CPU model", &|m| m.machine.cpu_model.clone());
    check("CPUs", &|m| m.machine.cpus.to_string());
    check("git revision", &|m| m.git.revision.clone());
    check("profile", &|m| {
        serde_json::to_string(&m.profile).unwrap_or_default()
    });
    check("pinning", &|m| m.pinning.enabled.to_string());
    check("server host", &|m| match &m.server {
        None => "the load generator's machine".to_owned(),
        Some(s) => format!(
            "{} ({}, {} CPUs)",
            s.target, s.machine.cpu_model, s.machine.cpus
        ),
    });
    let v = |f: fn(&crate::rundata::manifest::Versions) -> &String| {
        move |m: &Manifest| f(&m.versions).clone()
    };
    check("kernel", &v(|v| &v.kernel));
    check("rustc", &v(|v| &v.rustc));
    check("wasmtime crate", &v(|v| &v.wasmtime_crate));
    check("wasmtime CLI", &v(|v| &v.wasmtime_cli));
    check("wasmtime CLI cache", &v(|v| &v.wasmtime_cli_cache));
    check("wasmedge", &v(|v| &v.wasmedge));
    check("docker", &v(|v| &v.docker));
    out
}
