//! The one seam between the native gateway and the Wasm variants: what happens
//! to a workload's response body before it is sent.

use std::fmt;

use gateway_work::Job;

/// Turns a workload's response body into the body that is sent. The native
/// gateway uses [`Identity`]; `gateway-host` passes the body through a Wasm
/// module. The server is single-threaded, so `&mut self` needs no locking.
pub trait Transform {
    /// A short name for logs, e.g. `identity` or `wasmtime_embedded`.
    fn name(&self) -> &str;

    /// Transform one body. An error becomes a 500 whose body is the error's
    /// message, and the server goes on with the next request.
    fn apply(&mut self, body: &[u8]) -> Result<Vec<u8>, TransformError>;

    /// Do the work of `compute_wasm` or `json` and return the body to send.
    /// The native gateway does it here, natively ([`Identity`]); a Wasm
    /// gateway does it inside its work module. Never silently native: a
    /// transform that has no way to run it says so (a 500).
    fn work(&mut self, job: &Job) -> Result<Vec<u8>, TransformError> {
        let _ = job;
        Err(TransformError::Runtime(format!(
            "{} has no work module",
            self.name()
        )))
    }
}

/// Why a transform failed; always answered with 500 Internal Server Error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransformError {
    /// The module trapped (or the runtime reported a trap).
    Trap(String),
    /// The module ran past its deadline and was interrupted or killed.
    Timeout { after_ms: u64 },
    /// The module (or runtime process) exited with a non-zero status.
    Exit(i32),
    /// The runtime could not be started at all, e.g. its binary is missing.
    Runtime(String),
}

impl fmt::Display for TransformError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransformError::Trap(msg) => write!(f, "wasm trap: {msg}"),
            TransformError::Timeout { after_ms } => {
                write!(f, "wasm deadline exceeded after {after_ms} ms")
            }
            TransformError::Exit(code) => write!(f, "wasm exited with status {code}"),
            TransformError::Runtime(msg) => write!(f, "wasm runtime unavailable: {msg}"),
        }
    }
}

impl std::error::Error for TransformError {}

/// The native gateway's transform: the body as it is.
#[derive(Debug, Default, Clone, Copy)]
pub struct Identity;

impl Transform for Identity {
    fn name(&self) -> &str {
        "identity"
    }

    fn apply(&mut self, body: &[u8]) -> Result<Vec<u8>, TransformError> {
        Ok(body.to_vec())
    }

    fn work(&mut self, job: &Job) -> Result<Vec<u8>, TransformError> {
        // The document is the gateway's own and fixed: failing is a bug, so
        // it is reported as the module's failure would be (a 500).
        job.run()
            .map_err(|e| TransformError::Runtime(format!("native work: {e}")))
    }
}
