//! # recur
//!
//! Recurrent neural networks built from their equations: forward pass,
//! backpropagation through time, gradient updates, all hand-written, checked
//! against finite differences, and fast on a CPU.
//!
//! The vanilla RNN of min-char-rnn is [`VanillaRnn`]:
//!
//! ```text
//! h_t = tanh(Wxh x_t + Whh h_{t-1} + bh)
//! y_t = Why h_t + by
//! ```
//!
//! Start with [`VanillaRnn`] for the model, [`CharVocab`] for text, and
//! [`train::Trainer`] for the char-rnn training loop the `recur` CLI runs,
//! and [`CharRnn`] for the notebook-style `train_words` / `predict`.
//!
//! ## Features
//!
//! Two Cargo features, both on by default. A program that only trains and
//! runs models turns them off (`recur = { version = "0.1",
//! default-features = false }`) and builds none of their dependencies.
//!
//! - `viz`: the `viz` module, pictures (PNG or SVG) with a bundled font:
//!   heatmaps, loss curves, probabilities, t-SNE, the HTML activation
//!   viewer (plotters, bhtsne, dejavu).
//! - `cli`: the `recur` command line (clap, with clap_complete and
//!   clap_mangen for its shell completions and manual pages; indicatif; and
//!   lipsum for its built-in corpus). It draws pictures, so it turns on
//!   `viz`.

#![warn(missing_docs)]

pub mod backend;
pub mod bench;
pub mod cell;
pub mod check;
pub mod checkpoint;
pub mod data;
pub mod decode;
pub mod error;
pub mod gradcheck;
pub mod layer;
pub mod memory;
pub mod model;
pub mod notebook;
pub mod optim;
pub mod prelude;
pub mod sample;
pub mod tensor;
pub mod train;
#[cfg(feature = "viz")]
pub mod viz;

pub use backend::{Activation, Backend, Cpu, IGNORE};
pub use cell::SeqInput;
pub use data::CharVocab;
pub use data::prepare_sequences;
pub use error::{Error, Result};
pub use layer::loss::{Target, compute_loss};
pub use model::{Init, NetWorkspace, Readout, RnnConfig, VanillaRnn};
pub use notebook::CharRnn;
pub use tensor::Scalar;
