//! `plots/cold_start`: exec to first HTTP 200, per variant, from every sample
//! in `raw/cold/<variant>.csv`: a horizontal box plot (quartiles, median,
//! min-max whiskers) over the samples themselves, on a log millisecond axis
//! (native ~1 ms, Docker ~hundreds).

use anyhow::Result;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{frame, legend, log_axis, ordered_variants, tick_plain, Axis, Chart, Entry, Mark};
use crate::rundata::raw::ColdSample;
use crate::rundata::RunData;
use crate::stats::percentile;

pub(crate) struct ColdStart {
    /// (variant, samples in ms), in the variant table's order.
    series: Vec<(String, Vec<f64>)>,
}

impl ColdStart {
    /// Every harness sample under `raw/cold/`; `None` when there is none.
    pub fn new(data: &RunData) -> Option<ColdStart> {
        let samples: Vec<ColdSample> = data
            .cold
            .iter()
            .flat_map(|s| s.samples.iter().cloned())
            .collect();
        Self::from_samples(&samples)
    }

    pub fn from_samples(samples: &[ColdSample]) -> Option<ColdStart> {
        let names = ordered_variants(samples.iter().map(|s| s.variant.as_str()));
        let series: Vec<(String, Vec<f64>)> = names
            .into_iter()
            .map(|v| {
                let ms: Vec<f64> = samples
                    .iter()
                    .filter(|s| s.variant == v && s.ms.is_finite() && s.ms > 0.0)
                    .map(|s| s.ms)
                    .collect();
                (v, ms)
            })
            .filter(|(_, ms)| !ms.is_empty())
            .collect();
        if series.is_empty() {
            None
        } else {
            Some(ColdStart { series })
        }
    }
}

impl Chart for ColdStart {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        let (area, strip) = frame(root, "Cold start: exec to first HTTP 200 (every sample)")?;
        let n = self.series.len();
        let x = log_axis(
            self.series.iter().flat_map(|(_, ms)| ms.iter().copied()),
            1.5,
        )
        .expect("positive samples");
        // Row i (from the top) sits at y = n - 1 - i.
        let rows: Vec<f64> = (0..n).map(|i| i as f64).collect();
        let label_of = |y: &f64| -> String {
            let i = n as i64 - 1 - y.round() as i64;
            usize::try_from(i)
                .ok()
                .and_then(|i| self.series.get(i))
                .map(|(v, ms)| format!("{v} (n={})", ms.len()))
                .unwrap_or_default()
        };

        let mut chart = ChartBuilder::on(&area)
            .margin(16)
            .x_label_area_size(50)
            .y_label_area_size(270)
            .build_cartesian_2d(x, Axis::linear(-0.6, n as f64 - 0.4, rows))?;
        chart
            .configure_mesh()
            .x_desc("milliseconds from exec to the first 200 (log scale)")
            .x_label_formatter(&|v| tick_plain(*v))
            .y_label_formatter(&label_of)
            .axis_desc_style(super::font(16))
            .label_style(super::font(14))
            .light_line_style(RGBColor(235, 235, 235))
            .bold_line_style(RGBColor(200, 200, 200))
            .draw()?;

        let note = super::font(12).pos(Pos::new(HPos::Center, VPos::Bottom));
        for (i, (variant, ms)) in self.series.iter().enumerate() {
            let y = (n - 1 - i) as f64;
            let color = super::color(variant);
            let q = |p: f64| percentile(ms, p);
            let (min, q1, med, q3, max) = (q(0.0), q(25.0), q(50.0), q(75.0), q(100.0));
            let h = 0.22;
            // Whiskers with caps.
            for (a, b) in [(min, q1), (q3, max)] {
                chart.draw_series(std::iter::once(PathElement::new(
                    vec![(a, y), (b, y)],
                    color.stroke_width(2),
                )))?;
            }
            for end in [min, max] {
                chart.draw_series(std::iter::once(PathElement::new(
                    vec![(end, y - h / 2.0), (end, y + h / 2.0)],
                    color.stroke_width(2),
                )))?;
            }
            // Box and median.
            chart.draw_series(std::iter::once(Rectangle::new(
                [(q1, y - h), (q3, y + h)],
                color.mix(0.3).filled(),
            )))?;
            chart.draw_series(std::iter::once(Rectangle::new(
                [(q1, y - h), (q3, y + h)],
                color.stroke_width(2),
            )))?;
            chart.draw_series(std::iter::once(PathElement::new(
                vec![(med, y - h), (med, y + h)],
                BLACK.stroke_width(3),
            )))?;
            // Every sample, spread vertically (deterministically) to be seen.
            chart.draw_series(ms.iter().enumerate().map(|(k, &v)| {
                let jitter = ((k % 9) as f64 - 4.0) * 0.035;
                Circle::new((v, y + jitter), 3, color.mix(0.75).filled())
            }))?;
            chart.draw_series(std::iter::once(Text::new(
                format!("p50 {} ms", crate::report::format::ms(med)),
                (med, y + h + 0.06),
                note.clone(),
            )))?;
        }

        let mut entries = super::variant_entries(
            &self
                .series
                .iter()
                .map(|(v, _)| v.clone())
                .collect::<Vec<_>>(),
            |c| Mark::Swatch(c.mix(0.6)),
        );
        entries.push(Entry::heading("Marks"));
        entries.push(Entry::new(
            "box: 25th-75th percentile",
            Mark::Outline(RGBColor(90, 90, 90)),
        ));
        entries.push(Entry::new(
            "black bar: median (p50)",
            Mark::Line {
                color: BLACK.to_rgba(),
                dashed: false,
            },
        ));
        entries.push(Entry::new(
            "whiskers: min-max",
            Mark::Line {
                color: RGBColor(90, 90, 90).to_rgba(),
                dashed: false,
            },
        ));
        entries.push(Entry::new("dots: every sample", Mark::Dot(BLACK.mix(0.7))));
        legend(&strip, &entries)?;
        Ok(())
    }
}
