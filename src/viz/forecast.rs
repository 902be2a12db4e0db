//! A forecast against its history and, where known, the truth, the legend
//! beside the chart.

use std::path::Path;

use plotters::prelude::*;

use super::legend::{self, Entry, Swatch};
use super::{ensure_font, format_of};
use crate::error::Result;

/// Picture size in pixels: the chart left, the legend in the right
/// [`legend::WIDTH`] pixels.
pub const SIZE: (u32, u32) = (1100, 420);

/// Draw `history` (steps `start..start+len`), `truth` and `forecast` (both
/// from step `from`) of one series to `out` (PNG or SVG); with `times`, the
/// x axis is labelled with the series' time column (give it cells past the
/// series' end, continued, to label the forecast's steps).
#[allow(clippy::too_many_arguments)]
pub fn draw(
    out: &Path,
    name: &str,
    times: Option<&[String]>,
    start: usize,
    history: &[f64],
    from: usize,
    truth: &[f64],
    forecast: &[f64],
) -> Result<()> {
    format_of(out)?; // a bad extension fails before any work
    ensure_font();
    super::render!(out, SIZE, |root| paint(
        &root, name, times, start, history, from, truth, forecast
    ))
}

#[allow(clippy::too_many_arguments)]
fn paint<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    name: &str,
    times: Option<&[String]>,
    start: usize,
    history: &[f64],
    from: usize,
    truth: &[f64],
    forecast: &[f64],
) -> std::result::Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    root.fill(&WHITE)?;
    let all = history.iter().chain(truth).chain(forecast);
    let (lo, hi) = all.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
        (a.min(v), b.max(v))
    });
    let pad = ((hi - lo) * 0.05).max(1e-6);
    let end = (from + truth.len().max(forecast.len())).max(start + history.len()) as f64;
    let (area, strip) = legend::split(root);
    let mut chart = ChartBuilder::on(&area)
        .caption(
            format!("{name}: history, truth and forecast"),
            ("sans-serif", 18),
        )
        .margin(12)
        .margin_right(28)
        .x_label_area_size(36)
        .y_label_area_size(56)
        .build_cartesian_2d(start as f64..end, (lo - pad)..(hi + pad))?;
    // With a time column, a tick it does not reach stays blank rather than
    // switching to a row number.
    let label = |x: &f64| match times {
        Some(t) => t
            .get(x.round().max(0.0) as usize)
            .cloned()
            .unwrap_or_default(),
        None => format!("{x:.0}"),
    };
    chart
        .configure_mesh()
        .x_desc(if times.is_some() { "time" } else { "step" })
        .x_label_formatter(&label)
        .x_labels(6)
        .label_style(("sans-serif", 13))
        .draw()?;
    let line = |data: &[f64], first: usize| {
        data.iter()
            .enumerate()
            .map(move |(i, &v)| ((first + i) as f64, v))
            .collect::<Vec<_>>()
    };
    let series = [
        ("history", line(history, start), BLACK),
        ("truth", line(truth, from), RGBColor(44, 160, 44)),
        ("forecast", line(forecast, from), RED),
    ];
    let mut entries = Vec::new();
    for (label, pts, colour) in series {
        if pts.is_empty() {
            continue;
        }
        chart.draw_series(LineSeries::new(pts, colour.stroke_width(2)))?;
        entries.push(Entry {
            label: label.into(),
            swatch: Swatch::Line(colour.to_rgba()),
        });
    }
    legend::draw(&strip, 36, None, &entries)
}
