//! Where things are: the workspace, the cargo target folder, the built
//! binaries and module, and the tool cache outside the clone.

use std::path::{Path, PathBuf};

/// The workspace this command runs in (rust-analyzer's xtask convention),
/// found at run time, never fixed when xtask was compiled: a binary built in
/// one clone and reused by cargo for another (a shared `CARGO_TARGET_DIR`)
/// must read and write the other clone. `cargo run` gives the binary
/// `CARGO_MANIFEST_DIR` (`<root>/xtask`); started directly, the nearest
/// workspace above the current folder; outside one, the current folder.
pub fn project_root() -> PathBuf {
    static ROOT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    ROOT.get_or_init(find_root).clone()
}

fn find_root() -> PathBuf {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let from_cargo = std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from);
    from_cargo
        .iter()
        .chain(std::iter::once(&cwd))
        .find_map(|start| start.ancestors().find(|dir| is_workspace(dir)))
        .map(Path::to_path_buf)
        .unwrap_or(cwd)
}

/// This project's workspace: its manifest with xtask below it.
pub fn is_workspace(dir: &Path) -> bool {
    dir.join("Cargo.toml").is_file() && dir.join("xtask/Cargo.toml").is_file()
}

/// The cargo target folder: `CARGO_TARGET_DIR` when set (CI keeps it outside
/// the clone so Wasmtime is compiled once), else the one this xtask was built
/// into, else `<root>/target`.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() {
                dir
            } else {
                project_root().join(dir)
            }
        }
        // Run directly (not through `cargo xtask`): the folder this binary
        // was built into, `<target>/release/xtask` or `<target>/release/deps/..`.
        _ => built_into().unwrap_or_else(|| project_root().join("target")),
    }
}

fn built_into() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    exe.ancestors()
        .skip(1)
        .take(3)
        .find(|dir| dir.file_name().is_some_and(|n| n == "release"))
        .and_then(Path::parent)
        .map(Path::to_path_buf)
}

/// A copied set of binaries to run instead of the target folder's:
/// `WGB_BIN_DIR` holds `gateway-native`, `gateway-host`, `upstream-echo` and
/// `gateway-wasm.wasm` of one revision (`bench ab` sets it per arm).
pub fn bin_dir() -> Option<PathBuf> {
    std::env::var_os("WGB_BIN_DIR")
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
}

/// A release binary of the workspace, e.g. `gateway-native`.
pub fn release_bin(name: &str) -> PathBuf {
    if let Some(dir) = bin_dir() {
        return dir.join(name);
    }
    target_dir().join("release").join(name)
}

/// The static (`+crt-static`) builds that go into the `FROM scratch` images.
pub const STATIC_TARGET: &str = "x86_64-unknown-linux-gnu";

/// A static build; `WGB_STATIC_DIR` holds copies of them (a remote agent's
/// folder), so a host can check its images against the client's build.
pub fn static_bin(name: &str) -> PathBuf {
    if let Some(dir) = std::env::var_os("WGB_STATIC_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join(name);
    }
    target_dir().join(STATIC_TARGET).join("release").join(name)
}

pub const WASM_TARGET: &str = "wasm32-wasip1";

/// The module the Wasm variants run.
pub fn wasm_module() -> PathBuf {
    if let Some(path) = std::env::var_os("GATEWAY_WASM_MODULE") {
        return PathBuf::from(path);
    }
    if let Some(dir) = bin_dir() {
        return dir.join("gateway-wasm.wasm");
    }
    target_dir()
        .join(WASM_TARGET)
        .join("release")
        .join("gateway-wasm.wasm")
}

/// A built module file by name, e.g. `gateway-work.wasm` or
/// `gateway-wasm.pooled.cwasm` (the `.cwasm` files are made by `cargo xtask
/// build` next to the `.wasm` ones).
pub fn module_file(file: &str) -> PathBuf {
    if let Some(dir) = bin_dir() {
        return dir.join(file);
    }
    target_dir().join(WASM_TARGET).join("release").join(file)
}

/// The work module (`compute_wasm`, `json`).
pub fn work_module() -> PathBuf {
    module_file("gateway-work.wasm")
}

/// `$CARGO_HOME` (default `~/.cargo`): the tool cache lives under it so a
/// fresh clone, and every CI run, reuses the slow-to-build wasmtime CLI.
pub fn cargo_home() -> PathBuf {
    if let Some(home) = std::env::var_os("CARGO_HOME") {
        return PathBuf::from(home);
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
    PathBuf::from(home).join(".cargo")
}

pub fn tool_cache() -> PathBuf {
    cargo_home().join("wasm-gateway-bench")
}

/// Where a build reads its sources and writes its outputs: this checkout
/// into the target folder (`cargo xtask build`), or an A/B revision's
/// worktree into the same target folder, so both build the same way
/// (`build.rs` has how it builds, `provenance` what it built).
pub struct Tree {
    pub source: PathBuf,
    pub target: PathBuf,
}

impl Tree {
    pub fn here() -> Tree {
        Tree {
            source: project_root(),
            target: target_dir(),
        }
    }
}
