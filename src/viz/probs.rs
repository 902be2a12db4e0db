//! The output distribution at every step of a text: time across (wrapped
//! into panels of [`WRAP`] characters), the most likely next characters
//! down with a last row "other" holding the rest of the probability, the
//! character that actually came next outlined (in "other" when it is not
//! among the rows). A model trained on a word list reads each word from its
//! START marker (▸) and predicts its END (■).

use std::path::Path;

use super::glyph;
use super::heatmap::{self, Grid, Layout};
use super::input::Input;
use crate::cell::SeqInput;
use crate::data::CharVocab;
use crate::error::{Error, Result};
use crate::model::{Batch, Net};

/// Characters per panel: a longer text continues in a panel below.
pub const WRAP: usize = 60;

/// The label of the row holding the probability of every character not
/// shown as a row.
pub const OTHER: &str = "other";

/// The distribution at every step of `input`: the tokens read (one per
/// step), the token that actually came next, and `probs (T, V)`, the
/// model's next-character distribution after each (running text: after
/// each of its first `len - 1` characters, state carried from zeros; a word
/// list: after START and each letter of every word, each word from zeros).
pub fn next_char_probs(
    net: &Net<f32>,
    vocab: &CharVocab,
    input: &Input,
) -> Result<(Vec<u32>, Vec<u32>, Vec<f32>)> {
    let (mut read, mut next, mut probs) = (Vec::new(), Vec::new(), Vec::new());
    let mut ws = net.workspace();
    for seq in input.sequences(vocab)? {
        let t = seq.next.len();
        if t == 0 {
            continue;
        }
        let x = &seq.inputs[..t];
        probs.extend(net.probabilities(&Batch::new(SeqInput::Tokens(x), t, 1), &mut ws)?);
        read.extend_from_slice(x);
        next.extend_from_slice(&seq.next);
    }
    if read.is_empty() {
        return Err(Error::Data(match input {
            Input::Text(_) => "the text needs at least two characters".into(),
            Input::Words(_) => "the word list is empty; give at least one word".into(),
        }));
    }
    Ok((read, next, probs))
}

/// The steps (columns) `input` makes, counted without running the model.
pub fn steps(input: &Input) -> usize {
    match input {
        Input::Text(t) => t.chars().count().saturating_sub(1),
        Input::Words(w) => w.iter().map(|w| w.chars().count() + 1).sum(),
    }
}

/// The picture's title: what it shows, what "other" (with `other`) and
/// the word markers (with `words`) mean.
pub fn title(other: bool, words: bool) -> String {
    let mut t = String::from(
        "next-character probabilities: a column per character read, the actual next one outlined",
    );
    let mut notes = Vec::new();
    if other {
        notes.push("other: every character not shown as a row");
    }
    if words {
        notes.push("▸ start of a word, ■ end of a word");
    }
    if !notes.is_empty() {
        t.push('\n');
        t.push_str(&notes.join("; "));
    }
    t
}

/// The rows drawn for `top_k` (0: all) of `v` characters: the characters,
/// plus "other" when some are left out.
fn row_count(top_k: usize, v: usize) -> (usize, bool) {
    let k = if top_k == 0 { v } else { top_k.min(v) };
    (k, k < v)
}

/// Where everything goes in the picture of `rows` character rows (plus
/// "other" with `other`) over `steps` steps, for a word model with `words`.
pub fn layout(rows: usize, steps: usize, other: bool, words: bool) -> Layout {
    let mut labels = vec![String::from("x"); rows];
    if other {
        labels.push(OTHER.into());
    }
    Layout::of(&labels, steps, WRAP, &title(other, words))
}

/// The most steps a picture of `rows` rows (counting "other") shows within
/// [`heatmap::MAX_SIDE`] pixels.
pub fn max_steps(rows: usize, title_lines: usize) -> usize {
    Layout::max_panels(rows, title_lines) * WRAP
}

