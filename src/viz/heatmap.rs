//! A labelled heatmap: rows and columns named by characters (attention of
//! output characters over input characters, a model's next-character
//! probabilities), cells coloured by value in [0, 1] with a colour bar,
//! chosen cells outlined. Long rows wrap: past `wrap` columns the grid
//! continues in another panel below, so a long text makes a taller
//! picture, not one too wide to look at. The picture is as wide as its
//! title needs.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::colors::colormaps::ViridisRGB;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{ensure_font, glyph, text_width};
use crate::error::{Error, Result};

/// Pixels per cell.
pub const CELL: u32 = 28;
/// The least margin left of the grid (row labels), and the space above it
/// (a one-line title and the column labels).
pub const MARGIN: u32 = 48;
/// Space right of the grid for the colour bar.
pub const BAR: u32 = 72;

/// The widest or tallest picture drawn, in pixels: what image viewers and
/// browsers open (16,384 is the common texture limit).
pub const MAX_SIDE: u32 = 16_384;

/// The most columns a heatmap of one panel can have within [`MAX_SIDE`].
pub const MAX_COLS: usize = ((MAX_SIDE - MARGIN - BAR) / CELL) as usize;

/// The most rows a heatmap can have within [`MAX_SIDE`].
pub const MAX_ROWS: usize = ((MAX_SIDE - MARGIN - MARGIN / 2) / CELL) as usize;

/// The height of a line of the title, in pixels.
const TITLE_LINE: u32 = 18;
/// Title size, in pixels.
const TITLE_FONT: u32 = 13;
/// Label size, in pixels.
const LABEL_FONT: u32 = 16;
/// The column labels' band above each panel.
const HEAD: u32 = MARGIN - TITLE_LINE - 2;
/// Space between panels.
const GAP: u32 = 12;
/// Space below the last panel.
const BOTTOM: u32 = MARGIN / 2;

/// A heatmap to draw.
#[derive(Clone, Copy, Debug)]
pub struct Grid<'a> {
    /// `rows.len()` rows of `cols.len()` values in [0, 1].
    pub values: &'a [Vec<f32>],
    /// Row labels.
    pub rows: &'a [String],
    /// Column labels (one character each reads best).
    pub cols: &'a [String],
    /// Cells outlined, as (row, column).
    pub marks: &'a [(usize, usize)],
    /// The title; `\n` separates its lines.
    pub title: &'a str,
    /// A row to draw a rule above, setting it apart.
    pub rule_above: Option<usize>,
    /// The most columns in one panel (`usize::MAX`: one panel); the
    /// columns are shared evenly between the panels needed.
    pub wrap: usize,
}

/// Where everything goes, in pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// The picture's width.
    pub width: u32,
    /// The picture's height.
    pub height: u32,
    /// The grid's left edge (row labels are left of it).
    pub left: u32,
    /// The title's height.
    pub title: u32,
    /// Columns per panel.
    pub per_panel: usize,
    /// Panels, one under the other.
    pub panels: usize,
    /// Rows.
    pub rows: usize,
}

impl Layout {
    /// The layout of `rows` (labels) × `cols` cells wrapped at `wrap`
    /// columns under `title`.
    pub fn of(rows: &[String], cols: usize, wrap: usize, title: &str) -> Self {
        // As many panels as `wrap` needs, the columns shared out evenly.
        let panels = cols.div_ceil(wrap.max(1)).max(1);
        let per_panel = cols.div_ceil(panels).max(1);
        let widest = rows
            .iter()
            .map(|r| text_width(r, LABEL_FONT))
            .max()
            .unwrap_or(0);
        let left = MARGIN.max(widest + 16);
        let lines = title.lines().count().max(1) as u32;
        let title_w = title
            .lines()
            .map(|l| text_width(l, TITLE_FONT))
            .max()
            .unwrap_or(0);
        let title_h = 2 + lines * TITLE_LINE;
        let panel = HEAD + rows.len() as u32 * CELL;
        let panels32 = u32::try_from(panels).unwrap_or(u32::MAX);
        Self {
            width: (left + per_panel as u32 * CELL + BAR).max(title_w + 12),
            height: title_h
                .saturating_add(panels32.saturating_mul(panel + GAP))
                .saturating_add(BOTTOM - GAP),
            left,
            title: title_h,
            per_panel,
            panels,
            rows: rows.len(),
        }
    }

    /// The top-left pixel of cell (`row`, `col`).
    pub fn cell(&self, row: usize, col: usize) -> (i32, i32) {
        let (panel, j) = (col / self.per_panel, col % self.per_panel);
        (
            (self.left + j as u32 * CELL) as i32,
            (self.panel_top(panel) + row as u32 * CELL) as i32,
        )
    }

    /// The top of panel `p`'s grid.
    fn panel_top(&self, p: usize) -> u32 {
        self.title + HEAD + p as u32 * (HEAD + self.rows as u32 * CELL + GAP)
    }

    /// The most panels of `rows` rows under a title of `title_lines` lines
    /// within [`MAX_SIDE`].
    pub fn max_panels(rows: usize, title_lines: usize) -> usize {
        let fixed = 2 + title_lines as u32 * TITLE_LINE + BOTTOM - GAP;
        let panel = HEAD + rows as u32 * CELL + GAP;
        (MAX_SIDE.saturating_sub(fixed) / panel) as usize
    }
}

