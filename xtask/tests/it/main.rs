//! xtask's integration tests, one binary: one link step instead of one per
//! file, and the helpers every file needs in `support`.

#[macro_use]
mod support;

mod bench_all;
mod bench_interrupt;
mod bench_pipeline;
mod cold;
mod compare;
mod disturbance;
mod docker_relay;
mod export;
mod fuzz;
mod history;
mod instructions;
mod merge;
mod remote;
mod report;
mod run_command;
mod sampler;
mod server_host;
mod ssh;
mod two_clones;
mod variants;
mod workflows;
