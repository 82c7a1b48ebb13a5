//! The load generator against small local servers with known behaviour:
//! a fixed service delay, refusal, resets, silence, 500s, a serial server
//! for the open loop. Bounds are tolerances wide enough for a loaded 2-core
//! machine; each test runs for about a second or two.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use loadgen::{LoadResult, LoadSpec, Mode};

struct Server {
    addr: SocketAddr,
    accepted: Arc<AtomicU64>,
}

/// A server on an ephemeral port, alive until the test process exits.
/// `threaded`: a thread per connection (requests overlap); otherwise one
/// connection at a time (a serial server, like the gateways).
fn spawn_server<F>(threaded: bool, handle: F) -> Server
where
    F: Fn(TcpStream) + Send + Sync + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicU64::new(0));
    let count = Arc::clone(&accepted);
    let handle = Arc::new(handle);
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            count.fetch_add(1, Ordering::SeqCst);
            if threaded {
                let h = Arc::clone(&handle);
                thread::spawn(move || h(stream));
            } else {
                handle(stream);
            }
        }
    });
    Server { addr, accepted }
}

#[derive(Clone, Copy)]
struct Reply {
    delay: Duration,
    status: u16,
    /// Keep the connection open for more requests (no Connection header).
    keep_alive: bool,
    /// No Content-Length: the body ends when the server closes.
    until_eof: bool,
}

impl Reply {
    fn hello(delay_ms: u64) -> Self {
        Reply {
            delay: Duration::from_millis(delay_ms),
            status: 200,
            keep_alive: false,
            until_eof: false,
        }
    }
}

/// Answer each request head after `delay`, like the gateways: one request
/// per connection and `Connection: close`, unless `keep_alive`.
fn answer(mut s: TcpStream, r: Reply) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        let end = loop {
            if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break p + 4;
            }
            match s.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        buf.drain(..end);
        thread::sleep(r.delay);
        let framing = match (r.until_eof, r.keep_alive) {
            (true, _) => "Connection: close\r\n",
            (false, true) => "Content-Length: 5\r\n",
            (false, false) => "Content-Length: 5\r\nConnection: close\r\n",
        };
        let resp = format!("HTTP/1.1 {} X\r\n{framing}\r\nhello", r.status);
        if s.write_all(resp.as_bytes()).is_err() || !r.keep_alive || r.until_eof {
            return;
        }
    }
}

fn spec(addr: SocketAddr, connections: usize, duration_ms: u64) -> LoadSpec {
    let mut spec = LoadSpec::new(addr);
    spec.connections = connections;
    spec.duration = Duration::from_millis(duration_ms);
    spec
}

fn never() -> bool {
    false
}

/// CPU time of the calling thread: a busy loop would burn as much as the
/// wall clock.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: plain syscall into a stack struct.
    assert_eq!(
        unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) },
        0
    );
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

fn assert_no_errors(r: &LoadResult) {
    assert_eq!(r.errors.total(), 0, "errors: {:?}", r.errors);
    assert_eq!(r.non_2xx, 0, "non-2xx: {:?}", r.status_counts);
}

#[test]
fn closed_loop_latency_and_rate_follow_the_server_delay() {
    let server = spawn_server(true, |s| answer(s, Reply::hello(2)));
    let r = loadgen::run(&spec(server.addr, 4, 1000), &never).unwrap();
    assert_no_errors(&r);
    assert!(!r.interrupted && !r.reached_max_requests);
    assert!((r.elapsed_s - 1.0).abs() < 1e-6, "{}", r.elapsed_s);
    // Each request takes at least the 2 ms delay; connect, thread start and
    // scheduling on a busy machine add at most a few ms at the median.
    let p50 = r.latency.p50_us;
    assert!(
        (2000..=5000).contains(&p50),
        "p50 {p50} µs: {:?}",
        r.latency
    );
    assert!(r.latency.min_us >= 2000, "{:?}", r.latency);
    // 4 connections / 2 ms = 2000 requests/s at most.
    assert!(r.rps <= 2100.0 && r.rps >= 250.0, "rps {}", r.rps);
    assert_eq!(r.histogram.len(), r.ok);
    assert_eq!(r.latency.count, r.ok);
    // One request per connection: every request was a fresh connection.
    assert!(server.accepted.load(Ordering::SeqCst) >= r.ok);
}

