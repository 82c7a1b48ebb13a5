//! Micro-benchmarks that explain the macro numbers (`cargo bench -p
//! gateway-host`; `cargo xtask bench micro` runs them and keeps criterion's
//! estimates in the run folder):
//!
//! - `instantiate/*`: a fresh Store + WASI context + instance of the study's
//!   module, no call: the study's `Linker::instantiate`, `InstancePre`,
//!   `InstancePre` from the pooling allocator, and the same with lean.rs's
//!   own WASI layer (a store with two buffers instead of a WASI context);
//! - `hello/*`: one whole transform (instantiate, `_start`, stdout) as the
//!   embedded, pooled and lean runtimes do it per request, and the recycled
//!   runtime's (`_start` on its kept instance, then the restore);
//! - `sha256_chain_20000/*`, `json/*`: the work of `compute_wasm` and `json`
//!   natively and in the work module (pooled);
//! - `http/*`: parsing a request head and answering `hello` natively (the
//!   gateway's own per-request code, without the kernel's socket work).
//!
//! The modules come from `cargo xtask build` (`GATEWAY_WASM_MODULE` /
//! `WASM_WORK_MODULE` override where they are looked for).

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use gateway_host::{
    lean, pooled, recycled, EmbeddedTransform, LeanTransform, Limits, PooledTransform,
    RecycledTransform,
};
use gateway_native::{http, Identity, Transform};
use gateway_work::Job;
use wasmtime::{Config, Engine, Linker, Module, Store};
use wasmtime_wasi::p1::{self, WasiP1Ctx};
use wasmtime_wasi::p2::pipe::{MemoryInputPipe, MemoryOutputPipe};
use wasmtime_wasi::WasiCtxBuilder;

/// What wrk sends for `/`.
const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: 127.0.0.1:18081\r\n\r\n";

fn module(env: &str, file: &str) -> PathBuf {
    if let Some(path) = std::env::var_os(env).filter(|v| !v.is_empty()) {
        return PathBuf::from(path);
    }
    let rel = Path::new("wasm32-wasip1/release").join(file);
    let mut dirs: Vec<PathBuf> = Vec::new();
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR").filter(|v| !v.is_empty()) {
        dirs.push(dir.into());
    }
    // This binary is <target>/release/deps/micro-<hash>.
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.ancestors().nth(3).map(Path::to_path_buf))
    {
        dirs.push(dir);
    }
    dirs.into_iter()
        .map(|d| d.join(&rel))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{file} not found: run `cargo xtask build` (or set {env})"))
}

/// The per-request setup both in-process runtimes do: WASI context with the
/// body on stdin and an in-memory stdout.
fn wasi(body: &[u8]) -> WasiP1Ctx {
    WasiCtxBuilder::new()
        .stdin(MemoryInputPipe::new(body.to_vec()))
        .stdout(MemoryOutputPipe::new(1 << 20))
        .build_p1()
}

fn instantiate(c: &mut Criterion) {
    let wasm = std::fs::read(module("GATEWAY_WASM_MODULE", "gateway-wasm.wasm")).unwrap();
    let mut group = c.benchmark_group("instantiate");

    // The study's design (embedded.rs): Linker::instantiate per request.
    let engine = Engine::new(&Config::new()).unwrap();
    let study = Module::new(&engine, &wasm).unwrap();
    let mut linker: Linker<WasiP1Ctx> = Linker::new(&engine);
    p1::add_to_linker_sync(&mut linker, |ctx| ctx).unwrap();
    group.bench_function("linker_instantiate", |b| {
        b.iter(|| {
            let mut store = Store::new(&engine, wasi(b"hello"));
            black_box(linker.instantiate(&mut store, &study).unwrap());
        })
    });

    // Imports resolved once; the default (on-demand) allocator.
    let pre = linker.instantiate_pre(&study).unwrap();
    group.bench_function("instance_pre", |b| {
        b.iter(|| {
            let mut store = Store::new(&engine, wasi(b"hello"));
            black_box(pre.instantiate(&mut store).unwrap());
        })
    });

    // InstancePre from the pooling allocator with CoW images (pooled.rs).
    let pooled_engine = Engine::new(&pooled::config()).unwrap();
    let pooled_module = Module::new(&pooled_engine, &wasm).unwrap();
    let mut pooled_linker: Linker<WasiP1Ctx> = Linker::new(&pooled_engine);
    p1::add_to_linker_sync(&mut pooled_linker, |ctx| ctx).unwrap();
    let pooled_pre = pooled_linker.instantiate_pre(&pooled_module).unwrap();
    group.bench_function("pooled", |b| {
        b.iter(|| {
            let mut store = Store::new(&pooled_engine, wasi(b"hello"));
            black_box(pooled_pre.instantiate(&mut store).unwrap());
        })
    });

    // The same pool with lean.rs's own WASI layer instead of wasmtime-wasi.
    let lean_engine = lean::engine().unwrap();
    let lean_module = Module::new(&lean_engine, &wasm).unwrap();
    let lean = LeanTransform::new(&lean_engine, &lean_module, Limits::default()).unwrap();
    group.bench_function("lean", |b| {
        b.iter(|| lean.instantiate_only(black_box(b"hello")).unwrap())
    });
    group.finish();
}

