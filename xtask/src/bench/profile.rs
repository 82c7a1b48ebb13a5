//! `quick`, `ci`, `standard` and `full`: how many samples, levels and seconds each suite
//! takes. `full` is the study's matrix; `quick` keeps its shape in a few
//! minutes; `ci` is the pull-request A/B's round.

use std::time::Duration;

use serde::Serialize;

use crate::rundata::ProfileRecord;

#[derive(Debug, Clone, Serialize)]
pub struct Profile {
    pub name: &'static str,
    /// Cold start: repeats x samples per variant.
    pub cold_repeats: usize,
    pub cold_samples: usize,
    /// Warm latency: discarded then measured requests per (variant, workload,
    /// client), and how many times the series is repeated.
    pub warm_warmup: usize,
    pub warm_requests: usize,
    pub warm_repeats: usize,
    /// Throughput: connection levels, seconds per cell, repeats.
    pub connections: Vec<usize>,
    #[serde(with = "secs", rename = "duration_s")]
    pub duration: Duration,
    pub repeats: usize,
    /// Keep-alive cells: connection levels with persistent connections.
    pub keepalive_connections: Vec<usize>,
    /// TechEmpower's habit: a short primer at 8 connections after a variant
    /// starts; then each cell warms up at its own level for at least
    /// `warmup`, and on until the load is steady (every connection answered
    /// once), at most `warmup_max`.
    #[serde(with = "secs", rename = "primer_s")]
    pub primer: Duration,
    #[serde(with = "secs", rename = "warmup_s")]
    pub warmup: Duration,
    #[serde(with = "secs", rename = "warmup_max_s")]
    pub warmup_max: Duration,
    /// Open-loop cells: offered rates (requests/s), at `open_connections`.
    pub rates: Vec<f64>,
    pub open_connections: usize,
}

impl Profile {
    pub fn quick() -> Profile {
        Profile {
            name: "quick",
            cold_repeats: 3,
            cold_samples: 5,
            warm_warmup: 10,
            warm_requests: 100,
            warm_repeats: 3,
            connections: vec![10, 100, 400],
            keepalive_connections: vec![1],
            duration: Duration::from_secs(1),
            repeats: 3,
            primer: Duration::from_millis(300),
            warmup: Duration::from_millis(300),
            warmup_max: Duration::from_secs(20),
            rates: Vec::new(),
            open_connections: 100,
        }
    }

    /// The pull-request A/B (`bench ab`, `bench aa`): each round of an
    /// A/B runs every suite once per arm, so a round is one repeat and
    /// `repeats` is the number of rounds (hence one cold repeat per round).
    /// Sized for a 2-core runner: 3 variants x hello/compute x 2 levels x
    /// 3 s, 6 rounds per arm: 9 minutes of measuring on the 2-core
    /// development VM, plus well under a minute of incremental builds.
    pub fn ci() -> Profile {
        Profile {
            name: "ci",
            cold_repeats: 1,
            cold_samples: 10,
            warm_warmup: 20,
            warm_requests: 200,
            warm_repeats: 1,
            connections: vec![10, 100],
            keepalive_connections: Vec::new(),
            duration: Duration::from_secs(3),
            repeats: 6,
            primer: Duration::from_millis(500),
            warmup: Duration::from_millis(500),
            warmup_max: Duration::from_secs(20),
            rates: Vec::new(),
            open_connections: 100,
        }
    }

    /// The study's seven connection levels for every variant and workload,
    /// 3 repeats, with 1 s windows. How long it takes is measured, not
    /// planned: docs/methods.md states it from the last reference run (the
    /// per-request-process variants' steady warm-ups at 800 and 1200
    /// connections dominate).
    pub fn standard() -> Profile {
        Profile {
            name: "standard",
            cold_repeats: 3,
            cold_samples: 10,
            warm_warmup: 10,
            warm_requests: 100,
            warm_repeats: 3,
            connections: vec![10, 50, 100, 200, 400, 800, 1200],
            keepalive_connections: vec![1],
            duration: Duration::from_secs(1),
            repeats: 3,
            primer: Duration::from_millis(300),
            warmup: Duration::from_millis(300),
            warmup_max: Duration::from_secs(20),
            rates: Vec::new(),
            open_connections: 100,
        }
    }

    /// The study's matrix (cold 3 x 20, warm 20 + 300, seven levels of 30 s).
    pub fn full() -> Profile {
        Profile {
            name: "full",
            cold_repeats: 3,
            cold_samples: 20,
            warm_warmup: 20,
            warm_requests: 300,
            warm_repeats: 3,
            connections: vec![10, 50, 100, 200, 400, 800, 1200],
            keepalive_connections: vec![1],
            duration: Duration::from_secs(30),
            repeats: 3,
            primer: Duration::from_secs(5),
            warmup: Duration::from_secs(10),
            warmup_max: Duration::from_secs(60),
            rates: Vec::new(),
            open_connections: 100,
        }
    }

    pub fn by_name(name: &str) -> anyhow::Result<Profile> {
        match name {
            "quick" => Ok(Profile::quick()),
            "full" => Ok(Profile::full()),
            "ci" => Ok(Profile::ci()),
            "standard" => Ok(Profile::standard()),
            other => anyhow::bail!("unknown profile {other:?}; use quick, ci, standard or full"),
        }
    }
}

mod secs {
    use std::time::Duration;

    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }
}

/// What the manifest records of a profile.
impl From<&Profile> for ProfileRecord {
    fn from(p: &Profile) -> ProfileRecord {
        ProfileRecord {
            cold_repeats: Some(p.cold_repeats),
            cold_samples: Some(p.cold_samples),
            connections: Some(p.connections.clone()),
            duration_s: Some(p.duration.as_secs_f64()),
            keepalive_connections: Some(p.keepalive_connections.clone()),
            name: Some(p.name.to_owned()),
            open_connections: Some(p.open_connections),
            primer_s: Some(p.primer.as_secs_f64()),
            rates: Some(p.rates.clone()),
            repeats: Some(p.repeats),
            warm_repeats: Some(p.warm_repeats),
            warm_requests: Some(p.warm_requests),
            warm_warmup: Some(p.warm_warmup),
            warmup_max_s: Some(p.warmup_max.as_secs_f64()),
            warmup_s: Some(p.warmup.as_secs_f64()),
            other: Default::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_json_as_the_profile() {
        for p in [
            Profile::quick(),
            Profile::ci(),
            Profile::standard(),
            Profile::full(),
        ] {
            let typed = serde_json::to_value(ProfileRecord::from(&p)).unwrap();
            assert_eq!(typed, serde_json::to_value(&p).unwrap(), "{}", p.name);
            let text = serde_json::to_string(&serde_json::to_value(&p).unwrap()).unwrap();
            assert_eq!(
                serde_json::to_string(&ProfileRecord::from(&p)).unwrap(),
                text
            );
        }
    }
}
