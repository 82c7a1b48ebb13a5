//! wrk2's open loop: requests are due at fixed times `start + i / rate`
//! whatever the server does, and each one's latency is timed from when it
//! was due, not from when a connection got to send it. A server that falls
//! behind therefore shows the queueing delay its clients would see
//! (coordinated omission corrected).
//!
//! Unlike wrk2, which gives each connection its own schedule of `rate / N`,
//! the schedule here is one queue served by whichever connection is free, so
//! one slow connection does not hold back requests another could send.

use std::time::{Duration, Instant};

use super::engine::Schedule;

pub(super) struct Open {
    rate: f64,
    start: Instant,
    /// Index of the next request to hand out.
    next: u64,
}

impl Open {
    /// `rate` in requests per second; validated by the caller.
    pub(super) fn new(rate: f64) -> Self {
        Open {
            rate,
            start: Instant::now(),
            next: 0,
        }
    }

    fn due(&self, i: u64) -> Instant {
        self.start + Duration::from_secs_f64(i as f64 / self.rate)
    }
}

impl Schedule for Open {
    fn start(&mut self, at: Instant) {
        self.start = at;
        self.next = 0;
    }

    fn take(&mut self, now: Instant) -> Option<Instant> {
        let due = self.due(self.next);
        if due > now {
            return None;
        }
        self.next += 1;
        Some(due)
    }

    fn next_due(&self) -> Option<Instant> {
        Some(self.due(self.next))
    }

    /// Requests due strictly before `at` (request `i` is due at `i / rate`)
    /// and not handed out.
    fn unsent(&self, at: Instant) -> u64 {
        // Estimate, then settle with `due` itself so rounding agrees with `take`.
        let elapsed = at.saturating_duration_since(self.start).as_secs_f64();
        let mut n = (elapsed * self.rate) as u64;
        while n > 0 && self.due(n - 1) >= at {
            n -= 1;
        }
        while self.due(n) < at {
            n += 1;
        }
        n.saturating_sub(self.next)
    }

    fn for_each_unsent(&self, at: Instant, f: &mut dyn FnMut(Instant)) {
        for i in self.next..self.next + self.unsent(at) {
            f(self.due(i));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_fall_due_at_fixed_times_and_wait_when_late() {
        let mut s = Open::new(1000.0);
        let t0 = Instant::now();
        s.start(t0);
        assert_eq!(s.take(t0), Some(t0));
        assert_eq!(s.take(t0), None, "the next one is due 1 ms later");
        assert_eq!(s.next_due(), Some(t0 + Duration::from_millis(1)));
        // 10 ms late: the backlog is handed out with its intended times.
        let late = t0 + Duration::from_millis(10);
        // Due before `late`: requests 0..=9, of which 0 was sent.
        assert_eq!(s.unsent(late), 9);
        for i in 1..=10 {
            let due = s.take(late).unwrap();
            let want = t0 + Duration::from_millis(i);
            assert!(due.max(want) - due.min(want) < Duration::from_micros(1));
        }
        assert_eq!(s.take(late), None);
        assert_eq!(s.unsent(late), 0);
    }
}
