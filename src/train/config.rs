//! The settings of a language-model run ([`super::Trainer`]).

use serde::{Deserialize, Serialize};

use crate::backend::Activation;
use crate::cell::CellKind;
use crate::check;
use crate::error::{Error, Result};
use crate::model::Init;
use crate::optim::{Clip, OptimizerKind, Schedule};
use crate::tensor::bf16::Precision;

/// Everything that decides a training run besides the data and its length.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// The recurrent cell (the vanilla RNN with its nonlinearity).
    pub cell: CellKind,
    /// Hidden size H.
    pub hidden: usize,
    /// Stacked layers.
    pub layers: usize,
    /// A learned embedding of this size instead of one-hot input.
    pub embed: Option<usize>,
    /// Dropout between layers.
    pub dropout: f64,
    /// Start every LSTM forget-gate bias at this value (char-rnn: 1).
    pub forget_bias: Option<f64>,
    /// Weight initialization.
    pub init: Init,
    /// T: characters per training window.
    pub seq_len: usize,
    /// B: parallel streams (or words) per batch.
    pub batch: usize,
    /// The optimizer.
    pub optimizer: OptimizerKind,
    /// Learning rate.
    pub lr: f64,
    /// How the learning rate changes over the run (saved settings leave
    /// the constant rate out, so runs saved before it existed resume).
    #[serde(default, skip_serializing_if = "Schedule::is_constant")]
    pub schedule: Schedule,
    /// Iterations over which the rate rises linearly from `lr / warmup`
    /// to the schedule's rate; 0: none.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub warmup: u64,
    /// Gradient clipping.
    pub clip: Clip,
    /// Fraction of the data held out for validation.
    pub val_frac: f64,
    /// Validate (and save) every this many iterations; 0 = only at the end.
    pub eval_every: u64,
    /// Write a log line every this many iterations.
    pub log_every: u64,
    /// Seed of every random choice (init, word order).
    pub seed: u64,
    /// The training products' operands: f32, or bf16 with f32 sums,
    /// weights and optimizer state (see [`crate::tensor::bf16`]); the
    /// validation and everything saved stay f32. Saved settings leave f32
    /// out, so runs saved before it existed resume.
    #[serde(default, skip_serializing_if = "is_f32")]
    pub precision: Precision,
}

impl Default for TrainConfig {
    /// min-char-rnn's configuration: H=100, T=25, B=1, Adagrad 0.1, clip 5,
    /// `randn · 0.01` init.
    fn default() -> Self {
        TrainConfig {
            cell: CellKind::Rnn(Activation::Tanh),
            hidden: 100,
            layers: 1,
            embed: None,
            dropout: 0.0,
            forget_bias: None,
            init: Init::Classic,
            seq_len: 25,
            batch: 1,
            optimizer: OptimizerKind::Adagrad,
            lr: 0.1,
            schedule: Schedule::Constant,
            warmup: 0,
            clip: Clip::Elementwise(5.0),
            val_frac: 0.05,
            eval_every: 1000,
            log_every: 100,
            seed: 42,
            precision: Precision::F32,
        }
    }
}

impl TrainConfig {
    /// Where a cosine schedule ends, as a fraction of the rate.
    pub const COSINE_FLOOR: f64 = 0.1;

    /// Reject settings that cannot train; the message names the flag and
    /// its valid range.
    pub fn validate(&self) -> Result<()> {
        for (flag, v) in [
            ("--hidden", self.hidden),
            ("--layers", self.layers),
            ("--seq-len", self.seq_len),
            ("--batch", self.batch),
        ] {
            check::at_least_one(flag, v)?;
        }
        if let Some(e) = self.embed {
            check::at_least_one("--embed", e)?;
        }
        if let Some(b) = self.forget_bias {
            check::finite("--forget-bias", b)?;
            if !self.cell.has_forget_gate() {
                let with: Vec<_> = CellKind::ALL
                    .iter()
                    .filter(|c| c.has_forget_gate())
                    .map(|c| c.name())
                    .collect();
                return Err(Error::Config(format!(
                    "--forget-bias applies to the cells with a forget gate ({}), not {}",
                    with.join(", "),
                    self.cell.name()
                )));
            }
        }
        check::fraction("--dropout", self.dropout)?;
        check::fraction("--val-frac", self.val_frac)?;
        check::at_least_one("--log-every", self.log_every)?;
        check::optimization(&self.optimizer, self.lr, &self.clip, &self.schedule)
    }
}

/// Whether products run in f32 (settings files leave it out).
fn is_f32(p: &Precision) -> bool {
    *p == Precision::F32
}

/// Whether a count is zero (settings files leave a zero warm-up out).
fn is_zero(n: &u64) -> bool {
    *n == 0
}
