//! The per-request logic the Wasm variants run: read all of stdin, write
//! `wasm:` followed by the input to stdout. No dependencies, so it stays small
//! and builds with any toolchain that has a wasip1 target.

use std::io::{Read, Write};
use std::process::ExitCode;

const PREFIX: &[u8] = b"wasm:";

fn main() -> ExitCode {
    let mut out = PREFIX.to_vec();
    if std::io::stdin().read_to_end(&mut out).is_err() {
        return ExitCode::from(2);
    }
    // One write, so a host reading the pipe sees the whole answer at once.
    let mut stdout = std::io::stdout().lock();
    if stdout
        .write_all(&out)
        .and_then(|()| stdout.flush())
        .is_err()
    {
        return ExitCode::from(3);
    }
    ExitCode::SUCCESS
}
