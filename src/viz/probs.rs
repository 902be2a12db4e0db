//! The output distribution at every step of a text: time across, the most
//! likely next characters down, the character that actually came next
//! outlined.

use std::path::Path;

use super::heatmap;
use crate::cell::SeqInput;
use crate::data::CharVocab;
use crate::error::{Error, Result};
use crate::model::Net;

/// `probs (T, V)`: the model's next-character distribution after each of
/// the first `T = len - 1` characters of `text` (state carried from zeros).
pub fn next_char_probs(
    net: &Net<f32>,
    vocab: &CharVocab,
    text: &str,
) -> Result<(Vec<u32>, Vec<f32>)> {
    let tokens = vocab.encode(text)?;
    if tokens.len() < 2 {
        return Err(Error::Data("--text needs at least two characters".into()));
    }
    let t = tokens.len() - 1;
    let mut ws = net.workspace();
    net.forward(SeqInput::Tokens(&tokens[..t]), None, t, 1, &mut ws)?;
    let v = vocab.len();
    let mut probs = ws.outputs().to_vec();
    for row in probs.chunks_exact_mut(v) {
        let max = row.iter().fold(f32::NEG_INFINITY, |m, &x| m.max(x));
        let sum: f32 = row
            .iter_mut()
            .map(|x| {
                *x = (*x - max).exp();
                *x
            })
            .sum();
        row.iter_mut().for_each(|x| *x /= sum);
    }
    Ok((tokens, probs))
}

/// Draw the distribution over `text` to `out`: rows are the `top_k`
/// characters with the highest mean probability (all with 0), columns the
/// input characters; the actual next character of each step is outlined.
pub fn draw(net: &Net<f32>, vocab: &CharVocab, text: &str, top_k: usize, out: &Path) -> Result<()> {
    super::format_of(out)?;
    let steps = text.chars().count().saturating_sub(1);
    if steps > heatmap::MAX_COLS {
        return Err(Error::Config(format!(
            "--text has {} characters; a probability picture shows at most {} (one column each, at most {} pixels wide): give a shorter --text",
            steps + 1,
            heatmap::MAX_COLS + 1,
            heatmap::MAX_SIDE
        )));
    }
    let (tokens, probs) = next_char_probs(net, vocab, text)?;
    let (t, v) = (tokens.len() - 1, vocab.len());
    let mut mean = vec![0.0f32; v];
    for row in probs.chunks_exact(v) {
        mean.iter_mut().zip(row).for_each(|(m, &p)| *m += p);
    }
    let mut order: Vec<usize> = (0..v).collect();
    order.sort_by(|&a, &b| mean[b].total_cmp(&mean[a]));
    order.truncate(if top_k == 0 { v } else { top_k.min(v) });
    let values: Vec<Vec<f32>> = order
        .iter()
        .map(|&c| (0..t).map(|s| probs[s * v + c]).collect())
        .collect();
    let rows: Vec<char> = order
        .iter()
        .map(|&c| vocab.char(c as u32).unwrap_or('?'))
        .collect();
    let cols: Vec<char> = tokens[..t]
        .iter()
        .map(|&c| vocab.char(c).unwrap_or('?'))
        .collect();
    let marks: Vec<(usize, usize)> = (0..t)
        .filter_map(|s| {
            order
                .iter()
                .position(|&c| c as u32 == tokens[s + 1])
                .map(|r| (r, s))
        })
        .collect();
    heatmap::draw_marked(
        out,
        &values,
        &rows,
        &cols,
        &marks,
        "next-character probabilities (actual next outlined)",
    )
}
