//! # recur
//!
//! Recurrent neural networks built from their equations: forward pass,
//! backpropagation through time, gradient updates, all hand-written, checked
//! against finite differences, and fast on a CPU (and on a GPU through
//! wgpu).
//!
//! Train a character-level language model on a text and sample from it:
//!
//! ```
//! use recur::cell::CellKind;
//! use recur::optim::OptimizerKind;
//! use recur::sample::{SampleOptions, generate};
//! use recur::train::{TrainConfig, TrainData, Trainer};
//!
//! let text = "the cat sat on the mat. the dog sat on the log. ".repeat(40);
//! let config = TrainConfig {
//!     cell: CellKind::Gru,
//!     hidden: 32,
//!     batch: 8,
//!     seq_len: 16,
//!     optimizer: OptimizerKind::from_name("adam", 0.0)?,
//!     lr: 1e-2,
//!     eval_every: 300,
//!     ..TrainConfig::default()
//! };
//! let mut trainer = Trainer::new(config, TrainData::Corpus(text), 300)?;
//! let summary = trainer.run(None, None, &mut |_event| {})?;
//! // 14 characters: their frequencies alone cost 2.3 nats each.
//! assert!(summary.val_loss.unwrap() < 1.0);
//!
//! let (model, vocab) = trainer.into_model();
//! let sample = generate(&model, &vocab, "the ", 40, &SampleOptions::default(), 7)?;
//! assert_eq!(sample.chars().count(), 40);
//! # Ok::<(), recur::Error>(())
//! ```
//!
//! The vanilla RNN of min-char-rnn is [`VanillaRnn`]:
//!
//! ```text
//! h_t = tanh(Wxh x_t + Whh h_{t-1} + bh)
//! y_t = Why h_t + by
//! ```
//!
//! Start with [`VanillaRnn`] (a [`model::Net`] of any cell: [`cell`] lists
//! them) for the model, [`CharVocab`] for text, and [`train::Trainer`] for
//! the char-rnn training loop the `recur` CLI runs, and [`CharRnn`] for the
//! notebook-style `train_words` / `predict`. Sequence-to-sequence models
//! are [`model::seq2seq::Seq2Seq`], forecasters [`model::Forecaster`].
//!
//! Coming from the numpy notebooks? The learner's guide, `docs/guide.md`
//! (in the repository and in the published crate), goes from the equations
//! of the vanilla RNN, the LSTM and the GRU to the lines of recur that
//! compute them, derives backpropagation through time next to the code,
//! and shows how a gradient check catches the bugs of a popular notebook.
//!
//! ## Features
//!
//! Three Cargo features on by default, and `mpi` off. A program that only
//! trains and runs models on the CPU turns the three off (`recur = {
//! version = "0.1", default-features = false }`) and builds none of their
//! dependencies.
//!
//! | feature | what it adds | dependencies |
//! |---|---|---|
//! | `viz` | the `viz` module: pictures (PNG or SVG) with a bundled font: heatmaps, loss curves, probabilities, t-SNE, the HTML activation viewer | plotters, bhtsne, dejavu |
//! | `gpu` | the GPU backend `backend::Gpu` (`--device gpu`): Vulkan, Metal, DX12 | wgpu, bytemuck, pollster |
//! | `cli` | the `recur` command line, with shell completions and manual pages; it draws pictures, so it turns on `viz` | clap, clap_complete, clap_mangen, indicatif, lipsum (its built-in corpus) |
//! | `mpi` (off by default) | data-parallel training over the ranks of an MPI job (`train::distributed`, `mpirun -np N recur train`); needs an MPI library (OpenMPI, MPICH) and libclang where it builds | mpi |

#![deny(missing_docs)]

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
