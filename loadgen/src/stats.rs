//! What a run measured: counters, the latency histogram, and how both are
//! serialized so a suite can write them to `raw/` and a report can read them
//! back.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use base64::Engine as _;
use hdrhistogram::serialization::{Deserializer, Serializer as _, V2Serializer};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::Mode;

/// Latencies are recorded in microseconds; anything above an hour saturates
/// (open-loop latency grows with a backlog, so the bound is generous).
pub const HIST_MAX_US: u64 = 3_600_000_000;

/// An empty histogram in µs with 3 significant figures, fully allocated up
/// front so recording never allocates.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, HIST_MAX_US, 3).expect("valid histogram bounds")
}

/// Record one latency, in µs, saturating at [`HIST_MAX_US`].
pub fn record_latency(hist: &mut Histogram<u64>, latency: Duration) {
    let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
    hist.saturating_record(us);
}

/// HdrHistogram's V2 binary encoding (the one every HdrHistogram port reads).
pub fn histogram_to_v2(hist: &Histogram<u64>) -> Vec<u8> {
    let mut out = Vec::new();
    V2Serializer::new()
        .serialize(hist, &mut out)
        .expect("serializing into a Vec cannot fail");
    out
}

/// The inverse of [`histogram_to_v2`].
pub fn histogram_from_v2(bytes: &[u8]) -> Result<Histogram<u64>> {
    Deserializer::new()
        .deserialize(&mut std::io::Cursor::new(bytes))
        .map_err(|e| anyhow::anyhow!("decoding an HdrHistogram V2 blob: {e:?}"))
}

/// Serde helpers: a histogram as base64 of its V2 encoding, so results JSON
/// carries the full distribution, not only the percentiles.
pub mod histogram_base64 {
    use super::*;

    pub fn serialize<S: serde::Serializer>(h: &Histogram<u64>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(histogram_to_v2(h)))
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Histogram<u64>, D::Error> {
        let text = String::deserialize(d)?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(serde::de::Error::custom)?;
        histogram_from_v2(&bytes).map_err(serde::de::Error::custom)
    }
}

/// Failed requests by kind. Non-2xx answers are not errors: see
/// [`LoadResult::non_2xx`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Errors {
    /// The connection could not be opened (refused, unreachable, ...).
    pub connect: u64,
    /// Reset or EOF before a complete response, or a malformed response.
    pub read: u64,
    /// The request could not be written.
    pub write: u64,
    /// No complete response within the per-request timeout (connecting
    /// included); the connection was closed and reopened.
    pub timeout: u64,
}

impl Errors {
    pub fn total(&self) -> u64 {
        self.connect + self.read + self.write + self.timeout
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    Connect,
    Read,
    Write,
    Timeout,
}

/// Percentiles of a histogram, in µs, for readers that do not decode it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencySummary {
    pub count: u64,
    pub min_us: u64,
    pub mean_us: f64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
}

impl LatencySummary {
    pub fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        LatencySummary {
            count: h.len(),
            min_us: h.min(),
            mean_us: h.mean(),
            p50_us: h.value_at_quantile(0.50),
            p90_us: h.value_at_quantile(0.90),
            p99_us: h.value_at_quantile(0.99),
            p999_us: h.value_at_quantile(0.999),
            max_us: h.max(),
        }
    }
}

/// One load run's measurements, over the measured window only (warm-up
/// excluded). Serializes to JSON with the histogram embedded as base64 V2.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LoadResult {
    pub mode: Mode,
    pub connections: usize,
    pub keep_alive: bool,
    /// Responses with a 2xx status.
    pub ok: u64,
    /// Complete responses with any other status.
    pub non_2xx: u64,
    /// `non_2xx` by status code.
    pub status_counts: BTreeMap<u16, u64>,
    pub errors: Errors,
    /// Length of the measured window in seconds: from the end of warm-up to
    /// the deadline, or to the early stop (interrupt or `max_requests`).
    pub elapsed_s: f64,
    /// Throughput: `ok / elapsed_s`. Only 2xx responses count, so a server
    /// answering errors fast does not look fast.
    pub rps: f64,
    /// Summary of `histogram`.
    pub latency: LatencySummary,
    /// Stopped early by the caller's stop check (Ctrl-C); what was measured
    /// until then is still valid.
    pub interrupted: bool,
    /// Stopped because `max_requests` responses were counted.
    pub reached_max_requests: bool,
    /// Requests still in flight at the end: neither counted nor errors.
    pub in_flight_at_end: u64,
    /// Open loop only: requests whose intended send time had passed but that
    /// no connection was free to send. Non-zero means the server fell behind
    /// the offered rate.
    pub unsent_at_end: u64,
    /// Open loop only: requests with no answer whose latency is in the
    /// histogram anyway, as wrk2 records them: timed out (latency to the
    /// timeout), or in flight or unsent at the deadline (latency to the
    /// deadline), each from its intended send time.
    #[serde(default)]
    pub censored: u64,
    /// Connections opened inside the window (keep-alive: the reconnects).
    #[serde(default)]
    pub connects: u64,
    /// How long the warm-up before the window lasted, seconds.
    #[serde(default)]
    pub warmup_s: f64,
    /// Did the window open on a steady load (closed loop: every connection
    /// answered at least once during the warm-up)? False when the warm-up hit
    /// its cap first.
    #[serde(default = "yes")]
    pub steady: bool,
    /// CPU time of the load generator's thread over the window, ms.
    #[serde(default)]
    pub loadgen_cpu_ms: f64,
    /// Latency of every 2xx response in µs; for the open loop, from the
    /// intended send time, plus the `censored` requests. Serialized as
    /// `histogram_v2_base64`.
    #[serde(rename = "histogram_v2_base64", with = "histogram_base64")]
    pub histogram: Histogram<u64>,
}

