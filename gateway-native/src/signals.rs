//! Exit promptly on SIGTERM and SIGINT. In a container the server is PID 1,
//! and the kernel gives PID 1 no default action for these signals, so without
//! a handler `docker stop` waits out its 10 s grace period and then kills: a
//! stop per variant per run would add up, and the cold-start suite stops
//! containers often. There is no state to flush, so exiting at once is right.

/// Installs the handlers; call once at start-up.
pub fn exit_on_termination() {
    extern "C" fn exit_now(_signal: libc::c_int) {
        // SAFETY: _exit is async-signal-safe; nothing else runs here.
        unsafe { libc::_exit(0) }
    }
    let handler = exit_now as extern "C" fn(libc::c_int) as libc::sighandler_t;
    for signal in [libc::SIGTERM, libc::SIGINT] {
        // SAFETY: installs a handler that only calls an async-signal-safe
        // function; signal(2) has no other preconditions.
        unsafe { libc::signal(signal, handler) };
    }
}
