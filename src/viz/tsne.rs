//! Hidden states in two dimensions: run a language model over a text (or,
//! for a model trained on a word list, over words), collect one layer's
//! state after each character read, embed them with t-SNE (Barnes-Hut,
//! seeded and single-threaded, so the same inputs give the same picture)
//! and scatter them coloured by the class of the character just read, the
//! legend in a strip beside the points.

use std::path::Path;

use plotters::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

use super::input::{Input, run};
use super::legend::{self, Entry, Swatch};
use super::{ensure_font, format_of, glyph};
use crate::data::CharVocab;
use crate::error::{Error, Result};
use crate::model::Net;

/// The fewest points embedded: t-SNE needs a few neighbours per point.
pub const MIN_POINTS: usize = 5;

/// The most points embedded: Barnes-Hut t-SNE of 20,000 states takes
/// minutes, and a scatter of more is a blot.
pub const MAX_POINTS: usize = 20_000;

/// Picture size in pixels: the points left, the legend in the right
/// [`legend::WIDTH`] pixels, the title in the top [`TITLE_H`].
pub const SIZE: (u32, u32) = (1100, 820);

/// The height of the title band, in pixels.
pub const TITLE_H: u32 = 60;

/// The classes points are coloured by, in legend order.
pub const CLASSES: [&str; 8] = [
    "newline",
    "space",
    "digit",
    "punctuation",
    "upper-case",
    "vowel",
    "consonant",
    "other",
];

/// The colour of each class (in [`CLASSES`] order): strong on white and
/// told apart by colour-blind readers too (Tableau's palette).
pub const COLOURS: [RGBColor; 8] = [
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(140, 86, 75),
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(0, 128, 128),
    RGBColor(110, 110, 110),
];

/// Lower-case Latin vowels with their accents.
const VOWELS: &str = "aeiouàáâãäåāăąæèéêëēĕėęěìíîïĩīĭįıòóôõöøōŏőœùúûüũūŭůűų";

/// A character's class (the first that applies, in [`CLASSES`] order):
/// vowels and consonants are lower-case Latin letters; a letter of
/// another script without case is "other".
pub fn class_of(c: char) -> usize {
    match c {
        '\n' => 0,
        c if c.is_whitespace() => 1,
        c if c.is_numeric() => 2,
        c if c.is_ascii_punctuation()
            || (!c.is_alphanumeric() && !c.is_whitespace() && !c.is_control()) =>
        {
            3
        }
        c if c.is_uppercase() => 4,
        c if VOWELS.contains(c) => 5,
        c if c.is_lowercase() && (c.is_ascii() || ('\u{df}'..='\u{24f}').contains(&c)) => 6,
        _ => 7,
    }
}

/// Layer `layer`'s state after each of the first `points` characters of
/// `input` (state carried from zeros; each word of a word list from its
/// START marker, whose state, the same for every word, is left out): the
/// characters and `(N, dirs·H)`.
pub fn hidden_states(
    net: &Net<f32>,
    vocab: &CharVocab,
    input: &Input,
    layer: usize,
    points: usize,
) -> Result<(Vec<char>, Vec<f32>)> {
    let c = net.config();
    if layer >= c.layers {
        let layers = match c.layers {
            1 => "1 layer: 0".to_string(),
            l => format!("{l} layers: 0 to {}", l - 1),
        };
        return Err(Error::Config(format!(
            "--layer {layer}: the model has {layers}"
        )));
    }
    if points < MIN_POINTS {
        return Err(Error::Config(format!(
            "--points {points}: a t-SNE picture needs at least {MIN_POINTS} points"
        )));
    }
    let seqs = input.sequences(vocab)?;
    let (words, skip) = (input.is_words(), usize::from(input.is_words()));
    let total: usize = seqs.iter().map(|s| s.inputs.len() - skip).sum();
    let n = total.min(points);
    if n < MIN_POINTS {
        return Err(Error::Data(format!(
            "the input has {n} characters; a t-SNE picture needs at least {MIN_POINTS}"
        )));
    }
    if n > MAX_POINTS {
        return Err(Error::Config(format!(
            "{n} points are more than t-SNE embeds in reasonable time and memory (at most {MAX_POINTS}); use --points {MAX_POINTS} or less"
        )));
    }
    let width = c.stack().output_size();
    let mut chars = Vec::with_capacity(n);
    let mut states = Vec::with_capacity(n * width);
    for seq in &seqs {
        let want = (n - chars.len()).min(seq.inputs.len() - skip);
        if want == 0 {
            break;
        }
        // A word runs whole, as in training; running text only as far as needed.
        let steps = if words {
            &seq.inputs[..]
        } else {
            &seq.inputs[..want]
        };
        run(net, steps, words, |ws, range| {
            let out = ws.layer_outputs(layer);
            for (k, step) in range.enumerate() {
                if (skip..skip + want).contains(&step) {
                    states.extend_from_slice(&out[k * width..(k + 1) * width]);
                }
            }
            Ok(())
        })?;
        chars.extend(
            seq.inputs[skip..skip + want]
                .iter()
                .map(|&t| vocab.char(t).unwrap_or('?')),
        );
    }
    Ok((chars, states))
}