fn yes() -> bool {
    true
}

impl LoadResult {
    /// Mean CPU use of the load generator's thread over the window, percent
    /// of one core.
    pub fn loadgen_cpu_pct(&self) -> f64 {
        if self.elapsed_s > 0.0 {
            self.loadgen_cpu_ms / (self.elapsed_s * 10.0)
        } else {
            0.0
        }
    }

    /// Little's law: requests in the system = throughput x time in it. In a
    /// steady closed loop every connection always has a request in flight,
    /// so `rps x mean latency / connections` is 1; well below 1 means the
    /// latencies were cut short by the window (the queue was still filling).
    /// `None` for the open loop, whose concurrency is not fixed.
    pub fn little_ratio(&self) -> Option<f64> {
        (self.mode == Mode::Closed && self.connections > 0 && self.latency.count > 0)
            .then(|| self.rps * self.latency.mean_us / 1e6 / self.connections as f64)
    }

    /// All complete responses, 2xx or not.
    pub fn completed(&self) -> u64 {
        self.ok + self.non_2xx
    }

    /// The histogram in HdrHistogram's V2 encoding, e.g. for `raw/*.hdr`.
    pub fn histogram_v2(&self) -> Vec<u8> {
        histogram_to_v2(&self.histogram)
    }

    /// [`LoadResult::histogram_v2`] as standard base64.
    pub fn histogram_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.histogram_v2())
    }

    /// Parse a result written with `serde_json`.
    pub fn from_json(text: &str) -> Result<Self> {
        serde_json::from_str(text).context("parsing a load result")
    }
}

/// Counts what happens inside the measured window `[from, to]`, once it is
/// open: an event is classified by when it happened (completion, failure),
/// so the window's throughput is what the server delivered during it.
pub(super) struct Recorder {
    window: Option<(Instant, Instant)>,
    hist: Histogram<u64>,
    ok: u64,
    non_2xx: u64,
    /// Indexed by status code (httparse only yields three digits); a flat
    /// array so counting never allocates.
    by_status: Vec<u64>,
    errors: Errors,
    censored: u64,
    connects: u64,
    /// Sum of the recorded latencies, for their running mean (the
    /// histogram's own mean walks every bucket).
    latency_sum: Duration,
}

impl Recorder {
    pub(super) fn new() -> Self {
        Recorder {
            window: None,
            hist: new_histogram(),
            ok: 0,
            non_2xx: 0,
            by_status: vec![0; 1000],
            errors: Errors::default(),
            censored: 0,
            connects: 0,
            latency_sum: Duration::ZERO,
        }
    }

    /// Start counting: the window is `[from, to]`.
    pub(super) fn open(&mut self, from: Instant, to: Instant) {
        self.window = Some((from, to));
    }

    pub(super) fn window(&self) -> Option<(Instant, Instant)> {
        self.window
    }

    /// Mean latency of what the window has recorded so far (zero before
    /// anything is).
    pub(super) fn mean_latency(&self) -> Duration {
        match self.hist.len() {
            0 => Duration::ZERO,
            n => self.latency_sum / u32::try_from(n).unwrap_or(u32::MAX),
        }
    }

    fn counts(&self, at: Instant) -> bool {
        self.window.is_some_and(|(from, to)| at >= from && at <= to)
    }

    /// A complete response at `at`, whose latency clock started at `origin`.
    pub(super) fn response(&mut self, at: Instant, origin: Instant, status: u16) {
        if !self.counts(at) {
            return;
        }
        if (200..300).contains(&status) {
            self.ok += 1;
            self.record(at.saturating_duration_since(origin));
        } else {
            self.non_2xx += 1;
            self.by_status[usize::from(status).min(999)] += 1;
        }
    }

    /// A request without an answer whose latency is still recorded: at least
    /// `at - origin` (open loop; see [`LoadResult::censored`]).
    pub(super) fn censored(&mut self, at: Instant, origin: Instant) {
        if !self.counts(at) {
            return;
        }
        self.censored += 1;
        self.record(at.saturating_duration_since(origin));
    }

    fn record(&mut self, latency: Duration) {
        record_latency(&mut self.hist, latency);
        self.latency_sum += latency;
    }

    pub(super) fn connect(&mut self, at: Instant) {
        if self.counts(at) {
            self.connects += 1;
        }
    }

