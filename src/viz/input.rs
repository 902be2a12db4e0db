//! What a picture runs a model over. A character model reads running text,
//! its state carried from one character to the next. A model trained on a
//! word list (its vocabulary has the START/END markers) reads words, each
//! its own sequence `START w₁ … wₙ` from a zero state, as it was trained:
//! the text (or file) is then a word list, one word per line.

use std::ops::Range;
use std::path::Path;

use crate::cell::SeqInput;
use crate::data::words::words_in;
use crate::data::{CharVocab, prepare_sequences, read_text, read_words};
use crate::error::Result;
use crate::model::{Net, NetWorkspace};

/// Running text, or the words of a word list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// One sequence, the state carried across it.
    Text(String),
    /// Words, each its own sequence from the START marker.
    Words(Vec<String>),
}

/// One sequence the model runs over from a zero state: the tokens it reads
/// and, for each step that has one, the token that actually came next
/// (`next.len()` is `inputs.len()` for a word, which ends in END, and one
/// less for running text).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sequence {
    /// The tokens read, in order.
    pub inputs: Vec<u32>,
    /// The token after each of the first `next.len()` inputs.
    pub next: Vec<u32>,
}

impl Input {
    /// `text` as the model reads it: a word list (one word per line) for a
    /// vocabulary with word markers, the text itself otherwise.
    pub fn of_text(text: &str, vocab: &CharVocab) -> Result<Self> {
        Ok(if vocab.has_markers() {
            Self::Words(words_in(text, "the text")?)
        } else {
            Self::Text(text.to_string())
        })
    }

    /// The file at `path` as the model reads it (see [`Input::of_text`]).
    pub fn read(path: &Path, vocab: &CharVocab) -> Result<Self> {
        Ok(if vocab.has_markers() {
            Self::Words(read_words(path)?)
        } else {
            Self::Text(read_text(path)?)
        })
    }

    /// The sequences to run, encoded with `vocab` (an error names a
    /// character the model does not know).
    pub fn sequences(&self, vocab: &CharVocab) -> Result<Vec<Sequence>> {
        match self {
            Self::Text(text) => {
                let inputs = vocab.encode(text)?;
                let next = inputs.get(1..).unwrap_or_default().to_vec();
                Ok(vec![Sequence { inputs, next }])
            }
            Self::Words(words) => Ok(prepare_sequences(words, vocab)?
                .into_iter()
                .map(|(inputs, next)| Sequence { inputs, next })
                .collect()),
        }
    }

    /// Whether the sequences are words (each begins with START).
    pub fn is_words(&self) -> bool {
        matches!(self, Self::Words(_))
    }
}

/// The longest block run at once over running text; the state is carried
/// from one block to the next. A word runs whole, as in training.
const BLOCK: usize = 256;

/// Run `net` over `inputs` from a zero state, calling `each` with the
/// workspace after every block and the block's range of steps. Running
/// text goes in blocks of 256 steps, the state carried across; a word
/// (`whole`) runs in one block.
pub fn run<F>(net: &Net<f32>, inputs: &[u32], whole: bool, mut each: F) -> Result<()>
where
    F: FnMut(&NetWorkspace<f32>, Range<usize>) -> Result<()>,
{
    let block = if whole { inputs.len().max(1) } else { BLOCK };
    let mut ws = net.workspace();
    let mut state = vec![0.0; net.config().state_len(1)];
    let mut at = 0;
    for chunk in inputs.chunks(block) {
        net.forward(
            SeqInput::Tokens(chunk),
            Some(&state),
            chunk.len(),
            1,
            &mut ws,
        )?;
        each(&ws, at..at + chunk.len())?;
        state.copy_from_slice(ws.final_state());
        at += chunk.len();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::words::word_vocab;

    #[test]
    fn a_word_model_reads_lines_as_words_and_a_character_model_the_text() {
        let words = word_vocab(&["ab", "ba"]).unwrap();
        let input = Input::of_text("ab\n\n ba \n", &words).unwrap();
        assert_eq!(input, Input::Words(vec!["ab".into(), "ba".into()]));
        let seqs = input.sequences(&words).unwrap();
        assert_eq!(seqs.len(), 2);
        assert_eq!(seqs[0].inputs.len(), 3); // START a b
        assert_eq!(seqs[0].next.len(), 3); // a b END
        let chars = CharVocab::from_text("ab\n").unwrap();
        let input = Input::of_text("ab\nba", &chars).unwrap();
        assert_eq!(input, Input::Text("ab\nba".into()));
        let seqs = input.sequences(&chars).unwrap();
        assert_eq!((seqs[0].inputs.len(), seqs[0].next.len()), (5, 4));
    }
}
