//! The gateway's server core: HTTP parsing and writing, the accept loop with its
//! timeouts and keep-alive policy, and the workloads. `gateway-host` reuses all
//! of it and only supplies a different [`Transform`].

pub mod config;
pub mod http;
pub mod listen;
pub mod log;
pub mod proxy;
pub mod server;
pub mod signals;
pub mod transform;
pub mod workloads;

pub use config::ServerArgs;
pub use transform::{Identity, Transform, TransformError};
pub use workloads::compute_chain;
