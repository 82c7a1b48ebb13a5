//! `plots/latency_vs_rate`: open-loop (wrk2's model, coordinated omission
//! corrected) p50 and p99 latency against the offered rate, a panel per
//! workload, a colour per variant; p50 solid, p99 dashed. Both axes log.

use anyhow::Result;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::{
    frame, legend, log_axis, ordered_variants, ordered_workloads, tick_plain, tick_si, Axis, Chart,
    Entry, Mark,
};
use crate::report::summary::OpenLoopRow;

/// Mean over repeats at one offered rate.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RatePoint {
    pub rate: f64,
    pub p50_us: f64,
    pub p99_us: f64,
}

/// One variant's points on one workload.
type Series = (String, Vec<RatePoint>);

pub(crate) struct LatencyVsRate {
    /// (workload, its series).
    panels: Vec<(String, Vec<Series>)>,
    variants: Vec<String>,
}

/// Mean p50/p99 per offered rate of (variant, workload), rates ascending.
pub(crate) fn rate_points(rows: &[OpenLoopRow], variant: &str, workload: &str) -> Vec<RatePoint> {
    let mine: Vec<&OpenLoopRow> = rows
        .iter()
        .filter(|r| r.variant == variant && r.workload == workload)
        .collect();
    let mut rates: Vec<f64> = mine.iter().map(|r| r.rate).collect();
    rates.sort_by(f64::total_cmp);
    rates.dedup();
    rates
        .into_iter()
        .map(|rate| {
            let at: Vec<&&OpenLoopRow> = mine.iter().filter(|r| r.rate == rate).collect();
            let p50: Vec<f64> = at.iter().map(|r| r.p50_us as f64).collect();
            let p99: Vec<f64> = at.iter().map(|r| r.p99_us as f64).collect();
            RatePoint {
                rate,
                p50_us: crate::stats::mean(&p50),
                p99_us: crate::stats::mean(&p99),
            }
        })
        .collect()
}

impl LatencyVsRate {
    pub fn new(rows: &[OpenLoopRow]) -> Option<LatencyVsRate> {
        let usable: Vec<OpenLoopRow> = rows
            .iter()
            .filter(|r| r.rate > 0.0 && r.p50_us > 0 && r.p99_us > 0)
            .cloned()
            .collect();
        let variants = ordered_variants(usable.iter().map(|r| r.variant.as_str()));
        let panels: Vec<(String, Vec<Series>)> =
            ordered_workloads(usable.iter().map(|r| r.workload.as_str()))
                .into_iter()
                .map(|w| {
                    let series = variants
                        .iter()
                        .map(|v| (v.clone(), rate_points(&usable, v, &w)))
                        .filter(|(_, p)| !p.is_empty())
                        .collect();
                    (w, series)
                })
                .collect();
        if panels.is_empty() {
            return None;
        }
        Some(LatencyVsRate { panels, variants })
    }
}

impl Chart for LatencyVsRate {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        let (area, strip) = frame(
            root,
            "Latency against offered rate (open loop, timed from the intended send)",
        )?;
        let cols = self.panels.len().min(2);
        let rows = self.panels.len().div_ceil(cols);
        let cells = area.split_evenly((rows, cols));
        for ((workload, series), cell) in self.panels.iter().zip(cells.iter()) {
            let pts = || series.iter().flat_map(|(_, p)| p.iter());
            let mut rates: Vec<f64> = pts().map(|p| p.rate).collect();
            rates.sort_by(f64::total_cmp);
            rates.dedup();
            let (rmin, rmax) = (rates[0], rates[rates.len() - 1]);
            let y = log_axis(pts().flat_map(|p| [p.p50_us, p.p99_us]), 1.4)
                .expect("positive latencies");
            let mut chart = ChartBuilder::on(cell)
                .margin(14)
                .caption(format!("{workload} workload"), super::font(17))
                .x_label_area_size(46)
                .y_label_area_size(76)
                .build_cartesian_2d(Axis::log_at(rmin / 1.3, rmax * 1.3, rates), y)?;
            chart
                .configure_mesh()
                .x_desc("offered rate, requests/s (log scale)")
                .y_desc("latency, µs (log scale)")
                .x_label_formatter(&|v| tick_si(*v))
                .y_label_formatter(&|v| tick_plain(*v))
                .axis_desc_style(super::font(15))
                .label_style(super::font(13))
                .light_line_style(RGBColor(235, 235, 235))
                .bold_line_style(RGBColor(200, 200, 200))
                .draw()?;
            for (variant, points) in series {
                let c = super::color(variant);
                let p50: Vec<(f64, f64)> = points.iter().map(|p| (p.rate, p.p50_us)).collect();
                let p99: Vec<(f64, f64)> = points.iter().map(|p| (p.rate, p.p99_us)).collect();
                chart.draw_series(LineSeries::new(p50.clone(), c.stroke_width(3)))?;
                chart.draw_series(p50.iter().map(|&xy| Circle::new(xy, 4, c.filled())))?;
                chart.draw_series(DashedLineSeries::new(p99.clone(), 8, 6, c.stroke_width(2)))?;
                chart.draw_series(p99.iter().map(|&xy| TriangleMarker::new(xy, 5, c.filled())))?;
            }
        }
        let mut entries = super::variant_entries(&self.variants, |c| Mark::Line {
            color: c.to_rgba(),
            dashed: false,
        });
        entries.push(Entry::heading("Marks"));
        let grey = RGBColor(60, 60, 60).to_rgba();
        entries.push(Entry::new(
            "solid, dots: p50",
            Mark::Line {
                color: grey,
                dashed: false,
            },
        ));
        entries.push(Entry::new(
            "dashed, triangles: p99",
            Mark::Line {
                color: grey,
                dashed: true,
            },
        ));
        entries.push(Entry::new("(mean over repeats)", Mark::None));
        legend(&strip, &entries)?;
        Ok(())
    }
}
