//! gateway-host's integration tests, one binary: one link step instead of one
//! per file, and the helpers several files need in `support`.

mod support;

mod embedded;
mod gateway;
mod hostile;
mod in_process;
mod lean;
mod pooled;
mod real_module;
mod recycled;
mod residency;
mod sleep_deadline;
mod spawn;
