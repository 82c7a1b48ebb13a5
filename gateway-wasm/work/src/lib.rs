//! The work behind the `compute_wasm` and `json` workloads, written once: the
//! native gateway calls it directly, and the second Wasm module (`main.rs`,
//! built for wasm32-wasip1) runs the same code inside the runtime. So the two
//! compare native compute with Wasm compute, and their bodies are the same
//! bytes by construction (and by test).
//!
//! A job travels to the module on its stdin as text: `sha256-chain N` or
//! `json` followed by a newline and the document.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The fixed document the `json` workload transforms (about 1 KB).
pub const ORDER: &str = include_str!("order.json");

/// One piece of work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job<'a> {
    /// The `compute` chain: SHA-256 applied `iters` times to 32 zero bytes.
    Chain { iters: u64 },
    /// [`transform_order`] applied to `document`.
    Json { document: &'a [u8] },
}

/// Why a job could not be done (the module exits with [`JobError::exit_code`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobError {
    /// The input names no job this module knows, or a bad argument.
    BadJob(String),
    /// The document is not the JSON the transform expects.
    BadDocument(String),
}

impl JobError {
    pub fn exit_code(&self) -> u8 {
        match self {
            JobError::BadJob(_) => 64,
            JobError::BadDocument(_) => 65,
        }
    }
}

impl fmt::Display for JobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JobError::BadJob(msg) => write!(f, "bad job: {msg}"),
            JobError::BadDocument(msg) => write!(f, "bad document: {msg}"),
        }
    }
}

impl std::error::Error for JobError {}

const CHAIN: &str = "sha256-chain ";
const JSON: &str = "json\n";

impl<'a> Job<'a> {
    /// The job as the module reads it on stdin.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Job::Chain { iters } => format!("{CHAIN}{iters}").into_bytes(),
            Job::Json { document } => [JSON.as_bytes(), document].concat(),
        }
    }

    /// The inverse of [`Job::encode`].
    pub fn decode(input: &'a [u8]) -> Result<Job<'a>, JobError> {
        if let Some(document) = input.strip_prefix(JSON.as_bytes()) {
            return Ok(Job::Json { document });
        }
        if let Some(arg) = input.strip_prefix(CHAIN.as_bytes()) {
            let iters = std::str::from_utf8(arg)
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .ok_or_else(|| JobError::BadJob("sha256-chain wants a count".into()))?;
            return Ok(Job::Chain { iters });
        }
        let head = String::from_utf8_lossy(&input[..input.len().min(32)]).into_owned();
        Err(JobError::BadJob(format!("unknown job {head:?}")))
    }

    /// Do it: the body the native gateway sends (the module prefixes `wasm:`).
    pub fn run(&self) -> Result<Vec<u8>, JobError> {
        match *self {
            Job::Chain { iters } => Ok(sha256_chain(iters).into_bytes()),
            Job::Json { document } => transform_order(document),
        }
    }
}

/// SHA-256 applied `iters` times to 32 zero bytes, as lowercase hex: the
/// same definition as `gateway_native::compute_chain` (tested against it).
pub fn sha256_chain(iters: u64) -> String {
    let mut state = [0u8; 32];
    for _ in 0..iters {
        state = Sha256::digest(state).into();
    }
    hex::encode(state)
}

// The input, as much of it as the transform reads; serde skips the rest
// (`status` is kept, `debug` and the shipping account are dropped).
#[derive(Deserialize)]
struct Order {
    order_id: String,
    created_at: String,
    status: String,
    currency: String,
    customer: Customer,
    items: Vec<Item>,
    shipping: Shipping,
    tags: Vec<String>,
}

#[derive(Deserialize)]
struct Customer {
    id: u64,
    name: String,
    email: String,
}

#[derive(Deserialize)]
struct Item {
    sku: String,
    title: String,
    qty: u64,
    unit_price_cents: u64,
}

#[derive(Deserialize)]
struct Shipping {
    method: String,
    address: Address,
}