#[test]
fn refused_connections_are_counted_without_spinning() {
    // A bound socket that never listens: connects are refused, and no other
    // test can take the port meanwhile.
    // SAFETY: plain socket syscalls on a struct we own.
    let (fd, addr) = unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
        assert!(fd >= 0);
        let mut sa: libc::sockaddr_in = std::mem::zeroed();
        sa.sin_family = libc::AF_INET as libc::sa_family_t;
        sa.sin_addr.s_addr = u32::from(std::net::Ipv4Addr::LOCALHOST).to_be();
        let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        assert_eq!(libc::bind(fd, (&raw const sa).cast(), len), 0);
        let mut len = len;
        assert_eq!(libc::getsockname(fd, (&raw mut sa).cast(), &mut len), 0);
        (
            fd,
            SocketAddr::from(([127, 0, 0, 1], u16::from_be(sa.sin_port))),
        )
    };
    let started = Instant::now();
    let cpu = thread_cpu();
    let r = loadgen::run(&spec(addr, 4, 1000), &never).unwrap();
    let cpu = thread_cpu() - cpu;
    let wall = started.elapsed();
    // SAFETY: closing our own fd.
    unsafe { libc::close(fd) };

    assert!(r.errors.connect > 0, "{:?}", r.errors);
    assert_eq!(r.completed(), 0);
    assert_eq!(r.rps, 0.0);
    assert_eq!((r.errors.read, r.errors.write, r.errors.timeout), (0, 0, 0));
    assert!(wall < Duration::from_millis(1500), "ran {wall:?}");
    // The back-off (5-10 ms per connection) caps retries near 4 x 200/s; a
    // busy loop would make tens of thousands and burn a whole CPU second.
    assert!(r.errors.connect <= 1000, "{} connects", r.errors.connect);
    assert!(cpu < Duration::from_millis(300), "cpu {cpu:?}");
}

#[test]
fn resets_are_read_errors() {
    let server = spawn_server(false, |s| {
        // SO_LINGER 0: close sends RST instead of FIN.
        let linger = libc::linger {
            l_onoff: 1,
            l_linger: 0,
        };
        use std::os::fd::AsRawFd;
        // SAFETY: setting a socket option on a live socket.
        unsafe {
            libc::setsockopt(
                s.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_LINGER,
                (&raw const linger).cast(),
                std::mem::size_of::<libc::linger>() as libc::socklen_t,
            );
        }
        drop(s);
    });
    let r = loadgen::run(&spec(server.addr, 2, 500), &never).unwrap();
    assert_eq!(r.completed(), 0);
    assert!(r.errors.read > 0, "{:?}", r.errors);
    assert_eq!(r.errors.timeout, 0, "{:?}", r.errors);
    assert!(server.accepted.load(Ordering::SeqCst) > 0);
}

#[test]
fn silent_server_times_out_and_connections_are_reopened() {
    let held = Arc::new(Mutex::new(Vec::new()));
    let keep = Arc::clone(&held);
    let server = spawn_server(false, move |s| keep.lock().unwrap().push(s));
    let mut s = spec(server.addr, 2, 1000);
    s.timeout = Duration::from_millis(200);
    let r = loadgen::run(&s, &never).unwrap();
    assert_eq!(r.completed(), 0);
    // 2 connections x 1 s / (200 ms + up to one 5 ms tick) = 8-10.
    assert!(
        (6..=10).contains(&r.errors.timeout),
        "{} timeouts",
        r.errors.timeout
    );
    assert_eq!(r.errors.total(), r.errors.timeout, "{:?}", r.errors);
    // Each timeout closed its connection and opened a new one.
    assert!(server.accepted.load(Ordering::SeqCst) >= r.errors.timeout);
    assert!(r.in_flight_at_end <= 2);
}

#[test]
fn non_2xx_answers_are_counted_apart_from_throughput() {
    let server = spawn_server(true, |s| {
        answer(
            s,
            Reply {
                status: 500,
                ..Reply::hello(0)
            },
        )
    });
    let r = loadgen::run(&spec(server.addr, 2, 500), &never).unwrap();
    assert!(r.non_2xx > 0);
    assert_eq!(r.ok, 0);
    assert_eq!(r.rps, 0.0);
    assert_eq!(r.status_counts.get(&500), Some(&r.non_2xx));
    assert_eq!(r.errors.total(), 0, "{:?}", r.errors);
    assert_eq!(r.latency.count, 0, "only 2xx latencies are recorded");
}

