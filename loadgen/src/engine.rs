//! The event loop both load models share: one thread, one epoll set, every
//! connection a non-blocking socket. It starts requests when the schedule
//! says so, feeds readiness events to the connections, records outcomes,
//! and enforces timeouts, connect back-off and the run's deadline.
//!
//! The measured window opens after the warm-up, once the load is steady
//! (closed loop: every connection has had an answer, so every request in
//! flight was sent into a full queue), and the caller is told at both of its
//! edges, so resource readings cover exactly the counted requests.

use std::io;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use mio::{Events, Poll, Token};

use super::conn::{Conn, State, Step, Target};
use super::http::build_request;
use super::stats::{ErrorKind, LoadResult, Recorder, Tail};
use super::{Edge, LoadSpec, Mode};

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
    /// The intended send time of each of those requests.
    fn for_each_unsent(&self, at: Instant, f: &mut dyn FnMut(Instant));
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
    /// Connections that have had at least one outcome (for the steady test).
    cycled: usize,
    /// Open loop: a request that gets no answer still has a latency (wrk2).
    censor: bool,
}

pub(super) fn drive(
    spec: &LoadSpec,
    sched: &mut dyn Schedule,
    stop: &dyn Fn() -> bool,
    edge: &mut dyn FnMut(Edge),
) -> Result<LoadResult> {
    let request = build_request(&spec.path, &spec.host, spec.keep_alive);
    let poll = Poll::new().context("creating the epoll instance")?;
    let mut timer =
        super::timer::Timer::new(poll.registry(), TIMER).context("creating a timerfd")?;
    let mut events = Events::with_capacity(1024);

    let start = Instant::now();
    let min_from = start + spec.warmup;
    let max_from = start + spec.warmup_max.max(spec.warmup);
    // Only the closed loop waits for every connection to be answered: in the
    // open loop a connection may never be needed at a low rate.
    let wait_steady = spec.steady && spec.mode == Mode::Closed;
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
        rec: Recorder::new(),
        sched,
        max_requests: spec.max_requests.unwrap_or(u64::MAX),
        cycled: 0,
        censor: matches!(spec.mode, Mode::Open { .. }),
    };

    // (from, to, load thread CPU at from) once the window is open.
    let mut window: Option<(Instant, Instant, Duration)> = None;
    let mut steady = !wait_steady;
    let mut next_tick = start;
    let mut interrupted = false;
    let stopped = loop {
        let now = Instant::now();
        if window.is_none() && now >= min_from {
            let cycled = e.cycled >= e.conns.len();
            if !wait_steady || cycled || now >= max_from {
                steady = !wait_steady || cycled;
                edge(Edge::Start);
                let cpu = thread_cpu();
                let from = Instant::now();
                e.rec.open(from, from + spec.duration);
                window = Some((from, from + spec.duration, cpu));
            }
        }
        if let Some((from, to, _)) = window.as_mut() {
            // Closed loop: the window stays open until it spans
            // `window_latencies` mean latencies of what it counted (at most
            // `window_max`); moved on before the end is reached, so no
            // answer at the old end is lost.
            if spec.mode == Mode::Closed && spec.window_latencies > 0.0 {
                let end = super::window_end(
                    *from,
                    spec.duration,
                    spec.window_latencies,
                    e.rec.mean_latency(),
                    spec.window_max,
                );
                if end > *to {
                    *to = end;
                    e.rec.open(*from, end);
                }
            }
            if now >= *to {
                break *to;
            }
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

        let mut wake = match window {
            Some((_, to, _)) => next_tick.min(to),
            None => next_tick.min(min_from.max(now)),
        };
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
        // One timestamp for the whole batch, taken before any of it starts
        // new requests: a connect costs tens of µs, which would otherwise be
        // added to the latency of every response later in the batch.
        let polled = Instant::now();
        for ev in events.iter() {
            if ev.token() == TIMER {
                timer.fired();
                continue;
            }
            let i = ev.token().0;
            let step = e.conns[i].on_event(ev, e.target.request);
            e.settle(i, step, polled);
        }
    };

    let loadgen_cpu = match window {
        Some((_, _, at_from)) => thread_cpu().saturating_sub(at_from),
        None => Duration::ZERO,
    };
    if window.is_some() {
        edge(Edge::End);
    }
    let (from, _) = e.rec.window().unwrap_or((stopped, stopped));
    // wrk2's rule: a request due or in flight at the end is as late as the
    // end makes it; leaving it out would hide exactly the worst latencies.
    if e.censor && window.is_some() {
        for conn in e.conns.iter().filter(|c| c.in_flight()) {
            e.rec.censored(stopped, conn.origin);
        }
        let rec = &mut e.rec;
        e.sched
            .for_each_unsent(stopped, &mut |due| rec.censored(stopped, due));
    }
    let reached_max_requests = e.rec.completed() >= e.max_requests;
    let tail = Tail {
        mode: spec.mode,
        connections: spec.connections,
        keep_alive: spec.keep_alive,
        interrupted,
        reached_max_requests,
        in_flight: e.conns.iter().filter(|c| c.in_flight()).count() as u64,
        unsent: e.sched.unsent(stopped),
        warmup_s: from.saturating_duration_since(start).as_secs_f64(),
        steady,
        loadgen_cpu_ms: loadgen_cpu.as_secs_f64() * 1e3,
    };
    Ok(e.rec.finish(stopped, tail))
}

/// CPU time of the calling thread (the load generator's one thread).
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid clock id and a valid out-pointer.
    if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) } != 0 {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

impl Engine<'_> {
    /// Account for what connection `i` reported; once it is free, give it the
    /// next request. Loops because starting one can fail at once (a stale
    /// keep-alive socket), which frees the connection again.
    /// `at` is when the outcome was seen (the poll's return for an event).
    fn settle(&mut self, i: usize, mut step: Step, mut at: Instant) {
        loop {
            // Past `max_requests` the run is over: what completes now is
            // left in flight, uncounted, like requests at the deadline.
            if step == Step::Pending || self.rec.completed() >= self.max_requests {
                return;
            }
            let conn = &mut self.conns[i];
            if !conn.answered {
                conn.answered = true;
                self.cycled += 1;
            }
            match step {
                Step::Pending => unreachable!("returned above"),
                Step::Done(done) => {
                    self.rec.response(at, conn.origin, done.status);
                    if done.close {
                        conn.close();
                    }
                    conn.state = State::Free;
                }
                Step::Failed(kind) => {
                    self.rec.error(at, kind);
                    if kind == ErrorKind::Timeout && self.censor {
                        self.rec.censored(at, conn.origin);
                    }
                    conn.close();
                    if kind == ErrorKind::Connect {
                        conn.state = State::Backoff(at + CONNECT_BACKOFF);
                        return;
                    }
                    conn.state = State::Free;
                }
            }
            // The next request starts now, after whatever came before it.
            let now = Instant::now();
            match self.next_request(now) {
                Some(origin) => {
                    step = self.begin(i, origin, now);
                    at = now;
                }
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
            self.settle(i, step, now);
        }
    }

    fn next_request(&mut self, now: Instant) -> Option<Instant> {
        if self.rec.completed() >= self.max_requests {
            return None;
        }
        self.sched.take(now)
    }

    fn begin(&mut self, i: usize, origin: Instant, now: Instant) -> Step {
        if !self.conns[i].has_socket() {
            self.rec.connect(now);
        }
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
                    self.settle(i, Step::Failed(ErrorKind::Timeout), now);
                }
                _ => {}
            }
        }
    }
}
