//! Whole words from a word-list model: each drawn from the start-of-word
//! marker to the end-of-word marker ([`sample_words`]), and which of them
//! the training list already held ([`novelty`]).

use std::collections::HashSet;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::{Cursor, SampleOptions, start_context};
use crate::check;
use crate::data::CharVocab;
use crate::data::vocab::END;
use crate::data::words::MAX_WORD_CHARS;
use crate::error::{Error, Result};
use crate::model::Net;

/// The most words [`sample_words`] draws in one call.
pub const MAX_WORDS: usize = 1_000_000;

/// `count` (1 to [`MAX_WORDS`]) whole words from a model trained on a word
/// list: each starts after the start-of-word marker and ends where the
/// model draws the end-of-word marker, characters chosen as `opts` says.
///
/// `max_len` (1 to [`MAX_WORD_CHARS`]) caps each word, so that a model
/// that never draws the end marker cannot run forever: a word still
/// unfinished after `max_len` characters is cut there and returned as it
/// stands (it may be shorter only by a stray start marker, which is never
/// printed). One generator seeded with `seed` draws all the words in
/// order, so the same seed gives the same list, and the first words of a
/// longer list are the words of a shorter one.
///
/// A model trained on running text has no word markers: that is an
/// [`Error::Config`] (sample a stretch of text with [`super::generate`]).
///
/// ```
/// use recur::{CharVocab, Init, RnnConfig, VanillaRnn};
/// use recur::sample::{SampleOptions, sample_words};
/// let vocab = recur::data::words::word_vocab(&["anna", "bob"]).unwrap();
/// let net = VanillaRnn::new(RnnConfig::char_lm(vocab.len(), 8), Init::Uniform, 0).unwrap();
/// let words = sample_words(&net, &vocab, 5, &SampleOptions::default(), 7, 20).unwrap();
/// assert_eq!(words.len(), 5);
/// assert!(words.iter().all(|w| w.chars().count() <= 20));
/// ```
pub fn sample_words(
    net: &Net<f32>,
    vocab: &CharVocab,
    count: usize,
    opts: &SampleOptions,
    seed: u64,
    max_len: usize,
) -> Result<Vec<String>> {
    sample_words_with_prefix(net, vocab, "", count, opts, seed, max_len)
}

/// [`sample_words`] where every word starts with `prefix`: the model reads
/// the start marker and `prefix`, then draws up to `max_len` characters
/// more until the end marker. Each word is returned whole, `prefix`
/// included. An empty prefix is [`sample_words`]; characters the model
/// never saw are an error naming them.
pub fn sample_words_with_prefix(
    net: &Net<f32>,
    vocab: &CharVocab,
    prefix: &str,
    count: usize,
    opts: &SampleOptions,
    seed: u64,
    max_len: usize,
) -> Result<Vec<String>> {
    if !vocab.has_markers() {
        return Err(Error::Config(
            "whole words need a model trained on a word list (recur train --words), whose vocabulary has start and end markers; this model was trained on running text: sample a stretch of text instead (recur sample --length N, or sample::generate)".into(),
        ));
    }
    check::between("the number of words", count, 1, MAX_WORDS)?;
    check::between("the longest word (max_len)", max_len, 1, MAX_WORD_CHARS)?;
    let context = start_context(vocab, prefix, net.config(), opts, max_len)?;
    let end = vocab.id(END);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut ws = net.workspace();
    // Every word starts from the same state: read the context once.
    let start = Cursor::after(net, &context, &mut ws)?;
    let mut words = Vec::with_capacity(count);
    for _ in 0..count {
        let tokens = start
            .clone()
            .draw(net, &mut ws, max_len, end, opts, &mut rng)?;
        words.push(format!("{prefix}{}", vocab.decode(&tokens)));
    }
    Ok(words)
}

/// Which sampled words are new: not in the training list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Novelty {
    /// One flag per sample, in order: `true` where the word is not in the
    /// training list.
    pub is_new: Vec<bool>,
}

impl Novelty {
    /// How many samples are new.
    pub fn new_count(&self) -> usize {
        self.is_new.iter().filter(|&&n| n).count()
    }

    /// How many samples are in the training list.
    pub fn known_count(&self) -> usize {
        self.is_new.len() - self.new_count()
    }

    /// The fraction of samples that are new, in `[0, 1]` (0 for no
    /// samples).
    pub fn fraction_new(&self) -> f64 {
        if self.is_new.is_empty() {
            return 0.0;
        }
        self.new_count() as f64 / self.is_new.len() as f64
    }
}

