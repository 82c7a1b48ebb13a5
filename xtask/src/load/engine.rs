//! The event loop both load models share: one thread, one epoll set, every
//! connection a non-blocking socket. It starts requests when the schedule
//! says so, feeds readiness events to the connections, records outcomes,
//! and enforces timeouts, connect back-off and the run's deadline.

use std::io;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use mio::{Events, Poll, Token};

use super::conn::{Conn, State, Step, Target};
use super::http::build_request;
use super::stats::{ErrorKind, LoadResult, Recorder, Tail};
use super::LoadSpec;

/// When requests are sent: the closed and open loops differ only here.
pub(super) trait Schedule {
    /// The run starts at `at`.
    fn start(&mut self, at: Instant);
    /// Hand out the next request if one is due at `now`, as the instant its
    /// latency clock started; `None` parks the free connection.
    fn take(&mut self, now: Instant) -> Option<Instant>;
    /// When the next request falls due, for a schedule with timed requests.
    fn next_due(&self) -> Option<Instant>;
    /// Requests due by `at` that were never handed out.
    fn unsent(&self, at: Instant) -> u64;
}

/// How often timeouts, back-offs and the caller's stop flag are checked. A
/// scan of every connection is cheap next to a request, and 5 ms is well
/// inside the precision anyone asks of a timeout.
const TICK: Duration = Duration::from_millis(5);
/// Pause after a failed connect, so a dead server is not hammered in a busy
/// loop; it ends at the first tick after it, so 5-10 ms in practice.
const CONNECT_BACKOFF: Duration = Duration::from_millis(5);
const TIMER: Token = Token(usize::MAX);

struct Engine<'a> {
    poll: Poll,
    target: Target<'a>,
    conns: Vec<Conn>,
    /// Free connections waiting for a due request (open loop).
    idle: Vec<usize>,
    rec: Recorder,
    sched: &'a mut dyn Schedule,
    max_requests: u64,
}

pub(super) fn drive(
    spec: &LoadSpec,
    sched: &mut dyn Schedule,
    stop: &dyn Fn() -> bool,
) -> Result<LoadResult> {
    let request = build_request(&spec.path, &spec.host, spec.keep_alive);
    let poll = Poll::new().context("creating the epoll instance")?;
    let mut timer =
        super::timer::Timer::new(poll.registry(), TIMER).context("creating a timerfd")?;
    let mut events = Events::with_capacity(1024);

    let start = Instant::now();
    let from = start + spec.warmup;
    let to = from + spec.duration;
    sched.start(start);
    let mut e = Engine {
        poll,
        target: Target {
            addr: spec.addr,
            request: &request,
            timeout: spec.timeout,
        },
        conns: (0..spec.connections).map(|_| Conn::new(start)).collect(),
        idle: (0..spec.connections).rev().collect(),
        rec: Recorder::new(from, to),
        sched,
        max_requests: spec.max_requests.unwrap_or(u64::MAX),
    };

    let mut next_tick = start;
    let mut interrupted = false;
    let stopped = loop {
        let now = Instant::now();
        if now >= to {
            break to;
        }
        if e.rec.completed() >= e.max_requests {
            break now;
        }
        if now >= next_tick {
            if stop() {
                interrupted = true;
                break now;
            }
            e.tick(now);
            next_tick = now + TICK;
        }
        e.dispatch(now);

        let mut wake = next_tick.min(to);
        if !e.idle.is_empty() {
            if let Some(due) = e.sched.next_due().filter(|&due| due < wake) {
                timer.arm(due, now).context("arming the timerfd")?;
                wake = due;
            }
        }
        match e
            .poll
            .poll(&mut events, Some(wake.saturating_duration_since(now)))
        {
            Ok(()) => {}
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err).context("waiting for socket events"),
        }
        for ev in events.iter() {
            if ev.token() == TIMER {
                timer.fired();
                continue;
            }
            let i = ev.token().0;
            let step = e.conns[i].on_event(ev, e.target.request);
            e.settle(i, step);
        }
    };

    let reached_max_requests = e.rec.completed() >= e.max_requests;
    let tail = Tail {
        mode: spec.mode,
        connections: spec.connections,
        keep_alive: spec.keep_alive,
        interrupted,
        reached_max_requests,
        in_flight: e.conns.iter().filter(|c| c.in_flight()).count() as u64,
        unsent: e.sched.unsent(stopped),
    };
    Ok(e.rec.finish(stopped, tail))
}

impl Engine<'_> {
    /// Account for what connection `i` reported; once it is free, give it the
    /// next request. Loops because starting one can fail at once (a stale
    /// keep-alive socket), which frees the connection again.
    fn settle(&mut self, i: usize, mut step: Step) {
        loop {
            // Past `max_requests` the run is over: what completes now is
            // left in flight, uncounted, like requests at the deadline.
            if step == Step::Pending || self.rec.completed() >= self.max_requests {
                return;
            }
            let now = Instant::now();
            let conn = &mut self.conns[i];
            match step {
                Step::Pending => unreachable!("returned above"),
                Step::Done(done) => {
                    self.rec.response(now, conn.origin, done.status);
                    if done.close {
                        conn.close();
                    }
                    conn.state = State::Free;
                }
                Step::Failed(kind) => {
                    self.rec.error(now, kind);
                    conn.close();
                    if kind == ErrorKind::Connect {
                        conn.state = State::Backoff(now + CONNECT_BACKOFF);
                        return;
                    }
                    conn.state = State::Free;
                }
            }
            match self.next_request(now) {
                Some(origin) => step = self.begin(i, origin, now),
                None => {
                    self.idle.push(i);
                    return;
                }
            }
        }
    }

    /// Start due requests on parked connections.
    fn dispatch(&mut self, now: Instant) {
        while let Some(&i) = self.idle.last() {
            let Some(origin) = self.next_request(now) else {
                return;
            };
            self.idle.pop();
            let step = self.begin(i, origin, now);
            self.settle(i, step);
        }
    }

    fn next_request(&mut self, now: Instant) -> Option<Instant> {
        if self.rec.completed() >= self.max_requests {
            return None;
        }
        self.sched.take(now)
    }

    fn begin(&mut self, i: usize, origin: Instant, now: Instant) -> Step {
        self.conns[i].begin(self.poll.registry(), Token(i), &self.target, origin, now)
    }

    /// Time out overdue requests and end expired back-offs.
    fn tick(&mut self, now: Instant) {
        for i in 0..self.conns.len() {
            let conn = &mut self.conns[i];
            match conn.state {
                State::Backoff(until) if now >= until => {
                    conn.state = State::Free;
                    self.idle.push(i);
                }
                State::Connecting | State::Writing | State::Reading if now >= conn.deadline => {
                    self.settle(i, Step::Failed(ErrorKind::Timeout));
                }
                _ => {}
            }
        }
    }
}
