//! The gateway's server core: HTTP parsing and writing, the accept loop with its
//! timeouts and keep-alive policy, and the workloads. `gateway-host` reuses all
//! of it and only supplies a different [`Transform`].

pub mod config;
pub mod handlers;
pub mod http;
pub mod listen;
pub mod log;
pub mod proxy;
pub mod server;
pub mod signals;
pub mod transform;

pub use config::ServerArgs;
pub use handlers::compute_chain;
pub use transform::{Identity, Transform, TransformError};
