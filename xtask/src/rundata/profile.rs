//! `Manifest.profile` as recorded and read back: the settings of the
//! profile a run used (`bench::Profile`), after overrides. Every field is optional because older
//! manifests (and hand-made ones) lack some; a key this struct does not
//! know is kept in `other`, so writing a manifest back loses nothing.
//! Fields are in key order, so the JSON has the order it always had.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProfileRecord {
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

impl ProfileRecord {
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
    fn partial_and_unknown_keys_load_and_write_back() {
        let json = serde_json::json!({"name": "ci", "repeats": 6, "old_knob": [1]});
        let p: ProfileRecord = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(p.name.as_deref(), Some("ci"));
        assert_eq!(p.repeats, Some(6));
        assert_eq!(p.cold_repeats, None);
        assert_eq!(serde_json::to_value(&p).unwrap(), json);
    }
}
