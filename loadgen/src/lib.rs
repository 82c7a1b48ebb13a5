#![doc = include_str!("../README.md")]

mod closed;
mod conn;
mod engine;
mod http;
mod open;
mod pin;
mod sequential;
mod stats;
mod timer;

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

pub use sequential::{sequential, sequential_with, Sequential, SequentialSpec};
pub use stats::histogram_base64;
pub use stats::{
    histogram_from_v2, histogram_to_v2, new_histogram, record_latency, Errors, LatencySummary,
    LoadResult, HIST_MAX_US,
};

/// How requests are offered.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Mode {
    /// wrk's model: each connection has one request in flight and sends the
    /// next as soon as it is answered. Latency is timed from the send (from
    /// before the connect when the connection had to be reopened).
    Closed,
    /// wrk2's model: `rate` requests per second in total, due at
    /// `start + i / rate` and sent by whichever connection is free. Latency
    /// is timed from the intended send time, so a server that falls behind
    /// shows the queueing delay (coordinated omission corrected).
    Open { rate: f64 },
}

/// One load run. Build it with [`LoadSpec::new`] and adjust the fields.
#[derive(Clone, Debug, Serialize)]
pub struct LoadSpec {
    pub addr: SocketAddr,
    /// Request target, e.g. `/` or `/compute?iters=20000`.
    pub path: String,
    /// `Host` header value.
    pub host: String,
    pub connections: usize,
    /// Measured window, after `warmup`.
    pub duration: Duration,
    /// Load before the measured window; its results are discarded.
    pub warmup: Duration,
    /// Closed loop: after `warmup`, keep warming up until every connection
    /// has had an answer (so every request in the window was sent into a
    /// full queue, and its latency is the steady state's), at most until
    /// `warmup_max`. A slow server at many connections needs seconds.
    pub steady: bool,
    pub warmup_max: Duration,
    /// Closed loop: the window stays open past `duration` until it spans at
    /// least this many mean latencies of the responses it counted (0: exactly
    /// `duration`), at most `window_max`. Little's law relates the window's
    /// throughput to latencies that began up to one latency before it opened,
    /// so a window shorter than a few latencies compares two different
    /// stretches of time; see [`window_end`].
    pub window_latencies: f64,
    /// Cap of the window `window_latencies` lengthens (ignored below
    /// `duration`).
    pub window_max: Duration,
    pub mode: Mode,
    /// Send `Connection: keep-alive`. Without it the request has no
    /// Connection header (like wrk). Either way a connection is reused
    /// exactly when the response allows it, and reopened otherwise.
    pub keep_alive: bool,
    /// A request not answered within this (from when it is started on a
    /// connection, connect included) is a timeout error; its connection is
    /// closed and reopened.
    pub timeout: Duration,
    /// Stop once this many responses (any status) are counted; for tests.
    pub max_requests: Option<u64>,
    /// Pin the calling thread to this CPU for the run (restored after).
    pub pin_cpu: Option<usize>,
}

impl LoadSpec {
    /// `GET /` with `Host: addr`, 10 connections, closed loop, 10 s, no
    /// warm-up, 5 s timeout.
    pub fn new(addr: SocketAddr) -> Self {
        LoadSpec {
            addr,
            path: "/".to_owned(),
            host: addr.to_string(),
            connections: 10,
            duration: Duration::from_secs(10),
            warmup: Duration::ZERO,
            steady: false,
            warmup_max: Duration::ZERO,
            window_latencies: 0.0,
            window_max: Duration::ZERO,
            mode: Mode::Closed,
            keep_alive: false,
            timeout: Duration::from_secs(5),
            max_requests: None,
            pin_cpu: None,
        }
    }
}

/// Where the measured window that opened at `from` with at least `duration`
/// ends, given the mean latency of the responses it has counted so far: at
/// `from + max(duration, latencies x mean)`, capped at `from + max(duration,
/// cap)`. The engine applies it when the window reaches its current end, so
/// it is the rule a reader can check in a result: `elapsed_s >=
/// latencies x latency.mean_us`, unless the cap was reached.
pub fn window_end(
    from: std::time::Instant,
    duration: Duration,
    latencies: f64,
    mean_latency: Duration,
    cap: Duration,
) -> std::time::Instant {
    let wanted = Duration::try_from_secs_f64(mean_latency.as_secs_f64() * latencies.max(0.0))
        .unwrap_or(Duration::MAX);
    from + duration.max(wanted.min(cap))
}

/// An edge of the measured window, reported to [`run_observed`]'s observer
/// on the load thread at the moment it happens, so readings taken there
/// cover exactly the window's requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Edge {
    Start,
    End,
}

/// [`run_observed`] without an observer.
pub fn run(spec: &LoadSpec, stop: &dyn Fn() -> bool) -> Result<LoadResult> {
    run_observed(spec, stop, &mut |_| {})
}

/// Run `spec` to its deadline (warm-up + duration) and return what the
/// measured window saw; `edge` is called when the window opens and closes. `stop` is polled every few milliseconds; when it
/// returns true the run ends at once and the result is marked `interrupted`.
/// Requests in flight at the end are neither counted nor errors (closed
/// loop), or recorded at the deadline (open loop, as wrk2 does). Network
/// failures are counted in the result, never returned as `Err`: `Err` means
/// the generator itself could not run (bad spec, no epoll, pinning refused).
pub fn run_observed(
    spec: &LoadSpec,
    stop: &dyn Fn() -> bool,
    edge: &mut dyn FnMut(Edge),
) -> Result<LoadResult> {
    if spec.connections == 0 {
        bail!("a load run needs at least one connection");
    }
    if spec.timeout.is_zero() {
        bail!("the request timeout must be positive");
    }
    let _pin = spec.pin_cpu.map(pin::pin_current_thread).transpose()?;
    match spec.mode {
        Mode::Closed => engine::drive(spec, &mut closed::Closed, stop, edge),
        Mode::Open { rate } => {
            if !(rate.is_finite() && rate > 0.0) {
                bail!("open-loop rate must be a positive number of requests/s, got {rate}");
            }
            engine::drive(spec, &mut open::Open::new(rate), stop, edge)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn window_spans_the_latencies_asked_between_duration_and_cap() {
        let from = Instant::now();
        let s = Duration::from_secs;
        let ms = Duration::from_millis;
        // 4 s latencies, a 1 s window asked, 3 latencies: 12 s.
        assert_eq!(window_end(from, s(1), 3.0, s(4), s(30)), from + s(12));
        // Latencies short next to the duration: the duration.
        assert_eq!(window_end(from, s(1), 3.0, ms(80), s(30)), from + s(1));
        // Nothing answered yet: the duration.
        assert_eq!(
            window_end(from, s(1), 3.0, Duration::ZERO, s(30)),
            from + s(1)
        );
        // The cap stops it short of the rule, never below the duration.
        assert_eq!(window_end(from, s(1), 3.0, s(20), s(30)), from + s(30));
        assert_eq!(window_end(from, s(40), 3.0, s(20), s(30)), from + s(40));
        // Off (0 latencies, or no cap as `LoadSpec::new` has it).
        assert_eq!(window_end(from, s(1), 0.0, s(4), s(30)), from + s(1));
        assert_eq!(
            window_end(from, s(1), 3.0, s(4), Duration::ZERO),
            from + s(1)
        );
    }
}
