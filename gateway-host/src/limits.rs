//! The bounds every runtime enforces on one request, so a hostile module costs
//! a 500 within a known time and memory and the gateway keeps serving.

use std::time::Duration;

/// Per-request resource bounds, shared by the embedded and spawning runtimes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Wall-clock budget of one call (`--wasm-timeout-ms`), host calls (a
    /// WASI sleep) included.
    pub timeout: Duration,
    /// Cap on each linear memory (`--wasm-max-memory-mb`), every runtime:
    /// the store's limiter in-process, the runtime's own flag for the CLI
    /// runtimes, with `RLIMIT_AS` as a backstop (see `spawn`).
    pub max_memory_bytes: usize,
    /// Cap on what the module may write to stdout, so it cannot fill the
    /// gateway's memory through its output; more is an error (a 500), never
    /// a truncated 200.
    pub max_output_bytes: usize,
}

impl Limits {
    pub const DEFAULT_TIMEOUT_MS: u64 = 1000;
    pub const DEFAULT_MAX_MEMORY_MB: u64 = 64;
    pub const DEFAULT_MAX_OUTPUT_BYTES: usize = 1 << 20;

    /// Limits from the command line's units (milliseconds, MiB).
    pub fn from_flags(timeout_ms: u64, max_memory_mb: u64) -> Self {
        let mb = usize::try_from(max_memory_mb).unwrap_or(usize::MAX);
        Limits {
            timeout: Duration::from_millis(timeout_ms),
            max_memory_bytes: mb.saturating_mul(1 << 20),
            max_output_bytes: Self::DEFAULT_MAX_OUTPUT_BYTES,
        }
    }

    /// The timeout as reported in [`gateway_native::TransformError::Timeout`].
    pub fn timeout_ms(&self) -> u64 {
        u64::try_from(self.timeout.as_millis()).unwrap_or(u64::MAX)
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits::from_flags(Self::DEFAULT_TIMEOUT_MS, Self::DEFAULT_MAX_MEMORY_MB)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_convert_to_bytes_and_durations() {
        let l = Limits::from_flags(250, 3);
        assert_eq!(l.timeout, Duration::from_millis(250));
        assert_eq!(l.timeout_ms(), 250);
        assert_eq!(l.max_memory_bytes, 3 * 1024 * 1024);
        assert_eq!(l.max_output_bytes, 1024 * 1024);
        assert_eq!(Limits::default(), Limits::from_flags(1000, 64));
    }
}
