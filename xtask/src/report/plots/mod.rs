//! The report's charts, one file per chart kind (criterion's plotters habit).
//! Each chart is drawn twice from the same data, into an SVG string and an
//! RGB buffer that is encoded as PNG, and both are written atomically to
//! `plots/<name>.{svg,png}`. A chart with no data is not drawn.
//!
//! Every chart: a title, axis names with units, a legend strip on the right,
//! log axes where values span decades, and one colour per variant (its row in
//! `variants::VARIANTS`) in every chart.

mod cold_start;
mod cpu_per_request;
mod keep_alive;
mod latency_vs_rate;
mod resources;
mod text;
mod throughput;
mod warm_latency;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Once;

use anyhow::{Context, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::summary::Summary;
use crate::rundata::RunData;
use crate::{results, variants};

/// Chart size in pixels (SVG and PNG alike).
pub(crate) const SIZE: (u32, u32) = (1100, 600);
/// Width of the legend strip on the right of every chart.
const LEGEND_W: u32 = 300;
pub(crate) const FONT_FAMILY: &str = "sans-serif";

/// DejaVu Sans (xtask/assets, with its license): plotters' `ab_glyph`
/// backend needs the font's bytes to measure and draw text, and this way no
/// system font library (fontconfig, freetype) is needed anywhere.
static FONT: &[u8] = include_bytes!("../../../assets/DejaVuSans.ttf");

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let ok = plotters::style::register_font(FONT_FAMILY, FontStyle::Normal, FONT).is_ok();
        assert!(ok, "the embedded DejaVu Sans font parses");
    });
}

/// The colour of a variant in every chart: its row's in the variant table
/// (colour-blind-safe, one per variant); grey for a name not in the table.
pub fn color(variant: &str) -> RGBColor {
    match variants::find(variant) {
        Ok(v) => RGBColor(v.colour.0, v.colour.1, v.colour.2),
        Err(_) => RGBColor(120, 120, 120),
    }
}

/// A chart that draws the same way on any plotters backend.
pub(crate) trait Chart {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()>
    where
        DB::ErrorType: 'static;
}

/// A chart written to `plots/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plot {
    /// File stem: `plots/<name>.svg` and `plots/<name>.png`.
    pub name: String,
    /// What it shows, for the image's alt text.
    pub title: String,
}

/// What happened to the charts of one report.
#[derive(Debug, Default)]
pub struct Rendered {
    pub plots: Vec<Plot>,
    /// Charts that had data but could not be drawn, with the error.
    pub errors: Vec<(String, String)>,
}

impl Rendered {
    pub fn has(&self, name: &str) -> bool {
        self.plots.iter().any(|p| p.name == name)
    }

    pub fn get(&self, name: &str) -> Option<&Plot> {
        self.plots.iter().find(|p| p.name == name)
    }
}