/// Offered load against a serial server (5 ms per request, so 200/s at
/// most) with 2 connections: however far behind the server falls, at most
/// 2 requests wait in it, so latency timed from the actual send stays near
/// 10 ms. Timed from the intended send it shows the growing backlog.
fn open_loop(rate: f64) -> LoadResult {
    let server = spawn_server(false, |s| answer(s, Reply::hello(5)));
    let mut s = spec(server.addr, 2, 1500);
    s.mode = Mode::Open { rate };
    loadgen::run(&s, &never).unwrap()
}

#[test]
fn open_loop_overload_shows_queueing_delay() {
    let r = open_loop(400.0);
    assert_no_errors(&r);
    // After 1.5 s at 400/s offered and <=200/s served, the backlog is about
    // 300 requests (0.75 s); the p90 request waited hundreds of ms.
    assert!(r.latency.p90_us > 100_000, "{:?}", r.latency);
    assert!(r.latency.max_us > 300_000, "{:?}", r.latency);
    assert!(r.rps <= 210.0, "rps {}", r.rps);
    assert!(r.unsent_at_end > 100, "unsent {}", r.unsent_at_end);
}

#[test]
fn open_loop_under_capacity_stays_near_service_time() {
    let r = open_loop(50.0);
    assert_no_errors(&r);
    // 5 ms service plus connect; no queue.
    assert!(r.latency.p50_us >= 5000, "{:?}", r.latency);
    assert!(r.latency.p90_us < 30_000, "{:?}", r.latency);
    // The offered rate is what got served: 1.5 s x 50/s = 75 (give or take
    // the request in flight at each end).
    assert!((70..=77).contains(&r.ok), "ok {}", r.ok);
    assert!((r.rps - 50.0).abs() < 4.0, "rps {}", r.rps);
    assert!(r.unsent_at_end <= 1, "unsent {}", r.unsent_at_end);
}

#[test]
fn keep_alive_reuses_connections() {
    let server = spawn_server(true, |s| {
        answer(
            s,
            Reply {
                keep_alive: true,
                ..Reply::hello(0)
            },
        )
    });
    let mut s = spec(server.addr, 2, 5000);
    s.keep_alive = true;
    s.max_requests = Some(300);
    let r = loadgen::run(&s, &never).unwrap();
    assert_no_errors(&r);
    assert!(r.reached_max_requests);
    assert_eq!(r.ok, 300);
    assert!(r.elapsed_s < 5.0);
    assert_eq!(server.accepted.load(Ordering::SeqCst), 2);
}

#[test]
fn server_close_means_a_new_connection_per_request() {
    let server = spawn_server(true, |s| answer(s, Reply::hello(0)));
    let mut s = spec(server.addr, 2, 5000);
    s.max_requests = Some(300);
    let r = loadgen::run(&s, &never).unwrap();
    assert_no_errors(&r);
    assert_eq!(r.ok, 300);
    assert!(server.accepted.load(Ordering::SeqCst) >= 300);
}

#[test]
fn body_delimited_by_close_completes_at_eof() {
    let server = spawn_server(true, |s| {
        answer(
            s,
            Reply {
                until_eof: true,
                ..Reply::hello(0)
            },
        )
    });
    let mut s = spec(server.addr, 2, 2000);
    s.max_requests = Some(100);
    let r = loadgen::run(&s, &never).unwrap();
    assert_no_errors(&r);
    assert_eq!(r.ok, 100);
}

#[test]
fn warmup_is_run_but_not_measured() {
    let server = spawn_server(true, |s| answer(s, Reply::hello(1)));
    let mut s = spec(server.addr, 2, 400);
    s.warmup = Duration::from_millis(400);
    let started = Instant::now();
    let r = loadgen::run(&s, &never).unwrap();
    assert!(started.elapsed() >= Duration::from_millis(800));
    assert!((r.elapsed_s - 0.4).abs() < 1e-6, "{}", r.elapsed_s);
    assert_no_errors(&r);
    // The server saw the warm-up's requests too; the result did not.
    let accepted = server.accepted.load(Ordering::SeqCst);
    assert!(
        accepted > r.ok + 50,
        "accepted {accepted}, counted {}",
        r.ok
    );
}

