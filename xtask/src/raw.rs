//! The schemas of `raw/`: what the suites write and the report reads. Raw
//! files hold every sample, so every summary can be recomputed from them.
//!
//! - `raw/cold/<variant>.csv`: one row per cold-start sample.
//! - `raw/cold/<variant>.hyperfine.json`: hyperfine's own export (`--method hyperfine`).
//! - `raw/warm/<variant>__<workload>__<client>.csv`: one row per request.
//! - `raw/throughput/<variant>__<workload>__<c<N>|rate<R>>__r<repeat>.json`:
//!   the load result with its HdrHistogram (V2, base64) and the resource samples.

use serde::{Deserialize, Serialize};

use crate::load::LoadResult;
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
    pub load: LoadResult,
    /// Resource samples every `sample_interval_ms`, around the window.
    pub samples: Vec<Sample>,
    /// Readings taken by the load thread at the window's start and end
    /// (empty when one failed: then the periodic samples are used).
    #[serde(default)]
    pub window: Vec<Sample>,
    pub sample_interval_ms: u64,
    /// What was sampled: `process <pid> and descendants` or `container <id>`.
    pub sampled: String,
}
