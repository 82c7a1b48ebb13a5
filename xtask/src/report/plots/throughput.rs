//! `plots/throughput_<workload>`: requests per second against connections,
//! a line per variant (mean over repeats) with the min-max band over repeats
//! shaded. Both axes are logarithmic: connection levels grow geometrically
//! and rps spans decades (CLI variants ~100, native ~20k). A level whose
//! cells did not all measure the gateway (client-bound, not saturated, not
//! steady) is drawn as a hollow dot: its height is not the gateway's to
//! compare.

use anyhow::Result;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::{frame, legend, log_axis, ordered_variants, tick_si, Axis, Chart, Entry, Mark};
use crate::report::figures::{points, Point};
use crate::report::summary::Bound;
use crate::report::summary::ThroughputRow;

pub(crate) struct Throughput {
    workload: String,
    series: Vec<(String, Vec<Point>)>,
}

impl Throughput {
    pub fn new(rows: &[ThroughputRow], workload: &str) -> Option<Throughput> {
        let names = ordered_variants(
            rows.iter()
                .filter(|r| r.workload == workload)
                .map(|r| r.variant.as_str()),
        );
        let series: Vec<(String, Vec<Point>)> = names
            .into_iter()
            .map(|v| {
                let p = points(rows, &v, workload);
                (v, p)
            })
            // Zero rps has no place on a log axis: such points are dropped
            // (the tables still show them).
            .map(|(v, p)| (v, p.into_iter().filter(|p| p.min > 0.0).collect()))
            .filter(|(_, p): &(String, Vec<Point>)| !p.is_empty())
            .collect();
        if series.is_empty() {
            return None;
        }
        Some(Throughput {
            workload: workload.to_owned(),
            series,
        })
    }
}

impl Chart for Throughput {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        let (area, strip) = frame(
            root,
            &format!(
                "Throughput, {} workload (one request per connection, mean of repeats)",
                self.workload
            ),
        )?;
        let all = || self.series.iter().flat_map(|(_, p)| p.iter());
        let mut levels: Vec<f64> = all().map(|p| p.connections as f64).collect();
        levels.sort_by(f64::total_cmp);
        levels.dedup();
        let (cmin, cmax) = (levels[0], levels[levels.len() - 1]);
        let x = Axis::log_at(cmin / 1.3, cmax * 1.3, levels);
        let y = log_axis(all().flat_map(|p| [p.min, p.max]), 1.3).expect("positive rps");

        let mut chart = ChartBuilder::on(&area)
            .margin(16)
            .x_label_area_size(50)
            .y_label_area_size(80)
            .build_cartesian_2d(x, y)?;
        chart
            .configure_mesh()
            .x_desc("connections (log scale)")
            .y_desc("requests per second (log scale)")
            .x_label_formatter(&|v| format!("{v:.0}"))
            .y_label_formatter(&|v| tick_si(*v))
            .axis_desc_style(super::font(16))
            .label_style(super::font(14))
            .light_line_style(RGBColor(235, 235, 235))
            .bold_line_style(RGBColor(200, 200, 200))
            .draw()?;

        for (variant, points) in &self.series {
            let color = super::color(variant);
            if points.iter().any(|p| p.max > p.min) {
                let band: Vec<(f64, f64)> = points
                    .iter()
                    .map(|p| (p.connections as f64, p.max))
                    .chain(points.iter().rev().map(|p| (p.connections as f64, p.min)))
                    .collect();
                chart.draw_series(std::iter::once(Polygon::new(band, color.mix(0.2).filled())))?;
            }
            let line: Vec<(f64, f64)> = points
                .iter()
                .map(|p| (p.connections as f64, p.mean))
                .collect();
            chart.draw_series(LineSeries::new(line.clone(), color.stroke_width(3)))?;
            chart.draw_series(points.iter().zip(&line).map(|(p, &xy)| {
                if measured_gateway(p) {
                    Circle::new(xy, 4, color.filled())
                } else {
                    Circle::new(xy, 6, WHITE.filled())
                }
            }))?;
            chart.draw_series(
                points
                    .iter()
                    .zip(&line)
                    .filter(|(p, _)| !measured_gateway(p))
                    .map(|(_, &xy)| Circle::new(xy, 6, color.stroke_width(2))),
            )?;
        }

        let repeats = all().map(|p| p.repeats).max().unwrap_or(1);
        let mut entries = super::variant_entries(
            &self
                .series
                .iter()
                .map(|(v, _)| v.clone())
                .collect::<Vec<_>>(),
            |c| Mark::Line {
                color: c.to_rgba(),
                dashed: false,
            },
        );
        entries.push(Entry::heading("Marks"));
        entries.push(Entry::new(
            "line: mean over repeats",
            Mark::Line {
                color: BLACK.to_rgba(),
                dashed: false,
            },
        ));
        if repeats > 1 {
            entries.push(Entry::new(
                format!("band: min-max of {repeats} repeats"),
                Mark::Swatch(BLACK.mix(0.2)),
            ));
        }
        if all().any(|p| !measured_gateway(p)) {
            entries.push(Entry::new(
                "hollow: not gateway-bound",
                Mark::Outline(BLACK),
            ));
            entries.push(Entry::new("(compare CPU per request)", Mark::None));
        }
        legend(&strip, &entries)?;
        Ok(())
    }
}

/// Did every repeat of this level measure the gateway, steadily?
fn measured_gateway(p: &Point) -> bool {
    p.bound == Bound::Gateway && p.steady
}
