//! The soak's report, from its `raw/<variant>.csv` alone: per variant the
//! length, RSS / fds / threads at start and end, their growth per hour (a
//! least-squares slope over the samples after the first tenth, which is
//! warm-up) and a verdict; `soak.md` and `plots/soak.svg` (RSS and descriptors
//! against time).

use std::path::Path;

use anyhow::Result;
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::report::plots::{self, Chart};
use crate::results;
use crate::rundata::soak::{read_samples, SoakSample};
use crate::rundata::SoakKey;

/// Growth per hour past which a resource is said to grow.
pub const RSS_KB_PER_HOUR: f64 = 2048.0;
pub const FDS_PER_HOUR: f64 = 2.0;
pub const THREADS_PER_HOUR: f64 = 1.0;

/// One variant's soak, summarised.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub variant: String,
    pub minutes: f64,
    pub requests: u64,
    pub errors: u64,
    pub rss_kb: (u64, u64),
    pub fds: (u64, u64),
    pub threads: (u64, u64),
    pub max_children: u64,
    pub rss_kb_per_hour: f64,
    pub fds_per_hour: f64,
    pub threads_per_hour: f64,
}

impl Verdict {
    pub fn from_samples(variant: &str, s: &[SoakSample]) -> Option<Verdict> {
        let (first, last) = (s.first()?, s.last()?);
        let steady = &s[s.len() / 10..];
        let per_hour = |f: &dyn Fn(&SoakSample) -> f64| slope(floors(steady, f)) * 3600.0;
        Some(Verdict {
            variant: variant.to_owned(),
            minutes: last.t_s / 60.0,
            requests: last.requests,
            errors: last.errors,
            rss_kb: (first.rss_kb, last.rss_kb),
            fds: (first.fds, last.fds),
            threads: (first.threads, last.threads),
            max_children: s.iter().map(|x| x.children).max().unwrap_or(0),
            rss_kb_per_hour: per_hour(&|x| x.rss_kb as f64),
            fds_per_hour: per_hour(&|x| x.fds as f64),
            threads_per_hour: per_hour(&|x| x.threads as f64),
        })
    }

    /// `flat`, or what grows.
    pub fn word(&self) -> String {
        let mut grows = Vec::new();
        if self.rss_kb_per_hour > RSS_KB_PER_HOUR {
            grows.push("RSS");
        }
        if self.fds_per_hour > FDS_PER_HOUR {
            grows.push("fds");
        }
        if self.threads_per_hour > THREADS_PER_HOUR {
            grows.push("threads");
        }
        if grows.is_empty() {
            "flat".to_owned()
        } else {
            format!("grows: {}", grows.join(", "))
        }
    }
}

/// The lowest value in each run of [`FLOOR_SAMPLES`] samples, at the run's
/// middle: a CLI variant holds 4 more descriptors (pipes, pidfd) and a child
/// while a request is in flight, so a sample that lands mid-request is not
/// growth; what a leak moves is the floor.
fn floors<'a>(
    s: &'a [SoakSample],
    f: &'a dyn Fn(&SoakSample) -> f64,
) -> impl Iterator<Item = (f64, f64)> + 'a {
    // Whole runs only: a short last run's floor is no floor.
    s.chunks_exact(FLOOR_SAMPLES).map(move |c| {
        let t = (c[0].t_s + c[c.len() - 1].t_s) / 2.0;
        (t, c.iter().map(f).fold(f64::INFINITY, f64::min))
    })
}

/// Samples per floor (a minute at the default 10 s interval).
const FLOOR_SAMPLES: usize = 6;

/// Least-squares slope of y over x; 0 with fewer than two distinct x.
pub fn slope(points: impl Iterator<Item = (f64, f64)>) -> f64 {
    let pts: Vec<(f64, f64)> = points.collect();
    let n = pts.len() as f64;
    if pts.len() < 2 {
        return 0.0;
    }
    let mx = pts.iter().map(|p| p.0).sum::<f64>() / n;
    let my = pts.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = pts.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    if sxx == 0.0 {
        0.0
    } else {
        sxy / sxx
    }
}

/// Reads `raw/*.csv`, writes `soak.md` and `plots/soak.svg`; returns the
/// markdown table.
pub fn write(root: &Path) -> Result<String> {
    let mut series = Vec::new();
    for path in crate::files::list(&root.join("raw"), ".csv") {
        if let Some(SoakKey { variant }) = SoakKey::parse(&path) {
            series.push((variant, read_samples(&path)?));
        }
    }
    let verdicts: Vec<Verdict> = series
        .iter()
        .filter_map(|(v, s)| Verdict::from_samples(v, s))
        .collect();
    let table = markdown(&verdicts);
    let md = format!(
        "# Soak\n\nSteady load on every variant at once (`cargo xtask bench soak`); the \
         gateway process's RSS, open descriptors and threads, sampled over time. Growth \
         is the least-squares slope of each minute's lowest value after the first \
         tenth (warm-up), so a request in flight at a sample is not growth; a variant is \
         `flat` below {RSS_KB_PER_HOUR} KiB/h of RSS, {FDS_PER_HOUR} fds/h and \
         {THREADS_PER_HOUR} thread/h.\n\n{table}\n![RSS and descriptors over time](plots/soak.svg)\n"
    );
    results::write_atomic(&root.join("soak.md"), md.as_bytes())?;
    if !series.is_empty() {
        std::fs::create_dir_all(root.join("plots"))?;
        let svg = plots::to_svg(&SoakChart { series })?;
        results::write_atomic(&root.join("plots/soak.svg"), svg.as_bytes())?;
    }
    Ok(table)
}

