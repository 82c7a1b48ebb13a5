//! `gateway-native`: the baseline variant, the gateway with the identity
//! transform (bodies are sent as the workloads produce them).

use std::process::ExitCode;

use clap::Parser;
use gateway_native::{server, signals, Identity, ServerArgs};

/// The blocking, single-threaded HTTP gateway of wasm-gateway-bench (native
/// variant). Prints `listening on ADDR` once bound.
#[derive(Parser, Debug)]
#[command(name = "gateway-native", version)]
struct Cli {
    #[command(flatten)]
    server: ServerArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    signals::exit_on_termination();
    let listener = match server::bind(&cli.server) {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!(
                "gateway-native: cannot listen on {}: {e}",
                cli.server.listen
            );
            return ExitCode::FAILURE;
        }
    };
    match server::serve(listener, &cli.server, &mut Identity) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gateway-native: the listening socket failed: {e}");
            ExitCode::FAILURE
        }
    }
}
