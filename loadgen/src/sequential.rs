//! The warm suite's client: requests one after another on one persistent
//! connection, each latency kept. Blocking std I/O: with one request in
//! flight there is nothing to multiplex, and a blocking read wakes as soon
//! as the bytes arrive.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::http::{build_request, Done, Progress, ResponseParser};
use super::stats::{histogram_base64, new_histogram, record_latency, LatencySummary};

/// Options of [`sequential_with`].
#[derive(Clone, Debug, Serialize)]
pub struct SequentialSpec {
    pub addr: SocketAddr,
    pub path: String,
    pub host: String,
    /// Requests sent first and not recorded.
    pub warmup: usize,
    /// Requests recorded.
    pub count: usize,
    /// Per request, for connect, write and read each.
    pub timeout: Duration,
}

impl SequentialSpec {
    pub fn new(addr: SocketAddr, path: &str, warmup: usize, count: usize) -> Self {
        SequentialSpec {
            addr,
            path: path.to_owned(),
            host: addr.to_string(),
            warmup,
            count,
            timeout: Duration::from_secs(5),
        }
    }
}

/// What [`sequential`] measured.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Sequential {
    /// Every recorded request's latency in nanoseconds, in order.
    pub samples_ns: Vec<u64>,
    /// Summary of `histogram`.
    pub latency: LatencySummary,
    /// Connections opened (warm-up included): 1 when the server kept the
    /// connection alive throughout.
    pub connects: u64,
    /// The same latencies in µs. Serialized as `histogram_v2_base64`.
    #[serde(rename = "histogram_v2_base64", with = "histogram_base64")]
    pub histogram: Histogram<u64>,
}

/// `warmup` then `count` sequential `GET path` requests with
/// `Connection: keep-alive` on one connection, reopened transparently when
/// the server closes it (a request that needed a reconnect includes the
/// connect in its latency). A non-2xx answer or a failure is an error: the
/// warm suite measures a healthy server.
pub fn sequential(addr: SocketAddr, path: &str, warmup: usize, count: usize) -> Result<Sequential> {
    sequential_with(&SequentialSpec::new(addr, path, warmup, count))
}

/// [`sequential`] with every option.
pub fn sequential_with(spec: &SequentialSpec) -> Result<Sequential> {
    let request = build_request(&spec.path, &spec.host, true);
    let mut client = Client {
        addr: spec.addr,
        timeout: spec.timeout,
        stream: None,
        buf: vec![0; 8 * 1024],
        parser: ResponseParser::new(),
        connects: 0,
    };
    let mut samples_ns = Vec::with_capacity(spec.count);
    let mut histogram = new_histogram();
    for i in 0..spec.warmup + spec.count {
        let started = Instant::now();
        let done = client
            .exchange(&request)
            .with_context(|| format!("request {} of GET {} to {}", i + 1, spec.path, spec.addr))?;
        let latency = started.elapsed();
        if !(200..300).contains(&done.status) {
            bail!(
                "GET {} to {} answered {} (request {})",
                spec.path,
                spec.addr,
                done.status,
                i + 1
            );
        }
        if i >= spec.warmup {
            samples_ns.push(u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX));
            record_latency(&mut histogram, latency);
        }
    }
    Ok(Sequential {
        samples_ns,
        latency: LatencySummary::of(&histogram),
        connects: client.connects,
        histogram,
    })
}

struct Client {
    addr: SocketAddr,
    timeout: Duration,
    stream: Option<TcpStream>,
    buf: Vec<u8>,
    parser: ResponseParser,
    connects: u64,
}

/// Why an attempt failed, and whether the server had sent anything.
struct Failure {
    nothing_received: bool,
    error: anyhow::Error,
}

impl Client {
    /// One request and its response. A reused connection the server closed
    /// in the meantime fails before any byte comes back: retry that once on
    /// a fresh connection.
    fn exchange(&mut self, request: &[u8]) -> Result<Done> {
        let reused = self.stream.is_some();
        match self.attempt(request) {
            Ok(done) => Ok(done),
            Err(f) if reused && f.nothing_received => {
                self.stream = None;
                self.attempt(request).map_err(|f| f.error)
            }
            Err(f) => Err(f.error),
        }
    }

    fn attempt(&mut self, request: &[u8]) -> Result<Done, Failure> {
        let result = self.attempt_inner(request);
        match &result {
            Ok(done) if !done.close => {}
            // Closed by the server, or unusable after an error.
            _ => self.stream = None,
        }
        result
    }

    fn attempt_inner(&mut self, request: &[u8]) -> Result<Done, Failure> {
        let early = |error: anyhow::Error| Failure {
            nothing_received: true,
            error,
        };
        if self.stream.is_none() {
            let s = TcpStream::connect_timeout(&self.addr, self.timeout)
                .with_context(|| format!("connecting to {}", self.addr))
                .map_err(early)?;
            self.connects += 1;
            // Timeouts and Nagle are socket options; failures to set them
            // would only show up as slower requests, so they are errors.
            s.set_nodelay(true)
                .and_then(|()| s.set_read_timeout(Some(self.timeout)))
                .and_then(|()| s.set_write_timeout(Some(self.timeout)))
                .context("configuring the socket")
                .map_err(early)?;
            self.stream = Some(s);
        }
        let stream = self.stream.as_mut().expect("connected above");
        stream
            .write_all(request)
            .context("writing the request")
            .map_err(early)?;
        self.parser.reset();
        let mut len = 0;
        let mut received = false;
        loop {
            let n = match stream.read(&mut self.buf[len..]) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(Failure {
                        nothing_received: !received,
                        error: anyhow!(e).context("reading the response"),
                    })
                }
            };
            if n == 0 {
                return self.parser.at_eof().map_err(|_| Failure {
                    nothing_received: !received,
                    error: anyhow!("connection closed before a complete response"),
                });
            }
            received = true;
            len += n;
            let (used, progress) = self.parser.advance(&self.buf[..len]).map_err(|_| Failure {
                nothing_received: false,
                error: anyhow!("malformed response"),
            })?;
            self.buf.copy_within(used..len, 0);
            len -= used;
            match progress {
                Progress::Complete(done) => return Ok(done),
                Progress::Partial if len == self.buf.len() => {
                    return Err(Failure {
                        nothing_received: false,
                        error: anyhow!("response head larger than {} bytes", self.buf.len()),
                    })
                }
                Progress::Partial => {}
            }
        }
    }
}
