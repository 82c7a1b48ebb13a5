//! A gateway on another host, for issue 11's `--server-host`. The server
//! side is `cargo xtask agent`: this same binary, copied to a temporary
//! folder there with the built binaries and modules, driven over one ssh
//! session by [`Server`]. It starts, samples and stops variants with the
//! code a local run uses, and it ends (stopping everything and removing its
//! folder) when the session's stdin closes: a finished run, a Ctrl-C or a
//! dropped connection alike.
//!
//! Cold starts are timed by the agent, on the host, so no network round
//! trip is in them. The suites reach it through `bench::Gateway` and the
//! session (`--server-host`).

pub mod agent;
pub mod images;
pub mod protocol;
pub mod server;

pub use server::{payload, RemoteStart, Server};
