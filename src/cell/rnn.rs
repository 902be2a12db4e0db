//! The vanilla (Elman) RNN cell, one step:
//!
//! ```text
//! forward:   h_t = act(W_ih x_t + W_hh h_{t-1} + b)        act = tanh or relu
//! backward:  dg  = dh_t ⊙ act'(·)        (tanh: 1 - h_t², relu: [h_t > 0])
//! ```
//!
//! `W_ih` is min-char-rnn's `Wxh`, `W_hh` is `Whh` and `b` is `bh`. PyTorch
//! splits the bias into `b_ih + b_hh`; two biases that always add up are one
//! parameter with a doubled learning rate, so the cell keeps min-char-rnn's
//! single `bh` and checkpoints write it as `bias_ih` (with a zero `bias_hh`).
//! The input part `W_ih x_t + b` of every step is computed before the loop
//! (see [`super::driver`]), and the gradients of the weights from `dg` after
//! it.

use super::{Activation, Cell, HiddenBias, Step, StepBack, StepWeights};
use crate::backend::Backend;
use crate::tensor::Scalar;

/// The vanilla RNN cell with its nonlinearity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rnn(pub Activation);

impl Cell for Rnn {
    fn name(&self) -> &'static str {
        "rnn"
    }
    fn title(&self) -> &'static str {
        match self.0 {
            Activation::Tanh => "tanh RNN",
            Activation::Relu => "relu RNN",
        }
    }
    fn gates(&self) -> usize {
        1
    }
    fn hidden_bias(&self) -> HiddenBias {
        HiddenBias::None
    }
    /// The backward reads the derivative from `h_t` itself.
    fn keeps_gates(&self) -> bool {
        false
    }

    /// `h = act(xg + h_prev W_hhᵀ)`. `xg, h_prev, h: (B, H)`.
    fn step<S: Scalar, K: Backend<S>>(&self, k: &K, w: &StepWeights<'_, S, K>, s: Step<'_, S, K>) {
        let mut h = s.h;
        w.hidden_onto(k, s.h_prev, s.xg, K::reborrow(&mut h));
        k.activate(self.0, h);
    }

    /// `dg = dh ⊙ act'`, the derivative taken from `h`. `h, dh, dg: (B, H)`.
    fn step_backward<S: Scalar, K: Backend<S>>(&self, k: &K, s: StepBack<'_, S, K>) {
        let mut dg = s.dg;
        k.copy(s.dh, K::reborrow(&mut dg));
        k.activate_backward(self.0, s.h, dg);
    }
}
