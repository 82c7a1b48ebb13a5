//! Where the tests find the real module, the real `wasmtime`, and scratch space.
//! A missing artefact fails the test with what to run: never a silent pass.

use std::path::{Path, PathBuf};

const WASM_REL: &str = "wasm32-wasip1/release/gateway-wasm.wasm";

/// The `gateway-wasm` module: `$GATEWAY_WASM_MODULE`, else
/// `$CARGO_TARGET_DIR/wasm32-wasip1/release/gateway-wasm.wasm`, else the same
/// under the target directory this test binary was built in, else
/// `<workspace>/target`.
pub fn gateway_wasm() -> PathBuf {
    if let Some(p) = std::env::var_os("GATEWAY_WASM_MODULE").filter(|v| !v.is_empty()) {
        let p = PathBuf::from(p);
        assert!(
            p.is_file(),
            "GATEWAY_WASM_MODULE={} is not a file; run `cargo xtask build`",
            p.display()
        );
        return p;
    }
    let mut tried = Vec::new();
    for dir in target_dirs() {
        let p = dir.join(WASM_REL);
        if p.is_file() {
            return p;
        }
        tried.push(p);
    }
    panic!(
        "gateway-wasm.wasm not found (tried {tried:?}); run `cargo xtask build` \
         (or set GATEWAY_WASM_MODULE=/path/to/gateway-wasm.wasm)"
    );
}

/// The work module (`gateway-work.wasm`), next to `gateway-wasm.wasm`.
pub fn gateway_work() -> PathBuf {
    let study = gateway_wasm();
    let work = study.with_file_name("gateway-work.wasm");
    assert!(
        work.is_file(),
        "{} not found; run `cargo xtask build`",
        work.display()
    );
    work
}

fn target_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(d) = std::env::var_os("CARGO_TARGET_DIR").filter(|v| !v.is_empty()) {
        dirs.push(PathBuf::from(d));
    }
    // This binary is <target>/release/deps/<name>-<hash>.
    if let Some(d) = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.ancestors().nth(3).map(Path::to_path_buf))
    {
        dirs.push(d);
    }
    dirs.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    dirs
}

/// The gateway under test: the copy `cargo xtask test` staged for this tree
/// (`WGB_BIN_DIR`), which another tree building into the same target folder
/// cannot replace; else cargo's own build.
pub fn gateway_host() -> PathBuf {
    std::env::var_os("WGB_BIN_DIR")
        .filter(|d| !d.is_empty())
        .map(|d| PathBuf::from(d).join("gateway-host"))
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_gateway-host").into())
}

/// The `wasmtime` CLI: `$WASMTIME`, else `wasmtime` on PATH.
pub fn wasmtime_cli() -> PathBuf {
    if let Some(p) = std::env::var_os("WASMTIME").filter(|v| !v.is_empty()) {
        let p = PathBuf::from(p);
        assert!(p.is_file(), "WASMTIME={} is not a file", p.display());
        return p;
    }
    gateway_host::runtime::find_on_path("wasmtime".as_ref()).unwrap_or_else(|| {
        panic!(
            "no wasmtime CLI: set WASMTIME=/path/to/wasmtime (version 48.0.2; \
             `cargo xtask build` installs it) or put it on PATH"
        )
    })
}

/// A fresh directory, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "gateway-host-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
