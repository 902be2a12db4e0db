//! minLSTM (Feng et al. 2024, "Were RNNs All We Needed?"), one step, in the
//! form the paper trains in log space: the candidate goes through the
//! positive `g`, and the forget and input gates are normalized to sum to 1.
//!
//! ```text
//! forward (the gates read the input only: no W_hh, no cell state):
//!   h̃  = g(W_ih̃ x + b_ih̃)           g(v) = v + ½ (v ≥ 0),  σ(v) (v < 0)
//!   f  = σ(a),  a = W_if x + b_if     i = σ(b),  b = W_ii x + b_ii
//!   f' = f / (f + i) = σ(softplus(-b) - softplus(-a))     i' = 1 - f'
//!   h' = f' ⊙ h + i' ⊙ h̃             (a scan: a_t = f', b_t = i' ⊙ h̃)
//! backward (dh' from above and later steps):
//!   u  = dh' ⊙ (h - h̃) ⊙ f'(1 - f')    (dL/d(ln f - ln i))
//!   da = u ⊙ (1 - f)                   db = -u ⊙ (1 - i)
//!   dh̃ = dh' ⊙ i' ⊙ g'(·)              g' = 1 where h̃ ≥ ½, h̃(1 - h̃) below
//!   dh = dh' ⊙ f'                      (the only path to the previous state)
//! ```
//!
//! Where both gates underflow, `f'` is computed from the log gates
//! (`ln σ(a) = -softplus(-a)`), as the log-space form does: it stays
//! exact there instead of `0/0`.
//! The gate rows are `(h̃, f, i)`, in the order of lucidrains'
//! minGRU-pytorch (`to_hidden_and_f_i_gate`); checkpoints hold them as
//! `rnn.weight_ih_l{k} (3H, I)` and `rnn.bias_ih_l{k} (3H)` (the reference
//! has no bias; recur keeps one). The step keeps `(h̃, f, i)` and `f'`.

use super::math::{positive, positive_grad, sigmoid, softplus};
use super::{Cell, HiddenBias, Step, StepBack, StepWeights};
use crate::backend::{Backend, RowKernel};
use crate::tensor::Scalar;

/// The minLSTM cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MinLstm;

impl Cell for MinLstm {
    fn name(&self) -> &'static str {
        "minlstm"
    }
    fn title(&self) -> &'static str {
        "minLSTM"
    }
    fn gates(&self) -> usize {
        3
    }
    fn forget_rows(&self, h: usize) -> Option<std::ops::Range<usize>> {
        Some(h..2 * h)
    }
    fn hidden_bias(&self) -> HiddenBias {
        HiddenBias::None
    }
    fn recurrent(&self) -> bool {
        false
    }

    /// `gates: (B, 3H) = (h̃, f, i)` and `aux: (B, H) = f'` from
    /// `xg: (B, 3H)`; `h: (B, H)`.
    fn step<S: Scalar, K: Backend<S>>(&self, k: &K, w: &StepWeights<'_, S, K>, s: Step<'_, S, K>) {
        k.rows(&Forward(w.h), w.b, [s.xg, s.h_prev], [s.gates, s.aux, s.h]);
    }

    /// From `dh: (B, H)`: `dg: (B, 3H)` and `dprev = dh ⊙ f'`.
    fn step_backward<S: Scalar, K: Backend<S>>(&self, k: &K, s: StepBack<'_, S, K>) {
        k.rows(
            &Backward(s.h_size),
            s.b,
            [s.gates, s.aux, s.h_prev, s.dh],
            [s.dg, s.dprev],
        );
    }
}

/// The pointwise forward of one row: `ins = [xg (3H), h_prev (H)]`,
/// `outs = [gates (3H), f' (H), h (H)]`. The field is H.
struct Forward(usize);

impl<S: Scalar> RowKernel<S, 2, 3> for Forward {
    const WGSL: &'static str = "
fn unit(r: u32, j: u32) {
    let h = units();
    let ht = positive(in0(r, j));
    let a = in0(r, h + j);
    let b = in0(r, 2u * h + j);
    let fp = sigmoid(softplus(-b) - softplus(-a));
    set_out0(r, j, ht);
    set_out0(r, h + j, sigmoid(a));
    set_out0(r, 2u * h + j, sigmoid(b));
    set_out1(r, j, fp);
    set_out2(r, j, fp * in1(r, j) + (1.0 - fp) * ht);
}";

    fn units(&self) -> usize {
        self.0
    }

