//! wasm-gateway-bench's build and benchmark steps. The binary (`main.rs`) is
//! clap dispatch; everything else is here so the integration tests can start
//! variants exactly as the suites do.

pub mod affinity;
pub mod bench;
pub mod bench_env;
pub mod build;
pub mod callgrind;
pub mod ci;
pub mod cold_start;
pub mod compare;
pub mod disturbance;
pub mod docker;
pub mod doctor;
pub mod export;
pub mod files;
pub mod fuzz;
pub mod history;
pub mod merge;
pub mod paths;
pub mod probe;
pub mod process;
pub mod progress;
pub mod provenance;
pub mod remote;
pub mod report;
pub mod results;
pub mod run;
pub mod rundata;
pub mod sample;
pub mod signals;
pub mod source_hash;
pub mod ssh;
pub mod stale;
pub mod stats;
pub mod test;
pub mod tools;
pub mod upstream;
pub mod variants;
pub mod wasmtime_cli;
pub mod workloads;

pub use paths::project_root;
