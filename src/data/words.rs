//! Word lists: one word per line, each turned into a sequence
//! `START w₁ … wₙ → w₁ … wₙ END`, and batches of words padded to a common
//! length (padded targets are ignored by the loss, so they change neither
//! the loss nor the gradients).

use std::path::Path;

use super::corpus::read_text;
use super::vocab::{CharVocab, END, START};
use crate::backend::IGNORE;
use crate::error::{Error, Result};

/// The longest word a word list may hold, in characters. Each word is one
/// training sequence and a batch is as long as its longest word, so a
/// longer "word" is almost always a file that is not a word list (running
/// text on one line); train on it with `--corpus` instead.
pub const MAX_WORD_CHARS: usize = 10_000;

/// Read a word list: one word per line, surrounding white space trimmed,
/// blank lines skipped. A word over [`MAX_WORD_CHARS`] is an error naming
/// its line.
pub fn read_words(path: &Path) -> Result<Vec<String>> {
    words_in(&read_text(path)?, &path.display().to_string())
}

/// The words of `text` as [`read_words`] reads a file: one per line,
/// trimmed, blank lines skipped; errors name `origin` (a file name, or
/// what the text is) and the line.
///
/// ```
/// assert_eq!(recur::data::words::words_in(" anna\n\nbob \n", "names").unwrap(), ["anna", "bob"]);
/// ```
pub fn words_in(text: &str, origin: &str) -> Result<Vec<String>> {
    let mut words = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let word = line.trim();
        if word.is_empty() {
            continue;
        }
        // `nth` stops at the maximum; only a refused line is counted in full.
        if word.chars().nth(MAX_WORD_CHARS).is_some() {
            return Err(Error::Data(format!(
                "{origin}:{}: a word of {} characters; words are at most {MAX_WORD_CHARS} characters, one per line (for running text use --corpus)",
                i + 1,
                word.chars().count()
            )));
        }
        words.push(word.to_string());
    }
    Ok(words)
}

/// A vocabulary for `words`: their characters plus the START/END markers.
pub fn word_vocab<S: AsRef<str>>(words: &[S]) -> Result<CharVocab> {
    if words.is_empty() {
        return Err(Error::Data(
            "the word list is empty; give at least one word".into(),
        ));
    }
    let mut text: String = words.iter().map(|w| w.as_ref()).collect();
    if text.contains(START) || text.contains(END) {
        return Err(Error::Data(
            "words may not contain the control characters U+0002 / U+0003".into(),
        ));
    }
    text.push(START);
    text.push(END);
    CharVocab::from_text(&text)
}

/// Each word as `(inputs, targets)`: `START w₁…wₙ` → `w₁…wₙ END`.
///
/// ```
/// use recur::data::{prepare_sequences, words::word_vocab};
/// let vocab = word_vocab(&["hi"]).unwrap();
/// let seqs = prepare_sequences(&["hi"], &vocab).unwrap();
/// assert_eq!(vocab.decode(&seqs[0].1), "hi"); // targets: h, i, END
/// assert_eq!(seqs[0].0.len(), 3);
/// ```
pub fn prepare_sequences<S: AsRef<str>>(
    words: &[S],
    vocab: &CharVocab,
) -> Result<Vec<(Vec<u32>, Vec<u32>)>> {
    let (start, end) = match (vocab.id(START), vocab.id(END)) {
        (Some(s), Some(e)) => (s, e),
        _ => {
            return Err(Error::Vocab(
                "the vocabulary has no word markers; build it with word_vocab".into(),
            ));
        }
    };
    words
        .iter()
        .map(|w| {
            let ids = vocab.encode(w.as_ref())?;
            let mut inputs = Vec::with_capacity(ids.len() + 1);
            inputs.push(start);
            inputs.extend(&ids);
            let mut targets = ids;
            targets.push(end);
            Ok((inputs, targets))
        })
        .collect()
}

/// Sequences of different lengths in one `(T, B)` block, time-major, padded
/// at the end: padded inputs repeat the last token and padded targets are
/// [`IGNORE`].
#[derive(Clone, Debug, Default)]
pub struct WordBatch {
    /// T: the longest sequence.
    pub t: usize,
    /// B: the number of sequences.
    pub b: usize,
    /// `(T, B)` input ids.
    pub inputs: Vec<u32>,
    /// `(T, B)` target ids or [`IGNORE`].
    pub targets: Vec<u32>,
    /// `(B)`: each sequence's real length.
    pub lengths: Vec<usize>,
}

impl WordBatch {
    /// Targets that count (not padding).
    pub fn target_count(&self) -> usize {
        self.targets.iter().filter(|&&y| y != IGNORE).count()
    }

    /// Fill from the given sequences (reusing the buffers).
    pub fn fill(&mut self, seqs: &[&(Vec<u32>, Vec<u32>)]) {
        self.b = seqs.len();
        self.t = seqs.iter().map(|s| s.0.len()).max().unwrap_or(0);
        self.inputs.clear();
        self.targets.clear();
        self.lengths.clear();
        self.lengths.extend(seqs.iter().map(|s| s.0.len()));
        for step in 0..self.t {
            for (x, y) in seqs.iter().map(|s| (&s.0, &s.1)) {
                match x.get(step) {
                    Some(&xi) => {
                        self.inputs.push(xi);
                        self.targets.push(y[step]);
                    }
                    None => {
                        self.inputs.push(*x.last().unwrap_or(&0));
                        self.targets.push(IGNORE);
                    }
                }
            }
        }
    }
}
