//! Data: the character vocabulary, corpora cut into char-rnn batches, word
//! lists turned into padded per-word sequences, and source/target pairs
//! (files or built-in tasks) for sequence-to-sequence models.

pub mod corpus;
pub mod pairs;
pub mod series;
pub mod source;
pub mod tasks;
pub mod timeline;
pub mod vocab;
pub mod words;

pub use corpus::{CharStreams, parse_text, read_text, split_train_val};
pub use vocab::CharVocab;
pub use words::{WordBatch, prepare_sequences, read_words};
