//! Loss curves from training logs (JSON lines, as `recur train --log`
//! writes them): training and validation loss of several runs overlaid,
//! against iterations or seconds, the legend beside the chart.

use std::path::{Path, PathBuf};

use plotters::prelude::*;

use super::legend::{self, Entry, Swatch};
use super::{ensure_font, format_of};
use crate::error::{Error, Result};

/// Picture size in pixels: the chart left, the legend in the right
/// [`legend::WIDTH`] pixels.
pub const SIZE: (u32, u32) = (1100, 560);

/// The x axis.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Axis {
    /// Training iterations.
    Iterations,
    /// Seconds since the run started.
    Seconds,
}

/// One run's curves.
#[derive(Clone, Debug, Default)]
pub struct Run {
    /// Legend name (the log file's stem).
    pub name: String,
    /// `(x, train_loss)` points.
    pub train: Vec<(f64, f64)>,
    /// `(x, val_loss)` points.
    pub val: Vec<(f64, f64)>,
}

/// Read a log; a line that is not a log object is an error naming it.
pub fn read_run(path: &Path, axis: Axis) -> Result<Run> {
    let text = std::fs::read_to_string(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::Data(format!(
            "{}: no such log; give the file `recur train --log` wrote",
            path.display()
        )),
        _ => Error::io(path, e),
    })?;
    let mut run = Run {
        name: path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default(),
        ..Run::default()
    };
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let bad = || {
            Error::Data(format!(
                "{}:{}: not a training-log line (JSON with iter and train_loss)",
                path.display(),
                i + 1
            ))
        };
        let v: serde_json::Value = serde_json::from_str(line).map_err(|_| bad())?;
        let x = match axis {
            Axis::Iterations => v["iter"].as_f64(),
            Axis::Seconds => v["elapsed_s"].as_f64(),
        }
        .ok_or_else(bad)?;
        run.train
            .push((x, v["train_loss"].as_f64().ok_or_else(bad)?));
        if let Some(val) = v["val_loss"].as_f64() {
            run.val.push((x, val));
        }
    }
    if run.train.is_empty() {
        return Err(Error::Data(format!(
            "{}: the log has no lines",
            path.display()
        )));
    }
    Ok(run)
}

/// The label of an x-axis tick at `x` on a chart spanning `span`:
/// iterations are whole numbers ("500", not "500.0"), and so are seconds
/// past a span of 10.
pub fn tick_label(axis: Axis, span: f64, x: f64) -> String {
    match axis {
        Axis::Seconds if span < 10.0 => format!("{x:.1}"),
        _ => format!("{x:.0}"),
    }
}

/// Draw the runs of `logs` to `out` (PNG or SVG by extension).
pub fn draw(logs: &[PathBuf], axis: Axis, out: &Path) -> Result<()> {
    format_of(out)?; // a bad extension fails before any work
    if logs.is_empty() {
        return Err(Error::Config("give at least one --log FILE".into()));
    }
    let runs = logs
        .iter()
        .map(|p| read_run(p, axis))
        .collect::<Result<Vec<_>>>()?;
    ensure_font();
    super::render!(out, SIZE, |root| paint(&root, &runs, axis))
}

fn paint<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    runs: &[Run],
    axis: Axis,
) -> std::result::Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    root.fill(&WHITE)?;
    let points = || runs.iter().flat_map(|r| r.train.iter().chain(&r.val));
    let (x0, x1) = points().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| {
        (a.min(p.0), b.max(p.0))
    });
    let (y0, y1) = points().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| {
        (a.min(p.1), b.max(p.1))
    });
    let pad = ((y1 - y0) * 0.05).max(1e-3);
    let (area, strip) = legend::split(root);
    let x1 = x1.max(x0 + 1.0);
    let mut chart = ChartBuilder::on(&area)
        .caption("loss (nats/char)", ("sans-serif", 20))
        .margin(12)
        .margin_right(28)
        .x_label_area_size(40)
        .y_label_area_size(56)
        .build_cartesian_2d(x0..x1, (y0 - pad)..(y1 + pad))?;
    let ticks = |x: &f64| tick_label(axis, x1 - x0, *x);
    chart
        .configure_mesh()
        .x_desc(match axis {
            Axis::Iterations => "iteration",
            Axis::Seconds => "seconds",
        })
        .y_desc("loss")
        .x_label_formatter(&ticks)
        .label_style(("sans-serif", 14))
        .draw()?;
    let mut entries = Vec::new();
    for (i, run) in runs.iter().enumerate() {
        let colour = Palette99::pick(i).to_rgba();
        chart.draw_series(LineSeries::new(
            run.train.iter().copied(),
            colour.stroke_width(2),
        ))?;
        entries.push(Entry {
            label: format!("{} train", run.name),
            swatch: Swatch::Line(colour),
        });
        if !run.val.is_empty() {
            chart.draw_series(LineSeries::new(
                run.val.iter().copied(),
                colour.mix(0.5).stroke_width(2),
            ))?;
            chart.draw_series(run.val.iter().map(|&p| Circle::new(p, 4, colour.filled())))?;
            entries.push(Entry {
                label: format!("{} validation", run.name),
                swatch: Swatch::Line(colour.mix(0.5)),
            });
        }
    }
    legend::draw(&strip, 40, None, &entries)
}
