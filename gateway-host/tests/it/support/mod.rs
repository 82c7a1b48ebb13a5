//! Helpers shared by the test modules: the gateway binary over HTTP, the
//! hand-written modules, where artefacts are found, and what the in-process
//! transforms' tests have in common.

pub mod gateway;
pub mod modules;
pub mod paths;

use std::path::PathBuf;
use std::time::Duration;

use gateway_host::Limits;
use gateway_native::Transform;

/// The deadline of the hand-written modules' tests.
pub const TIMEOUT: Duration = Duration::from_millis(200);

/// The memory cap of the hand-written modules' tests: `!g` is refused at
/// 32 pages of 64 KiB.
pub const MAX_MEMORY: usize = 2 << 20;

/// How early an in-process deadline may fire: the epoch ticks every 10 ms.
pub const EARLY: Duration = Duration::from_millis(15);

/// [`TIMEOUT`], [`MAX_MEMORY`] and 256 KiB of output, for
/// [`modules::BEHAVIOURS`].
pub fn tight_limits() -> Limits {
    Limits {
        timeout: TIMEOUT,
        max_memory_bytes: MAX_MEMORY,
        max_output_bytes: 256 << 10,
    }
}

/// After a failure, the transform must still work.
pub fn assert_still_serves(t: &mut dyn Transform) {
    assert_eq!(t.apply(b"after").unwrap(), b"wasm:after");
}

/// `wasm:` + the body, for empty bodies, bodies longer than one WASI read,
/// and every byte value.
pub fn assert_echoes(t: &mut dyn Transform) {
    assert_eq!(t.apply(b"hello").unwrap(), b"wasm:hello");
    assert_eq!(t.apply(b"").unwrap(), b"wasm:");
    let body: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let out = t.apply(&body).unwrap();
    assert_eq!(&out[..5], b"wasm:");
    assert_eq!(&out[5..], &body[..]);
}

/// `gateway-wasm/hostile/NAME.wat`, the hostile-module corpus.
pub fn hostile_module(name: &str) -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../gateway-wasm/hostile")
        .join(format!("{name}.wat"))
}
