//! The workloads, as requests. The gateway decides what each one does
//! (gateway-native/src/handlers.rs); the harness only needs the path.

use anyhow::{Context, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Workload {
    pub name: &'static str,
    pub path: &'static str,
}

pub const WORKLOADS: &[Workload] = &[
    Workload {
        name: "hello",
        path: "/",
    },
    Workload {
        name: "compute",
        path: "/compute?iters=20000",
    },
    Workload {
        name: "state",
        path: "/state",
    },
    Workload {
        name: "proxy",
        path: "/proxy",
    },
    // Work done inside the Wasm module (the work module, gateway-work), or
    // natively by the native variants: Wasm compute against native compute.
    Workload {
        name: "compute_wasm",
        path: "/compute-wasm?iters=20000",
    },
    Workload {
        name: "json",
        path: "/json",
    },
];

pub fn find(name: &str) -> Result<&'static Workload> {
    WORKLOADS.iter().find(|w| w.name == name).with_context(|| {
        let names: Vec<_> = WORKLOADS.iter().map(|w| w.name).collect();
        format!(
            "unknown workload {name:?}; the workloads are {}",
            names.join(", ")
        )
    })
}