    fn row(&self, [x, hp]: [&[S]; 2], [gt, fp, h]: [&mut [S]; 3]) {
        let n = self.0;
        let (x, hp, fp, h) = (&x[..3 * n], &hp[..n], &mut fp[..n], &mut h[..n]);
        let (ht, fi) = gt[..3 * n].split_at_mut(n);
        let (f, i) = fi.split_at_mut(n);
        for j in 0..n {
            ht[j] = positive(x[j]);
            f[j] = sigmoid(x[n + j]);
            i[j] = sigmoid(x[2 * n + j]);
            fp[j] = f[j] / (f[j] + i[j]);
        }
        // Where both gates underflow (pre-activations below about -87 in
        // f32), from the log gates instead; rare, so out of the loop above,
        // which vectorizes.
        for j in 0..n {
            if f[j] + i[j] < S::min_positive_value() {
                fp[j] = sigmoid(softplus(-x[2 * n + j]) - softplus(-x[n + j]));
            }
        }
        for j in 0..n {
            h[j] = fp[j] * hp[j] + (S::one() - fp[j]) * ht[j];
        }
    }
}

/// The pointwise backward of one row: `ins = [gates (3H), f' (H),
/// h_prev (H), dh (H)]`, `outs = [dg (3H), dprev (H)]`. The field is H.
struct Backward(usize);

impl<S: Scalar> RowKernel<S, 4, 2> for Backward {
    const WGSL: &'static str = "
fn unit(r: u32, j: u32) {
    let h = units();
    let ht = in0(r, j);
    let fp = in1(r, j);
    let dh = in3(r, j);
    let u = dh * (in2(r, j) - ht) * fp * (1.0 - fp);
    set_out0(r, j, dh * (1.0 - fp) * positive_grad(ht));
    set_out0(r, h + j, u * (1.0 - in0(r, h + j)));
    set_out0(r, 2u * h + j, -u * (1.0 - in0(r, 2u * h + j)));
    set_out1(r, j, dh * fp);
}";

    fn units(&self) -> usize {
        self.0
    }

    fn row(&self, [g, fp, hp, dh]: [&[S]; 4], [dg, dp]: [&mut [S]; 2]) {
        let (n, one) = (self.0, S::one());
        let (ht, f, i) = (&g[..n], &g[n..2 * n], &g[2 * n..3 * n]);
        let (fp, hp, dh, dg, dp) = (&fp[..n], &hp[..n], &dh[..n], &mut dg[..3 * n], &mut dp[..n]);
        for j in 0..n {
            // h' = f'·h + (1 - f')·h̃,  f' = σ(ln f - ln i)
            let u = dh[j] * (hp[j] - ht[j]) * fp[j] * (one - fp[j]);
            dg[j] = dh[j] * (one - fp[j]) * positive_grad(ht[j]);
            dg[n + j] = u * (one - f[j]);
            dg[2 * n + j] = -u * (one - i[j]);
            dp[j] = dh[j] * fp[j];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_step_by_hand() {
        // H = 1: v = 1 → h̃ = 1.5; a = b = 0 → f = i = ½, f' = ½;
        // h' = ½·3 + ½·1.5 = 2.25.
        let (mut gates, mut fp, mut h) = ([0.0f64; 3], [0.0], [0.0]);
        Forward(1).row([&[1.0, 0.0, 0.0], &[3.0]], [&mut gates, &mut fp, &mut h]);
        assert_eq!((gates, fp, h), ([1.5, 0.5, 0.5], [0.5], [2.25]));
        // dh' = 1: u = (3 - 1.5)·¼ = 0.375; da = 0.1875, db = -0.1875,
        // dh̃ = ½, dh = ½.
        let (mut dg, mut dp) = ([0.0f64; 3], [0.0]);
        Backward(1).row([&gates, &fp, &[3.0], &[1.0]], [&mut dg, &mut dp]);
        assert_eq!((dg, dp), ([0.5, 0.1875, -0.1875], [0.5]));
        // Both gates far below zero: f' stays exact (here ½), not 0/0.
        Forward(1).row(
            [&[1.0, -200.0, -200.0], &[3.0]],
            [&mut gates, &mut fp, &mut h],
        );
        assert_eq!(fp, [0.5]);
        let (mut g32, mut fp32, mut h32) = ([0.0f32; 3], [0.0f32], [0.0f32]);
        let x = [1.0, -200.0, -201.0];
        Forward(1).row([&x, &[3.0]], [&mut g32, &mut fp32, &mut h32]);
        assert_eq!(g32[1..], [0.0, 0.0], "the f32 gates underflow");
        // f' = σ(softplus(201) - softplus(200)) = σ(1).
        assert!((fp32[0] - 0.7310586).abs() < 1e-6, "{fp32:?}");
    }
}
