//! What the client and the agent say to each other: one JSON object a line,
//! a request on the agent's stdin and its reply on its stdout.

use std::net::{IpAddr, SocketAddr};

use serde::{Deserialize, Serialize};

use crate::sample::Sample;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Keep the agent (its cold-start polling, its sampler) on `cpu`, off
    /// the gateway's, as a local run keeps the harness.
    Pin { cpu: usize },
    /// Can `variant` run on this host? (Its binaries, runtime, images.)
    Availability { variant: String },
    /// Start a variant listening on `listen_ip`, the server's address as
    /// the client reaches it, and the host upstream when `upstream` is set
    /// and the variant uses it (as a local run starts it: for `proxy`).
    /// Whatever ran before is stopped first.
    Start {
        variant: String,
        listen_ip: IpAddr,
        cpu: Option<usize>,
        upstream_cpu: Option<usize>,
        env: Vec<(String, String)>,
        #[serde(default)]
        upstream: bool,
    },
    /// Start sampling the running gateway every `interval_ms`.
    SampleStart { interval_ms: u64 },
    /// A reading now, on the sampler's clock (a window edge).
    Reading,
    /// Stop sampling; every sample taken.
    SampleFinish,
    /// Is the gateway still up?
    Alive,
    /// Stop the gateway and its upstream.
    Stop,
    /// Time `samples` cold starts of `variant` on this host, each from the
    /// spawn to its first 200 (polled here, so no network is in them).
    /// Stops whatever ran before.
    Cold {
        variant: String,
        samples: usize,
        cpu: Option<usize>,
        env: Vec<(String, String)>,
    },
    /// The logs the gateways and the upstream wrote (`<name>.log`), so the
    /// run folder holds them as a local run's does.
    Logs,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "snake_case")]
pub enum Reply {
    Pinned,
    /// `None` when it can run; else why not.
    Availability {
        reason: Option<String>,
    },
    /// The gateway answers on `addr`; `sampled` says what the sampler reads.
    Started {
        addr: SocketAddr,
        sampled: String,
    },
    Sampling,
    Reading {
        sample: Option<Sample>,
    },
    Samples {
        samples: Vec<Sample>,
    },
    Alive {
        alive: bool,
    },
    Stopped,
    /// Milliseconds, one per sample.
    Cold {
        ms: Vec<f64>,
    },
    /// (file name, contents) of each log.
    Logs {
        files: Vec<(String, String)>,
    },
    Error {
        message: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_and_a_reply_are_one_line_of_json_each() {
        let start = Request::Start {
            variant: "native_local".to_owned(),
            listen_ip: "127.0.0.1".parse().unwrap(),
            cpu: Some(0),
            upstream_cpu: None,
            env: vec![("GATEWAY_TIMEOUT_MS".to_owned(), "1000".to_owned())],
            upstream: true,
        };
        let line = serde_json::to_string(&start).unwrap();
        assert!(!line.contains('\n'));
        assert!(line.starts_with(r#"{"op":"start","#), "{line}");
        assert_eq!(serde_json::from_str::<Request>(&line).unwrap(), start);
        let reply = Reply::Reading {
            sample: Some(Sample {
                t_ms: 1.5,
                rss_kb: 2048,
                cpu_ms: 10.0,
                relay_rss_kb: None,
                relay_cpu_ms: None,
            }),
        };
        let line = serde_json::to_string(&reply).unwrap();
        assert_eq!(serde_json::from_str::<Reply>(&line).unwrap(), reply);
    }
}