/// Mark each of `samples` new or known against the `training` word list
/// (exact, case-sensitive comparison; a word sampled twice is marked the
/// same both times).
///
/// ```
/// let n = recur::sample::novelty(&["anna", "anja", "bob"], &["anna", "bob", "carl"]);
/// assert_eq!(n.is_new, [false, true, false]);
/// assert_eq!((n.new_count(), n.known_count()), (1, 2));
/// assert!((n.fraction_new() - 1.0 / 3.0).abs() < 1e-12);
/// ```
pub fn novelty<S: AsRef<str>, T: AsRef<str>>(samples: &[S], training: &[T]) -> Novelty {
    let known: HashSet<&str> = training.iter().map(|w| w.as_ref()).collect();
    Novelty {
        is_new: samples
            .iter()
            .map(|w| !known.contains(w.as_ref()))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::words::word_vocab;
    use crate::model::{Init, RnnConfig};

    const NAMES: [&str; 4] = ["anna", "bob", "carl", "dora"];

    /// An untrained word model over [`NAMES`].
    fn untrained() -> (Net<f32>, CharVocab) {
        let vocab = word_vocab(&NAMES).unwrap();
        let net = Net::new(RnnConfig::char_lm(vocab.len(), 8), Init::Uniform, 3).unwrap();
        (net, vocab)
    }

    /// `net` with the output bias of `c` raised far above the others, so
    /// that greedy sampling always draws `c`.
    fn always(net: &Net<f32>, vocab: &CharVocab, c: char) -> Net<f32> {
        let mut params = net.params_to_host();
        let bias = net.layout().get("fc.bias").unwrap().range();
        params[bias][vocab.id(c).unwrap() as usize] = 100.0;
        Net::from_params(net.config().clone(), params).unwrap()
    }

    fn greedy() -> SampleOptions {
        SampleOptions {
            greedy: true,
            ..SampleOptions::default()
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_words_and_exactly_count() {
        let (net, vocab) = untrained();
        let opts = SampleOptions::default();
        let a = sample_words(&net, &vocab, 30, &opts, 11, 40).unwrap();
        assert_eq!(a.len(), 30);
        assert_eq!(a, sample_words(&net, &vocab, 30, &opts, 11, 40).unwrap());
        assert_ne!(a, sample_words(&net, &vocab, 30, &opts, 12, 40).unwrap());
        // One generator draws the words in order: a shorter list is a prefix.
        assert_eq!(
            a[..7],
            sample_words(&net, &vocab, 7, &opts, 11, 40).unwrap()
        );
        for w in &a {
            assert!(w.chars().count() <= 40, "{w:?}");
            assert!(!w.contains(['\u{2}', '\u{3}', '\n']), "{w:?}");
        }
    }

    #[test]
    fn a_word_that_never_ends_is_cut_at_max_len() {
        let (net, vocab) = untrained();
        let net = always(&net, &vocab, 'a');
        let words = sample_words(&net, &vocab, 3, &greedy(), 0, 5).unwrap();
        assert_eq!(words, ["aaaaa", "aaaaa", "aaaaa"]);
        let words = sample_words_with_prefix(&net, &vocab, "bo", 2, &greedy(), 0, 3).unwrap();
        assert_eq!(words, ["boaaa", "boaaa"]);
    }

    #[test]
    fn a_word_stops_at_the_end_marker() {
        let (net, vocab) = untrained();
        let net = always(&net, &vocab, END);
        let words = sample_words_with_prefix(&net, &vocab, "carl", 4, &greedy(), 0, 50).unwrap();
        assert_eq!(words, ["carl"; 4]);
    }

    #[test]
    fn a_running_text_model_is_refused() {
        let vocab = CharVocab::from_text("some running text").unwrap();
        let net = Net::new(RnnConfig::char_lm(vocab.len(), 8), Init::Uniform, 0).unwrap();
        let e = sample_words(&net, &vocab, 3, &SampleOptions::default(), 0, 10).unwrap_err();
        assert!(matches!(e, Error::Config(_)), "{e:?}");
        let msg = e.to_string();
        assert!(
            msg.contains("word list") && msg.contains("--length"),
            "{msg}"
        );
    }

    #[test]
    fn count_and_max_len_are_bounded() {
        let (net, vocab) = untrained();
        let opts = SampleOptions::default();
        for (count, max_len, what) in [
            (0, 10, "number of words"),
            (MAX_WORDS + 1, 10, "number of words"),
            (3, 0, "max_len"),
            (3, MAX_WORD_CHARS + 1, "max_len"),
        ] {
            let e = sample_words(&net, &vocab, count, &opts, 0, max_len).unwrap_err();
            assert!(e.to_string().contains(what), "{e}");
        }
        let bad = SampleOptions {
            temperature: 0.0,
            ..opts
        };
        assert!(sample_words(&net, &vocab, 3, &bad, 0, 10).is_err());
        let e = sample_words_with_prefix(&net, &vocab, "xyz", 3, &opts, 0, 10).unwrap_err();
        assert!(e.to_string().contains("'x'"), "{e}");
    }

    #[test]
    fn novelty_marks_words_outside_the_list() {
        let n = novelty(&["anna", "anja", "anja", "Bob"], &NAMES);
        assert_eq!(n.is_new, [false, true, true, true]);
        assert_eq!((n.new_count(), n.known_count()), (3, 1));
        assert_eq!(n.fraction_new(), 0.75);
        assert_eq!(novelty::<&str, &str>(&[], &NAMES).fraction_new(), 0.0);
    }
}