/// 2-D t-SNE coordinates `(N, 2)` of `points` rows of `dim` values.
///
/// The points get a seeded jitter of 1e-5: bhtsne's neighbour search picks
/// random vantage points, which only matters when distances tie, and
/// identical states (a repeated context) tie.
pub fn embed(points: &[f32], dim: usize, seed: u64) -> Result<Vec<f32>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let jitter = Normal::new(0.0f32, 1e-5).expect("valid normal");
    let jittered: Vec<f32> = points
        .iter()
        .map(|&p| p + jitter.sample(&mut rng))
        .collect();
    let rows: Vec<&[f32]> = jittered.chunks_exact(dim).collect();
    let n = rows.len();
    let normal = Normal::new(0.0f32, 1e-4).expect("valid normal");
    let init: Vec<f32> = (0..2 * n).map(|_| normal.sample(&mut rng)).collect();
    let perplexity = ((n - 1) as f32 / 3.0).clamp(1.0, 30.0);
    let euclid = |a: &&[f32], b: &&[f32]| {
        a.iter()
            .zip(b.iter())
            .map(|(x, y)| (x - y) * (x - y))
            .sum::<f32>()
            .sqrt()
    };
    // One thread: the result must not depend on how work is split.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .map_err(|e| Error::Config(e.to_string()))?;
    Ok(pool.install(|| {
        let mut tsne: bhtsne::tSNE<f32, &[f32]> = bhtsne::tSNE::new(&rows);
        tsne.perplexity(perplexity)
            .epochs(1000)
            .initial_embedding(init)
            .barnes_hut(0.5, euclid);
        tsne.embedding()
    }))
}

/// Draw the embedded points coloured by the class of the character just
/// read, `labels` of them (evenly spaced) labelled with it, to `out` (PNG
/// or SVG) under `title`; the legend sits right of the points.
pub fn draw(out: &Path, coords: &[f32], chars: &[char], labels: usize, title: &str) -> Result<()> {
    format_of(out)?; // a bad extension fails before any work
    ensure_font();
    super::render!(out, SIZE, |root| paint(&root, coords, chars, labels, title))
}

fn paint<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    coords: &[f32],
    chars: &[char],
    labels: usize,
    title: &str,
) -> std::result::Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    root.fill(&WHITE)?;
    let (head, body) = root.split_vertically(TITLE_H);
    let centre = (SIZE.0 / 2) as i32;
    let style = |size| {
        ("sans-serif", size).into_font().into_text_style(&head).pos(
            plotters::style::text_anchor::Pos::new(
                plotters::style::text_anchor::HPos::Center,
                plotters::style::text_anchor::VPos::Top,
            ),
        )
    };
    head.draw(&Text::new(title.to_string(), (centre, 8), style(19)))?;
    head.draw(&Text::new(
        "each point: the state after reading a character; its colour: the class of that character"
            .to_string(),
        (centre, 34),
        style(15),
    ))?;
    let (plot, strip) = legend::split(&body);
    let pts: Vec<(f32, f32)> = coords.chunks_exact(2).map(|p| (p[0], p[1])).collect();
    let (x0, x1) = pts
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), p| {
            (a.min(p.0), b.max(p.0))
        });
    let (y0, y1) = pts
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), p| {
            (a.min(p.1), b.max(p.1))
        });
    let (px, py) = (((x1 - x0) * 0.04).max(1e-3), ((y1 - y0) * 0.04).max(1e-3));
    let mut chart = ChartBuilder::on(&plot)
        .margin(12)
        .build_cartesian_2d((x0 - px)..(x1 + px), (y0 - py)..(y1 + py))?;
    let class: Vec<usize> = chars.iter().map(|&c| class_of(c)).collect();
    let count = |k: usize| class.iter().filter(|&&c| c == k).count();
    // The largest classes first, so that small ones stay visible on top.
    let mut order: Vec<usize> = (0..CLASSES.len()).filter(|&k| count(k) > 0).collect();
    order.sort_by_key(|&k| std::cmp::Reverse(count(k)));
    for &k in &order {
        let colour = COLOURS[k];
        chart.draw_series(
            pts.iter()
                .zip(&class)
                .filter(|(_, c)| **c == k)
                .map(|(&p, _)| Circle::new(p, 3, colour.filled())),
        )?;
    }
    if let Some(step) = pts.len().checked_div(labels) {
        let font = ("sans-serif", 18).into_font();
        chart.draw_series(
            pts.iter()
                .zip(chars)
                .step_by(step.max(1))
                .map(|(&p, &c)| EmptyElement::at(p) + Text::new(glyph(c), (4, -19), font.clone())),
        )?;
    }
    let entries: Vec<Entry> = (0..CLASSES.len())
        .filter(|&k| count(k) > 0)
        .map(|k| Entry {
            label: format!("{} ({})", CLASSES[k], count(k)),
            swatch: Swatch::Dot(COLOURS[k]),
        })
        .collect();
    legend::draw(&strip, 12, Some("character just read"), &entries)
}
