//! A soak's raw rows (`raw/<variant>.csv`): written by `bench soak`, read
//! back by its report.

use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::results;

/// One sample of one variant.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SoakSample {
    pub t_s: f64,
    pub rss_kb: u64,
    pub fds: u64,
    pub threads: u64,
    /// Live descendants of the gateway process (CLI runtimes per request).
    pub children: u64,
    pub requests: u64,
    pub errors: u64,
}

/// Reads a soak's samples back.
pub fn read_samples(csv: &Path) -> Result<Vec<SoakSample>> {
    results::read_csv(csv).with_context(|| format!("reading {}", csv.display()))
}