fn markdown(verdicts: &[Verdict]) -> String {
    let mut s = String::from(
        "| variant | minutes | requests | errors | RSS start → end (KiB) | RSS growth (KiB/h) \
         | fds start → end | fds growth (/h) | threads start → end | max children | verdict |\n\
         | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n",
    );
    for v in verdicts {
        s.push_str(&format!(
            "| {} | {:.1} | {} | {} | {} → {} | {:+.0} | {} → {} | {:+.1} | {} → {} | {} | {} |\n",
            v.variant,
            v.minutes,
            v.requests,
            v.errors,
            v.rss_kb.0,
            v.rss_kb.1,
            v.rss_kb_per_hour,
            v.fds.0,
            v.fds.1,
            v.fds_per_hour,
            v.threads.0,
            v.threads.1,
            v.max_children,
            v.word()
        ));
    }
    s
}

/// RSS (MiB) above, open descriptors below, against minutes.
struct SoakChart {
    series: Vec<(String, Vec<SoakSample>)>,
}

impl Chart for SoakChart {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        root.fill(&WHITE)?;
        let (top, bottom) = root.split_vertically(root.dim_in_pixel().1 / 2);
        panel(&top, "RSS (MiB)", &self.series, |s| {
            s.rss_kb as f64 / 1024.0
        })?;
        panel(&bottom, "open descriptors", &self.series, |s| s.fds as f64)?;
        Ok(())
    }
}

fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    y_desc: &str,
    series: &[(String, Vec<SoakSample>)],
    y: impl Fn(&SoakSample) -> f64,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let x_max = series
        .iter()
        .flat_map(|(_, s)| s.iter().map(|x| x.t_s / 60.0))
        .fold(1.0_f64, f64::max);
    let y_max = series
        .iter()
        .flat_map(|(_, s)| s.iter().map(&y))
        .fold(1.0_f64, f64::max)
        * 1.15;
    let mut chart = ChartBuilder::on(area)
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..x_max, 0.0..y_max)?;
    chart
        .configure_mesh()
        .x_desc("minutes")
        .y_desc(y_desc)
        .label_style(plots::font(13))
        .axis_desc_style(plots::font(14))
        .draw()?;
    for (variant, samples) in series {
        let color = plots::color(variant);
        chart
            .draw_series(LineSeries::new(
                samples.iter().map(|x| (x.t_s / 60.0, y(x))),
                color.stroke_width(2),
            ))?
            .label(variant.as_str())
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], color.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .label_font(plots::font(13))
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(t_s: f64, rss_kb: u64, fds: u64) -> SoakSample {
        SoakSample {
            t_s,
            rss_kb,
            fds,
            threads: 2,
            children: 0,
            requests: t_s as u64,
            errors: 0,
        }
    }

    #[test]
    fn slope_of_a_line() {
        let s = slope((0..10).map(|i| (i as f64, 3.0 * i as f64 + 1.0)));
        assert!((s - 3.0).abs() < 1e-9);
        assert_eq!(slope(std::iter::once((1.0, 1.0))), 0.0);
    }

    #[test]
    fn flat_and_growing_verdicts() {
        let flat: Vec<_> = (0..60).map(|i| sample(i as f64 * 10.0, 5000, 5)).collect();
        assert_eq!(Verdict::from_samples("a", &flat).unwrap().word(), "flat");
        // A request in flight at some samples (4 more fds) is not growth.
        let busy: Vec<_> = (0..60)
            .map(|i| sample(i as f64 * 10.0, 5000, if i % 5 == 4 { 9 } else { 5 }))
            .collect();
        assert_eq!(Verdict::from_samples("c", &busy).unwrap().word(), "flat");
        // 1 KiB every 10 s is 360 KiB/h (flat); one fd a minute is 60/h.
        let leaky: Vec<_> = (0..60)
            .map(|i| sample(i as f64 * 10.0, 5000 + i, 5 + i / 6))
            .collect();
        let v = Verdict::from_samples("b", &leaky).unwrap();
        assert_eq!(v.word(), "grows: fds");
        assert_eq!(v.rss_kb, (5000, 5059));
    }
}
