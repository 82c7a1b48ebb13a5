//! The server's flags, shared by `gateway-native` and `gateway-host` (which
//! flattens them into its own). Every flag has an environment fallback so
//! `configs/bench.env` can set it, as the study's run scripts did.

use std::net::SocketAddr;
use std::time::Duration;

#[derive(clap::Args, Debug, Clone)]
pub struct ServerArgs {
    /// Address to listen on; port 0 picks a free port (the bound address is
    /// printed on stdout as `listening on ADDR`).
    #[arg(long, env = "GATEWAY_LISTEN", default_value = "127.0.0.1:18081")]
    pub listen: SocketAddr,

    /// The upstream the proxy workload forwards to.
    #[arg(long, env = "UPSTREAM_ADDR", default_value = "127.0.0.1:18080")]
    pub upstream: SocketAddr,

    /// Largest `iters` accepted by /compute; above it is a 400.
    #[arg(long, env = "GATEWAY_MAX_ITERS", default_value_t = 1_000_000)]
    pub max_iters: u64,

    /// How long to wait for a request (or the rest of one) before dropping
    /// the connection. The server is single-threaded, so this also bounds
    /// how long a silent client can hold everyone else up.
    #[arg(long, env = "GATEWAY_READ_TIMEOUT_MS", default_value_t = 2000)]
    pub read_timeout_ms: u64,

    /// How long a response write may block before the connection is dropped.
    #[arg(long, env = "GATEWAY_WRITE_TIMEOUT_MS", default_value_t = 2000)]
    pub write_timeout_ms: u64,

    /// On a keep-alive connection, how long to wait for the next request to
    /// start before closing it (once it starts, --read-timeout-ms applies),
    /// so an idle persistent client cannot starve the connections queued
    /// behind it.
    ///
    /// Keep-alive is opt-in, as in the study's gateway (one request per
    /// connection): a response says `Connection: close` unless its request
    /// sent `Connection: keep-alive`. wrk sends no Connection header, so under
    /// wrk every request gets its own connection. Error responses always close.
    #[arg(long, env = "GATEWAY_KEEPALIVE_IDLE_MS", default_value_t = 50)]
    pub keepalive_idle_ms: u64,

    /// Requests served on one keep-alive connection before it is closed (the
    /// last response says `Connection: close`). Only requests that send
    /// `Connection: keep-alive` get a keep-alive connection.
    #[arg(long, env = "GATEWAY_KEEPALIVE_MAX", default_value_t = 1000)]
    pub keepalive_max_requests: u32,

    /// Connect + response timeout towards the upstream (502 when it refuses,
    /// 504 when it is slower than this).
    #[arg(long, env = "GATEWAY_UPSTREAM_TIMEOUT_MS", default_value_t = 2000)]
    pub upstream_timeout_ms: u64,

    /// Calibration knob for the regression detector: a fixed busy delay added
    /// to every request, in microseconds. Off (0) by default; never set it in
    /// a real measurement.
    #[arg(long, env = "GATEWAY_CALIBRATION_DELAY_US", default_value_t = 0)]
    pub calibration_delay_us: u64,

    /// Calibration knob that adds CPU work, not time: N iterations of a fixed
    /// arithmetic loop per request, so instruction counts (callgrind) see it
    /// as well as the clock. Off (0) by default; never set it in a real
    /// measurement.
    #[arg(long, env = "GATEWAY_CALIBRATION_SPIN", default_value_t = 0)]
    pub calibration_spin: u64,
}

impl ServerArgs {
    pub fn read_timeout(&self) -> Duration {
        Duration::from_millis(self.read_timeout_ms)
    }
    pub fn write_timeout(&self) -> Duration {
        Duration::from_millis(self.write_timeout_ms)
    }
    pub fn keepalive_idle(&self) -> Duration {
        Duration::from_millis(self.keepalive_idle_ms)
    }
    pub fn upstream_timeout(&self) -> Duration {
        Duration::from_millis(self.upstream_timeout_ms)
    }
}
