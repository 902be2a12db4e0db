//! The vanilla (Elman) RNN cell, one step:
//!
//! ```text
//! h_t = act(W_ih x_t + W_hh h_{t-1} + b)        act = tanh or relu
//! ```
//!
//! `W_ih` is min-char-rnn's `Wxh`, `W_hh` is `Whh` and `b` is `bh`. PyTorch
//! splits the bias into `b_ih + b_hh`; two biases that always add up are one
//! parameter with a doubled learning rate, so the cell keeps min-char-rnn's
//! single `bh` and checkpoints write it as `bias_ih` (with a zero `bias_hh`).
//! The input part `W_ih x_t + b` of every step is computed before the loop
//! (see [`super::forward`]).

use super::{Activation, Pass, StepWeights};
use crate::backend::Backend;
use crate::tensor::{Scalar, Trans};

/// `out = act(xg + prev W_hhᵀ)`. `xg, prev, out: (B, H)`.
pub fn step<S: Scalar, K: Backend<S>>(
    k: &K,
    act: Activation,
    w: &StepWeights<'_, S>,
    p: &Pass<'_>,
    xg: &[S],
    prev: &[S],
    out: &mut [S],
) {
    out.copy_from_slice(xg);
    k.matmul(p.b, p.h, p.h, prev, Trans::No, w.w, w.trans, out, true);
    k.activate(act, out);
}

/// `dg = dh ⊙ act'`, with the derivative taken from the step's output
/// `out`. `out, dh, dg: (B, H)`.
pub fn step_backward<S: Scalar, K: Backend<S>>(
    k: &K,
    act: Activation,
    out: &[S],
    dh: &[S],
    dg: &mut [S],
) {
    dg.copy_from_slice(dh);
    k.activate_backward(act, out, dg);
}