/// The picture's size in pixels for `rows × cols` cells labelled with one
/// character each, in one panel under a title no wider than the grid.
pub fn size(rows: usize, cols: usize) -> (u32, u32) {
    (
        MARGIN + cols as u32 * CELL + BAR,
        MARGIN + rows as u32 * CELL + MARGIN / 2,
    )
}

/// An error if `rows × cols` cells make a picture of one panel larger than
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

/// Draw `values` (`rows.len()` rows of `cols.len()` values in [0, 1]) to
/// `path` (PNG or SVG by extension) in one panel, rows labelled with
/// `rows`, columns with `cols`.
pub fn draw(
    path: &Path,
    values: &[Vec<f32>],
    rows: &[char],
    cols: &[char],
    title: &str,
) -> Result<()> {
    check_size(rows.len(), cols.len())?;
    let rows: Vec<String> = rows.iter().map(|&c| glyph(c)).collect();
    let cols: Vec<String> = cols.iter().map(|&c| glyph(c)).collect();
    draw_grid(
        path,
        &Grid {
            values,
            rows: &rows,
            cols: &cols,
            marks: &[],
            rule_above: None,
            title,
            wrap: usize::MAX,
        },
    )
}

/// Draw `grid` to `path` (PNG or SVG by extension); a picture past
/// [`MAX_SIDE`] pixels either way is refused.
pub fn draw_grid(path: &Path, grid: &Grid<'_>) -> Result<()> {
    ensure_font();
    let layout = Layout::of(grid.rows, grid.cols.len(), grid.wrap, grid.title);
    if layout.width > MAX_SIDE || layout.height > MAX_SIDE {
        return Err(Error::Config(format!(
            "a heatmap of {} × {} cells makes a picture of {} × {} pixels, larger than a picture can be ({MAX_SIDE} pixels either way); show fewer",
            grid.rows.len(),
            grid.cols.len(),
            layout.width,
            layout.height
        )));
    }
    super::render!(path, (layout.width, layout.height), |root| paint(
        &root, grid, &layout
    ))
}

fn paint<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    grid: &Grid<'_>,
    at: &Layout,
) -> std::result::Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    root.fill(&WHITE)?;
    let centred = ("sans-serif", LABEL_FONT)
        .into_font()
        .into_text_style(root)
        .pos(Pos::new(HPos::Center, VPos::Center));
    let right = ("sans-serif", LABEL_FONT)
        .into_font()
        .into_text_style(root)
        .pos(Pos::new(HPos::Right, VPos::Center));
    let small = ("sans-serif", TITLE_FONT).into_font();
    let c = CELL as i32;
    for (k, line) in grid.title.lines().enumerate() {
        let y = 3 + (k as u32 * TITLE_LINE) as i32;
        root.draw(&Text::new(line.to_string(), (6, y), small.clone()))?;
    }
    for (i, row) in grid.values.iter().enumerate() {
        for (j, &v) in row.iter().enumerate() {
            let (x, y) = at.cell(i, j);
            root.draw(&Rectangle::new(
                [(x, y), (x + c, y + c)],
                colour(v).filled(),
            ))?;
        }
    }
    // A white rule sets a last row apart when it is not like the others
    // (a probability picture's "other").
    if let Some(sep) = grid.rule_above {
        for p in 0..at.panels {
            let (x, y) = at.cell(sep, p * at.per_panel);
            let n = grid
                .cols
                .len()
                .saturating_sub(p * at.per_panel)
                .min(at.per_panel) as i32;
            root.draw(&Rectangle::new(
                [(x, y - 1), (x + n * c, y + 1)],
                WHITE.filled(),
            ))?;
        }
    }
    for &(i, j) in grid.marks {
        let (x, y) = at.cell(i, j);
        root.draw(&Rectangle::new(
            [(x + 1, y + 1), (x + c - 1, y + c - 1)],
            RED.stroke_width(2),
        ))?;
    }
    for (j, label) in grid.cols.iter().enumerate() {
        let (x, y) = at.cell(0, j);
        root.draw(&Text::new(
            label.clone(),
            (x + c / 2, y - (HEAD as i32) / 2),
            centred.clone(),
        ))?;
    }
    for p in 0..at.panels {
        for (i, label) in grid.rows.iter().enumerate() {
            let (_, y) = at.cell(i, p * at.per_panel);
            root.draw(&Text::new(
                label.clone(),
                (at.left as i32 - 8, y + c / 2),
                right.clone(),
            ))?;
        }
    }
    // Colour bar beside the first panel: 0 at the bottom, 1 at the top.
    let (bar_x, top) = (
        (at.left + at.per_panel as u32 * CELL) as i32 + 16,
        at.cell(0, 0).1,
    );
    let bar_h = (grid.rows.len() as i32 * c).max(40);
    for k in 0..bar_h {
        let v = 1.0 - k as f32 / (bar_h - 1).max(1) as f32;
        root.draw(&Rectangle::new(
            [(bar_x, top + k), (bar_x + 14, top + k + 1)],
            colour(v).filled(),
        ))?;
    }
    root.draw(&Text::new("1", (bar_x + 20, top - 6), small.clone()))?;
    root.draw(&Text::new("0", (bar_x + 20, top + bar_h - 10), small))?;
    Ok(())
}
