//! The words a run folder uses for suites, methods, clients and statuses,
//! as enums. Their string forms are the ones manifests and raw file names
//! have always held, so old run folders still load.

use serde::{Deserialize, Serialize};

/// An enum whose variants each have one lowercase name: `name()`,
/// `from_name()`, `Display`, serde and clap all use it.
macro_rules! named {
    ($(#[$doc:meta])* $ty:ident { $($(#[$vdoc:meta])* $variant:ident = $name:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, clap::ValueEnum)]
        pub enum $ty {
            $($(#[$vdoc])* #[serde(rename = $name)] #[value(name = $name)] $variant),+
        }

        impl $ty {
            pub const ALL: &[$ty] = &[$($ty::$variant),+];

            pub fn name(self) -> &'static str {
                match self {
                    $($ty::$variant => $name),+
                }
            }

            pub fn from_name(name: &str) -> Option<$ty> {
                $ty::ALL.iter().copied().find(|x| x.name() == name)
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

named!(
    /// What a cell measured (`Cell.suite`, `Manifest.suites`).
    Suite {
        Cold = "cold",
        Warm = "warm",
        Throughput = "throughput",
        Headroom = "headroom",
        Instructions = "instructions",
        Cost = "cost",
    }
);

named!(
    /// How cold start is timed (`bench --method`).
    Method {
        /// Exec to the first 200, timed inside the harness.
        Harness = "harness",
        /// The study's: hyperfine running a shell with curl.
        Hyperfine = "hyperfine",
    }
);

named!(
    /// Who sends warm-latency requests (`bench --client`).
    Client {
        /// One keep-alive connection.
        Persistent = "persistent",
        /// A curl process per request (the study's).
        Curl = "curl",
    }
);

named!(
    /// `Cell.status`.
    CellStatus {
        Ok = "ok",
        Failed = "failed",
        /// Not run, with the reason (e.g. it could not reach a steady state).
        Skipped = "skipped",
        /// Cut short by Ctrl-C.
        Interrupted = "interrupted",
        /// Measured, but disturbed (steal, foreign load on the gateway's
        /// core, an outlier against its own repeats) in every attempt: left
        /// out of every summary, with the reason.
        Disturbed = "disturbed",
    }
);

named!(
    /// `VariantStatus.status`.
    VariantState {
        Ran = "ran",
        /// Not run at all, with the reason.
        Skipped = "skipped",
        /// Failed in at least one cell.
        Failed = "failed",
    }
);

named!(
    /// `Manifest.status` in these words; otherwise it is a sentence
    /// (`failed: ...`, `round 2: interrupted`).
    RunStatus {
        /// The harness is measuring (or was killed: see `Abandoned`).
        Running = "running",
        Complete = "complete",
        Interrupted = "interrupted",
        /// Found `running` with its harness gone.
        Abandoned = "abandoned",
    }
);

named!(
    /// A closed-loop throughput cell's connections (`aggregated/throughput.csv`'s `mode`).
    ConnMode {
        /// One request per connection.
        Close = "close",
        /// Persistent connections.
        KeepAlive = "keep-alive",
    }
);

impl ConnMode {
    pub fn of(keep_alive: bool) -> ConnMode {
        if keep_alive {
            ConnMode::KeepAlive
        } else {
            ConnMode::Close
        }
    }
}

impl VariantState {
    /// Merging repeats or rounds keeps the worst.
    pub fn rank(self) -> u8 {
        match self {
            VariantState::Skipped => 0,
            VariantState::Ran => 1,
            VariantState::Failed => 2,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forms<T>(
        all: &[T],
        name: fn(T) -> &'static str,
        from: fn(&str) -> Option<T>,
        expected: &[&str],
    ) where
        T: Copy + PartialEq + std::fmt::Debug + std::fmt::Display,
        T: Serialize + for<'de> Deserialize<'de> + clap::ValueEnum,
    {
        let names: Vec<&str> = all.iter().map(|&x| name(x)).collect();
        assert_eq!(names, expected);
        for &x in all {
            let n = name(x);
            assert_eq!(from(n), Some(x));
            assert_eq!(x.to_string(), n);
            assert_eq!(serde_json::to_string(&x).unwrap(), format!("\"{n}\""));
            assert_eq!(serde_json::from_str::<T>(&format!("\"{n}\"")).unwrap(), x);
            assert_eq!(T::from_str(n, false), Ok(x));
        }
        assert_eq!(from("nonsense"), None);
    }

    #[test]
    fn string_forms_are_the_old_ones() {
        forms(
            Suite::ALL,
            Suite::name,
            Suite::from_name,
            &[
                "cold",
                "warm",
                "throughput",
                "headroom",
                "instructions",
                "cost",
            ],
        );
        forms(
            Method::ALL,
            Method::name,
            Method::from_name,
            &["harness", "hyperfine"],
        );
        forms(
            Client::ALL,
            Client::name,
            Client::from_name,
            &["persistent", "curl"],
        );
        forms(
            CellStatus::ALL,
            CellStatus::name,
            CellStatus::from_name,
            &["ok", "failed", "skipped", "interrupted", "disturbed"],
        );
        forms(
            VariantState::ALL,
            VariantState::name,
            VariantState::from_name,
            &["ran", "skipped", "failed"],
        );
        forms(
            ConnMode::ALL,
            ConnMode::name,
            ConnMode::from_name,
            &["close", "keep-alive"],
        );
        forms(
            RunStatus::ALL,
            RunStatus::name,
            RunStatus::from_name,
            &["running", "complete", "interrupted", "abandoned"],
        );
    }
}