#[test]
fn stop_flag_ends_the_run_early() {
    let server = spawn_server(true, |s| answer(s, Reply::hello(1)));
    let started = Instant::now();
    let stop = move || started.elapsed() > Duration::from_millis(300);
    let r = loadgen::run(&spec(server.addr, 2, 10_000), &stop).unwrap();
    let wall = started.elapsed();
    assert!(r.interrupted);
    assert!(wall < Duration::from_millis(600), "ran {wall:?}");
    assert!(r.elapsed_s > 0.25 && r.elapsed_s < 0.6, "{}", r.elapsed_s);
    assert!(r.ok > 0);
}

#[test]
fn bad_specs_are_rejected() {
    let addr: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let mut s = spec(addr, 0, 100);
    assert!(loadgen::run(&s, &never).is_err());
    s.connections = 1;
    s.mode = Mode::Open { rate: 0.0 };
    assert!(loadgen::run(&s, &never).is_err());
}

#[test]
fn result_json_carries_the_histogram() {
    let server = spawn_server(true, |s| answer(s, Reply::hello(0)));
    let mut s = spec(server.addr, 2, 2000);
    s.max_requests = Some(50);
    let r = loadgen::run(&s, &never).unwrap();
    let json = serde_json::to_string(&r).unwrap();
    let back = LoadResult::from_json(&json).unwrap();
    assert_eq!(back.histogram.len(), 50);
    assert_eq!(back.latency, r.latency);
    assert_eq!(
        loadgen::histogram_from_v2(&r.histogram_v2()).unwrap().len(),
        50
    );
}

#[test]
fn sequential_on_a_keep_alive_server_uses_one_connection() {
    let server = spawn_server(true, |s| {
        answer(
            s,
            Reply {
                keep_alive: true,
                ..Reply::hello(0)
            },
        )
    });
    let seq = loadgen::sequential(server.addr, "/", 5, 50).unwrap();
    assert_eq!(seq.samples_ns.len(), 50);
    assert_eq!(seq.histogram.len(), 50);
    assert_eq!(seq.connects, 1);
    assert_eq!(server.accepted.load(Ordering::SeqCst), 1);
    assert!(seq.samples_ns.iter().all(|&ns| ns > 0));
    // The histogram holds the same samples in µs.
    let max_us = seq.samples_ns.iter().max().unwrap() / 1000;
    assert!(seq.histogram.max().abs_diff(max_us) <= max_us / 500 + 1);
}

#[test]
fn sequential_reconnects_when_the_server_closes() {
    let server = spawn_server(true, |s| answer(s, Reply::hello(1)));
    let seq = loadgen::sequential(server.addr, "/", 3, 20).unwrap();
    assert_eq!(seq.samples_ns.len(), 20);
    assert_eq!(seq.connects, 23);
    // Each sample includes the 1 ms service time.
    assert!(seq.samples_ns.iter().all(|&ns| ns >= 1_000_000));
}

#[test]
fn sequential_fails_on_error_status() {
    let server = spawn_server(true, |s| {
        answer(
            s,
            Reply {
                status: 503,
                ..Reply::hello(0)
            },
        )
    });
    let err = loadgen::sequential(server.addr, "/", 0, 5).unwrap_err();
    assert!(format!("{err:#}").contains("503"), "{err:#}");
}

#[test]
fn open_loop_records_what_is_unanswered_at_the_deadline() {
    // wrk2's rule: the backlog is in the histogram, latency to the deadline.
    let r = open_loop(400.0);
    assert!(r.censored >= r.unsent_at_end, "{r:?}");
    assert!(r.unsent_at_end > 100, "unsent {}", r.unsent_at_end);
    // Histogram = answered + censored, and its maximum is at least the
    // oldest unsent request's wait (over half the 1.5 s window).
    assert_eq!(r.latency.count, r.ok + r.censored);
    assert!(r.latency.max_us > 700_000, "{:?}", r.latency);
}

