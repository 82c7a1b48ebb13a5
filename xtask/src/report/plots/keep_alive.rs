//! `plots/keep_alive`: requests/s on persistent connections against one
//! request per connection, per variant and workload: a group per workload,
//! a pair of bars per variant (solid: keep-alive at its best level; outlined:
//! the `close` peak over the connection levels), on a log axis since the
//! variants span four decades.

use anyhow::Result;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::warm_latency::{draw_bars, solid_and_outlined};
use super::{frame, legend, log_axis, ordered_variants, ordered_workloads, Chart, Entry, Mark};
use crate::report::figures;
use crate::report::summary::Summary;

/// One (variant, workload): mean keep-alive rps, and the `close` peak.
struct Pair {
    variant: String,
    workload: String,
    keep_alive: f64,
    close: Option<f64>,
}

pub(crate) struct KeepAlive {
    variants: Vec<String>,
    workloads: Vec<String>,
    pairs: Vec<Pair>,
}

impl KeepAlive {
    pub fn new(s: &Summary) -> Option<KeepAlive> {
        let ka = || s.throughput.iter().filter(|r| r.keep_alive());
        let variants = ordered_variants(ka().map(|r| r.variant.as_str()));
        let workloads = ordered_workloads(ka().map(|r| r.workload.as_str()));
        let mut pairs = Vec::new();
        for variant in &variants {
            for workload in &workloads {
                let best = figures::points_in(&s.throughput, variant, workload, true)
                    .into_iter()
                    .map(|p| p.mean)
                    .filter(|rps| rps.is_finite() && *rps > 0.0)
                    .max_by(f64::total_cmp);
                let Some(keep_alive) = best else { continue };
                let close = figures::peak_point(s, variant, workload)
                    .map(|p| p.mean)
                    .filter(|rps| *rps > 0.0);
                pairs.push(Pair {
                    variant: variant.clone(),
                    workload: workload.clone(),
                    keep_alive,
                    close,
                });
            }
        }
        if pairs.is_empty() {
            return None;
        }
        Some(KeepAlive {
            variants,
            workloads,
            pairs,
        })
    }
}

impl Chart for KeepAlive {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        let (area, strip) = frame(root, "Keep-alive against one request per connection")?;
        let y = log_axis(
            self.pairs
                .iter()
                .flat_map(|p| std::iter::once(p.keep_alive).chain(p.close)),
            1.4,
        )
        .expect("positive rates");
        let n = self.variants.len();
        let mut bars = Vec::new();
        for (g, workload) in self.workloads.iter().enumerate() {
            for (slot, variant) in self.variants.iter().enumerate() {
                let Some(p) = self
                    .pairs
                    .iter()
                    .find(|p| &p.workload == workload && &p.variant == variant)
                else {
                    continue;
                };
                bars.extend(solid_and_outlined(
                    (g, slot, n),
                    super::color(variant),
                    p.keep_alive,
                    p.close,
                ));
            }
        }
        draw_bars(&area, &self.workloads, &y, "requests/s (log scale)", &bars)?;
        let mut entries = super::variant_entries(&self.variants, |c| Mark::Swatch(c.to_rgba()));
        entries.push(Entry::heading("Mode (left, right bar)"));
        let grey = RGBColor(60, 60, 60);
        entries.push(Entry::new(
            "solid: keep-alive",
            Mark::Swatch(grey.to_rgba()),
        ));
        entries.push(Entry::new(
            "outlined: close mode, peak",
            Mark::Outline(grey),
        ));
        legend(&strip, &entries)?;
        Ok(())
    }
}
