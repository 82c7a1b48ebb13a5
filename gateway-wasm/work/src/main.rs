//! The second module (`gateway-work.wasm`): reads a job from stdin (see the
//! library), does it, and writes `wasm:` + the result to stdout. The study's
//! module (`gateway-wasm`) stays dependency-free so its figures compare; this
//! one carries sha2 and serde_json, compiled to wasm32-wasip1.

use std::io::{Read, Write};
use std::process::ExitCode;

use gateway_work::Job;

const PREFIX: &[u8] = b"wasm:";

fn main() -> ExitCode {
    let mut input = Vec::new();
    if std::io::stdin().read_to_end(&mut input).is_err() {
        return ExitCode::from(2);
    }
    let result = Job::decode(&input).and_then(|job| job.run());
    let body = match result {
        Ok(body) => body,
        Err(err) => {
            eprintln!("gateway-work: {err}");
            return ExitCode::from(err.exit_code());
        }
    };
    // One write, so a host reading the pipe sees the whole answer at once.
    let mut stdout = std::io::stdout().lock();
    if stdout
        .write_all(&[PREFIX, &body].concat())
        .and_then(|()| stdout.flush())
        .is_err()
    {
        return ExitCode::from(3);
    }
    ExitCode::SUCCESS
}
