//! Ctrl-C, SIGTERM and SIGHUP set one flag; long-running loops poll it and
//! tear down what they started instead of dying with children still running.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

static FLAG: OnceLock<Arc<AtomicBool>> = OnceLock::new();

/// Install the handlers (idempotent). After this, a signal no longer kills
/// the process: callers must check [`interrupted`].
pub fn install() {
    FLAG.get_or_init(|| {
        let flag = Arc::new(AtomicBool::new(false));
        for sig in [
            signal_hook::consts::SIGINT,
            signal_hook::consts::SIGTERM,
            signal_hook::consts::SIGHUP,
        ] {
            signal_hook::flag::register(sig, Arc::clone(&flag))
                .expect("registering a signal handler");
        }
        flag
    });
}

/// Has a stop signal arrived since [`install`]?
pub fn interrupted() -> bool {
    FLAG.get().is_some_and(|f| f.load(Ordering::SeqCst))
}
