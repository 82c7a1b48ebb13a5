//! `plots/warm_latency`: p50/p90/p99 per variant and workload on the
//! persistent connection, as grouped bars (a group per workload, a bar per
//! variant; each bar nests p50 solid, p90 medium, p99 light) on a log µs
//! axis. `plots/warm_persistent_vs_curl`: p50 of the two clients side by
//! side where both were measured (curl's ~8 ms start-up sits in each sample).

use anyhow::Result;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::{
    frame, legend, log_axis, ordered_variants, ordered_workloads, tick_plain, Axis, Chart, Entry,
    Mark,
};
use crate::report::summary::WarmRow;
use crate::rundata::Client;

/// One bar: its left and right edge (in group units) and its layers, from the
/// tallest (drawn first) to the shortest.
pub(super) struct Bar {
    x0: f64,
    x1: f64,
    layers: Vec<(f64, ShapeStyle)>,
    outline: Option<RGBColor>,
}

/// Draw grouped bars on a log y axis with the group names under the x axis.
pub(super) fn draw_bars<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    groups: &[String],
    y: &Axis,
    y_desc: &str,
    bars: &[Bar],
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let centers: Vec<f64> = (0..groups.len()).map(|g| g as f64 + 0.5).collect();
    let name_of = |x: &f64| -> String {
        groups
            .get(x.floor().max(0.0) as usize)
            .cloned()
            .unwrap_or_default()
    };
    let mut chart = ChartBuilder::on(area)
        .margin(16)
        .x_label_area_size(50)
        .y_label_area_size(80)
        .build_cartesian_2d(Axis::linear(0.0, groups.len() as f64, centers), y.clone())?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_desc("workload")
        .y_desc(y_desc)
        .x_label_formatter(&name_of)
        .y_label_formatter(&|v| tick_plain(*v))
        .axis_desc_style(super::font(16))
        .label_style(super::font(14))
        .light_line_style(RGBColor(235, 235, 235))
        .bold_line_style(RGBColor(200, 200, 200))
        .draw()?;
    for bar in bars {
        for (top, style) in &bar.layers {
            chart.draw_series(std::iter::once(Rectangle::new(
                [(bar.x0, y.lo), (bar.x1, *top)],
                *style,
            )))?;
        }
        if let (Some(color), Some((top, _))) = (bar.outline, bar.layers.first()) {
            chart.draw_series(std::iter::once(Rectangle::new(
                [(bar.x0, y.lo), (bar.x1, *top)],
                color.stroke_width(2),
            )))?;
        }
    }
    Ok(())
}

/// Slot `slot` of `slots` in group `g`, split into `parts` side-by-side bars:
/// the left and right edges of part `part`.
pub(super) fn slot_edges(
    g: usize,
    slot: usize,
    slots: usize,
    part: usize,
    parts: usize,
) -> (f64, f64) {
    let inner = 0.84;
    let w = inner / slots as f64;
    let left = g as f64 + (1.0 - inner) / 2.0 + slot as f64 * w;
    let gap = w * 0.12;
    let pw = (w - gap) / parts as f64;
    let x0 = left + gap / 2.0 + part as f64 * pw;
    (x0, x0 + pw)
}

/// Two figures of one variant in one group, side by side: a solid bar and
/// an outlined one (when there is a second figure). `at` is (group, slot,
/// slots).
pub(super) fn solid_and_outlined(
    at: (usize, usize, usize),
    color: RGBColor,
    solid: f64,
    outlined: Option<f64>,
) -> Vec<Bar> {
    let (g, slot, slots) = at;
    let (x0, x1) = slot_edges(g, slot, slots, 0, 2);
    let mut bars = vec![Bar {
        x0,
        x1,
        layers: vec![(solid, color.filled())],
        outline: None,
    }];
    if let Some(value) = outlined {
        let (x0, x1) = slot_edges(g, slot, slots, 1, 2);
        bars.push(Bar {
            x0,
            x1,
            layers: vec![(value, color.mix(0.15).filled())],
            outline: Some(color),
        });
    }
    bars
}

pub(crate) struct WarmLatency {
    variants: Vec<String>,
    workloads: Vec<String>,
    rows: Vec<WarmRow>,
}

impl WarmLatency {
    pub fn new(rows: &[WarmRow]) -> Option<WarmLatency> {
        let rows: Vec<WarmRow> = rows
            .iter()
            .filter(|r| r.client == Client::Persistent && r.p50_us > 0)
            .cloned()
            .collect();
        if rows.is_empty() {
            return None;
        }
        Some(WarmLatency {
            variants: ordered_variants(rows.iter().map(|r| r.variant.as_str())),
            workloads: ordered_workloads(rows.iter().map(|r| r.workload.as_str())),
            rows,
        })
    }
}