    pub(super) fn error(&mut self, at: Instant, kind: ErrorKind) {
        if !self.counts(at) {
            return;
        }
        let e = &mut self.errors;
        match kind {
            ErrorKind::Connect => e.connect += 1,
            ErrorKind::Read => e.read += 1,
            ErrorKind::Write => e.write += 1,
            ErrorKind::Timeout => e.timeout += 1,
        }
    }

    /// Responses counted so far (for `max_requests`).
    pub(super) fn completed(&self) -> u64 {
        self.ok + self.non_2xx
    }

    /// Close the books at `stopped` (the deadline or an earlier stop).
    pub(super) fn finish(self, stopped: Instant, tail: Tail) -> LoadResult {
        let elapsed_s = match self.window {
            Some((from, to)) => stopped
                .min(to)
                .saturating_duration_since(from)
                .as_secs_f64(),
            None => 0.0,
        };
        let rps = if elapsed_s > 0.0 {
            self.ok as f64 / elapsed_s
        } else {
            0.0
        };
        let status_counts = self
            .by_status
            .iter()
            .enumerate()
            .filter(|(_, &n)| n > 0)
            .map(|(code, &n)| (code as u16, n))
            .collect();
        LoadResult {
            mode: tail.mode,
            connections: tail.connections,
            keep_alive: tail.keep_alive,
            ok: self.ok,
            non_2xx: self.non_2xx,
            status_counts,
            errors: self.errors,
            elapsed_s,
            rps,
            latency: LatencySummary::of(&self.hist),
            interrupted: tail.interrupted,
            reached_max_requests: tail.reached_max_requests,
            in_flight_at_end: tail.in_flight,
            unsent_at_end: tail.unsent,
            censored: self.censored,
            connects: self.connects,
            warmup_s: tail.warmup_s,
            steady: tail.steady,
            loadgen_cpu_ms: tail.loadgen_cpu_ms,
            histogram: self.hist,
        }
    }
}

/// What the event loop knows at the end that the recorder does not.
pub(super) struct Tail {
    pub mode: Mode,
    pub connections: usize,
    pub keep_alive: bool,
    pub interrupted: bool,
    pub reached_max_requests: bool,
    pub in_flight: u64,
    pub unsent: u64,
    pub warmup_s: f64,
    pub steady: bool,
    pub loadgen_cpu_ms: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_and_status_classes() {
        let t0 = Instant::now();
        let from = t0 + Duration::from_millis(100);
        let to = t0 + Duration::from_millis(200);
        let mut r = Recorder::new();
        r.response(t0, t0, 200); // before the window opens: discarded
        r.open(from, to);
        let at = t0 + Duration::from_millis(150);
        r.response(at, at - Duration::from_micros(2500), 200);
        r.response(at, at, 503);
        r.response(t0, t0, 200); // warm-up: discarded
        r.response(to + Duration::from_millis(1), t0, 200); // after the deadline
        r.error(at, ErrorKind::Timeout);
        r.error(t0, ErrorKind::Connect); // warm-up
        let res = r.finish(
            to,
            Tail {
                mode: Mode::Closed,
                connections: 1,
                keep_alive: false,
                interrupted: false,
                reached_max_requests: false,
                in_flight: 0,
                unsent: 0,
                warmup_s: 0.1,
                steady: true,
                loadgen_cpu_ms: 50.0,
            },
        );
        assert_eq!((res.ok, res.non_2xx), (1, 1));
        assert_eq!(res.loadgen_cpu_pct(), 50.0);
        assert_eq!(res.status_counts, BTreeMap::from([(503, 1)]));
        assert_eq!(
            res.errors,
            Errors {
                timeout: 1,
                ..Errors::default()
            }
        );
        assert!((res.elapsed_s - 0.1).abs() < 1e-9);
        assert!((res.rps - 10.0).abs() < 1e-6);
        assert_eq!(res.latency.count, 1);
        // 3 significant figures: 2500 µs is kept within 0.1%.
        assert!(res.latency.p50_us.abs_diff(2500) <= 3, "{:?}", res.latency);
    }

    #[test]
    fn histogram_survives_json_and_v2() {
        let mut h = new_histogram();
        for us in [10, 100, 1000, 10_000] {
            h.record(us).unwrap();
        }
        record_latency(&mut h, Duration::from_secs(100_000)); // saturates, no panic
        let back = histogram_from_v2(&histogram_to_v2(&h)).unwrap();
        assert_eq!(back, h);
        let res = Recorder::new().finish(
            Instant::now(),
            Tail {
                mode: Mode::Open { rate: 100.0 },
                connections: 2,
                keep_alive: true,
                interrupted: true,
                reached_max_requests: false,
                in_flight: 1,
                unsent: 0,
                warmup_s: 0.0,
                steady: true,
                loadgen_cpu_ms: 0.0,
            },
        );
        let mut res = res;
        res.histogram = h.clone();
        let json = serde_json::to_string(&res).unwrap();
        assert!(json.contains("histogram_v2_base64"));
        let parsed = LoadResult::from_json(&json).unwrap();
        assert_eq!(parsed.histogram, h);
        assert_eq!(parsed.mode, Mode::Open { rate: 100.0 });
        assert!(parsed.interrupted);
    }
}
