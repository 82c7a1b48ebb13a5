//! The source hash of a workspace package: what its build outputs were made
//! from. Std and `sha2` only, because `xtask/build.rs` includes this file to
//! stamp the xtask binary with the hash of the sources it was compiled from.
//!
//! Cargo decides freshness by file times and hashes a path package's
//! identity relative to its workspace, so two clones sharing one
//! `CARGO_TARGET_DIR` share build outputs: a clone whose files are older than
//! the other's last build gets the other's binaries. Content hashes of the
//! inputs are what tells the trees apart.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// The workspace packages whose outputs the harness runs or links, with the
/// folder each lives in and its path dependencies (checked against `cargo
/// metadata` by a test, so a new dependency cannot be left out).
pub const PACKAGES: &[(&str, &str, &[&str])] = &[
    ("gateway-work", "gateway-wasm/work", &[]),
    ("gateway-native", "gateway-native", &["gateway-work"]),
    (
        "gateway-host",
        "gateway-host",
        &["gateway-native", "gateway-work"],
    ),
    ("upstream-echo", "upstream-echo", &["gateway-native"]),
    ("gateway-wasm", "gateway-wasm", &[]),
    ("loadgen", "loadgen", &[]),
    ("xtask", "xtask", &["gateway-native", "loadgen"]),
];

/// What of a package folder goes into its build: not its tests or benches.
const PACKAGE_INPUTS: [&str; 5] = ["Cargo.toml", "build.rs", "src", "assets", "Dockerfile"];

/// What of the workspace goes into every package's build.
const WORKSPACE_INPUTS: [&str; 4] = [
    "Cargo.toml",
    "Cargo.lock",
    ".cargo/config.toml",
    "rust-toolchain.toml",
];

/// Every file a package's hash reads, relative to `root`, for
/// `cargo:rerun-if-changed` and for the hash itself.
pub fn package_inputs(root: &Path, package: &str) -> Vec<PathBuf> {
    let mut inputs: Vec<PathBuf> = WORKSPACE_INPUTS.iter().map(PathBuf::from).collect();
    if let Some((_, dir, _)) = PACKAGES.iter().find(|(name, _, _)| *name == package) {
        inputs.extend(PACKAGE_INPUTS.iter().map(|i| Path::new(dir).join(i)));
    }
    inputs.retain(|i| root.join(i).exists());
    inputs
}

/// The hash of `package`'s own inputs and, transitively, of its path
/// dependencies': equal hashes mean the same sources.
pub fn package_hash(root: &Path, package: &str) -> String {
    let mut hasher = Sha256::new();
    let mut files = Vec::new();
    for input in package_inputs(root, package) {
        collect(root, &input, &mut files);
    }
    files.sort();
    files.dedup();
    for file in &files {
        let bytes = std::fs::read(root.join(file)).unwrap_or_default();
        hasher.update(file.to_string_lossy().as_bytes());
        hasher.update([0]);
        hasher.update((bytes.len() as u64).to_le_bytes());
        hasher.update(&bytes);
    }
    let deps = PACKAGES
        .iter()
        .find(|(name, _, _)| *name == package)
        .map_or(&[][..], |(_, _, deps)| *deps);
    for dep in deps {
        hasher.update(dep.as_bytes());
        hasher.update(package_hash(root, dep).as_bytes());
    }
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The files under `rel` (a file or a folder), relative to `root`.
fn collect(root: &Path, rel: &Path, out: &mut Vec<PathBuf>) {
    let path = root.join(rel);
    if path.is_file() {
        out.push(rel.to_path_buf());
        return;
    }
    let Ok(entries) = std::fs::read_dir(&path) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        // Editor swap files and the like are not sources.
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        collect(root, &rel.join(name), out);
    }
}

/// The version of package `name` in a Cargo.lock's text.
pub fn lock_version(lock: &str, name: &str) -> Option<String> {
    let wanted = format!("name = \"{name}\"");
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == wanted {
            let version = lines.next()?.trim();
            return version
                .strip_prefix("version = \"")
                .and_then(|v| v.strip_suffix('"'))
                .map(str::to_owned);
        }
    }
    None
}
