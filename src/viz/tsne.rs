//! Hidden states in two dimensions: run a language model over a text,
//! collect one layer's state after each character, embed them with t-SNE
//! (Barnes-Hut, seeded and single-threaded, so the same inputs give the same
//! picture) and scatter them coloured by the character's class.

use std::path::Path;

use plotters::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

use super::{ensure_font, format_of};
use crate::cell::SeqInput;
use crate::data::CharVocab;
use crate::error::{Error, Result};
use crate::model::Net;

/// The fewest points embedded: t-SNE needs a few neighbours per point.
pub const MIN_POINTS: usize = 5;

/// The most points embedded: Barnes-Hut t-SNE of 20,000 states takes
/// minutes, and a scatter of more is a blot.
pub const MAX_POINTS: usize = 20_000;

/// Picture size in pixels.
pub const SIZE: (u32, u32) = (900, 760);

/// The classes points are coloured by, in legend order.
pub const CLASSES: [&str; 8] = [
    "newline",
    "space",
    "digit",
    "punctuation",
    "upper-case",
    "vowel",
    "letter",
    "other",
];

/// A character's class (the first that applies, in [`CLASSES`] order).
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
        'a' | 'e' | 'i' | 'o' | 'u' => 5,
        c if c.is_alphabetic() => 6,
        _ => 7,
    }
}

/// Layer `layer`'s state after each of the first `points` characters of
/// `text` (state carried from zeros): the characters and `(N, dirs·H)`.
pub fn hidden_states(
    net: &Net<f32>,
    vocab: &CharVocab,
    text: &str,
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
    let tokens = vocab.encode(text)?;
    let n = tokens.len().min(points);
    if n < MIN_POINTS {
        return Err(Error::Data(format!(
            "the text has {n} characters; a t-SNE picture needs at least {MIN_POINTS}"
        )));
    }
    if n > MAX_POINTS {
        return Err(Error::Config(format!(
            "{n} points are more than t-SNE embeds in reasonable time and memory (at most {MAX_POINTS}); use --points {MAX_POINTS} or less"
        )));
    }
    let mut ws = net.workspace();
    let mut state = vec![0.0; c.state_len(1)];
    let mut states = Vec::with_capacity(n * c.stack().output_size());
    for chunk in tokens[..n].chunks(256) {
        net.forward(
            SeqInput::Tokens(chunk),
            Some(&state),
            chunk.len(),
            1,
            &mut ws,
        )?;
        states.extend_from_slice(ws.layer_outputs(layer));
        state.copy_from_slice(ws.final_state());
    }
    let chars = tokens[..n]
        .iter()
        .map(|&t| vocab.char(t).unwrap_or('?'))
        .collect();
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

/// Draw the embedded points coloured by class, `labels` of them (evenly
/// spaced) labelled with their character, to `out` (PNG or SVG).
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
    let (px, py) = (((x1 - x0) * 0.05).max(1e-3), ((y1 - y0) * 0.05).max(1e-3));
    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .build_cartesian_2d((x0 - px)..(x1 + px), (y0 - py)..(y1 + py))?;
    for (k, name) in CLASSES.iter().enumerate() {
        let colour = Palette99::pick(k).to_rgba();
        let mine: Vec<(f32, f32)> = pts
            .iter()
            .zip(chars)
            .filter(|(_, c)| class_of(**c) == k)
            .map(|(p, _)| *p)
            .collect();
        if mine.is_empty() {
            continue;
        }
        chart
            .draw_series(mine.iter().map(|&p| Circle::new(p, 3, colour.filled())))?
            .label(format!("{name} ({})", mine.len()))
            .legend(move |(x, y)| Circle::new((x + 6, y), 4, colour.filled()));
    }
    if let Some(step) = pts.len().checked_div(labels) {
        let step = step.max(1);
        let shown: Vec<String> = chars
            .iter()
            .map(|&c| match c {
                '\n' => "\\n".into(),
                ' ' => "␣".into(),
                c => c.to_string(),
            })
            .collect();
        chart.draw_series(
            pts.iter()
                .zip(&shown)
                .step_by(step)
                .map(|(&p, s)| Text::new(s.clone(), p, ("sans-serif", 13).into_font())),
        )?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .draw()?;
    Ok(())
}