/// Draw every chart that has data into `<run>/plots/`, and remove charts of
/// an earlier rendering that no longer have data.
pub fn render_all(data: &RunData, s: &Summary) -> Result<Rendered> {
    register_font();
    let dir = data.root.join("plots");
    let mut out = Rendered::default();
    let mut draw = |name: String, title: String, chart: Option<&dyn Render>| {
        let Some(chart) = chart else { return };
        match render_guarded(&dir, &name, chart) {
            Ok(()) => out.plots.push(Plot { name, title }),
            Err(e) => {
                eprintln!("warning: plot {name} not drawn: {e:#}");
                out.errors.push((name, format!("{e:#}")));
            }
        }
    };

    let headline = cpu_per_request::CpuPerRequest::new(s);
    draw(
        "cpu_per_request".to_owned(),
        "CPU per hello request against native_local, with 95% intervals".to_owned(),
        headline.as_ref().map(|c| c as &dyn Render),
    );
    for w in crate::workloads::WORKLOADS {
        let chart = throughput::Throughput::new(&s.throughput, w.name);
        draw(
            format!("throughput_{}", w.name),
            format!("Throughput of the {} workload against connections", w.name),
            chart.as_ref().map(|c| c as &dyn Render),
        );
    }
    let keep_alive = keep_alive::KeepAlive::new(s);
    draw(
        "keep_alive".to_owned(),
        "Keep-alive against one request per connection, requests/s per variant and workload"
            .to_owned(),
        keep_alive.as_ref().map(|c| c as &dyn Render),
    );
    let cold = cold_start::ColdStart::new(data);
    draw(
        "cold_start".to_owned(),
        "Cold start per variant, every sample".to_owned(),
        cold.as_ref().map(|c| c as &dyn Render),
    );
    let warm = warm_latency::WarmLatency::new(&s.warm);
    draw(
        "warm_latency".to_owned(),
        "Warm latency p50/p90/p99 per variant and workload (persistent connection)".to_owned(),
        warm.as_ref().map(|c| c as &dyn Render),
    );
    let clients = warm_latency::PersistentVsCurl::new(&s.warm);
    draw(
        "warm_persistent_vs_curl".to_owned(),
        "Warm p50: persistent connection against curl per request".to_owned(),
        clients.as_ref().map(|c| c as &dyn Render),
    );
    let res = resources::Resources::new(&s.throughput);
    draw(
        "resources".to_owned(),
        res.as_ref()
            .map_or_else(String::new, |r| r.title().to_owned()),
        res.as_ref().map(|c| c as &dyn Render),
    );
    let rate = latency_vs_rate::LatencyVsRate::new(&s.open_loop);
    draw(
        "latency_vs_rate".to_owned(),
        "Open-loop latency against offered rate".to_owned(),
        rate.as_ref().map(|c| c as &dyn Render),
    );

    remove_stale(&dir, &out)?;
    Ok(out)
}

/// Object-safe rendering (the generic `Chart::draw` is not).
trait Render {
    fn render(&self) -> Result<(String, Vec<u8>)>;
}

impl<C: Chart> Render for C {
    fn render(&self) -> Result<(String, Vec<u8>)> {
        let svg = to_svg(self)?;
        let png = to_png(self)?;
        Ok((svg, png))
    }
}

/// Render, turning a panic inside plotters into an error: one bad chart
/// must not take the report (or the end of a benchmark run) down with it.
fn render_guarded(dir: &Path, name: &str, chart: &dyn Render) -> Result<()> {
    let rendered = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| chart.render()))
        .map_err(|panic| {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            anyhow::anyhow!("plotters panicked: {what}")
        })?;
    let (svg, png) = rendered?;
    results::write_atomic(&dir.join(format!("{name}.svg")), svg.as_bytes())?;
    results::write_atomic(&dir.join(format!("{name}.png")), &png)?;
    Ok(())
}

/// The chart as SVG markup.
pub(crate) fn to_svg(chart: &impl Chart) -> Result<String> {
    register_font();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        chart.draw(&root)?;
        root.present()?;
    }
    Ok(svg)
}

/// The chart as PNG bytes (8-bit RGB).
pub(crate) fn to_png(chart: &impl Chart) -> Result<Vec<u8>> {
    register_font();
    let (w, h) = SIZE;
    let mut rgb = vec![0u8; (w * h * 3) as usize];
    {
        let root = text::GlyphText(BitMapBackend::with_buffer(&mut rgb, SIZE)).into_drawing_area();
        chart.draw(&root)?;
        root.present()?;
    }
    let mut png = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut png, w, h);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().context("PNG header")?;
        writer.write_image_data(&rgb).context("PNG data")?;
        writer.finish().context("PNG end")?;
    }
    Ok(png)
}

