//! Data: the character vocabulary, corpora cut into char-rnn batches, and
//! word lists turned into padded per-word sequences.

pub mod corpus;
pub mod vocab;
pub mod words;

pub use corpus::{CharStreams, read_text, split_train_val};
pub use vocab::CharVocab;
pub use words::{WordBatch, prepare_sequences, read_words};
