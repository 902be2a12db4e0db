//! The names most programs need, in one import: `use recur::prelude::*;`.
//!
//! A many-to-one classifier (the first notebook's form) from the prelude
//! alone. Inputs are **time-major**: `tokens[t * B + b]` is step `t` of
//! sequence `b` (numpy users: transpose a batch-first `(B, T)` array).
//! Shorter sequences are padded with any valid token (0 is fine) and their
//! lengths given in `Batch::lengths`: padded steps change neither the
//! outputs nor the gradients. `Target::Classes` takes one label per
//! sequence.
//!
//! ```
//! use recur::prelude::*;
//! // Is the sequence's first token equal to its last? Vocabulary of 3.
//! let config = NetConfig {
//!     readout: Readout::ManyToOne,
//!     output_size: 2,
//!     bidirectional: true,
//!     ..NetConfig::char_lm(CellKind::Gru, 3, 16)
//! };
//! let mut net = Net::<f32>::new(config, Init::Uniform, 0).unwrap();
//! let adam = OptimizerKind::Adam { beta1: 0.9, beta2: 0.999 };
//! let mut opt = Optimizer::new(adam, 0.02, net.params.len()).unwrap();
//! let (mut ws, mut grads) = (net.workspace(), net.zero_grads());
//! // Four sequences (B = 4) of up to 3 steps; the last two have length 2
//! // (their third step is padding).
//! let seqs = [[0, 1, 0], [2, 1, 0], [1, 1, 0], [2, 0, 0]];
//! let lengths = [3, 3, 2, 2];
//! let labels = [1, 0, 1, 0]; // 1: first == last (of the real steps)
//! let tokens: Vec<u32> = (0..3).flat_map(|t| seqs.iter().map(move |s| s[t])).collect();
//! let batch = Batch {
//!     lengths: Some(&lengths),
//!     ..Batch::new(SeqInput::Tokens(&tokens), 3, 4)
//! };
//! for _ in 0..200 {
//!     grads.fill(0.0);
//!     net.loss_and_grad_batch(&batch, Target::Classes(&labels), &mut ws, &mut grads, None)
//!         .unwrap();
//!     opt.step(&mut net.params, &grads);
//! }
//! assert_eq!(net.predict(&batch, &mut ws).unwrap(), labels);
//! let p = net.probabilities(&batch, &mut ws).unwrap(); // (B, 2)
//! assert!(p[1] > 0.9 && p[2] > 0.9);
//! ```

pub use crate::backend::{Activation, IGNORE};
pub use crate::cell::{CellKind, SeqInput};
pub use crate::data::{CharVocab, prepare_sequences};
pub use crate::error::{Error, Result};
pub use crate::layer::loss::{Target, compute_loss};
pub use crate::model::{Batch, Init, Net, NetConfig, NetWorkspace, Readout, RnnConfig, VanillaRnn};
pub use crate::notebook::CharRnn;
pub use crate::optim::{Clip, Optimizer, OptimizerKind};
pub use crate::sample::{SampleOptions, generate};
pub use crate::train::{TrainConfig, TrainData, Trainer};