#[test]
fn a_steady_warm_up_waits_for_every_connection() {
    // Serial server, 20 ms a request, 20 connections: the queue takes 400 ms
    // to cycle once. A fixed 50 ms warm-up would measure a queue still
    // filling (latencies too short); the steady one waits for every
    // connection's first answer, and Little's law then holds.
    let server = spawn_server(false, |s| answer(s, Reply::hello(20)));
    let mut s = spec(server.addr, 20, 1200);
    s.warmup = Duration::from_millis(50);
    s.steady = true;
    s.warmup_max = Duration::from_secs(10);
    let r = loadgen::run(&s, &never).unwrap();
    assert_no_errors(&r);
    assert!(r.steady);
    assert!(r.warmup_s >= 0.35, "warm-up {} s", r.warmup_s);
    let little = r.little_ratio().unwrap();
    assert!(
        (0.85..=1.15).contains(&little),
        "Little's ratio {little}: {r:?}"
    );
    // Without it the window opens after the fixed warm-up, queue or not.
    s.steady = false;
    let r = loadgen::run(&s, &never).unwrap();
    assert!(r.warmup_s < 0.1, "warm-up {} s", r.warmup_s);
}

#[test]
fn the_window_edges_are_reported_and_the_load_thread_measured() {
    let server = spawn_server(true, |s| answer(s, Reply::hello(1)));
    let mut s = spec(server.addr, 4, 400);
    s.warmup = Duration::from_millis(100);
    let mut edges = Vec::new();
    let r = loadgen::run_observed(&s, &never, &mut |e| {
        edges.push((e, std::time::Instant::now()))
    })
    .unwrap();
    assert_eq!(edges.len(), 2);
    assert_eq!(edges[0].0, loadgen::Edge::Start);
    assert_eq!(edges[1].0, loadgen::Edge::End);
    let span = edges[1].1 - edges[0].1;
    assert!(
        (span.as_secs_f64() - r.elapsed_s).abs() < 0.01,
        "{span:?} vs {} s",
        r.elapsed_s
    );
    // The load thread mostly waits on a 1 ms server: well under a core.
    assert!(
        r.loadgen_cpu_ms > 0.0 && r.loadgen_cpu_pct() < 90.0,
        "{r:?}"
    );
    // One connection per request; a request whose connection was opened
    // during the warm-up (at most one per connection) is answered in the
    // window without a connect counted there.
    assert!(
        r.connects + r.connections as u64 >= r.ok,
        "one connection per request: {r:?}"
    );
}

/// A serial server at 10 ms a request and 20 connections: ~200 ms latencies,
/// as long as the 200 ms window asked. With `window_latencies` the window
/// stays open until it spans that many mean latencies of its own responses
/// (the rule a reader checks in the result), up to `window_max`; without it,
/// it is the duration.
#[test]
fn closed_window_spans_the_mean_latencies_asked() {
    let server = spawn_server(false, |s| answer(s, Reply::hello(10)));
    let mut s = spec(server.addr, 20, 200);
    s.steady = true;
    s.warmup_max = Duration::from_secs(5);

    let plain = loadgen::run(&s, &never).unwrap();
    assert_no_errors(&plain);
    assert!((plain.elapsed_s - 0.2).abs() < 1e-6, "{}", plain.elapsed_s);

    s.window_latencies = 3.0;
    s.window_max = Duration::from_secs(10);
    let r = loadgen::run(&s, &never).unwrap();
    assert_no_errors(&r);
    let mean_s = r.latency.mean_us / 1e6;
    assert!(
        mean_s > 0.1,
        "latencies of a serial 10 ms server at 20: {mean_s}"
    );
    assert!(
        r.elapsed_s >= 3.0 * mean_s * 0.999,
        "window {} s, 3 x mean latency {} s",
        r.elapsed_s,
        3.0 * mean_s
    );
    // It ends when the rule is met, not much later (one tick of slack, and
    // the mean moves while it waits).
    assert!(r.elapsed_s < 3.0 * mean_s * 2.0, "window {} s", r.elapsed_s);

    // The cap wins over the rule, never over the duration.
    s.window_max = Duration::from_millis(300);
    let capped = loadgen::run(&s, &never).unwrap();
    assert!(
        (capped.elapsed_s - 0.3).abs() < 1e-6,
        "{}",
        capped.elapsed_s
    );
}
