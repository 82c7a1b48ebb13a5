//! The schemas of `raw/`: what the suites write and the report reads. Raw
//! files hold every sample, so every summary can be recomputed from them.
//!
//! - `raw/cold/<variant>.csv`: one row per cold-start sample.
//! - `raw/cold/<variant>.hyperfine.json`: hyperfine's own export (`--method hyperfine`).
//! - `raw/warm/<variant>__<workload>__<client>.csv`: one row per request.
//! - `raw/throughput/<variant>__<workload>__<c<N>|rate<R>>__r<repeat>.json`:
//!   the load record with its HdrHistogram (V2, base64) and the resource samples.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use loadgen::{Errors, LatencySummary, LoadResult, Mode};
use serde::{Deserialize, Serialize};

use crate::sample::Sample;

/// One row of `raw/cold/<variant>.csv`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ColdSample {
    pub variant: String,
    pub repeat: usize,
    pub sample: usize,
    pub ms: f64,
}

/// One row of `raw/warm/<variant>__<workload>__<client>.csv`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WarmSample {
    /// The series (older runs had one, without this column).
    #[serde(default)]
    pub repeat: usize,
    pub i: usize,
    pub latency_us: f64,
}

/// `raw/throughput/<variant>__<workload>__<c|rate>__r<repeat>.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ThroughputRaw {
    pub variant: String,
    pub workload: String,
    pub path: String,
    pub repeat: usize,
    pub load: LoadRecord,
    /// Resource samples every `sample_interval_ms`, around the window.
    pub samples: Vec<Sample>,
    /// Readings taken by the load thread at the window's start and end
    /// (empty when one failed: then the periodic samples are used).
    #[serde(default)]
    pub window: Vec<Sample>,
    pub sample_interval_ms: u64,
    /// What was sampled: `process <pid> and descendants` or `container <id>`.
    pub sampled: String,
    /// The window's disturbance readings and verdict (absent: not checked,
    /// e.g. unpinned or on a server host, or an older run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disturbance: Option<Disturbance>,
    /// Earlier attempts at this cell that were disturbed, and so measured again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub disturbed_attempts: Vec<Disturbance>,
}

/// The load generator's measurements as `raw/throughput/*.json` holds them:
/// the file format, kept apart from `loadgen::LoadResult` (its in-memory
/// result) so the generator can change without making old run folders
/// unreadable. Fields added later carry a default.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoadRecord {
    pub mode: Mode,
    pub connections: usize,
    pub keep_alive: bool,
    /// Responses with a 2xx status.
    pub ok: u64,
    /// Complete responses with any other status, and by status code.
    pub non_2xx: u64,
    pub status_counts: BTreeMap<u16, u64>,
    pub errors: Errors,
    /// The measured window, seconds (warm-up excluded).
    pub elapsed_s: f64,
    /// `ok / elapsed_s`.
    pub rps: f64,
    pub latency: LatencySummary,
    /// Cut short by Ctrl-C.
    pub interrupted: bool,
    pub reached_max_requests: bool,
    pub in_flight_at_end: u64,
    /// Open loop: due requests no connection was free to send.
    pub unsent_at_end: u64,
    /// Open loop: unanswered requests recorded at their timeout or deadline.
    #[serde(default)]
    pub censored: u64,
    /// Connections opened inside the window.
    #[serde(default)]
    pub connects: u64,
    #[serde(default)]
    pub warmup_s: f64,
    /// The window opened on a steady load.
    #[serde(default = "yes")]
    pub steady: bool,
    /// CPU time of the load generator's thread over the window, ms.
    #[serde(default)]
    pub loadgen_cpu_ms: f64,
    /// Latency of every 2xx response in µs (open loop: from the intended
    /// send time, plus the censored requests), as base64 of HdrHistogram V2.
    #[serde(rename = "histogram_v2_base64", with = "loadgen::histogram_base64")]
    pub histogram: Histogram<u64>,
}

fn yes() -> bool {
    true
}

impl LoadRecord {
    /// Mean CPU use of the load generator's thread over the window, percent
    /// of one core.
    pub fn loadgen_cpu_pct(&self) -> f64 {
        if self.elapsed_s > 0.0 {
            self.loadgen_cpu_ms / (self.elapsed_s * 10.0)
        } else {
            0.0
        }
    }
}

impl LoadRecord {
    /// Little's law: `rps x mean latency / connections`, about 1 in a steady
    /// closed loop (`None` for the open loop, whose concurrency is not fixed).
    pub fn little_ratio(&self) -> Option<f64> {
        (self.mode == Mode::Closed && self.connections > 0 && self.latency.count > 0)
            .then(|| self.rps * self.latency.mean_us / 1e6 / self.connections as f64)
    }
}

impl From<LoadResult> for LoadRecord {
    fn from(r: LoadResult) -> LoadRecord {
        LoadRecord {
            mode: r.mode,
            connections: r.connections,
            keep_alive: r.keep_alive,
            ok: r.ok,
            non_2xx: r.non_2xx,
            status_counts: r.status_counts,
            errors: r.errors,
            elapsed_s: r.elapsed_s,
            rps: r.rps,
            latency: r.latency,
            interrupted: r.interrupted,
            reached_max_requests: r.reached_max_requests,
            in_flight_at_end: r.in_flight_at_end,
            unsent_at_end: r.unsent_at_end,
            censored: r.censored,
            connects: r.connects,
            warmup_s: r.warmup_s,
            steady: r.steady,
            loadgen_cpu_ms: r.loadgen_cpu_ms,
            histogram: r.histogram,
        }
    }
}

/// What disturbed a cell's window, or did not: the readings and the verdict,
/// kept in the cell's raw file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Disturbance {
    pub gateway_core: usize,
    pub load_core: usize,
    /// The window the readings span, seconds.
    pub window_s: f64,
    /// Steal on the gateway's core and on the load generator's, % of the window.
    pub steal_gateway_pct: f64,
    pub steal_load_pct: f64,
    /// Busy time on the gateway's core not spent by the gateway, % of the window.
    pub foreign_pct: f64,
    /// The load generator's thread's part of its core's busy time, %.
    pub loadgen_share_pct: f64,
    /// Why the cell is disturbed; `None`: it is not.
    pub why: Option<String>,
}
