//! The training data a [`super::Trainer`] iterates: a corpus read as
//! char-rnn streams, or a word list read as padded batches of words.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::data::words::word_vocab;
use crate::data::{CharStreams, CharVocab, prepare_sequences, split_train_val};
use crate::error::{Error, Result};

/// What to train on.
#[derive(Clone, Debug)]
pub enum TrainData {
    /// Running text, read as B streams of T characters.
    Corpus(String),
    /// One word per entry, each its own sequence with start/end markers.
    Words(Vec<String>),
}

impl TrainData {
    /// A 64-bit FNV-1a fingerprint, so that `--resume` can tell whether the
    /// data changed.
    pub fn fingerprint(&self) -> u64 {
        match self {
            TrainData::Corpus(t) => fingerprint([t.as_bytes()]),
            TrainData::Words(ws) => fingerprint(ws.iter().flat_map(|w| [w.as_bytes(), b"\n"])),
        }
    }

    /// T: the longest block a batch holds: `seq_len` for a corpus, the
    /// longest word plus its start marker for a word list.
    pub fn steps(&self, seq_len: usize) -> usize {
        match self {
            TrainData::Corpus(_) => seq_len,
            TrainData::Words(ws) => ws.iter().map(|w| w.chars().count() + 1).max().unwrap_or(1),
        }
    }

    /// The flags that shrink a run on this data, for a memory error.
    pub fn advice(&self) -> &'static str {
        match self {
            TrainData::Corpus(_) => "lower --hidden, --layers, --batch or --seq-len",
            TrainData::Words(_) => {
                "lower --hidden, --layers or --batch (a batch is as long as its longest word)"
            }
        }
    }

    /// The vocabulary the data needs.
    pub fn vocab(&self) -> Result<CharVocab> {
        match self {
            TrainData::Corpus(t) => CharVocab::from_text(t),
            TrainData::Words(ws) => word_vocab(ws),
        }
    }
}

/// 64-bit FNV-1a over the concatenated byte strings.
pub(crate) fn fingerprint<'a>(parts: impl IntoIterator<Item = &'a [u8]>) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for part in parts {
        for &b in part {
            h = (h ^ b as u64).wrapping_mul(0x100000001b3);
        }
    }
    h
}

/// Token sequences ready for batching.
pub(crate) enum Prepared {
    Corpus {
        train: Vec<u32>,
        val: Vec<u32>,
    },
    Words {
        train: Vec<(Vec<u32>, Vec<u32>)>,
        val: Vec<(Vec<u32>, Vec<u32>)>,
    },
}

impl Prepared {
    /// Encode `data` with `vocab` and split off the validation part. Word
    /// lists are shuffled (by `seed`) before the split, since they are often
    /// sorted.
    pub fn new(
        data: &TrainData,
        vocab: &CharVocab,
        val_frac: f64,
        t: usize,
        b: usize,
        seed: u64,
    ) -> Result<Self> {
        match data {
            TrainData::Corpus(text) => {
                let tokens = vocab.encode(text)?;
                let (train, val) = split_train_val(&tokens, val_frac)?;
                CharStreams::new(train, t, b, "training text")?;
                if !val.is_empty() {
                    CharStreams::new(val, t, 1, "validation split").map_err(|_| {
                        Error::Data(format!(
                            "the validation split has {} characters, fewer than seq-len + 1 = {}; raise --val-frac, lower --seq-len, or use --val-frac 0",
                            val.len(),
                            t + 1
                        ))
                    })?;
                }
                Ok(Prepared::Corpus {
                    train: train.to_vec(),
                    val: val.to_vec(),
                })
            }
            TrainData::Words(words) => {
                let mut seqs = prepare_sequences(words, vocab)?;
                seqs.shuffle(&mut ChaCha8Rng::seed_from_u64(seed ^ 0x5eed));
                let n_val = (seqs.len() as f64 * val_frac).round() as usize;
                let n_val = n_val.min(seqs.len().saturating_sub(1));
                let train = seqs.split_off(n_val);
                Ok(Prepared::Words { train, val: seqs })
            }
        }
    }

    /// Iterations in one pass over the training data.
    pub fn iters_per_epoch(&self, t: usize, b: usize) -> Result<u64> {
        Ok(match self {
            Prepared::Corpus { train, .. } => {
                CharStreams::new(train, t, b, "training text")?.windows() as u64
            }
            Prepared::Words { train, .. } => train.len().div_ceil(b) as u64,
        })
    }

    pub fn has_validation(&self) -> bool {
        match self {
            Prepared::Corpus { val, .. } => !val.is_empty(),
            Prepared::Words { val, .. } => !val.is_empty(),
        }
    }
}
