//! The shape of a network: [`NetConfig`] (any cell, stacked, bidirectional,
//! embedding) and the notebook-sized [`RnnConfig`] (one vanilla RNN layer).

use serde::{Deserialize, Serialize};

use super::stack::StackConfig;
use crate::backend::Activation;
use crate::cell::CellKind;
use crate::error::{Error, Result};

/// Where the model produces outputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Readout {
    /// An output at every step (language models): `y: (T, B, V)`.
    ManyToMany,
    /// One output from the final states of the last layer (classification,
    /// regression): `y: (B, V)`.
    ManyToOne,
}

/// How weights start.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Init {
    /// min-char-rnn's `randn · 0.01` weights and zero biases.
    Classic,
    /// PyTorch's `U(-1/√H, 1/√H)` for every recurrent weight and bias (and
    /// the output layer); embeddings `N(0, 1)` as PyTorch's.
    Uniform,
}

impl Init {
    /// The init a language model of `cell` starts from unless told:
    /// PyTorch's for the LSTM, GRU, sLSTM and mLSTM (whose outputs are
    /// products of three projections: from min-char-rnn's small weights
    /// it barely moves), min-char-rnn's for its vanilla RNN (and the min
    /// cells, which train best from it here).
    pub fn default_for(cell: CellKind) -> Init {
        match cell {
            CellKind::Lstm | CellKind::Gru | CellKind::Slstm | CellKind::Mlstm => Init::Uniform,
            _ => Init::Classic,
        }
    }
}

/// The shape of a [`crate::model::Net`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NetConfig {
    /// The recurrent cell.
    pub cell: CellKind,
    /// I: input size: the vocabulary size for token input, else the
    /// feature size of dense input.
    pub input_size: usize,
    /// D: a learned embedding of this size for token input (`None`: one-hot).
    pub embed: Option<usize>,
    /// H: hidden size of every layer and direction.
    pub hidden_size: usize,
    /// L: stacked layers.
    pub layers: usize,
    /// Each layer reads the sequence both ways; outputs are concatenated.
    pub bidirectional: bool,
    /// Dropout probability between layers (not after the last), in training.
    pub dropout: f64,
    /// V: output size.
    pub output_size: usize,
    /// Many-to-many or many-to-one.
    pub readout: Readout,
}

impl NetConfig {
    /// A character language model: one layer of `cell`, one-hot input and
    /// output over `vocab` characters.
    pub fn char_lm(cell: CellKind, vocab: usize, hidden: usize) -> Self {
        NetConfig {
            cell,
            input_size: vocab,
            embed: None,
            hidden_size: hidden,
            layers: 1,
            bidirectional: false,
            dropout: 0.0,
            output_size: vocab,
            readout: Readout::ManyToMany,
        }
    }

    /// The recurrent part's shape.
    pub fn stack(&self) -> StackConfig {
        StackConfig {
            cell: self.cell,
            input_size: self.input_size,
            embed: self.embed,
            hidden_size: self.hidden_size,
            layers: self.layers,
            bidirectional: self.bidirectional,
            dropout: self.dropout,
        }
    }

    /// Directions per layer: 1 or 2.
    pub fn directions(&self) -> usize {
        if self.bidirectional { 2 } else { 1 }
    }

    /// Values in one recurrent state buffer for batch `b`: `h (L·D, B, H)`,
    /// followed for the LSTM by `c (L·D, B, H)`.
    pub fn state_len(&self, b: usize) -> usize {
        self.stack().state_len(b)
    }

    /// Parameters the model holds (the length of its flat buffer), or
    /// `None` if the count overflows `usize`.
    pub fn param_count(&self) -> Option<usize> {
        let fc = self
            .output_size
            .checked_mul(self.stack().output_size().checked_add(1)?)?;
        self.stack().param_count()?.checked_add(fc)
    }

    /// Check every size; the message names what is wrong.
    pub fn validate(&self) -> Result<()> {
        if self.output_size == 0 {
            return Err(Error::Config("output size must be at least 1".into()));
        }
        self.stack().validate()
    }
}

/// One vanilla RNN layer with a linear output: the notebook model
/// ([`crate::VanillaRnn`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RnnConfig {
    /// I: input size (the vocabulary size for one-hot characters).
    pub input_size: usize,
    /// H: hidden size.
    pub hidden_size: usize,
    /// V: output size (the vocabulary size for a language model).
    pub output_size: usize,
    /// The cell's nonlinearity.
    pub activation: Activation,
    /// Many-to-many or many-to-one.
    pub readout: Readout,
}

impl RnnConfig {
    /// A character language model: one-hot input and output over `vocab`.
    pub fn char_lm(vocab: usize, hidden: usize) -> Self {
        RnnConfig {
            input_size: vocab,
            hidden_size: hidden,
            output_size: vocab,
            activation: Activation::Tanh,
            readout: Readout::ManyToMany,
        }
    }
}

impl From<RnnConfig> for NetConfig {
    fn from(c: RnnConfig) -> Self {
        NetConfig {
            input_size: c.input_size,
            output_size: c.output_size,
            readout: c.readout,
            ..NetConfig::char_lm(CellKind::Rnn(c.activation), c.input_size, c.hidden_size)
        }
    }
}
