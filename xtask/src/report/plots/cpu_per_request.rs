//! `plots/cpu_per_request`: the report's headline chart. Per variant, the
//! gateway's CPU per `hello` request as a ratio to `native_local`, with its
//! 95% interval from the repeats (the answer table's column), on a log axis
//! (recycled ~1-3x, a process per request ~250x). A filled dot is decided
//! (interval within ±5%), a hollow one undecided.

use anyhow::Result;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::{frame, legend, log_axis, tick_plain, Axis, Chart, Entry, Mark};
use crate::report::answer::Figure;
use crate::report::figures;
use crate::report::summary::Summary;
use crate::variants;

pub(crate) struct CpuPerRequest {
    /// (variant, ratio to native with its interval), the table's order.
    rows: Vec<(String, Figure)>,
}

impl CpuPerRequest {
    /// `None` without native's figure or any other variant's.
    pub fn new(s: &Summary) -> Option<CpuPerRequest> {
        let native = variants::baseline().name;
        let base = figures::cpu_per_1k_by_repeat(&s.throughput, native, "hello");
        let rows: Vec<(String, Figure)> = variants::VARIANTS
            .iter()
            .filter(|v| v.name != native)
            .filter_map(|v| {
                let cpu = figures::cpu_per_1k_by_repeat(&s.throughput, v.name, "hello");
                Figure::ratio(&base, &cpu).map(|f| (v.name.to_owned(), f))
            })
            .collect();
        (!rows.is_empty()).then_some(CpuPerRequest { rows })
    }
}

impl Chart for CpuPerRequest {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        let (area, strip) = frame(
            root,
            "CPU per hello request against native_local (95% interval)",
        )?;
        let n = self.rows.len();
        let ends = self.rows.iter().flat_map(|(_, f)| {
            [f.value, f.lo, f.hi]
                .into_iter()
                .filter(|v| v.is_finite() && *v > 0.0)
        });
        // 1x (native) is always on the axis.
        let x = log_axis(ends.chain([1.0]), 1.3).expect("positive ratios");
        let ys: Vec<f64> = (0..n).map(|i| i as f64).collect();
        let label_of = |y: &f64| -> String {
            let i = n as i64 - 1 - y.round() as i64;
            usize::try_from(i)
                .ok()
                .and_then(|i| self.rows.get(i))
                .map(|(v, f)| format!("{v}  {}", figure(f)))
                .unwrap_or_default()
        };
        let mut chart = ChartBuilder::on(&area)
            .margin(16)
            .x_label_area_size(50)
            .y_label_area_size(420)
            .build_cartesian_2d(x.clone(), Axis::linear(-0.6, n as f64 - 0.4, ys))?;
        chart
            .configure_mesh()
            .x_desc("CPU per request, times native_local's (log scale)")
            .x_label_formatter(&|v| format!("{}x", tick_plain(*v)))
            .y_label_formatter(&label_of)
            .axis_desc_style(super::font(16))
            .label_style(super::font(14))
            .light_line_style(RGBColor(235, 235, 235))
            .bold_line_style(RGBColor(200, 200, 200))
            .draw()?;
        // Native's own cost: the 1x line.
        chart.draw_series(std::iter::once(PathElement::new(
            vec![(1.0, -0.6), (1.0, n as f64 - 0.4)],
            BLACK.stroke_width(1),
        )))?;
        for (i, (variant, f)) in self.rows.iter().enumerate() {
            let y = (n - 1 - i) as f64;
            let color = super::color(variant);
            if f.lo.is_finite() && f.hi.is_finite() {
                let h = 0.15;
                chart.draw_series(std::iter::once(PathElement::new(
                    vec![(f.lo, y), (f.hi, y)],
                    color.stroke_width(3),
                )))?;
                for end in [f.lo, f.hi] {
                    chart.draw_series(std::iter::once(PathElement::new(
                        vec![(end, y - h), (end, y + h)],
                        color.stroke_width(2),
                    )))?;
                }
            }
            let dot = if f.decided() {
                Circle::new((f.value, y), 6, color.filled())
            } else {
                Circle::new((f.value, y), 6, color.stroke_width(2))
            };
            chart.draw_series(std::iter::once(dot))?;
        }
        let mut entries = super::variant_entries(
            &self.rows.iter().map(|(v, _)| v.clone()).collect::<Vec<_>>(),
            |c| Mark::Dot(c.to_rgba()),
        );
        entries.push(Entry::heading("Marks"));
        entries.push(Entry::new(
            "filled dot: decided (within ±5%)",
            Mark::Dot(BLACK.to_rgba()),
        ));
        entries.push(Entry::new(
            "hollow dot: undecided",
            Mark::Outline(RGBColor(90, 90, 90)),
        ));
        entries.push(Entry::new(
            "bar: 95% interval",
            Mark::Line {
                color: RGBColor(90, 90, 90).to_rgba(),
                dashed: false,
            },
        ));
        entries.push(Entry::new(
            "black line: native_local (1x)",
            Mark::Line {
                color: BLACK.to_rgba(),
                dashed: false,
            },
        ));
        legend(&strip, &entries)?;
        Ok(())
    }
}

/// `2.18x [2.12, 2.25]`, in the row's label (so no value label can overlap
/// a mark or be clipped at the plot's edge).
fn figure(f: &Figure) -> String {
    let t = crate::report::format::times;
    if f.lo.is_finite() && f.hi.is_finite() {
        format!("{} [{}, {}]", t(f.value), t(f.lo), t(f.hi))
    } else {
        t(f.value)
    }
}
