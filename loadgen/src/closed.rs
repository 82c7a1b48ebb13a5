//! wrk's closed loop: every connection sends its next request as soon as
//! the previous one is answered, so the offered load adapts to the server.

use std::time::Instant;

use super::engine::Schedule;

pub(super) struct Closed;

impl Schedule for Closed {
    fn start(&mut self, _at: Instant) {}

    /// Always a request, its clock starting now: before the connect when the
    /// connection must be reopened. wrk starts its clock at the first write
    /// instead; with one connection per request the handshake is part of
    /// what a client waits for, so it is counted here.
    fn take(&mut self, now: Instant) -> Option<Instant> {
        Some(now)
    }

    fn next_due(&self) -> Option<Instant> {
        None
    }

    fn unsent(&self, _at: Instant) -> u64 {
        0
    }

    fn for_each_unsent(&self, _at: Instant, _f: &mut dyn FnMut(Instant)) {}
}
