//! The handler of each workload, routed by path (docs/variants.md's workload table):
//!
//! | request                 | answer                                         |
//! | ----------------------- | ---------------------------------------------- |
//! | `GET /health`           | `ok`, never transformed                        |
//! | `GET /`                 | `hello`                                        |
//! | `GET /compute?iters=N`  | [`compute_chain`]`(N)`; `N` defaults to 20000  |
//! | `GET /state`            | the counter after `fetch_add(1)`: 1, 2, ...    |
//! | `GET /compute-wasm?iters=N` | the same chain, done by [`Transform::work`] |
//! | `GET /json`             | [`gateway_work::ORDER`] transformed, by `work` |
//! | `GET /<anything else>`  | the upstream's answer ([`crate::proxy`])       |
//!
//! Every body but health's goes through the [`Transform`] (for the proxy,
//! only a 2xx answer's). A transform error is a 500 whose body is the error.
//! `compute-wasm` and `json` are the work itself: natively in the native
//! gateway, inside the work module in a Wasm one.

use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};

use crate::config::ServerArgs;
use crate::http::{parse_decimal, Request, Response};
use crate::log::warn;
use crate::proxy;
use crate::transform::Transform;
use gateway_work::Job;

/// `iters` when `/compute` has none: the study's figure.
pub const DEFAULT_ITERS: u64 = 20_000;

/// The `state` workload's counter: process-wide, starting at 0.
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// The `compute` workload: SHA-256 applied `iters` times to a fixed seed of
/// 32 zero bytes (`state = [0u8; 32]; repeat iters times { state =
/// sha256(state) }`), as lowercase hex. The seed is fixed so every variant and
/// every test computes the same value; `compute_chain(0)` is the seed itself.
pub fn compute_chain(iters: u64) -> String {
    let mut state = [0u8; 32];
    for _ in 0..iters {
        state = Sha256::digest(state).into();
    }
    hex::encode(state)
}

/// Answers one request.
pub fn respond(request: &Request, args: &ServerArgs, transform: &mut dyn Transform) -> Response {
    match request.path() {
        "/health" => Response::ok("ok"),
        "/" => transformed(transform, 200, b"hello"),
        "/compute" => match parse_iters(request.query(), args.max_iters) {
            Ok(iters) => transformed(transform, 200, compute_chain(iters).as_bytes()),
            Err(message) => Response::text(400, message),
        },
        "/state" => {
            let count = COUNTER.fetch_add(1, Ordering::Relaxed) + 1;
            transformed(transform, 200, count.to_string().as_bytes())
        }
        "/compute-wasm" => match parse_iters(request.query(), args.max_iters) {
            Ok(iters) => worked(transform, &Job::Chain { iters }),
            Err(message) => Response::text(400, message),
        },
        "/json" => worked(
            transform,
            &Job::Json {
                document: gateway_work::ORDER.as_bytes(),
            },
        ),
        _ => proxied(request, args, transform),
    }
}

fn proxied(request: &Request, args: &ServerArgs, transform: &mut dyn Transform) -> Response {
    match proxy::forward(&request.target, args) {
        Ok(upstream) if (200..300).contains(&upstream.status) => {
            transformed(transform, upstream.status, &upstream.body)
        }
        Ok(upstream) => Response::text(upstream.status, upstream.body),
        Err(e) => {
            warn(format_args!("proxy {}: {e}", request.target));
            Response::text(e.status(), e.to_string())
        }
    }
}

fn transformed(transform: &mut dyn Transform, status: u16, body: &[u8]) -> Response {
    match transform.apply(body) {
        Ok(body) => Response::text(status, body),
        Err(e) => {
            warn(format_args!("transform {} failed: {e}", transform.name()));
            Response::text(500, e.to_string())
        }
    }
}

fn worked(transform: &mut dyn Transform, job: &Job) -> Response {
    match transform.work(job) {
        Ok(body) => Response::text(200, body),
        Err(e) => {
            warn(format_args!("work {} failed: {e}", transform.name()));
            Response::text(500, e.to_string())
        }
    }
}

