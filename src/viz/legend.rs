//! Legends in a strip of their own right of the chart, so that they never
//! cover data (plotters draws its legends inside the plotting area).

use plotters::coord::Shift;
use plotters::prelude::*;

use super::text_width;

/// The width of the strip, in pixels.
pub const WIDTH: u32 = 200;

/// Space between the strip's edges and the legend's box, in pixels.
const PAD: i32 = 8;

/// The height of one entry, in pixels.
const ROW: i32 = 24;

/// Label size, in pixels.
const FONT: u32 = 15;

/// How an entry shows its series.
#[derive(Clone, Copy, Debug)]
pub enum Swatch {
    /// A filled dot (scatter points).
    Dot(RGBColor),
    /// A short line (curves).
    Line(RGBAColor),
}

/// One row of a legend.
#[derive(Clone, Debug)]
pub struct Entry {
    /// What the series is.
    pub label: String,
    /// How it is drawn.
    pub swatch: Swatch,
}

/// The chart area and the legend strip of `root`: the strip is the right
/// [`WIDTH`] pixels.
pub fn split<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
) -> (DrawingArea<DB, Shift>, DrawingArea<DB, Shift>) {
    let (w, _) = root.dim_in_pixel();
    root.split_horizontally(w.saturating_sub(WIDTH))
}

/// `label`, cut with an ellipsis to fit `width` pixels.
fn fit(label: &str, width: u32) -> String {
    if text_width(label, FONT) <= width {
        return label.to_string();
    }
    let chars: Vec<char> = label.chars().collect();
    (0..chars.len())
        .rev()
        .map(|n| format!("{}…", chars[..n].iter().collect::<String>()))
        .find(|s| text_width(s, FONT) <= width)
        .unwrap_or_else(|| "…".into())
}

/// Draw a boxed legend in `strip` (from [`split`]), its top `top` pixels
/// down, under an optional `heading`.
pub fn draw<DB: DrawingBackend>(
    strip: &DrawingArea<DB, Shift>,
    top: i32,
    heading: Option<&str>,
    entries: &[Entry],
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let (w, _) = strip.dim_in_pixel();
    let right = w as i32 - PAD;
    let rows = entries.len() as i32 + i32::from(heading.is_some());
    let bottom = top + PAD + rows * ROW + PAD / 2;
    strip.draw(&Rectangle::new(
        [(PAD, top), (right, bottom)],
        WHITE.filled(),
    ))?;
    strip.draw(&Rectangle::new([(PAD, top), (right, bottom)], BLACK))?;
    let font = ("sans-serif", FONT).into_font();
    let text_x = 2 * PAD + 30;
    let room = (right - PAD - text_x).max(0) as u32;
    let mut y = top + PAD;
    if let Some(h) = heading {
        strip.draw(&Text::new(
            fit(h, (right - 3 * PAD) as u32),
            (2 * PAD, y + 2),
            font.clone(),
        ))?;
        y += ROW;
    }
    for e in entries {
        let mid = y + ROW / 2 - 2;
        match e.swatch {
            Swatch::Dot(c) => strip.draw(&Circle::new((2 * PAD + 12, mid), 6, c.filled()))?,
            Swatch::Line(c) => strip.draw(&PathElement::new(
                vec![(2 * PAD, mid), (2 * PAD + 24, mid)],
                c.stroke_width(3),
            ))?,
        }
        strip.draw(&Text::new(
            fit(&e.label, room),
            (text_x, y + 2),
            font.clone(),
        ))?;
        y += ROW;
    }
    Ok(())
}
