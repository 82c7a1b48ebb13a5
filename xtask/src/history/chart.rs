//! `plots/history_<workload>` and `plots/history_cold_start`: each headline
//! figure against commit date, a panel per figure, a line per variant in
//! its report colour. Drawn with the report's plotters helpers, to SVG and
//! PNG alike.

use std::path::Path;

use anyhow::Result;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::Point;
use crate::export::metrics::Kind;
use crate::report::plots::{
    color, font, frame, legend, linear_axis, log_axis, ordered_variants, ordered_workloads,
    tick_plain, tick_si, to_png, to_svg, variant_entries, Axis, Chart, Mark, Plot, Rendered,
};
use crate::results;

/// The panels of a workload's chart, in this order, where there is data.
const WORKLOAD_KINDS: [Kind; 4] = [
    Kind::PeakRps,
    Kind::WarmP50,
    Kind::CpuMsPer1k,
    Kind::InstructionsPerRequest,
];

struct Panel {
    kind: Kind,
    /// Per variant, (day, value) in date order.
    series: Vec<(String, Vec<(f64, f64)>)>,
}

pub(super) struct Trend {
    title: String,
    panels: Vec<Panel>,
    days: Vec<f64>,
}

impl Trend {
    /// The chart of `workload` (`None`: cold start), if any point has data.
    fn new(
        points: &[Point],
        workload: Option<&str>,
        kinds: &[Kind],
        title: String,
    ) -> Option<Self> {
        let mut panels = Vec::new();
        for &kind in kinds {
            let of = |p: &Point| {
                p.metrics
                    .iter()
                    .filter(|m| m.kind == kind && m.workload.as_deref() == workload)
                    .cloned()
                    .collect::<Vec<_>>()
            };
            let names = ordered_variants(
                points
                    .iter()
                    .flat_map(|p| p.metrics.iter())
                    .filter(|m| m.kind == kind && m.workload.as_deref() == workload)
                    .map(|m| m.variant.as_str()),
            );
            let series: Vec<(String, Vec<(f64, f64)>)> = names
                .into_iter()
                .map(|v| {
                    let line = points
                        .iter()
                        .flat_map(|p| {
                            of(p)
                                .into_iter()
                                .filter(|m| m.variant == v)
                                .map(|m| (p.day(), m.value))
                                .collect::<Vec<_>>()
                        })
                        .collect();
                    (v, line)
                })
                .collect();
            if !series.is_empty() {
                panels.push(Panel { kind, series });
            }
        }
        if panels.is_empty() {
            return None;
        }
        let mut days: Vec<f64> = points.iter().map(Point::day).collect();
        days.sort_by(f64::total_cmp);
        days.dedup();
        Some(Trend {
            title,
            panels,
            days,
        })
    }

    /// The date axis: padded by a day each side, at most six labels.
    fn x_axis(&self) -> Axis {
        let (lo, hi) = (self.days[0], self.days[self.days.len() - 1]);
        let pad = ((hi - lo) * 0.05).max(1.0);
        let step = self.days.len().div_ceil(6).max(1);
        let ticks: Vec<f64> = self.days.iter().copied().step_by(step).collect();
        Axis::linear(lo - pad, hi + pad, ticks)
    }
}

fn date_label(day: f64) -> String {
    chrono::DateTime::from_timestamp((day * 86_400.0).round() as i64, 0)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

impl Chart for Trend {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        let (area, strip) = frame(root, &self.title)?;
        let cols = if self.panels.len() > 1 { 2 } else { 1 };
        let rows = self.panels.len().div_ceil(cols);
        let cells = area.split_evenly((rows, cols));
        let x = self.x_axis();
        for (panel, cell) in self.panels.iter().zip(cells.iter()) {
            let values = || panel.series.iter().flat_map(|(_, l)| l.iter().map(|p| p.1));
            let max = values().fold(0.0, f64::max);
            let min = values().filter(|v| *v > 0.0).fold(f64::INFINITY, f64::min);
            // Variants span decades (a CLI spawn against native): a log
            // axis then, as the report's charts, so every line is readable.
            let wide = max / min > 20.0;
            let y = if wide { log_axis(values(), 1.3) } else { None }
                .unwrap_or_else(|| linear_axis(max));
            let scale = if y.log { " (log scale)" } else { "" };
            let ticks = if panel.kind == Kind::PeakRps || panel.kind == Kind::InstructionsPerRequest
            {
                tick_si
            } else {
                tick_plain
            };
            let mut chart = ChartBuilder::on(cell)
                .caption(
                    format!("{} ({}){scale}", panel.kind.title(), panel.kind.unit()),
                    font(15),
                )
                .margin(10)
                .x_label_area_size(28)
                .y_label_area_size(56)
                .build_cartesian_2d(x.clone(), y)?;
            chart
                .configure_mesh()
                .x_label_formatter(&|d| date_label(*d))
                .y_label_formatter(&|v| ticks(*v))
                .label_style(font(12))
                .light_line_style(RGBColor(235, 235, 235))
                .bold_line_style(RGBColor(200, 200, 200))
                .draw()?;
            for (variant, line) in &panel.series {
                let c = color(variant);
                chart.draw_series(LineSeries::new(line.clone(), c.stroke_width(2)))?;
                chart.draw_series(line.iter().map(|&xy| Circle::new(xy, 3, c.filled())))?;
            }
        }
        let mut names: Vec<String> = Vec::new();
        for (v, _) in self.panels.iter().flat_map(|p| p.series.iter()) {
            if !names.contains(v) {
                names.push(v.clone());
            }
        }
        let names = ordered_variants(names.iter().map(String::as_str));
        legend(
            &strip,
            &variant_entries(&names, |c| Mark::Line {
                color: c.to_rgba(),
                dashed: false,
            }),
        )?;
        Ok(())
    }
}

/// Draw every chart with data into `dir`.
pub(super) fn render_all(dir: &Path, points: &[Point]) -> Result<Rendered> {
    let mut out = Rendered::default();
    let workloads = ordered_workloads(
        points
            .iter()
            .flat_map(|p| p.metrics.iter())
            .filter_map(|m| m.workload.as_deref()),
    );
    let mut charts = Vec::new();
    for w in &workloads {
        charts.push((
            format!("history_{w}"),
            format!("History of the {w} workload against commit date"),
            Trend::new(
                points,
                Some(w),
                &WORKLOAD_KINDS,
                format!("{w} workload over commits"),
            ),
        ));
    }
    charts.push((
        "history_cold_start".to_owned(),
        "History of cold start against commit date".to_owned(),
        Trend::new(
            points,
            None,
            &[Kind::ColdP50],
            "Cold start over commits".to_owned(),
        ),
    ));
    for (name, title, chart) in charts {
        let Some(chart) = chart else { continue };
        results::write_atomic(&dir.join(format!("{name}.svg")), to_svg(&chart)?.as_bytes())?;
        results::write_atomic(&dir.join(format!("{name}.png")), &to_png(&chart)?)?;
        out.plots.push(Plot { name, title });
    }
    // A chart of an earlier page whose data is gone must not linger.
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let file = entry.file_name().to_string_lossy().into_owned();
        let stem = file.trim_end_matches(".svg").trim_end_matches(".png");
        if file.starts_with("history_") && !out.has(stem) {
            std::fs::remove_file(entry.path())?;
        }
    }
    Ok(out)
}
