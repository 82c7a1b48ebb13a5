//! wasm-gateway-bench's build and benchmark steps. The binary (`main.rs`) is
//! clap dispatch; everything else is here so the integration tests can start
//! variants exactly as the suites do.

pub mod bench_env;
pub mod build;
pub mod docker;
pub mod doctor;
pub mod paths;
pub mod probe;
pub mod process;
pub mod run;
pub mod sample;
pub mod signals;
pub mod test;
pub mod tools;
pub mod upstream;
pub mod variants;
pub mod wasmtime_cli;

pub use paths::project_root;
