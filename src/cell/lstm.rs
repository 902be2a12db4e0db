//! The LSTM cell, one step, PyTorch's equations and gate order (i, f, g, o):
//!
//! ```text
//! forward:
//!   i = σ(W_ii x + b_ii + W_hi h + b_hi)      f = σ(W_if x + b_if + W_hf h + b_hf)
//!   g = tanh(W_ig x + b_ig + W_hg h + b_hg)   o = σ(W_io x + b_io + W_ho h + b_ho)
//!   c' = f ⊙ c + i ⊙ g                        h' = o ⊙ tanh(c')
//! backward (dh' from above and later steps, dc' carried from the next step):
//!   dc  = dc' + dh' ⊙ o ⊙ (1 - tanh²(c'))     (then carried: dc_prev = dc ⊙ f)
//!   do  = dh' ⊙ tanh(c') ⊙ o(1 - o)           di = dc ⊙ g ⊙ i(1 - i)
//!   df  = dc ⊙ c ⊙ f(1 - f)                   dg = dc ⊙ i ⊙ (1 - g²)
//! ```
//!
//! Both biases add up, so they are folded into the input part of every step,
//! computed before the loop (see [`super::driver`]); the weight gradients
//! follow from the pre-activation gradients after it.

use super::math::{sigmoid_all, tanh_all};
use super::{Cell, HiddenBias, Step, StepBack, StepWeights};
use crate::backend::{Backend, RowKernel};
use crate::tensor::Scalar;

/// The LSTM cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lstm;

impl Cell for Lstm {
    fn name(&self) -> &'static str {
        "lstm"
    }
    fn title(&self) -> &'static str {
        "LSTM"
    }
    fn gates(&self) -> usize {
        4
    }
    fn forget_rows(&self, h: usize) -> Option<std::ops::Range<usize>> {
        Some(h..2 * h)
    }
    fn hidden_bias(&self) -> HiddenBias {
        HiddenBias::Folded
    }
    fn state_width(&self, _h: usize) -> usize {
        1
    }
    fn projects_into_gates(&self) -> bool {
        true
    }

    /// `gates: (B, 4H)` gets the pre-activations `xg + h_prev W_hhᵀ`, then
    /// `σ(i), σ(f), tanh(g), σ(o)`; `c, aux = tanh(c), h: (B, H)`.
    fn step<S: Scalar, K: Backend<S>>(&self, k: &K, w: &StepWeights<'_, S, K>, s: Step<'_, S, K>) {
        let mut gates = s.gates;
        w.hidden_onto(k, s.h_prev, s.xg, K::reborrow(&mut gates));
        k.rows(&Forward(w.h), w.b, [s.c_prev], [gates, s.c, s.aux, s.h]);
    }

    /// From `dh` and the carried `dc` (updated to `dL/dc_prev`) to the
    /// pre-activation gradients `dg: (B, 4H)`.
    fn step_backward<S: Scalar, K: Backend<S>>(&self, k: &K, s: StepBack<'_, S, K>) {
        k.rows(
            &Backward(s.h_size),
            s.b,
            [s.gates, s.c_prev, s.aux, s.dh],
            [s.dc, s.dg],
        );
    }
}

/// The pointwise forward of one row: `ins = [c_prev (H)]`,
/// `outs = [gates (4H), c (H), tanh_c (H), h (H)]`; `gates` holds the
/// pre-activations on entry. The field is H.
struct Forward(usize);

impl<S: Scalar> RowKernel<S, 1, 4> for Forward {
    const WGSL: &'static str = "
fn unit(r: u32, j: u32) {
    let h = units();
    let i = sigmoid(out0(r, j));
    let f = sigmoid(out0(r, h + j));
    let g = tanh_(out0(r, 2u * h + j));
    let o = sigmoid(out0(r, 3u * h + j));
    set_out0(r, j, i);
    set_out0(r, h + j, f);
    set_out0(r, 2u * h + j, g);
    set_out0(r, 3u * h + j, o);
    let c = f * in0(r, j) + i * g;
    let tc = tanh_(c);
    set_out1(r, j, c);
    set_out2(r, j, tc);
    set_out3(r, j, o * tc);
}";

    fn units(&self) -> usize {
        self.0
    }

    fn row(&self, [cp]: [&[S]; 1], [g, c, tc, h]: [&mut [S]; 4]) {
        let hn = self.0;
        sigmoid_all(&mut g[..2 * hn]);
        tanh_all(&mut g[2 * hn..3 * hn]);
        sigmoid_all(&mut g[3 * hn..]);
        let (i, f, gg, o) = (
            &g[..hn],
            &g[hn..2 * hn],
            &g[2 * hn..3 * hn],
            &g[3 * hn..4 * hn],
        );
        for ((((c, &f), &cp), &i), &gg) in c.iter_mut().zip(f).zip(cp).zip(i).zip(gg) {
            *c = f * cp + i * gg;
        }
        tc.copy_from_slice(c);
        tanh_all(tc);
        for ((h, &o), &t) in h.iter_mut().zip(o).zip(tc.iter()) {
            *h = o * t;
        }
    }
}

/// The pointwise backward of one row: `ins = [gates (4H), c_prev (H),
/// tanh_c (H), dh (H)]`, `outs = [dc (H), dgates (4H)]`; `dc` is `dL/dc`
/// from the next step on entry and `dL/dc_prev` on return. The field is H.
struct Backward(usize);

impl<S: Scalar> RowKernel<S, 4, 2> for Backward {
    const WGSL: &'static str = "
fn unit(r: u32, j: u32) {
    let h = units();
    let i = in0(r, j);
    let f = in0(r, h + j);
    let g = in0(r, 2u * h + j);
    let o = in0(r, 3u * h + j);
    let tc = in2(r, j);
    let dh = in3(r, j);
    let dct = out0(r, j) + dh * o * (1.0 - tc * tc);
    set_out1(r, j, dct * g * i * (1.0 - i));
    set_out1(r, h + j, dct * in1(r, j) * f * (1.0 - f));
    set_out1(r, 2u * h + j, dct * i * (1.0 - g * g));
    set_out1(r, 3u * h + j, dh * tc * o * (1.0 - o));
    set_out0(r, j, dct * f);
}";

    fn units(&self) -> usize {
        self.0
    }

    fn row(&self, [g, cp, tc, dh]: [&[S]; 4], [dc, dg]: [&mut [S]; 2]) {
        let (hn, one) = (self.0, S::one());
        let (i, f, gg, o) = (&g[..hn], &g[hn..2 * hn], &g[2 * hn..3 * hn], &g[3 * hn..]);
        let (di, rest) = dg.split_at_mut(hn);
        let (df, rest) = rest.split_at_mut(hn);
        let (dgg, d_o) = rest.split_at_mut(hn);
        let (d_o, cp, tc, dh, dc) = (
            &mut d_o[..hn],
            &cp[..hn],
            &tc[..hn],
            &dh[..hn],
            &mut dc[..hn],
        );
        for j in 0..hn {
            // h = o·tanh(c): through o, and through c into the carried dc.
            let dct = dc[j] + dh[j] * o[j] * (one - tc[j] * tc[j]);
            d_o[j] = dh[j] * tc[j] * o[j] * (one - o[j]);
            // c = f·c_prev + i·g
            di[j] = dct * gg[j] * i[j] * (one - i[j]);
            df[j] = dct * cp[j] * f[j] * (one - f[j]);
            dgg[j] = dct * i[j] * (one - gg[j] * gg[j]);
            dc[j] = dct * f[j];
        }
    }
}
