//! One line on stderr per event worth an operator's attention. A failed
//! write is ignored on purpose: `eprintln!` would panic when stderr is a
//! closed pipe, and logging must never take a request (or a server) down.

use std::fmt;
use std::io::Write;
use std::path::Path;
use std::sync::OnceLock;

/// Writes `<program>: <message>` and a newline to stderr, in one write; the
/// program's name tells the gateway's lines from upstream-echo's when both
/// log to one terminal.
pub fn warn(message: fmt::Arguments<'_>) {
    let line = format!("{}: {message}\n", program());
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

fn program() -> &'static str {
    static NAME: OnceLock<String> = OnceLock::new();
    NAME.get_or_init(|| {
        std::env::args_os()
            .next()
            .as_deref()
            .and_then(|arg0| Path::new(arg0).file_name())
            .map_or_else(|| "gateway".into(), |n| n.to_string_lossy().into_owned())
    })
}
