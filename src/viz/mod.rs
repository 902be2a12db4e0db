//! Pictures: PNG or SVG (by the file's extension), drawn with a font that
//! ships inside the program (DejaVu Sans), so no system fonts are needed.

/// Draw to `$out` as PNG or SVG (by its extension) at `$size`: `$paint` is
/// called with the drawing area bound to `$root`, then the file is written.
macro_rules! render {
    ($out:expr, $size:expr, |$root:ident| $paint:expr) => {{
        let out: &std::path::Path = $out;
        match $crate::viz::format_of(out)? {
            $crate::viz::Format::Png => {
                let $root = plotters::prelude::BitMapBackend::new(out, $size).into_drawing_area();
                $paint.map_err(|e| $crate::viz::draw_error(out, e))?;
                $root.present().map_err(|e| $crate::viz::draw_error(out, e))
            }
            $crate::viz::Format::Svg => {
                let $root = plotters::prelude::SVGBackend::new(out, $size).into_drawing_area();
                $paint.map_err(|e| $crate::viz::draw_error(out, e))?;
                $root.present().map_err(|e| $crate::viz::draw_error(out, e))
            }
        }
    }};
}
pub(crate) use render;

pub mod activations;
pub mod forecast;
pub mod heatmap;
pub mod input;
pub mod legend;
pub mod loss;
pub mod probs;
pub mod tsne;

use std::path::Path;
use std::sync::Once;

use crate::error::{Error, Result};

static FONT: Once = Once::new();

/// Register the bundled font under the name plotters asks for.
pub(crate) fn ensure_font() {
    FONT.call_once(|| {
        // The bundled bytes are a valid TrueType font; failure is impossible
        // short of a corrupted build, and then text is simply not drawn.
        let _ = plotters::style::register_font(
            "sans-serif",
            plotters::style::FontStyle::Normal,
            dejavu::sans::regular(),
        );
    });
}

/// The width in pixels of `text` in the bundled font at `size` pixels (an
/// estimate of 0.6 × size per character if the font cannot measure it).
pub fn text_width(text: &str, size: u32) -> u32 {
    use plotters::style::IntoFont;
    ensure_font();
    ("sans-serif", size)
        .into_font()
        .box_size(text)
        .map(|(w, _)| w)
        .unwrap_or_else(|_| (text.chars().count() as u32 * size * 3).div_ceil(5))
}

/// A printable name for a character in a picture: white space spelled
/// out (␣ space, ⏎ newline, ⇥ tab), a word list's markers as ▸ (START,
/// the start of a word) and ■ (END, the end of a word), other control
/// characters as `?`.
pub fn glyph(c: char) -> String {
    match c {
        ' ' => "␣".into(),
        '\n' => "⏎".into(),
        '\t' => "⇥".into(),
        crate::data::vocab::START => "▸".into(),
        crate::data::vocab::END => "■".into(),
        c if c.is_control() => "?".into(),
        c => c.to_string(),
    }
}

/// The image format a path asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Portable Network Graphics.
    Png,
    /// Scalable Vector Graphics.
    Svg,
}

/// PNG or SVG from the extension, or an error saying which are known.
pub fn format_of(path: &Path) -> Result<Format> {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("png") => Ok(Format::Png),
        Some("svg") => Ok(Format::Svg),
        _ => Err(Error::Config(format!(
            "{}: name the picture .png or .svg",
            path.display()
        ))),
    }
}

/// A drawing error as a recur error naming the file.
pub(crate) fn draw_error(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Config(format!(
        "{}: could not draw the picture: {e}",
        path.display()
    ))
}