#[derive(Deserialize)]
struct Address {
    city: String,
    country: String,
}

// The output. Typed structs serialize their fields in declaration order, so
// the bytes do not depend on serde_json's map features in either build.
#[derive(Serialize)]
struct Summary {
    id: String,
    created: String,
    status: String,
    customer: CustomerOut,
    items: Vec<ItemOut>,
    ship_to: String,
    shipping: String,
    tags: Vec<String>,
    currency: String,
    total_cents: u64,
}

#[derive(Serialize)]
struct CustomerOut {
    id: u64,
    name: String,
    contact: String,
}

#[derive(Serialize)]
struct ItemOut {
    sku: String,
    name: String,
    qty: u64,
    price_cents: u64,
}

/// The `json` workload: parse an order, rename fields (`order_id` -> `id`,
/// `title` -> `name`, ...), drop the internal ones (phone, notes, warehouse
/// bins, carrier account, debug), add `total_cents` (the sum of qty x unit
/// price), and serialize compactly.
pub fn transform_order(document: &[u8]) -> Result<Vec<u8>, JobError> {
    let order: Order =
        serde_json::from_slice(document).map_err(|e| JobError::BadDocument(e.to_string()))?;
    let total_cents = order
        .items
        .iter()
        .try_fold(0u64, |sum, i| {
            i.qty
                .checked_mul(i.unit_price_cents)
                .and_then(|line| sum.checked_add(line))
        })
        .ok_or_else(|| JobError::BadDocument("total_cents overflows".into()))?;
    let summary = Summary {
        id: order.order_id,
        created: order.created_at,
        status: order.status,
        customer: CustomerOut {
            id: order.customer.id,
            name: order.customer.name,
            contact: order.customer.email,
        },
        items: order
            .items
            .into_iter()
            .map(|i| ItemOut {
                sku: i.sku,
                name: i.title,
                qty: i.qty,
                price_cents: i.unit_price_cents,
            })
            .collect(),
        ship_to: format!(
            "{}, {}",
            order.shipping.address.city, order.shipping.address.country
        ),
        shipping: order.shipping.method,
        tags: order.tags,
        currency: order.currency,
        total_cents,
    };
    serde_json::to_vec(&summary).map_err(|e| JobError::BadDocument(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `json` body, written out: every build must produce these bytes.
    const SUMMARY: &str = include_str!("order.summary.json");

    #[test]
    fn the_order_becomes_the_summary() {
        let out = transform_order(ORDER.as_bytes()).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), SUMMARY.trim_end());
        // 12900 + 2 x 3450 + 3 x 990 + 28900 + 4500
        assert!(SUMMARY.contains("\"total_cents\":56170"));
    }

    #[test]
    fn chain_matches_its_definition() {
        assert_eq!(sha256_chain(0), "0".repeat(64));
        assert_eq!(
            sha256_chain(1),
            "66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925"
        );
    }

    #[test]
    fn jobs_round_trip_through_their_encoding() {
        for job in [
            Job::Chain { iters: 20_000 },
            Job::Json {
                document: ORDER.as_bytes(),
            },
        ] {
            let bytes = job.encode();
            assert_eq!(Job::decode(&bytes).unwrap(), job);
        }
        assert_eq!(Job::Chain { iters: 7 }.encode(), b"sha256-chain 7");
    }

    #[test]
    fn bad_jobs_and_documents_are_errors() {
        for bad in [&b""[..], b"sha256-chain", b"sha256-chain x", b"rm -rf /"] {
            assert!(
                matches!(Job::decode(bad), Err(JobError::BadJob(_))),
                "{bad:?}"
            );
        }
        for bad in [&b"{"[..], b"[]", b"{\"order_id\":1}"] {
            let err = transform_order(bad).unwrap_err();
            assert!(matches!(err, JobError::BadDocument(_)), "{err}");
        }
        let huge = ORDER.replace("\"qty\": 1,", "\"qty\": 18446744073709551615,");
        assert!(transform_order(huge.as_bytes()).is_err());
    }
}
