//! Stamps the xtask binary with the hash of the sources it is compiled from
//! (`WGB_XTASK_SOURCE_HASH`), so at start-up it can tell that cargo reused a
//! binary built from another clone sharing the target folder
//! (`provenance::self_check`).

use std::path::Path;

#[path = "src/source_hash.rs"]
mod hash;

fn main() {
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let root = Path::new(&manifest)
        .parent()
        .expect("xtask lives one folder below the workspace root");
    let mut packages = vec!["xtask"];
    let mut i = 0;
    while i < packages.len() {
        if let Some((_, _, deps)) = hash::PACKAGES.iter().find(|(n, _, _)| *n == packages[i]) {
            for dep in deps.iter() {
                if !packages.contains(dep) {
                    packages.push(dep);
                }
            }
        }
        i += 1;
    }
    for package in packages {
        for input in hash::package_inputs(root, package) {
            println!("cargo:rerun-if-changed={}", root.join(input).display());
        }
    }
    println!(
        "cargo:rustc-env=WGB_XTASK_SOURCE_HASH={}",
        hash::package_hash(root, "xtask")
    );
    // For an agent on a server host, which has no Cargo.lock to read.
    let lock = std::fs::read_to_string(root.join("Cargo.lock")).unwrap_or_default();
    println!(
        "cargo:rustc-env=WGB_WASMTIME_VERSION={}",
        hash::lock_version(&lock, "wasmtime").unwrap_or_default()
    );
}
