//! `upstream-echo`: the upstream of the proxy workload, replacing the study's
//! `http-echo` container. Like `http-echo -text=...` it answers every GET (and
//! HEAD) with one fixed text, whatever the path: it does not echo the request
//! back. It serves each connection on its own thread, so it is never the
//! bottleneck of the proxy workload, and it reuses `gateway_native::http` to
//! parse and answer, so both ends speak the same HTTP.

mod echo;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use gateway_native::listen::bind_announced;
use gateway_native::signals;

/// The upstream for wasm-gateway-bench's proxy workload: answers every GET
/// with a fixed text. Prints `listening on ADDR` once bound.
#[derive(Parser, Debug)]
#[command(name = "upstream-echo", version)]
struct Cli {
    /// Address to listen on; port 0 picks a free port (the bound address is
    /// printed on stdout as `listening on ADDR`).
    #[arg(long, env = "UPSTREAM_LISTEN", default_value = "127.0.0.1:18080")]
    listen: SocketAddr,

    /// The body of every answer, whatever the path (http-echo's `-text`).
    #[arg(long, env = "UPSTREAM_TEXT", default_value = "hello-from-upstream")]
    text: String,

    /// Wait this long before each answer, to simulate a slow upstream.
    #[arg(long, env = "UPSTREAM_DELAY_MS", default_value_t = 0)]
    delay_ms: u64,

    /// Close a connection that has not sent a (complete) request for this
    /// long, so dead clients cannot pile up threads.
    #[arg(long, env = "UPSTREAM_READ_TIMEOUT_MS", default_value_t = 5000)]
    read_timeout_ms: u64,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    signals::exit_on_termination();
    let listener = match bind_announced(cli.listen) {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("upstream-echo: cannot listen on {}: {e}", cli.listen);
            return ExitCode::FAILURE;
        }
    };
    let config = Arc::new(echo::Config {
        text: cli.text.into_bytes(),
        delay: Duration::from_millis(cli.delay_ms),
        read_timeout: Duration::from_millis(cli.read_timeout_ms),
    });
    match echo::serve(&listener, config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("upstream-echo: the listening socket failed: {e}");
            ExitCode::FAILURE
        }
    }
}
