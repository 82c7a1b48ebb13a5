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

/// What every outcome answers, the same under every runtime that can run
/// the module (docs/variants.md, "What a module's behaviour answers", is this
/// table): one module per outcome, each run by all runtimes.
const OUTCOMES: &[(&str, &str, Outcome)] = &[
    ("no_stdin", "normal exit", Outcome::Ok(b"wasm:ignored")),
    (
        "exit0",
        "proc_exit(0) after output",
        Outcome::Ok(b"wasm:bye"),
    ),
    ("exit3", "proc_exit(3)", Outcome::Error),
    ("exit256", "proc_exit(256)", Outcome::Exit256),
    (
        "start_exit0",
        "proc_exit(0) in a start function",
        Outcome::StartExit0,
    ),
    (
        "start_exit3",
        "proc_exit(3) in a start function",
        Outcome::Error,
    ),
    ("trap", "a trap", Outcome::Error),
    ("start_trap", "a trap in a start function", Outcome::Error),
    (
        "stack_overflow",
        "recursion until the call stack is exhausted",
        Outcome::StackOverflow,
    ),
    ("loop", "a loop", Outcome::Deadline),
    (
        "read_loop",
        "reading past end of file forever",
        Outcome::Deadline,
    ),
    ("sleep", "a 10 s sleep", Outcome::Deadline),
    (
        "start_then_loop",
        "a start function spending 0.75 of the deadline, then a loop",
        Outcome::Deadline,
    ),
    (
        "start_then_sleep",
        "a start function spending 0.75 of the deadline, then a 0.95 s sleep",
        Outcome::Deadline,
    ),
    ("grow", "growing past the memory cap", Outcome::Error),
    (
        "touch",
        "touching every page past the memory cap",
        Outcome::Error,
    ),
    ("output_bomb", "output over the cap", Outcome::Error),
];

/// A row's expected answer, before a runtime's exceptions.
#[derive(Debug, Clone, Copy)]
enum Outcome {
    Ok(&'static [u8]),
    Error,
    Deadline,
    /// 500 everywhere; WasmEdge's is the exit guard's refusal.
    Exit256,
    /// 200 with the start function's output; WasmEdge 0.17.1 itself exits
    /// with status 1 (a 500) for any exit during instantiation, and drops
    /// a start function's output (docs/variants.md says so).
    StartExit0,
    /// 500; WasmEdge 0.17.1 recurses on until the deadline (its interpreter
    /// keeps its call stack on the heap), so its 500 comes at the deadline.
    StackOverflow,
}

/// One test over every outcome: the same module gives the same answer on
/// every runtime. A large body for `no_stdin`, so a CLI runtime's stdin
/// fills up.
#[test]
fn every_outcome_answers_the_same_under_every_runtime() {
    let refusal = truncated_exit_refusal();
    let big = vec![b'x'; 256 * 1024];
    for &(name, what, outcome) in OUTCOMES {
        eprintln!("hostile: {name}: {what}");
        let body: &[u8] = if name == "no_stdin" { &big } else { b"hello" };
        check(name, body, |rt| match (outcome, rt) {
            (Outcome::Ok(want), _) => Expect::Ok(want),
            (Outcome::Error, _) => Expect::Error,
            (Outcome::Deadline, _) => Expect::Deadline,
            // WasmEdge hands 256 to exit_group(2), which the OS would cut
            // to 0: the exit guard kills it first (SIGSYS).
            (Outcome::Exit256, Rt::Wasmedge) => Expect::Refused(refusal),
            (Outcome::Exit256, _) => Expect::Error,
            (Outcome::StartExit0, Rt::Wasmedge) => Expect::Error,
            (Outcome::StartExit0, _) => Expect::Ok(b"wasm:start"),
            (Outcome::StackOverflow, Rt::Wasmedge) => Expect::Deadline,
            (Outcome::StackOverflow, _) => Expect::Error,
        });
    }
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