fn hello(c: &mut Criterion) {
    let path = module("GATEWAY_WASM_MODULE", "gateway-wasm.wasm");
    let mut group = c.benchmark_group("hello");
    let mut embedded = EmbeddedTransform::from_file(&path, Limits::default()).unwrap();
    group.bench_function("embedded", |b| {
        b.iter(|| black_box(embedded.apply(b"hello").unwrap()))
    });
    let engine = pooled::engine().unwrap();
    let mut pooled = PooledTransform::from_file(&engine, &path, Limits::default()).unwrap();
    group.bench_function("pooled", |b| {
        b.iter(|| black_box(pooled.apply(b"hello").unwrap()))
    });
    let engine = lean::engine().unwrap();
    let mut lean = LeanTransform::from_file(&engine, &path, Limits::default()).unwrap();
    group.bench_function("lean", |b| {
        b.iter(|| black_box(lean.apply(b"hello").unwrap()))
    });
    // `_start` alone on a ready instance: the module's own work, the floor of
    // any design that runs it per request. Instantiation and the store's
    // drop (the slot reset) happen outside the timed part.
    group.bench_function("lean_start_only", |b| {
        b.iter_batched(
            || lean.ready(b"hello").unwrap(),
            |mut ready| {
                ready.start().unwrap();
                ready
            },
            // One store at a time: the pool has a few slots only.
            BatchSize::PerIteration,
        )
    });
    // The `.wasm` is prepared for recycling and compiled at load.
    let engine = recycled::engine().unwrap();
    let mut recycled = RecycledTransform::from_file(&engine, &path, Limits::default()).unwrap();
    group.bench_function("recycled", |b| {
        b.iter(|| black_box(recycled.apply(b"hello").unwrap()))
    });
    let stats = recycled.stats();
    eprintln!("hello/recycled: {stats:?}");
    assert_eq!(
        stats.instantiated, 1,
        "hello/recycled made a new instance: {stats:?}"
    );
    group.finish();
}

fn work(c: &mut Criterion) {
    let engine = pooled::engine().unwrap();
    let path = module("WASM_WORK_MODULE", "gateway-work.wasm");
    let mut in_wasm = PooledTransform::from_file(&engine, &path, Limits::default()).unwrap();

    let chain = Job::Chain { iters: 20_000 };
    let mut group = c.benchmark_group("sha256_chain_20000");
    group.sample_size(20);
    group.bench_function("native", |b| {
        b.iter(|| black_box(Identity.work(&chain).unwrap()))
    });
    let job = chain.encode();
    group.bench_function("wasm_pooled", |b| {
        b.iter(|| black_box(in_wasm.apply(&job).unwrap()))
    });
    group.finish();

    let json = Job::Json {
        document: gateway_work::ORDER.as_bytes(),
    };
    let mut group = c.benchmark_group("json");
    group.bench_function("native", |b| {
        b.iter(|| black_box(Identity.work(&json).unwrap()))
    });
    let job = json.encode();
    group.bench_function("wasm_pooled", |b| {
        b.iter(|| black_box(in_wasm.apply(&job).unwrap()))
    });
    group.finish();
}

fn http(c: &mut Criterion) {
    let mut group = c.benchmark_group("http");
    group.bench_function("parse_head", |b| {
        b.iter(|| black_box(http::parse_head(black_box(REQUEST)).unwrap()))
    });
    let args = server_args();
    group.bench_function("respond_hello_native", |b| {
        b.iter(|| {
            let (request, _) = http::parse_head(black_box(REQUEST)).unwrap().unwrap();
            let response = gateway_native::handlers::respond(&request, &args, &mut Identity);
            let mut out = Vec::with_capacity(256);
            http::write_response(&mut out, &response, request.method, false).unwrap();
            black_box(out)
        })
    });
    group.finish();
}

fn server_args() -> gateway_native::ServerArgs {
    use clap::Parser;
    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        server: gateway_native::ServerArgs,
    }
    Cli::parse_from(["micro"]).server
}

fn config() -> Criterion {
    // Short by default (the whole set in about a minute); criterion's own
    // flags (--measurement-time, --sample-size) still override these.
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30)
        .configure_from_args()
}

criterion_group! {
    name = benches;
    config = config();
    targets = instantiate, hello, work, http
}
criterion_main!(benches);
