//! The hostile-module corpus (`gateway-wasm/hostile/*.wat`) against every Wasm
//! runtime that can run here, each with its expected answer (the corpus's
//! README has the table): embedded Wasmtime and pooled Wasmtime (from a
//! precompiled `.cwasm`, as `wasm_host_wasmtime_pooled` loads it) always, the
//! `wasmtime` CLI always (`cargo xtask test` provides it), `wasmedge` where it
//! is installed; where it is not, the test checks the reason a gateway gives
//! and says so.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::support::paths::{self, TempDir};
use crate::support::{hostile_module, EARLY};
use gateway_host::{
    pooled, CliRuntime, EmbeddedTransform, Limits, PooledTransform, SpawnTransform,
};
use gateway_native::{Transform, TransformError};

/// `--wasm-timeout-ms 1000`, `--wasm-max-memory-mb 64`, 1 MiB of output.
fn limits() -> Limits {
    Limits::default()
}

/// How late past the deadline an answer may come.
const LATE: Duration = Duration::from_millis(100);

#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    /// 200 with this body.
    Ok(&'static [u8]),
    /// 500, well before the deadline.
    Error,
    /// 500 at the deadline.
    Deadline,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Rt {
    Embedded,
    Pooled,
    Wasmtime,
    Wasmedge,
}

/// The module `name` as a `.wasm` binary, written into `dir`.
fn compile(name: &str, dir: &TempDir) -> (Vec<u8>, PathBuf) {
    let wat = hostile_module(name);
    let wasm = wat::parse_file(&wat).unwrap_or_else(|e| panic!("{}: {e}", wat.display()));
    let path = dir.path().join(format!("{name}.wasm"));
    std::fs::write(&path, &wasm).unwrap();
    (wasm, path)
}

/// `wasmedge` from `$WASMEDGE` or PATH, as the gateway resolves it.
fn wasmedge() -> Option<PathBuf> {
    let found = CliRuntime::Wasmedge.resolve_bin(None);
    found.found.then_some(found.path)
}

/// The pooled runtime as the variant runs it: the module precompiled to a
/// `.cwasm` (as `cargo xtask build` does), mapped into a pooled engine.
fn pooled_transform(wasm: &[u8], module: &Path) -> PooledTransform {
    let cwasm = module.with_extension("cwasm");
    std::fs::write(
        &cwasm,
        pooled::precompile(wasm).expect("module precompiles"),
    )
    .unwrap();
    let engine = pooled::engine().expect("pooled engine");
    PooledTransform::from_file(&engine, &cwasm, limits()).expect("cwasm loads")
}

/// The runtimes that can run here, each with a transform for `module`.
fn transforms(wasm: &[u8], module: &Path) -> Vec<(Rt, Box<dyn Transform>)> {
    let mut all: Vec<(Rt, Box<dyn Transform>)> = vec![
        (
            Rt::Embedded,
            Box::new(EmbeddedTransform::new(wasm, limits()).expect("module compiles")),
        ),
        (Rt::Pooled, Box::new(pooled_transform(wasm, module))),
        (
            Rt::Wasmtime,
            Box::new(SpawnTransform::new(
                CliRuntime::Wasmtime,
                paths::wasmtime_cli(),
                module,
                limits(),
            )),
        ),
    ];
    match wasmedge() {
        Some(bin) => all.push((
            Rt::Wasmedge,
            Box::new(SpawnTransform::new(
                CliRuntime::Wasmedge,
                bin,
                module,
                limits(),
            )),
        )),
        None => {
            // Not installed: the gateway says so on every request (a 500).
            let mut t = SpawnTransform::new(
                CliRuntime::Wasmedge,
                "/nonexistent/wasmedge",
                module,
                limits(),
            );
            let err = t.apply(b"hello").unwrap_err();
            assert_eq!(
                err,
                TransformError::Runtime(CliRuntime::Wasmedge.not_found_message())
            );
            eprintln!("hostile: wasmedge skipped: {err} (set WASMEDGE=/path to run it)");
        }
    }
    all
}

/// A result as a failure message shows it: a body by its length and first
/// bytes (a wrongly accepted output bomb is a megabyte).
fn shown(result: &Result<Vec<u8>, TransformError>) -> String {
    match result {
        Ok(body) if body.len() > 64 => format!(
            "Ok({} bytes: {:?}...)",
            body.len(),
            String::from_utf8_lossy(&body[..64])
        ),
        Ok(body) => format!("Ok({:?})", String::from_utf8_lossy(body)),
        Err(err) => format!("Err({err:?})"),
    }
}

/// Runs `name` with `body` under every runtime and checks `expect(runtime)`.
fn check(name: &str, body: &[u8], expect: impl Fn(Rt) -> Expect) {
    let dir = TempDir::new(name);
    let (wasm, module) = compile(name, &dir);
    let deadline = limits().timeout;
    for (rt, mut t) in transforms(&wasm, &module) {
        let started = Instant::now();
        let result = t.apply(body);
        let took = started.elapsed();
        let what = format!("{name} under {rt:?}: {} after {took:?}", shown(&result));
        match expect(rt) {
            Expect::Ok(want) => assert!(result.as_deref() == Ok(want), "{what}"),
            Expect::Error => {
                assert!(
                    result.is_err() && !matches!(result, Err(TransformError::Timeout { .. })),
                    "{what}"
                );
                assert!(took < deadline, "{what}");
            }
            Expect::Deadline => {
                assert!(
                    result == Err(TransformError::Timeout { after_ms: 1000 }),
                    "{what}"
                );
                assert!(
                    took >= deadline - EARLY && took <= deadline + LATE,
                    "{what}"
                );
            }
        }
        eprintln!("hostile: {what}");
    }
}

#[test]
fn loop_is_stopped_at_the_deadline() {
    check("loop", b"hello", |_| Expect::Deadline);
}

#[test]
fn growing_past_the_memory_cap_is_a_500() {
    check("grow", b"hello", |_| Expect::Error);
}

#[test]
fn touching_every_page_past_the_memory_cap_is_a_500() {
    check("touch", b"hello", |_| Expect::Error);
}

#[test]
fn output_over_the_cap_is_a_500_not_a_truncation() {
    check("output_bomb", b"hello", |_| Expect::Error);
}

#[test]
fn exit_3_is_a_500() {
    check("exit3", b"hello", |_| Expect::Error);
}

#[test]
fn exit_256_is_a_500_where_the_gateway_can_tell() {
    check("exit256", b"hello", |rt| match rt {
        // WasmEdge hands 256 to exit(2); the OS keeps 8 bits, so the gateway
        // sees a clean exit with no output. Stated, not fixed: see the README.
        Rt::Wasmedge => Expect::Ok(b""),
        Rt::Embedded | Rt::Pooled | Rt::Wasmtime => Expect::Error,
    });
}

#[test]
fn a_trap_is_a_500() {
    check("trap", b"hello", |_| Expect::Error);
}

#[test]
fn reading_past_end_of_file_forever_is_stopped_at_the_deadline() {
    check("read_loop", b"hello", |_| Expect::Deadline);
}

#[test]
fn a_module_that_never_reads_its_input_still_answers() {
    // Larger than a pipe's buffer, so a CLI runtime's stdin fills up.
    let body = vec![b'x'; 256 * 1024];
    check("no_stdin", &body, |_| Expect::Ok(b"wasm:ignored"));
}

#[test]
fn a_long_sleep_is_stopped_at_the_deadline() {
    check("sleep", b"hello", |_| Expect::Deadline);
}