impl Chart for WarmLatency {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        let (area, strip) = frame(root, "Warm latency p50 / p90 / p99, persistent connection")?;
        let y = log_axis(
            self.rows
                .iter()
                .flat_map(|r| [r.p50_us as f64, r.p99_us as f64]),
            1.4,
        )
        .expect("positive latencies");
        let mut bars = Vec::new();
        for (g, workload) in self.workloads.iter().enumerate() {
            for (slot, variant) in self.variants.iter().enumerate() {
                let Some(r) = self
                    .rows
                    .iter()
                    .find(|r| &r.workload == workload && &r.variant == variant)
                else {
                    continue;
                };
                let c = super::color(variant);
                let (x0, x1) = slot_edges(g, slot, self.variants.len(), 0, 1);
                bars.push(Bar {
                    x0,
                    x1,
                    layers: vec![
                        (r.p99_us as f64, c.mix(0.25).filled()),
                        (r.p90_us as f64, c.mix(0.55).filled()),
                        (r.p50_us as f64, c.filled()),
                    ],
                    outline: None,
                });
            }
        }
        draw_bars(&area, &self.workloads, &y, "latency, µs (log scale)", &bars)?;
        let mut entries = super::variant_entries(&self.variants, |c| Mark::Swatch(c.to_rgba()));
        entries.push(Entry::heading("Each bar, bottom to top"));
        let grey = RGBColor(60, 60, 60);
        entries.push(Entry::new("solid: p50", Mark::Swatch(grey.to_rgba())));
        entries.push(Entry::new("medium: p90", Mark::Swatch(grey.mix(0.55))));
        entries.push(Entry::new("light: p99", Mark::Swatch(grey.mix(0.25))));
        legend(&strip, &entries)?;
        Ok(())
    }
}

pub(crate) struct PersistentVsCurl {
    variants: Vec<String>,
    workloads: Vec<String>,
    /// (variant, workload, persistent p50, curl p50).
    pairs: Vec<(String, String, u64, u64)>,
}

impl PersistentVsCurl {
    pub fn new(rows: &[WarmRow]) -> Option<PersistentVsCurl> {
        let pairs: Vec<(String, String, u64, u64)> = rows
            .iter()
            .filter(|r| r.client == Client::Persistent && r.p50_us > 0)
            .filter_map(|p| {
                rows.iter()
                    .find(|c| {
                        c.client == Client::Curl
                            && c.variant == p.variant
                            && c.workload == p.workload
                            && c.p50_us > 0
                    })
                    .map(|c| (p.variant.clone(), p.workload.clone(), p.p50_us, c.p50_us))
            })
            .collect();
        if pairs.is_empty() {
            return None;
        }
        Some(PersistentVsCurl {
            variants: ordered_variants(pairs.iter().map(|p| p.0.as_str())),
            workloads: ordered_workloads(pairs.iter().map(|p| p.1.as_str())),
            pairs,
        })
    }
}

impl Chart for PersistentVsCurl {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        let (area, strip) = frame(root, "Warm p50: persistent connection vs curl per request")?;
        let y = log_axis(
            self.pairs.iter().flat_map(|p| [p.2 as f64, p.3 as f64]),
            1.4,
        )
        .expect("positive latencies");
        let mut bars = Vec::new();
        for (g, workload) in self.workloads.iter().enumerate() {
            for (slot, variant) in self.variants.iter().enumerate() {
                let Some(p) = self
                    .pairs
                    .iter()
                    .find(|p| &p.1 == workload && &p.0 == variant)
                else {
                    continue;
                };
                bars.extend(solid_and_outlined(
                    (g, slot, self.variants.len()),
                    super::color(variant),
                    p.2 as f64,
                    Some(p.3 as f64),
                ));
            }
        }
        draw_bars(
            &area,
            &self.workloads,
            &y,
            "p50 latency, µs (log scale)",
            &bars,
        )?;
        let mut entries = super::variant_entries(&self.variants, |c| Mark::Swatch(c.to_rgba()));
        entries.push(Entry::heading("Client (left, right bar)"));
        let grey = RGBColor(60, 60, 60);
        entries.push(Entry::new(
            "solid: one persistent connection",
            Mark::Swatch(grey.to_rgba()),
        ));
        entries.push(Entry::new(
            "outlined: curl per request",
            Mark::Outline(grey),
        ));
        legend(&strip, &entries)?;
        Ok(())
    }
}
