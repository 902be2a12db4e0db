//! A labelled heatmap: rows and columns named by characters (attention of
//! output characters over input characters), cells coloured by value in
//! [0, 1] with a colour bar.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::colors::colormaps::ViridisRGB;

use super::ensure_font;
use crate::error::{Error, Result};

/// Pixels per cell.
pub const CELL: u32 = 28;
/// Margin left of the grid (row labels) and above it (column labels).
pub const MARGIN: u32 = 48;
/// Space right of the grid for the colour bar.
pub const BAR: u32 = 72;

/// The widest or tallest picture drawn, in pixels: what image viewers and
/// browsers open (16,384 is the common texture limit).
pub const MAX_SIDE: u32 = 16_384;

/// The most columns a heatmap can have within [`MAX_SIDE`].
pub const MAX_COLS: usize = ((MAX_SIDE - MARGIN - BAR) / CELL) as usize;

/// The most rows a heatmap can have within [`MAX_SIDE`].
pub const MAX_ROWS: usize = ((MAX_SIDE - MARGIN - MARGIN / 2) / CELL) as usize;

/// The picture's size in pixels for `rows × cols` cells (see
/// [`check_size`] for the largest drawn).
pub fn size(rows: usize, cols: usize) -> (u32, u32) {
    (
        MARGIN + cols as u32 * CELL + BAR,
        MARGIN + rows as u32 * CELL + MARGIN / 2,
    )
}

/// An error if `rows × cols` cells make a picture larger than
/// [`MAX_SIDE`] either way.
pub fn check_size(rows: usize, cols: usize) -> Result<()> {
    if rows > MAX_ROWS || cols > MAX_COLS {
        return Err(Error::Config(format!(
            "a heatmap of {rows} × {cols} cells is larger than a picture can be ({MAX_SIDE} pixels: at most {MAX_ROWS} rows and {MAX_COLS} columns); show fewer"
        )));
    }
    Ok(())
}

/// The colour of `v` in [0, 1]; NaN, which has no colour, is drawn as 0.
fn colour(v: f32) -> RGBColor {
    ViridisRGB::get_color(if v.is_nan() { 0.0 } else { v.clamp(0.0, 1.0) })
}

/// Show a printable name for a character (space, newline, tab spelled out).
fn label(c: char) -> String {
    match c {
        ' ' => "␣".into(),
        '\n' => "⏎".into(),
        '\t' => "⇥".into(),
        c => c.to_string(),
    }
}

/// Draw `values` (`rows.len()` rows of `cols.len()` values in [0, 1]) to
/// `path` (PNG or SVG by extension), rows labelled with `rows`, columns
/// with `cols`.
pub fn draw(
    path: &Path,
    values: &[Vec<f32>],
    rows: &[char],
    cols: &[char],
    title: &str,
) -> Result<()> {
    draw_marked(path, values, rows, cols, &[], title)
}

/// [`draw`], with the cells at `marks` (row, column) outlined.
pub fn draw_marked(
    path: &Path,
    values: &[Vec<f32>],
    rows: &[char],
    cols: &[char],
    marks: &[(usize, usize)],
    title: &str,
) -> Result<()> {
    ensure_font();
    check_size(rows.len(), cols.len())?;
    let (w, h) = size(rows.len(), cols.len());
    super::render!(path, (w, h), |root| paint(
        &root, values, rows, cols, marks, title
    ))
}

fn paint<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    values: &[Vec<f32>],
    rows: &[char],
    cols: &[char],
    marks: &[(usize, usize)],
    title: &str,
) -> std::result::Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    root.fill(&WHITE)?;
    let font = ("sans-serif", 16).into_font();
    let small = ("sans-serif", 12).into_font();
    let m = MARGIN as i32;
    let c = CELL as i32;
    root.draw(&Text::new(title.to_string(), (4, 4), small.clone()))?;
    for (i, row) in values.iter().enumerate() {
        for (j, &v) in row.iter().enumerate() {
            let (x, y) = (m + j as i32 * c, m + i as i32 * c);
            root.draw(&Rectangle::new(
                [(x, y), (x + c, y + c)],
                colour(v).filled(),
            ))?;
        }
    }
    for &(i, j) in marks {
        let (x, y) = (m + j as i32 * c, m + i as i32 * c);
        root.draw(&Rectangle::new(
            [(x + 1, y + 1), (x + c - 1, y + c - 1)],
            RED.stroke_width(2),
        ))?;
    }
    for (j, &ch) in cols.iter().enumerate() {
        root.draw(&Text::new(
            label(ch),
            (m + j as i32 * c + c / 3, m - 22),
            font.clone(),
        ))?;
    }
    for (i, &ch) in rows.iter().enumerate() {
        root.draw(&Text::new(
            label(ch),
            (m - 24, m + i as i32 * c + c / 4),
            font.clone(),
        ))?;
    }
    // Colour bar: 0 at the bottom, 1 at the top.
    let bar_x = m + cols.len() as i32 * c + 16;
    let bar_h = (rows.len() as i32 * c).max(40);
    for k in 0..bar_h {
        let v = 1.0 - k as f32 / (bar_h - 1).max(1) as f32;
        root.draw(&Rectangle::new(
            [(bar_x, m + k), (bar_x + 14, m + k + 1)],
            colour(v).filled(),
        ))?;
    }
    root.draw(&Text::new("1", (bar_x + 20, m - 6), small.clone()))?;
    root.draw(&Text::new("0", (bar_x + 20, m + bar_h - 10), small))?;
    Ok(())
}
