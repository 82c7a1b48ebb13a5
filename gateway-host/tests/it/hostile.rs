//! The hostile-module corpus (`gateway-wasm/hostile/*.wat`) against every Wasm
//! runtime that can run here, each with its expected answer (the corpus's
//! README has the table): embedded Wasmtime, pooled, lean and recycled
//! Wasmtime (each from a precompiled `.cwasm`, as `wasm_host_wasmtime_pooled`,
//! `_lean` and `_recycled` load it) always, the
//! `wasmtime` CLI always (`cargo xtask test` provides it), `wasmedge` where it
//! is installed; where it is not, the test checks the reason a gateway gives
//! and says so.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::support::gateway::Gateway;
use crate::support::paths::{self, TempDir};
use crate::support::{hostile_module, EARLY};
use gateway_host::exit_guard;
use gateway_host::spawn::UNGUARDED_EMPTY;
use gateway_host::{
    lean, pooled, recycled, CliRuntime, EmbeddedTransform, LeanTransform, Limits, PooledTransform,
    RecycledTransform, SpawnTransform,
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
    /// 500 with this in its message, well before the deadline.
    Refused(&'static str),
    /// 500 at the deadline.
    Deadline,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Rt {
    Embedded,
    Pooled,
    Lean,
    Recycled,
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

/// The lean runtime as the variant runs it: its own WASI layer over a
/// `.cwasm` in a lean engine.
fn lean_transform(wasm: &[u8], module: &Path) -> LeanTransform {
    let cwasm = module.with_extension("lean.cwasm");
    std::fs::write(&cwasm, lean::precompile(wasm).expect("module precompiles")).unwrap();
    let engine = lean::engine().expect("lean engine");
    LeanTransform::from_file(&engine, &cwasm, limits()).expect("cwasm loads")
}

/// The recycled runtime as the variant runs it: the module prepared and
/// precompiled to a `.recycled.cwasm`.
fn recycled_transform(wasm: &[u8], module: &Path) -> RecycledTransform {
    let cwasm = module.with_extension("recycled.cwasm");
    std::fs::write(&cwasm, recycled::precompile(wasm).expect("module prepares")).unwrap();
    let engine = recycled::engine().expect("recycled engine");
    RecycledTransform::from_file(&engine, &cwasm, limits()).expect("cwasm loads")
}

/// `wasmedge` where it is installed; where it is not, checks the reason the
/// gateway gives for it (a 500 on every request), says so and returns `None`.
fn wasmedge_or_skip(module: &Path) -> Option<PathBuf> {
    let found = wasmedge();
    if found.is_none() {
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
    found
}

/// What a per-request runtime's `proc_exit(256)` is refused with here: the
/// exit guard's kill, or where seccomp is unavailable the empty clean exit.
fn truncated_exit_refusal() -> &'static str {
    match exit_guard::available() {
        Ok(()) => exit_guard::KILLED,
        Err(why) => {
            eprintln!("hostile: {why}; expecting the fallback's refusal");
            UNGUARDED_EMPTY
        }
    }
}

/// The runtimes that can run here, each with a transform for `module`.
fn transforms(wasm: &[u8], module: &Path) -> Vec<(Rt, Box<dyn Transform>)> {
    let mut all: Vec<(Rt, Box<dyn Transform>)> = vec![
        (
            Rt::Embedded,
            Box::new(EmbeddedTransform::new(wasm, limits()).expect("module compiles")),
        ),
        (Rt::Pooled, Box::new(pooled_transform(wasm, module))),
        (Rt::Lean, Box::new(lean_transform(wasm, module))),
        (Rt::Recycled, Box::new(recycled_transform(wasm, module))),
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
    // Not installed: the gateway says so on every request (a 500).
    if let Some(bin) = wasmedge_or_skip(module) {
        all.push((
            Rt::Wasmedge,
            Box::new(SpawnTransform::new(
                CliRuntime::Wasmedge,
                bin,
                module,
                limits(),
            )),
        ));
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
            Expect::Refused(why) => {
                assert!(
                    result
                        .as_ref()
                        .is_err_and(|err| err.to_string().contains(why)),
                    "{what}; expected a refusal saying {why:?}"
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
        // The same answer again: a runtime that keeps its instance (recycled)
        // must not carry anything from the first call into the second.
        if rt == Rt::Recycled {
            let again = t.apply(body);
            assert_eq!(
                shown(&again),
                shown(&result),
                "{name} under {rt:?}, second call"
            );
        }
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
fn exit_256_is_a_500_under_every_runtime() {
    let refusal = truncated_exit_refusal();
    check("exit256", b"hello", |rt| match rt {
        // WasmEdge hands 256 to exit_group(2), which the OS would cut to 0:
        // the exit guard kills it first (SIGSYS).
        Rt::Wasmedge => Expect::Refused(refusal),
        _ => Expect::Error,
    });
}

#[test]
fn exit_256_under_wasmedge_without_the_exit_guard_is_still_a_500() {
    // As where seccomp is unavailable: the status arrives as 0 with no
    // output, and that is refused.
    let dir = TempDir::new("exit256-unguarded");
    let (_, module) = compile("exit256", &dir);
    let Some(bin) = wasmedge_or_skip(&module) else {
        return;
    };
    let mut t =
        SpawnTransform::new(CliRuntime::Wasmedge, bin, &module, limits()).without_exit_guard();
    assert!(!t.exit_guarded());
    assert_eq!(
        t.apply(b"hello"),
        Err(TransformError::Trap(UNGUARDED_EMPTY.into()))
    );
}

#[test]
fn exit_256_under_wasmedge_is_a_500_over_http_and_the_gateway_serves_on() {
    let dir = TempDir::new("exit256-http");
    let (_, module) = compile("exit256", &dir);
    let Some(bin) = wasmedge_or_skip(&module) else {
        return;
    };
    let gw = Gateway::start(&[
        "--runtime",
        "wasmedge",
        "--runtime-bin",
        bin.to_str().unwrap(),
        "--module",
        module.to_str().unwrap(),
    ]);
    let refusal = truncated_exit_refusal();
    for _ in 0..2 {
        let (status, body) = gw.get("/");
        let body = String::from_utf8_lossy(&body);
        assert_eq!(status, 500, "{body}");
        assert!(body.contains(refusal), "{body}");
    }
    assert_eq!(gw.get("/health"), (200, b"ok".to_vec()));
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
