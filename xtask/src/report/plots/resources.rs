//! `plots/resources`: two panels, peak RSS (MiB) and CPU milliseconds per
//! 1000 requests per variant, for one workload (hello when measured) over all
//! its connection levels and repeats (see `figures::usage`). A panel turns
//! logarithmic when its values span more than a factor of 20 (the CLI
//! variants spend far more CPU per request than the others).

use anyhow::Result;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{
    frame, legend, linear_axis, log_axis, ordered_variants, tick_plain, Axis, Chart, Mark,
};
use crate::report::figures::{self, Usage};
use crate::report::format;
use crate::report::summary::ThroughputRow;

pub(crate) struct Resources {
    workload: String,
    title: String,
    usage: Vec<(String, Usage)>,
}

impl Resources {
    pub fn new(rows: &[ThroughputRow]) -> Option<Resources> {
        let workloads = super::ordered_workloads(
            rows.iter()
                .filter(|r| r.rss_peak_kb > 0)
                .map(|r| r.workload.as_str()),
        );
        let workload = workloads.first()?.clone();
        let usage: Vec<(String, Usage)> = ordered_variants(rows.iter().map(|r| r.variant.as_str()))
            .into_iter()
            .filter_map(|v| figures::usage(rows, &v, &workload).map(|u| (v, u)))
            .collect();
        if usage.is_empty() {
            return None;
        }
        Some(Resources {
            title: format!(
                "Resources under load, {workload} workload (all connection levels and repeats)"
            ),
            workload,
            usage,
        })
    }

    pub fn title(&self) -> &str {
        &self.title
    }
}

/// One panel of bars, one per variant, each labelled with its value.
fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    caption: &str,
    y_desc: &str,
    bars: &[(String, f64, String)],
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let values: Vec<f64> = bars
        .iter()
        .map(|b| b.1)
        .filter(|v| v.is_finite() && *v > 0.0)
        .collect();
    let max = values.iter().copied().fold(0.0, f64::max);
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let log = values.len() > 1 && max / min > 20.0;
    let (y, scale) = if log {
        (
            log_axis(values.iter().copied(), 1.5).expect("positive values"),
            " (log scale)",
        )
    } else {
        (linear_axis(max.max(1e-3)), "")
    };
    let n = bars.len() as f64;
    let mut builder = ChartBuilder::on(area);
    builder
        .margin(16)
        .caption(caption, super::font(17))
        .x_label_area_size(20)
        .y_label_area_size(70);
    let y_desc = format!("{y_desc}{scale}");
    let note = super::font(13).pos(Pos::new(HPos::Center, VPos::Bottom));
    let mut chart = builder.build_cartesian_2d(Axis::linear(0.0, n, Vec::new()), y.clone())?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .y_desc(y_desc.as_str())
        .y_label_formatter(&|v| tick_plain(*v))
        .axis_desc_style(super::font(15))
        .label_style(super::font(14))
        .light_line_style(RGBColor(235, 235, 235))
        .bold_line_style(RGBColor(200, 200, 200))
        .draw()?;
    for (i, (variant, value, label)) in bars.iter().enumerate() {
        if !(value.is_finite() && *value > 0.0) {
            continue;
        }
        let c = super::color(variant);
        let (x0, x1) = (i as f64 + 0.15, i as f64 + 0.85);
        chart.draw_series(std::iter::once(Rectangle::new(
            [(x0, y.lo), (x1, *value)],
            c.filled(),
        )))?;
        chart.draw_series(std::iter::once(Text::new(
            label.clone(),
            (i as f64 + 0.5, *value),
            note.clone(),
        )))?;
    }
    Ok(())
}

impl Chart for Resources {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        let (area, strip) = frame(root, &self.title)?;
        let (left, right) = area.split_horizontally(area.dim_in_pixel().0 / 2);
        let rss: Vec<(String, f64, String)> = self
            .usage
            .iter()
            .map(|(v, u)| {
                let kib = u.rss_peak_kb as f64;
                (v.clone(), kib / 1024.0, format!("{} MiB", format::mib(kib)))
            })
            .collect();
        panel(&left, "Peak RSS (gateway and children)", "MiB", &rss)?;
        let cpu: Vec<(String, f64, String)> = self
            .usage
            .iter()
            .map(|(v, u)| {
                (
                    v.clone(),
                    u.cpu_ms_per_1k,
                    format!("{} ms", format::ms(u.cpu_ms_per_1k)),
                )
            })
            .collect();
        panel(
            &right,
            "CPU per 1000 requests",
            "CPU ms / 1000 requests",
            &cpu,
        )?;
        let mut entries = super::variant_entries(
            &self
                .usage
                .iter()
                .map(|(v, _)| v.clone())
                .collect::<Vec<_>>(),
            |c| Mark::Swatch(c.to_rgba()),
        );
        entries.push(super::Entry::heading(format!(
            "Workload: {}",
            self.workload
        )));
        legend(&strip, &entries)?;
        Ok(())
    }
}
