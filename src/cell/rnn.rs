//! The vanilla (Elman) RNN cell, PyTorch's `nn.RNN` layout:
//!
//! ```text
//! h_t = act(W_ih x_t + W_hh h_{t-1} + b)
//! ```
//!
//! `W_ih` is min-char-rnn's `Wxh`, `W_hh` is `Whh` and `b` is `bh`. PyTorch
//! splits the bias into `b_ih + b_hh`; two biases that always add up are one
//! parameter with a doubled learning rate, so the cell keeps min-char-rnn's
//! single `bh` and checkpoints write it as `bias_ih` (with a zero `bias_hh`).
//! The input projection of all `T·B` positions is one GEMM (or a gather for
//! one-hot tokens); only `h_{t-1} W_hhᵀ` runs step by step.

use super::{Activation, SeqInput};
use crate::backend::Backend;
use crate::tensor::{SMALL_M, Scalar, Trans};

/// Borrowed weights of one RNN cell. Shapes: `w_ih: (H, I)`, `w_hh: (H, H)`,
/// `b: (H)`.
#[derive(Clone, Copy, Debug)]
pub struct RnnWeights<'a, S> {
    /// Input-to-hidden weights `(H, I)`.
    pub w_ih: &'a [S],
    /// Hidden-to-hidden weights `(H, H)`.
    pub w_hh: &'a [S],
    /// Bias `(H)` (min-char-rnn's `bh`).
    pub b: &'a [S],
}

/// Mutable gradients of one RNN cell, same shapes as [`RnnWeights`].
#[derive(Debug)]
pub struct RnnGrads<'a, S> {
    /// `dL/dW_ih (H, I)`.
    pub w_ih: &'a mut [S],
    /// `dL/dW_hh (H, H)`.
    pub w_hh: &'a mut [S],
    /// `dL/db (H)`.
    pub b: &'a mut [S],
}

impl<S> RnnWeights<'_, S> {
    /// Hidden size H.
    pub fn hidden(&self) -> usize {
        self.b.len()
    }
    /// Input size I.
    pub fn input(&self) -> usize {
        self.w_ih.len() / self.b.len()
    }
}

/// Forward over a block of `t` steps and `b` sequences.
///
/// - `x`: tokens `(T, B)` or dense `(T, B, I)`
/// - `hs: (T+1, B, H)`: on entry `hs[0]` holds `h_0`; on return `hs[s+1]` is
///   the state after step `s`, so `hs[T]` is the final state.
/// - `w_hh_t: (H, H)`: scratch for `W_hhᵀ`. For batches larger than
///   [`SMALL_M`] it is materialized once, so that every step multiplies by a
///   row-major matrix (GEMM kernels would otherwise repack `W_hhᵀ` at every
///   step); one to a few rows take dot products with `W_hh`'s rows directly.
#[allow(clippy::too_many_arguments)]
pub fn forward<S: Scalar, K: Backend<S>>(
    k: &K,
    w: &RnnWeights<'_, S>,
    act: Activation,
    x: SeqInput<'_, S>,
    t: usize,
    b: usize,
    hs: &mut [S],
    w_hh_t: &mut [S],
) {
    let (h, i) = (w.hidden(), w.input());
    let bh = b * h;
    let (h0, steps) = hs[..(t + 1) * bh].split_at_mut(bh);
    // 1. Input projection for all steps at once, into hs[1..].
    match x {
        SeqInput::Tokens(tok) => k.gather_columns(w.w_ih, i, tok, steps),
        SeqInput::Dense(xs) => {
            k.matmul(t * b, h, i, xs, Trans::No, w.w_ih, Trans::Yes, steps, false)
        }
    }
    k.add_bias(steps, w.b);
    // 2. The recurrence: hs[s+1] = act(hs[s+1] + hs[s] W_hhᵀ).
    let (w_step, t_step) = if b > SMALL_M {
        k.transpose(h, h, w.w_hh, &mut w_hh_t[..h * h]);
        (&w_hh_t[..h * h], Trans::No)
    } else {
        (w.w_hh, Trans::Yes)
    };
    let mut prev: &[S] = h0;
    for cur in steps.chunks_exact_mut(bh) {
        k.matmul(b, h, h, prev, Trans::No, w_step, t_step, cur, true);
        k.activate(act, cur);
        prev = cur;
    }
}

/// Backward through time over the block that [`forward`] computed.
///
/// - `hs: (T+1, B, H)`: the states from [`forward`]
/// - `dhs: (T, B, H)`: on entry `dL/dh` from above at every step (the output
///   layer, plus any gradient into the final state); overwritten with the
///   pre-activation gradients
/// - `dh0: (B, H)`: receives `dL/dh_0`
/// - `dx: (T, B, I)`: receives `dL/dx` for dense input when given
///
/// Gradients are accumulated (`+=`) into `g`.
#[allow(clippy::too_many_arguments)]
pub fn backward<S: Scalar, K: Backend<S>>(
    k: &K,
    w: &RnnWeights<'_, S>,
    g: &mut RnnGrads<'_, S>,
    act: Activation,
    x: SeqInput<'_, S>,
    t: usize,
    b: usize,
    hs: &[S],
    dhs: &mut [S],
    dh0: &mut [S],
    dx: Option<&mut [S]>,
) {
    let (h, i) = (w.hidden(), w.input());
    let bh = b * h;
    let dhs = &mut dhs[..t * bh];
    // 1. Step by step, latest first: dpre_s = dh_s ⊙ act'(h_s), and
    //    dh_{s-1} += dpre_s W_hh.
    for s in (0..t).rev() {
        let (before, rest) = dhs.split_at_mut(s * bh);
        let dpre = &mut rest[..bh];
        k.activate_backward(act, &hs[(s + 1) * bh..(s + 2) * bh], dpre);
        let (target, accumulate) = match s {
            0 => (&mut *dh0, false),
            _ => (&mut before[(s - 1) * bh..], true),
        };
        k.matmul(
            b,
            h,
            h,
            dpre,
            Trans::No,
            w.w_hh,
            Trans::No,
            target,
            accumulate,
        );
    }
    // 2. Weight gradients for all steps at once.
    let dpre: &[S] = dhs;
    k.matmul(
        h,
        h,
        t * b,
        dpre,
        Trans::Yes,
        &hs[..t * bh],
        Trans::No,
        g.w_hh,
        true,
    );
    k.sum_rows_into(dpre, g.b);
    match x {
        SeqInput::Tokens(tok) => k.scatter_add_columns(dpre, tok, g.w_ih, i),
        SeqInput::Dense(xs) => {
            k.matmul(h, i, t * b, dpre, Trans::Yes, xs, Trans::No, g.w_ih, true);
            if let Some(dx) = dx {
                k.matmul(t * b, i, h, dpre, Trans::No, w.w_ih, Trans::No, dx, false);
            }
        }
    }
}