/// Delete `plots/*.svg|png` that this rendering did not write (a chart whose
/// data is gone must not linger from an earlier rendering).
fn remove_stale(dir: &Path, out: &Rendered) -> Result<()> {
    let keep: BTreeSet<String> = out
        .plots
        .iter()
        .flat_map(|p| [format!("{}.svg", p.name), format!("{}.png", p.name)])
        .collect();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if (name.ends_with(".svg") || name.ends_with(".png")) && !keep.contains(&name) {
            std::fs::remove_file(entry.path())
                .with_context(|| format!("removing {}", entry.path().display()))?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Shared drawing helpers.

pub(crate) fn font(size: u32) -> TextStyle<'static> {
    (FONT_FAMILY, size).into_font().color(&BLACK)
}

/// White background, the title on top; returns (plot area, legend strip).
pub(crate) fn frame<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
) -> Result<(DrawingArea<DB, Shift>, DrawingArea<DB, Shift>)>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    let body = root.margin(8, 0, 0, 0).titled(title, font(22))?;
    let (w, _) = body.dim_in_pixel();
    let (plot, legend) = body.split_horizontally(w.saturating_sub(LEGEND_W));
    Ok((plot, legend))
}

/// One line of a legend.
pub(crate) struct Entry {
    pub label: String,
    pub mark: Mark,
}

pub(crate) enum Mark {
    /// No mark: a heading or a note.
    None,
    /// A line with a dot, dashed or solid.
    Line { color: RGBAColor, dashed: bool },
    /// A filled square.
    Swatch(RGBAColor),
    /// An outlined, lightly filled square.
    Outline(RGBColor),
    /// A dot.
    Dot(RGBAColor),
}

impl Entry {
    pub fn heading(label: impl Into<String>) -> Entry {
        Entry {
            label: label.into(),
            mark: Mark::None,
        }
    }

    pub fn new(label: impl Into<String>, mark: Mark) -> Entry {
        Entry {
            label: label.into(),
            mark,
        }
    }
}

/// The variants' colours, as legend lines.
pub(crate) fn variant_entries(names: &[String], mark: impl Fn(RGBColor) -> Mark) -> Vec<Entry> {
    let mut out = vec![Entry::heading("Variants")];
    out.extend(names.iter().map(|n| Entry::new(n.clone(), mark(color(n)))));
    out
}

/// Draw a legend in the strip: one entry per line, marks on the left.
pub(crate) fn legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    entries: &[Entry],
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let text = font(14).pos(Pos::new(HPos::Left, VPos::Center));
    let mut y = 40;
    for e in entries {
        let (x0, x1) = (8, 38);
        match &e.mark {
            Mark::None => {
                if y > 40 {
                    y += 8;
                }
                area.draw(&Text::new(e.label.clone(), (x0, y), text.clone()))?;
                y += 24;
                continue;
            }
            Mark::Line { color, dashed } => {
                let style = color.stroke_width(3);
                if *dashed {
                    for seg in 0..3 {
                        let a = x0 + seg * 11;
                        area.draw(&PathElement::new(vec![(a, y), (a + 6, y)], style))?;
                    }
                } else {
                    area.draw(&PathElement::new(vec![(x0, y), (x1, y)], style))?;
                }
                area.draw(&Circle::new(((x0 + x1) / 2, y), 4, color.filled()))?;
            }
            Mark::Swatch(color) => {
                area.draw(&Rectangle::new([(x0, y - 8), (x1, y + 8)], color.filled()))?;
            }
            Mark::Outline(color) => {
                area.draw(&Rectangle::new(
                    [(x0, y - 8), (x1, y + 8)],
                    color.mix(0.15).filled(),
                ))?;
                area.draw(&Rectangle::new(
                    [(x0, y - 8), (x1, y + 8)],
                    color.stroke_width(2),
                ))?;
            }
            Mark::Dot(color) => {
                area.draw(&Circle::new(((x0 + x1) / 2, y), 4, color.filled()))?;
            }
        }
        area.draw(&Text::new(e.label.clone(), (x1 + 10, y), text.clone()))?;
        y += 24;
    }
    Ok(())
}

/// An axis: its range, linear or logarithmic, and the ticks to label (bold)
/// and to grid (light), chosen here rather than by plotters so that every
/// chart's ticks are round numbers (1-2-5 steps on log axes, the measured
/// connection levels, category centres).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Axis {
    pub lo: f64,
    pub hi: f64,
    pub log: bool,
    pub bold: Vec<f64>,
    pub light: Vec<f64>,
}

