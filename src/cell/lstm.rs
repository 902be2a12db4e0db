//! The LSTM cell, one step, PyTorch's equations and gate order (i, f, g, o):
//!
//! ```text
//! i = σ(W_ii x + b_ii + W_hi h + b_hi)      f = σ(W_if x + b_if + W_hf h + b_hf)
//! g = tanh(W_ig x + b_ig + W_hg h + b_hg)   o = σ(W_io x + b_io + W_ho h + b_ho)
//! c' = f ⊙ c + i ⊙ g                        h' = o ⊙ tanh(c')
//! ```
//!
//! The input part of every step, with both biases, is computed before the
//! loop (see [`super::forward`]); the pointwise math is the backend's fused
//! [`Backend::lstm_step`] / [`Backend::lstm_step_backward`].

use super::{Pass, StepWeights};
use crate::backend::Backend;
use crate::tensor::{Scalar, Trans};

/// One step. `xg, gates: (B, 4H)`; `prev, c_prev, c, tanh_c, out: (B, H)`.
#[allow(clippy::too_many_arguments)]
pub fn step<S: Scalar, K: Backend<S>>(
    k: &K,
    w: &StepWeights<'_, S>,
    p: &Pass<'_>,
    xg: &[S],
    prev: &[S],
    c_prev: &[S],
    gates: &mut [S],
    c: &mut [S],
    tanh_c: &mut [S],
    out: &mut [S],
) {
    gates.copy_from_slice(xg);
    k.matmul(
        p.b,
        4 * p.h,
        p.h,
        prev,
        Trans::No,
        w.w,
        w.trans,
        gates,
        true,
    );
    k.lstm_step(p.h, gates, c_prev, c, tanh_c, out);
}

/// Backward of [`step`]: from `dh` and the carried `dc` (updated to
/// `dL/dc_prev`) to the pre-activation gradients `dg: (B, 4H)`.
#[allow(clippy::too_many_arguments)]
pub fn step_backward<S: Scalar, K: Backend<S>>(
    k: &K,
    p: &Pass<'_>,
    gates: &[S],
    c_prev: &[S],
    tanh_c: &[S],
    dh: &[S],
    dc: &mut [S],
    dg: &mut [S],
) {
    k.lstm_step_backward(p.h, gates, c_prev, tanh_c, dh, dc, dg);
}
