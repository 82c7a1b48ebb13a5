//! `bench instructions`' raw record, one file per (variant, workload,
//! repeat) under `raw/instructions/`.

use serde::{Deserialize, Serialize};

use super::InstructionsKey;

/// `raw/instructions/<variant>__<workload>__r<repeat>.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct InstructionsRaw {
    pub variant: String,
    pub workload: String,
    pub path: String,
    pub repeat: usize,
    /// Requests made after start-up and before the first checkpoint.
    pub warmup: usize,
    /// Requests between the two checkpoints.
    pub requests: usize,
    /// Instructions of the gateway's request-handling thread, one value per
    /// measured request (connection), in order, allocator normalized (see
    /// `callgrind::Counts::normalized`).
    pub gateway: Vec<u64>,
    /// Instructions of each runtime process started during the window (all
    /// its threads), by pid order, allocator normalized; empty for an
    /// in-process variant.
    pub children: Vec<u64>,
    /// Everything counted in the window, allocator normalized: gateway +
    /// children.
    pub total: u64,
    /// `total / requests`: the figure summaries and comparisons use.
    pub instructions_per_request: f64,
    /// The same counts as callgrind gave them, glibc malloc's own work
    /// included: per request, and in all.
    pub gateway_raw: Vec<u64>,
    pub children_raw: Vec<u64>,
    pub raw_total: u64,
    pub raw_instructions_per_request: f64,
    /// Calls into the allocator in the window, each counted at
    /// `allocator_call_cost` instructions in the normalized figures.
    pub allocator_calls: u64,
    pub allocator_call_cost: u64,
    /// Were malloc's internal functions named in the profiles? Without
    /// libc's local symbols only the entry points are set aside.
    pub allocator_symbols: bool,
    /// `valgrind --version` and the options used.
    pub tool: String,
    pub options: Vec<String>,
}

impl InstructionsRaw {
    /// The file's name in `raw/instructions/` (see [`InstructionsKey`]).
    pub fn file_name(variant: &str, workload: &str, repeat: usize) -> String {
        let key = InstructionsKey {
            variant: variant.to_owned(),
            workload: workload.to_owned(),
            repeat,
        };
        let path = key.path();
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }
}