impl Axis {
    /// A linear axis with the given ticks (e.g. category centres).
    pub fn linear(lo: f64, hi: f64, ticks: Vec<f64>) -> Axis {
        Axis {
            lo,
            hi,
            log: false,
            light: ticks.clone(),
            bold: ticks,
        }
    }

    /// A log axis labelled at `ticks` (e.g. the measured levels).
    pub fn log_at(lo: f64, hi: f64, ticks: Vec<f64>) -> Axis {
        Axis {
            lo,
            hi,
            log: true,
            light: ticks.clone(),
            bold: ticks,
        }
    }

    fn scale(&self, v: f64) -> f64 {
        if self.log {
            v.max(f64::MIN_POSITIVE).ln()
        } else {
            v
        }
    }
}

impl Ranged for Axis {
    type FormatOption = plotters::coord::ranged1d::DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let (a, b) = (self.scale(self.lo), self.scale(self.hi));
        if b == a || !value.is_finite() {
            return (limit.0 + limit.1) / 2;
        }
        let t = ((self.scale(*value) - a) / (b - a)).clamp(-4.0, 5.0);
        limit.0 + (f64::from(limit.1 - limit.0) * t).round() as i32
    }

    fn key_points<H: plotters::coord::ranged1d::KeyPointHint>(&self, hint: H) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            self.light.clone()
        } else {
            self.bold.clone()
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.lo..self.hi
    }
}

/// The nearest of 1, 2, 5 x 10^k at or below `x` (`down`) or at or above.
fn nice(x: f64, down: bool) -> f64 {
    let decade = 10f64.powf(x.log10().floor());
    let steps = [1.0, 2.0, 5.0, 10.0];
    if down {
        steps
            .iter()
            .rev()
            .map(|s| s * decade)
            .find(|&v| v <= x * (1.0 + 1e-9))
            .unwrap_or(decade)
    } else {
        steps
            .iter()
            .map(|s| s * decade)
            .find(|&v| v >= x * (1.0 - 1e-9))
            .unwrap_or(10.0 * decade)
    }
}

/// A log axis covering the finite positive `values`, padded by `pad` (a
/// factor) and rounded out to 1-2-5 steps; `None` without such a value.
pub(crate) fn log_axis(values: impl IntoIterator<Item = f64>, pad: f64) -> Option<Axis> {
    let (mut min, mut max) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.into_iter().filter(|v| v.is_finite() && *v > 0.0) {
        min = min.min(v);
        max = max.max(v);
    }
    if !min.is_finite() {
        return None;
    }
    let lo = nice(min / pad, true);
    let mut hi = nice(max * pad, false);
    if hi <= lo {
        hi = nice(lo * 2.0, false);
    }
    let span = (hi / lo).log10();
    let first = lo.log10().floor() as i32;
    let last = hi.log10().ceil() as i32;
    let within = |v: f64| v >= lo * (1.0 - 1e-9) && v <= hi * (1.0 + 1e-9);
    let mut bold = Vec::new();
    let mut light = Vec::new();
    for k in first..=last {
        let decade = 10f64.powi(k);
        for m in 1..=9 {
            let v = m as f64 * decade;
            if !within(v) {
                continue;
            }
            light.push(v);
            let labelled = if span > 3.0 {
                m == 1
            } else if span > 1.2 {
                matches!(m, 1 | 2 | 5)
            } else {
                true
            };
            if labelled {
                bold.push(v);
            }
        }
    }
    Some(Axis {
        lo,
        hi,
        log: true,
        bold,
        light,
    })
}

