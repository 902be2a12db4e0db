//! The GRU cell, one step, PyTorch's equations:
//!
//! ```text
//! r = σ(W_ir x + b_ir + W_hr h + b_hr)
//! z = σ(W_iz x + b_iz + W_hz h + b_hz)
//! n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))
//! h' = (1 - z) ⊙ n + z ⊙ h
//! ```
//!
//! `b_hn` sits inside the reset product, so the hidden projection
//! `W_h h + b_h` is computed per step with its bias; the input part
//! `W_i x + b_i` of every step is computed before the loop (see
//! [`super::forward`]).

use super::{Pass, StepWeights};
use crate::backend::Backend;
use crate::tensor::{Scalar, Trans};

/// One step. `xg, gh, gates: (B, 3H)`; `prev, hn, out: (B, H)`; `gh` is
/// scratch for `W_h h + b_h`.
#[allow(clippy::too_many_arguments)]
pub fn step<S: Scalar, K: Backend<S>>(
    k: &K,
    w: &StepWeights<'_, S>,
    p: &Pass<'_>,
    xg: &[S],
    prev: &[S],
    gh: &mut [S],
    gates: &mut [S],
    hn: &mut [S],
    out: &mut [S],
) {
    for row in gh.chunks_exact_mut(3 * p.h) {
        row.copy_from_slice(w.b_hh);
    }
    k.matmul(p.b, 3 * p.h, p.h, prev, Trans::No, w.w, w.trans, gh, true);
    k.gru_step(p.h, xg, gh, prev, gates, hn, out);
}

/// Backward of [`step`] from `dh: (B, H)`: input-side gradients
/// `dgx: (B, 3H)`, hidden-side `dgh: (B, 3H)`, and the direct part of
/// `dL/dh_prev` into `dprev: (B, H)`.
#[allow(clippy::too_many_arguments)]
pub fn step_backward<S: Scalar, K: Backend<S>>(
    k: &K,
    p: &Pass<'_>,
    gates: &[S],
    hn: &[S],
    prev: &[S],
    dh: &[S],
    dgx: &mut [S],
    dgh: &mut [S],
    dprev: &mut [S],
) {
    k.gru_step_backward(p.h, gates, hn, prev, dh, dgx, dgh, dprev);
}
