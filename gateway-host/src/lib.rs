//! The gateway with its response body passed through a Wasm module: in-process
//! Wasmtime ([`embedded`]) or a runtime process per request ([`spawn`]). The
//! binary (`main.rs`) picks one and hands it to `gateway_native`'s server.

pub mod child;
pub mod embedded;
mod epoch;
mod host_deadline;
pub mod limits;
pub mod runtime;
pub mod spawn;

pub use embedded::EmbeddedTransform;
pub use limits::Limits;
pub use runtime::{CliRuntime, Runtime};
pub use spawn::SpawnTransform;