/// A linear axis from 0 to a little above `max`, ticked in 1-2-2.5-5 steps
/// (three to seven ticks).
pub(crate) fn linear_axis(max: f64) -> Axis {
    let top = (max * 1.12).max(1e-9);
    let decade = 10f64.powf((top / 5.0).log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * decade)
        .find(|s| top / s <= 6.0)
        .unwrap_or(10.0 * decade);
    let n = (top / step).ceil() as usize;
    let bold: Vec<f64> = (0..=n).map(|i| i as f64 * step).collect();
    Axis::linear(0.0, n as f64 * step, bold)
}

/// Tick label with SI suffixes (`500`, `2k`, `10k`, `1.5M`): for rates.
pub(crate) fn tick_si(v: f64) -> String {
    if v >= 1e6 {
        format!("{}M", trim(v / 1e6))
    } else if v >= 1e3 {
        format!("{}k", trim(v / 1e3))
    } else {
        trim(v)
    }
}

/// Tick label in plain digits with thousands separators: for latencies.
pub(crate) fn tick_plain(v: f64) -> String {
    if v >= 1000.0 {
        super::format::thousands(v.round() as u64)
    } else {
        trim(v)
    }
}

fn trim(v: f64) -> String {
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() || s == "-0" {
        "0".to_owned()
    } else {
        s.to_owned()
    }
}

/// Distinct variant names in the variant table's order (unknown ones last,
/// by name).
pub(crate) fn ordered_variants<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let set: BTreeSet<(usize, &str)> = names
        .into_iter()
        .map(|n| {
            let rank = variants::VARIANTS
                .iter()
                .position(|v| v.name == n)
                .unwrap_or(usize::MAX);
            (rank, n)
        })
        .collect();
    set.into_iter().map(|(_, n)| n.to_owned()).collect()
}

/// Distinct workload names in the workload table's order.
pub(crate) fn ordered_workloads<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let set: BTreeSet<(usize, &str)> = names
        .into_iter()
        .map(|n| {
            let rank = crate::workloads::WORKLOADS
                .iter()
                .position(|w| w.name == n)
                .unwrap_or(usize::MAX);
            (rank, n)
        })
        .collect();
    set.into_iter().map(|(_, n)| n.to_owned()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_axis_rounds_out_and_labels_decades_when_wide() {
        let a = log_axis([95.0, 21_000.0], 1.2).unwrap();
        assert_eq!((a.lo, a.hi), (50.0, 50_000.0));
        assert_eq!(
            a.bold,
            vec![50.0, 100.0, 200.0, 500.0, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4]
        );
        let wide = log_axis([0.9, 4000.0], 1.0).unwrap();
        assert_eq!(wide.bold, vec![1.0, 10.0, 100.0, 1000.0]);
        assert!(log_axis([0.0, f64::NAN, -1.0], 1.2).is_none());
        let one = log_axis([100.0], 1.0).unwrap();
        assert!(one.hi > one.lo);
    }

    #[test]
    fn linear_axis_steps() {
        let a = linear_axis(17.5);
        assert_eq!((a.lo, a.hi), (0.0, 20.0));
        assert_eq!(a.bold, vec![0.0, 5.0, 10.0, 15.0, 20.0]);
        let b = linear_axis(75.1);
        assert_eq!(b.hi, 100.0);
        assert!(b.bold.len() >= 4 && b.bold.len() <= 9, "{:?}", b.bold);
    }

    #[test]
    fn tick_labels() {
        assert_eq!(tick_si(20_000.0), "20k");
        assert_eq!(tick_si(1_500_000.0), "1.5M");
        assert_eq!(tick_si(0.5), "0.5");
        assert_eq!(tick_plain(20_000.0), "20,000");
        assert_eq!(tick_plain(2.0), "2");
    }

    #[test]
    fn colours_follow_the_variant_table() {
        let names: Vec<RGBColor> = variants::VARIANTS.iter().map(|v| color(v.name)).collect();
        for (i, a) in names.iter().enumerate() {
            for b in &names[i + 1..] {
                assert_ne!(a, b, "two variants share a colour");
            }
        }
        assert_eq!(color("native_local"), RGBColor(0, 114, 178));
        assert_eq!(color("no_such_variant"), RGBColor(120, 120, 120));
    }
}
