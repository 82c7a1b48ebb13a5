//! `Manifest.profile` as read back: the [`Profile`](crate::bench::Profile)
//! a run used, after overrides. Every field is optional because older
//! manifests (and hand-made ones) lack some; a key this struct does not
//! know is kept in `other`, so writing a manifest back loses nothing.
//! Fields are in key order, so the JSON has the order it always had.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::bench::Profile;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunProfile {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cold_repeats: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cold_samples: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connections: Option<Vec<usize>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keepalive_connections: Option<Vec<usize>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub open_connections: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub primer_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rates: Option<Vec<f64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repeats: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warm_repeats: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warm_requests: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warm_warmup: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warmup_max_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warmup_s: Option<f64>,
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
}

impl From<&Profile> for RunProfile {
    fn from(p: &Profile) -> RunProfile {
        RunProfile {
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
            other: BTreeMap::new(),
        }
    }
}

impl RunProfile {
    /// `key=value` for every key the manifest has, in key order (the report's
    /// line; values as JSON, strings bare).
    pub fn settings(&self) -> Vec<(String, String)> {
        let Ok(serde_json::Value::Object(map)) = serde_json::to_value(self) else {
            return Vec::new();
        };
        map.into_iter()
            .map(|(k, v)| match v {
                serde_json::Value::String(s) => (k, s),
                other => (k, other.to_string()),
            })
            .collect()
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
            let typed = serde_json::to_value(RunProfile::from(&p)).unwrap();
            assert_eq!(typed, serde_json::to_value(&p).unwrap(), "{}", p.name);
            let text = serde_json::to_string(&serde_json::to_value(&p).unwrap()).unwrap();
            assert_eq!(serde_json::to_string(&RunProfile::from(&p)).unwrap(), text);
        }
    }

    #[test]
    fn partial_and_unknown_keys_load_and_write_back() {
        let json = serde_json::json!({"name": "ci", "repeats": 6, "old_knob": [1]});
        let p: RunProfile = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(p.name.as_deref(), Some("ci"));
        assert_eq!(p.repeats, Some(6));
        assert_eq!(p.cold_repeats, None);
        assert_eq!(serde_json::to_value(&p).unwrap(), json);
    }
}
