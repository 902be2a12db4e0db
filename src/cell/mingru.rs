//! minGRU (Feng et al. 2024, "Were RNNs All We Needed?"), one step, in the
//! form the paper trains in log space: the candidate goes through the
//! positive `g`, so that every state stays positive and the recurrence can
//! also be computed as a log-space scan.
//!
//! ```text
//! forward (the gates read the input only: no W_hh):
//!   h̃  = g(W_ih̃ x + b_ih̃)         g(v) = v + ½ (v ≥ 0),  σ(v) (v < 0)
//!   z  = σ(W_iz x + b_iz)
//!   h' = (1 - z) ⊙ h + z ⊙ h̃       a scan h_t = a_t ⊙ h_{t-1} + b_t with
//!                                   a = 1 - z, b = z ⊙ h̃
//! backward (dh' from above and later steps):
//!   dh̃ = dh' ⊙ z ⊙ g'(·)           g' = 1 where h̃ ≥ ½, h̃(1 - h̃) below
//!   dz = dh' ⊙ (h̃ - h) ⊙ z(1 - z)
//!   dh = dh' ⊙ (1 - z)              (the only path to the previous state)
//! ```
//!
//! The gate rows are `(h̃, z)`, in the order of lucidrains' minGRU-pytorch
//! (`to_hidden_and_gate`); checkpoints hold them as `rnn.weight_ih_l{k}
//! (2H, I)` and `rnn.bias_ih_l{k} (2H)` (the reference has no bias; recur
//! keeps one, as PyTorch's layers do). With no recurrent weight the driver
//! computes every step's gates in the block's one input projection and the
//! loop over time is pointwise (see [`super::driver`]).

use super::math::{positive, positive_grad, sigmoid};
use super::{Cell, HiddenBias, Step, StepBack, StepWeights};
use crate::backend::{Backend, RowKernel};
use crate::tensor::Scalar;

/// The minGRU cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MinGru;

impl Cell for MinGru {
    fn name(&self) -> &'static str {
        "mingru"
    }
    fn title(&self) -> &'static str {
        "minGRU"
    }
    fn gates(&self) -> usize {
        2
    }
    fn hidden_bias(&self) -> HiddenBias {
        HiddenBias::None
    }
    fn recurrent(&self) -> bool {
        false
    }

    /// `gates: (B, 2H) = (h̃, z)` from `xg: (B, 2H)`; `h: (B, H)`.
    fn step<S: Scalar, K: Backend<S>>(&self, k: &K, w: &StepWeights<'_, S, K>, s: Step<'_, S, K>) {
        k.rows(&Forward(w.h), w.b, [s.xg, s.h_prev], [s.gates, s.h]);
    }

    /// From `dh: (B, H)`: `dg: (B, 2H)` and `dprev = dh ⊙ (1 - z)`.
    fn step_backward<S: Scalar, K: Backend<S>>(&self, k: &K, s: StepBack<'_, S, K>) {
        k.rows(
            &Backward(s.h_size),
            s.b,
            [s.gates, s.h_prev, s.dh],
            [s.dg, s.dprev],
        );
    }
}

/// The pointwise forward of one row: `ins = [xg (2H), h_prev (H)]`,
/// `outs = [gates (2H), h (H)]`. The field is H.
struct Forward(usize);

impl<S: Scalar> RowKernel<S, 2, 2> for Forward {
    const WGSL: &'static str = "
fn unit(r: u32, j: u32) {
    let h = units();
    let ht = positive(in0(r, j));
    let z = sigmoid(in0(r, h + j));
    set_out0(r, j, ht);
    set_out0(r, h + j, z);
    set_out1(r, j, (1.0 - z) * in1(r, j) + z * ht);
}";

    fn units(&self) -> usize {
        self.0
    }

    fn row(&self, [x, hp]: [&[S]; 2], [gt, h]: [&mut [S]; 2]) {
        let n = self.0;
        let (ht, z) = gt[..2 * n].split_at_mut(n);
        for (((h, (ht, z)), (&vh, &vz)), &hp) in h[..n]
            .iter_mut()
            .zip(ht.iter_mut().zip(z.iter_mut()))
            .zip(x[..n].iter().zip(&x[n..2 * n]))
            .zip(&hp[..n])
        {
            *ht = positive(vh);
            *z = sigmoid(vz);
            *h = (S::one() - *z) * hp + *z * *ht;
        }
    }
}

/// The pointwise backward of one row: `ins = [gates (2H), h_prev (H),
/// dh (H)]`, `outs = [dg (2H), dprev (H)]`. The field is H.
struct Backward(usize);

impl<S: Scalar> RowKernel<S, 3, 2> for Backward {
    const WGSL: &'static str = "
fn unit(r: u32, j: u32) {
    let h = units();
    let ht = in0(r, j);
    let z = in0(r, h + j);
    let dh = in2(r, j);
    set_out0(r, j, dh * z * positive_grad(ht));
    set_out0(r, h + j, dh * (ht - in1(r, j)) * z * (1.0 - z));
    set_out1(r, j, dh * (1.0 - z));
}";

    fn units(&self) -> usize {
        self.0
    }

    fn row(&self, [g, hp, dh]: [&[S]; 3], [dg, dp]: [&mut [S]; 2]) {
        let (n, one) = (self.0, S::one());
        let (ht, z, hp, dh) = (&g[..n], &g[n..2 * n], &hp[..n], &dh[..n]);
        let (dht, dz) = dg[..2 * n].split_at_mut(n);
        for j in 0..n {
            // h' = (1 - z)·h + z·h̃
            dht[j] = dh[j] * z[j] * positive_grad(ht[j]);
            dz[j] = dh[j] * (ht[j] - hp[j]) * z[j] * (one - z[j]);
            dp[j] = dh[j] * (one - z[j]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_step_by_hand() {
        // H = 1: v = 0.3 → h̃ = 0.8; z = σ(0) = 0.5; h' = 0.5·2 + 0.5·0.8 = 1.4.
        let (mut gates, mut h) = ([0.0f64; 2], [0.0]);
        Forward(1).row([&[0.3, 0.0], &[2.0]], [&mut gates, &mut h]);
        assert_eq!(gates, [0.8, 0.5]);
        assert!((h[0] - 1.4).abs() < 1e-15);
        // dh' = 1: dh̃ = z·1 = 0.5, dz = (0.8 - 2)·0.25 = -0.3, dh = 0.5.
        let (mut dg, mut dp) = ([0.0f64; 2], [0.0]);
        Backward(1).row([&gates, &[2.0], &[1.0]], [&mut dg, &mut dp]);
        assert!((dg[0] - 0.5).abs() < 1e-15 && (dg[1] + 0.3).abs() < 1e-15);
        assert_eq!(dp, [0.5]);
    }
}
