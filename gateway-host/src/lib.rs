//! The gateway with its response body passed through a Wasm module: in-process
//! Wasmtime ([`embedded`], [`pooled`], [`lean`],
//! [`recycled`]) or a runtime process per request
//! ([`spawn`]); [`work`] adds the second module. The
//! binary (`main.rs`) picks one and hands it to `gateway_native`'s server.

mod call;
pub mod child;
pub mod embedded;
mod epoch;
pub mod exit_guard;
mod host_deadline;
pub mod lean;
pub mod limits;
pub mod pooled;
pub mod recycled;
pub mod residency;
pub mod runtime;
pub mod spawn;
pub mod stack;
pub mod work;

pub use embedded::EmbeddedTransform;
pub use lean::LeanTransform;
pub use limits::Limits;
pub use pooled::PooledTransform;
pub use recycled::RecycledTransform;
pub use residency::Residency;
pub use runtime::{CliRuntime, Runtime};
pub use spawn::SpawnTransform;
pub use work::WithWork;