/// Draw the distribution over `input` to `out`: rows are the `top_k`
/// characters with the highest mean probability (all with 0) and "other",
/// columns the characters read; the actual next character of each step is
/// outlined. Past [`WRAP`] columns the picture continues below; one taller
/// than [`heatmap::MAX_SIDE`] is refused before the model runs.
pub fn draw(
    net: &Net<f32>,
    vocab: &CharVocab,
    input: &Input,
    top_k: usize,
    out: &Path,
) -> Result<()> {
    super::format_of(out)?;
    let v = vocab.len();
    let (k, other) = row_count(top_k, v);
    let title = title(other, input.is_words());
    let shown = k + usize::from(other);
    let (n, most) = (steps(input), max_steps(shown, title.lines().count()));
    if n > most {
        let what = match input {
            Input::Text(_) => format!("the text has {} characters", n + 1),
            Input::Words(w) => format!("the {} words make {n} steps", w.len()),
        };
        return Err(Error::Config(format!(
            "{what}; a probability picture of {shown} rows shows at most {most} (in rows of {WRAP}, at most {} pixels tall): give a shorter text or a smaller --top-k",
            heatmap::MAX_SIDE
        )));
    }
    let (read, next, probs) = next_char_probs(net, vocab, input)?;
    let t = read.len();
    let mut mean = vec![0.0f32; v];
    for row in probs.chunks_exact(v) {
        mean.iter_mut().zip(row).for_each(|(m, &p)| *m += p);
    }
    let mut order: Vec<usize> = (0..v).collect();
    order.sort_by(|&a, &b| mean[b].total_cmp(&mean[a]));
    order.truncate(k);
    let mut values: Vec<Vec<f32>> = order
        .iter()
        .map(|&c| (0..t).map(|s| probs[s * v + c]).collect())
        .collect();
    let mut rows: Vec<String> = order
        .iter()
        .map(|&c| glyph(vocab.char(c as u32).unwrap_or('?')))
        .collect();
    if other {
        let rest = (0..t)
            .map(|s| (1.0 - order.iter().map(|&c| probs[s * v + c]).sum::<f32>()).max(0.0))
            .collect();
        values.push(rest);
        rows.push(OTHER.into());
    }
    let cols: Vec<String> = read
        .iter()
        .map(|&c| glyph(vocab.char(c).unwrap_or('?')))
        .collect();
    let marks: Vec<(usize, usize)> = (0..t)
        .filter_map(|s| {
            order
                .iter()
                .position(|&c| c as u32 == next[s])
                .or(other.then_some(k))
                .map(|r| (r, s))
        })
        .collect();
    heatmap::draw_grid(
        out,
        &Grid {
            values: &values,
            rows: &rows,
            cols: &cols,
            marks: &marks,
            rule_above: other.then_some(k),
            title: &title,
            wrap: WRAP,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_the_top_k_and_other_when_some_are_left_out() {
        assert_eq!(row_count(12, 65), (12, true));
        assert_eq!(row_count(0, 65), (65, false));
        assert_eq!(row_count(80, 65), (65, false));
    }

    #[test]
    fn long_texts_wrap_and_the_limit_follows_the_rows() {
        // 120 characters: two panels of 60, not one strip of 3,452 pixels.
        let two = layout(12, 119, true, false);
        let one = layout(12, 59, true, false);
        assert_eq!((two.panels, two.per_panel, one.panels), (2, 60, 1));
        assert!(two.width < 2_000, "{}", two.width);
        assert!(two.height > one.height + 12 * heatmap::CELL);
        assert!(max_steps(13, 2) > max_steps(66, 2));
        let tallest = layout(12, max_steps(13, 2), true, false);
        assert!(tallest.height <= heatmap::MAX_SIDE);
        let over = layout(12, max_steps(13, 2) + WRAP, true, false);
        assert!(over.height > heatmap::MAX_SIDE);
    }
}
