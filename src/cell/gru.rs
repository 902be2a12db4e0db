//! The GRU cell, one step, PyTorch's equations:
//!
//! ```text
//! forward:
//!   r = σ(W_ir x + b_ir + W_hr h + b_hr)
//!   z = σ(W_iz x + b_iz + W_hz h + b_hz)
//!   n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))
//!   h' = (1 - z) ⊙ n + z ⊙ h
//! backward (dh' from above and later steps):
//!   dn = dh' ⊙ (1 - z) ⊙ (1 - n²)     dz = dh' ⊙ (h - n) ⊙ z(1 - z)
//!   dr = dn ⊙ (W_hn h + b_hn) ⊙ r(1 - r)
//!   input side (r, z, n): (dr, dz, dn)     hidden side: (dr, dz, dn ⊙ r)
//!   dh = dh' ⊙ z  +  (hidden side) · W_hh
//! ```
//!
//! `b_hn` sits inside the reset product, so the hidden projection
//! `W_h h + b_h` is computed per step with its bias, and the hidden side's
//! gradients differ from the input side's in `n`; the input part
//! `W_i x + b_i` of every step is computed before the loop (see
//! [`super::driver`]).

use super::math::{sigmoid_all, tanh_all};
use super::{Cell, HiddenBias, Step, StepBack, StepWeights};
use crate::backend::{Backend, RowKernel, ViewMut};
use crate::tensor::Scalar;

/// The GRU cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gru;

impl Cell for Gru {
    fn name(&self) -> &'static str {
        "gru"
    }
    fn title(&self) -> &'static str {
        "GRU"
    }
    fn gates(&self) -> usize {
        3
    }
    fn hidden_bias(&self) -> HiddenBias {
        HiddenBias::PerStep
    }
    fn has_direct_path(&self) -> bool {
        true
    }

    /// `scratch: (B, 3H) = h_prev W_hhᵀ + b_hh`; then `gates: (B, 3H) =
    /// (r, z, n)`, `aux: (B, H) = W_hn h + b_hn` (kept for the backward) and
    /// `h: (B, H)`.
    fn step<S: Scalar, K: Backend<S>>(&self, k: &K, w: &StepWeights<'_, S, K>, s: Step<'_, S, K>) {
        let mut gh = s.scratch;
        k.set_rows(K::reborrow(&mut gh), w.b_hh);
        w.add_hidden(k, s.h_prev, K::reborrow(&mut gh));
        k.rows(
            &Forward(w.h),
            w.b,
            [s.xg, gh.into_ref(), s.h_prev],
            [s.gates, s.aux, s.h],
        );
    }

    /// From `dh: (B, H)`: input-side gradients `dg: (B, 3H)`, hidden-side
    /// `dgh: (B, 3H)`, and the direct part of `dL/dh_prev`, `dprev = dh ⊙ z`.
    fn step_backward<S: Scalar, K: Backend<S>>(&self, k: &K, s: StepBack<'_, S, K>) {
        k.rows(
            &Backward(s.h_size),
            s.b,
            [s.gates, s.aux, s.h_prev, s.dh],
            [s.dg, s.dgh, s.dprev],
        );
    }
}

/// The pointwise forward of one row: `ins = [xg (3H), gh (3H), h_prev (H)]`,
/// `outs = [gates (3H), hn (H), h (H)]`. The field is H.
struct Forward(usize);

impl<S: Scalar> RowKernel<S, 3, 3> for Forward {
    const WGSL: &'static str = "
fn unit(r: u32, j: u32) {
    let h = units();
    let rg = sigmoid(in0(r, j) + in1(r, j));
    let z = sigmoid(in0(r, h + j) + in1(r, h + j));
    let hv = in1(r, 2u * h + j);
    let n = tanh_(in0(r, 2u * h + j) + rg * hv);
    set_out0(r, j, rg);
    set_out0(r, h + j, z);
    set_out0(r, 2u * h + j, n);
    set_out1(r, j, hv);
    set_out2(r, j, (1.0 - z) * n + z * in2(r, j));
}";

    fn units(&self) -> usize {
        self.0
    }

    fn row(&self, [x, g, hp]: [&[S]; 3], [gt, hno, h]: [&mut [S]; 3]) {
        let hn = self.0;
        // r, z = σ(x + g) over the first 2H; n = tanh(xn + r·hn).
        for ((o, &a), &b) in gt[..2 * hn].iter_mut().zip(&x[..2 * hn]).zip(&g[..2 * hn]) {
            *o = a + b;
        }
        sigmoid_all(&mut gt[..2 * hn]);
        hno.copy_from_slice(&g[2 * hn..]);
        let (rz, n) = gt.split_at_mut(2 * hn);
        for (((n, &xn), &r), &hv) in n
            .iter_mut()
            .zip(&x[2 * hn..])
            .zip(&rz[..hn])
            .zip(hno.iter())
        {
            *n = xn + r * hv;
        }
        tanh_all(n);
        for (((h, &z), &n), &hp) in h.iter_mut().zip(&rz[hn..]).zip(n.iter()).zip(hp) {
            *h = (S::one() - z) * n + z * hp;
        }
    }
}

/// The pointwise backward of one row: `ins = [gates (3H), hn (H), h_prev (H),
/// dh (H)]`, `outs = [dgx (3H), dgh (3H), dprev (H)]`. The field is H.
struct Backward(usize);

impl<S: Scalar> RowKernel<S, 4, 3> for Backward {
    const WGSL: &'static str = "
fn unit(r: u32, j: u32) {
    let h = units();
    let rg = in0(r, j);
    let z = in0(r, h + j);
    let n = in0(r, 2u * h + j);
    let dh = in3(r, j);
    let dn = dh * (1.0 - z) * (1.0 - n * n);
    let dz = dh * (in2(r, j) - n) * z * (1.0 - z);
    let dr = dn * in1(r, j) * rg * (1.0 - rg);
    set_out0(r, j, dr);
    set_out0(r, h + j, dz);
    set_out0(r, 2u * h + j, dn);
    set_out1(r, j, dr);
    set_out1(r, h + j, dz);
    set_out1(r, 2u * h + j, dn * rg);
    set_out2(r, j, dh * z);
}";

    fn units(&self) -> usize {
        self.0
    }

    fn row(&self, [g, hnv, hp, dh]: [&[S]; 4], [dx, dhh, dp]: [&mut [S]; 3]) {
        let (hn, one) = (self.0, S::one());
        let (r, z, n) = (&g[..hn], &g[hn..2 * hn], &g[2 * hn..3 * hn]);
        let (hnv, hp, dh, dx, dhh, dp) = (
            &hnv[..hn],
            &hp[..hn],
            &dh[..hn],
            &mut dx[..3 * hn],
            &mut dhh[..3 * hn],
            &mut dp[..hn],
        );
        for j in 0..hn {
            // h = (1 - z)·n + z·h_prev
            let dn = dh[j] * (one - z[j]) * (one - n[j] * n[j]);
            let dz = dh[j] * (hp[j] - n[j]) * z[j] * (one - z[j]);
            // n = tanh(xn + r·hn)
            let dr = dn * hnv[j] * r[j] * (one - r[j]);
            dx[j] = dr;
            dx[hn + j] = dz;
            dx[2 * hn + j] = dn;
            dhh[j] = dr;
            dhh[hn + j] = dz;
            dhh[2 * hn + j] = dn * r[j];
            dp[j] = dh[j] * z[j];
        }
    }
}