/// The first `iters=` in the query; [`DEFAULT_ITERS`] without one. The bound
/// applies to the default too, so `--max-iters` below it is honoured.
fn parse_iters(query: Option<&str>, max_iters: u64) -> Result<u64, String> {
    let value = query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .find_map(|pair| match pair.split_once('=') {
            Some(("iters", value)) => Some(value),
            None if pair == "iters" => Some(""),
            _ => None,
        });
    let iters = match value {
        None => Some(DEFAULT_ITERS),
        // The same digits-only rule as Content-Length: `iters=+5` is a 400.
        Some(text) => parse_decimal(text.as_bytes()),
    };
    match iters {
        Some(n) if (1..=max_iters).contains(&n) => Ok(n),
        _ => Err(format!("iters must be an integer from 1 to {max_iters}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transform::{Identity, TransformError};

    #[test]
    fn compute_chain_starts_from_32_zero_bytes() {
        assert_eq!(compute_chain(0), "0".repeat(64));
        // sha256 of 32 zero bytes, a well-known constant.
        assert_eq!(
            compute_chain(1),
            "66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925"
        );
        let once = Sha256::digest(hex::decode(compute_chain(1)).unwrap());
        assert_eq!(compute_chain(2), hex::encode(once));
    }

    #[test]
    fn iters_parsing_and_bounds() {
        assert_eq!(parse_iters(None, 1_000_000), Ok(DEFAULT_ITERS));
        assert_eq!(parse_iters(Some("x=1"), 1_000_000), Ok(DEFAULT_ITERS));
        assert_eq!(parse_iters(Some("x=1&iters=7&iters=9"), 10), Ok(7));
        assert_eq!(parse_iters(Some("iters=10"), 10), Ok(10));
        for bad in [
            "iters=abc",
            "iters=0",
            "iters=11",
            "iters=",
            "iters",
            "iters=-1",
            "iters=1.5",
            "iters=+5",
            "iters= 5",
            "iters=5 ",
            "iters=99999999999999999999999",
        ] {
            let err = parse_iters(Some(bad), 10).unwrap_err();
            assert!(err.contains("from 1 to 10"), "{bad}: {err}");
        }
        assert!(parse_iters(None, 10).is_err());
    }

    struct Failing;

    impl Transform for Failing {
        fn name(&self) -> &str {
            "failing"
        }
        fn apply(&mut self, _body: &[u8]) -> Result<Vec<u8>, TransformError> {
            Err(TransformError::Timeout { after_ms: 5 })
        }
    }

    struct Prefix;

    impl Transform for Prefix {
        fn name(&self) -> &str {
            "prefix"
        }
        fn apply(&mut self, body: &[u8]) -> Result<Vec<u8>, TransformError> {
            Ok([b"wasm:", body].concat())
        }
    }

    fn get(target: &str) -> Request {
        crate::http::parse_head(format!("GET {target} HTTP/1.1\r\n\r\n").as_bytes())
            .unwrap()
            .unwrap()
            .0
    }

    fn args() -> ServerArgs {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            server: ServerArgs,
        }
        Cli::parse_from(["test", "--max-iters", "100"]).server
    }

    #[test]
    fn routes_and_transforms() {
        let args = args();
        assert_eq!(respond(&get("/"), &args, &mut Identity).body, b"hello");
        assert_eq!(respond(&get("/"), &args, &mut Prefix).body, b"wasm:hello");
        assert_eq!(respond(&get("/health"), &args, &mut Prefix).body, b"ok");
        assert_eq!(respond(&get("/health?x"), &args, &mut Failing).status, 200);
        let compute = respond(&get("/compute?iters=3"), &args, &mut Prefix);
        assert_eq!(
            compute.body,
            format!("wasm:{}", compute_chain(3)).into_bytes()
        );
        assert_eq!(
            respond(&get("/compute?iters=101"), &args, &mut Identity).status,
            400
        );
    }

    #[test]
    fn state_counts_up() {
        let args = args();
        let first: u64 = String::from_utf8(respond(&get("/state"), &args, &mut Identity).body)
            .unwrap()
            .parse()
            .unwrap();
        let second: u64 = String::from_utf8(respond(&get("/state"), &args, &mut Identity).body)
            .unwrap()
            .parse()
            .unwrap();
        // Other tests in this process may count too, so only order is certain.
        assert!(first >= 1 && second > first);
    }

    #[test]
    fn transform_error_is_a_500_with_its_message() {
        let response = respond(&get("/"), &args(), &mut Failing);
        assert_eq!(response.status, 500);
        assert_eq!(response.body, b"wasm deadline exceeded after 5 ms");
    }

    #[test]
    fn work_workloads_run_natively_in_the_native_gateway() {
        let args = args();
        let chain = respond(&get("/compute-wasm?iters=3"), &args, &mut Identity);
        assert_eq!(chain.status, 200);
        assert_eq!(chain.body, compute_chain(3).into_bytes());
        assert_eq!(
            respond(&get("/compute-wasm?iters=0"), &args, &mut Identity).status,
            400
        );
        let json = respond(&get("/json"), &args, &mut Identity);
        assert_eq!(json.status, 200);
        assert!(json.body.ends_with(b"\"total_cents\":56170}"));
        // A transform without a work module never falls back to native code.
        let refused = respond(&get("/json"), &args, &mut Prefix);
        assert_eq!(refused.status, 500);
        assert_eq!(
            refused.body,
            b"wasm runtime unavailable: prefix has no work module"
        );
    }
}
