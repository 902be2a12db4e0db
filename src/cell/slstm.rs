//! The sLSTM cell of xLSTM (Beck et al. 2024), one step: exponential input
//! and forget gates, a normalizer state `n` and a stabilizer state `m`,
//! and a block-diagonal recurrent weight (4 heads), as NX-AI's reference
//! (`slstm_forward_pointwise`, vanilla backend) computes it.
//!
//! ```text
//! forward (raw = W_ih x + b + W_hh h, rows (ĩ, f̃, z̃, õ); state (c, n, m)):
//!   a  = m + ln σ(f̃)                 (the log forget gate, on m's scale)
//!   m' = ĩ where n = 0, else max(ĩ, a)
//!   i  = exp(ĩ - m')   f = exp(a - m')   z = tanh(z̃)   o = σ(õ)
//!   c' = f ⊙ c + i ⊙ z                 n' = f ⊙ n + i       h' = o ⊙ c' / n'
//! backward (dh' from above and later steps; dc', dn', dm' carried):
//!   dõ = dh' ⊙ c'/n' ⊙ o(1 - o)
//!   γc = dc' + dh' ⊙ o / n'           γn = dn' - dh' ⊙ o ⊙ c' / n'²
//!   df = γc ⊙ c + γn ⊙ n              di = γc ⊙ z + γn
//!   dz̃ = γc ⊙ i ⊙ (1 - z²)            dc = γc ⊙ f      dn = γn ⊙ f
//!   μ  = dm' - df ⊙ f - di ⊙ i        (dL/dm' in full)
//!   dĩ = di ⊙ i [+ μ]                 da = df ⊙ f [+ μ]  (μ to the side max took)
//!   dm = da                           df̃ = da ⊙ σ(-f̃)
//! ```
//!
//! `c` and `n` are both kept divided by `exp(m)`: `h` does not depend on
//! the stabilizer, so the gradient through `m` is zero whenever the loss
//! reads `h` only. It is computed all the same, so that a loss on the final
//! state gets its exact gradient too. Where the max is a tie, `ĩ`'s side
//! takes it (`i ≥ f` tells the sides apart: the side max took has gate 1).
//!
//! NX-AI takes `m' = ĩ` where the whole batch's `n` is 0; recur decides
//! per value, which is the same for every state a model reaches (all fresh
//! or none: `n > 0` after any step). Later versions of NX-AI's code also
//! clamp `i` and `f` at 1; recur does not (the equations do not). That
//! changes nothing but the first step from a fresh state, where `f` may
//! exceed 1 but multiplies `c = n = 0`: only the gradients into that
//! initial `c` and `n` differ. Outputs and gradients match a PyTorch
//! reference of these equations (`scripts/make_slstm_fixtures.py`,
//! `tests/pytorch_fixtures.rs`).
//!
//! The cell state is `(c, n, m)`, three values per unit; models hold it as
//! three `(L·D, B, H)` planes after `h`, as NX-AI's `(4, B, ·)` state holds
//! `(h, c, n, m)`. A state with `n ≤ 0` anywhere other than a fresh zero
//! state is not one the cell can reach: `h` divides by it.
//!
//! The recurrent weight is block-diagonal: each gate's `(H, H)` block holds
//! [`HEADS`] blocks of `H/4 × H/4` on its diagonal, one per head, and zeros
//! elsewhere, which stay zero (the layout marks them, initialization and
//! loading keep them, and the gradient there is set to zero). Checkpoints
//! hold it dense as `rnn.weight_hh_l{k} (4H, H)`, gate rows `(i, f, z, o)`
//! as in NX-AI's `raw.view(B, 4, -1)`; head `k`'s `(H/4, H/4)` block of gate
//! `g` is NX-AI's recurrent kernel of that head and gate. One bias,
//! `rnn.bias_ih_l{k} (4H)` (NX-AI's `_bias_`).

use super::math::{sigmoid, softplus};
use super::{Cell, HiddenBias, Step, StepBack, StepWeights};
use crate::backend::{Backend, RowKernel};
use crate::tensor::Scalar;

/// Heads of the block-diagonal recurrent weight: xLSTM's default, 4. The
/// hidden size must be a multiple of it.
pub const HEADS: usize = 4;

/// The sLSTM cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slstm;

impl Cell for Slstm {
    fn name(&self) -> &'static str {
        "slstm"
    }
    fn title(&self) -> &'static str {
        "sLSTM"
    }
    fn gates(&self) -> usize {
        4
    }
    fn forget_rows(&self, h: usize) -> Option<std::ops::Range<usize>> {
        Some(h..2 * h)
    }
    fn hidden_bias(&self) -> HiddenBias {
        HiddenBias::None
    }
    fn state_width(&self, _h: usize) -> usize {
        3
    }
    fn positive_planes(&self) -> std::ops::Range<usize> {
        1..2
    }
    fn heads(&self) -> usize {
        HEADS
    }
    fn projects_into_gates(&self) -> bool {
        true
    }

    /// `gates: (B, 4H)` gets the pre-activations `xg + h_prev W_hhᵀ`, then
    /// `(i, f, z, o)`; `c: (B, 3H) = (c, n, m)`, `aux: (B, H) = σ(-f̃)`,
    /// `h: (B, H)`.
    fn step<S: Scalar, K: Backend<S>>(&self, k: &K, w: &StepWeights<'_, S, K>, s: Step<'_, S, K>) {
        let mut gates = s.gates;
        w.hidden_onto(k, s.h_prev, s.xg, K::reborrow(&mut gates));
        k.rows(&Forward(w.h), w.b, [s.c_prev], [gates, s.c, s.aux, s.h]);
    }

    /// From `dh` and the carried `dc = (dc, dn, dm)` (updated to the
    /// gradients of the state before the step) to `dg: (B, 4H)`.
    fn step_backward<S: Scalar, K: Backend<S>>(&self, k: &K, s: StepBack<'_, S, K>) {
        k.rows(
            &Backward(s.h_size),
            s.b,
            [s.gates, s.c_prev, s.aux, s.dh],
            [s.dc, s.dg],
        );
    }

    /// Zero the gradient off the heads' diagonal blocks of `dW_hh (4H, H)`.
    fn mask_recurrent_grad<S: Scalar, K: Backend<S>>(&self, k: &K, h: usize, dw_hh: K::Mut<'_>) {
        k.rows(&OffBlocks(h), self.gates(), [], [dw_hh]);
    }
}

/// The pointwise forward of one row: `ins = [(c, n, m) (3H)]`,
/// `outs = [gates (4H), (c', n', m') (3H), σ(-f̃) (H), h (H)]`; `gates`
/// holds the pre-activations on entry. The field is H.
struct Forward(usize);

impl<S: Scalar> RowKernel<S, 1, 4> for Forward {
    const WGSL: &'static str = "
fn unit(r: u32, j: u32) {
    let h = units();
    let it = out0(r, j);
    let ft = out0(r, h + j);
    let c0 = in0(r, j);
    let n0 = in0(r, h + j);
    let a = in0(r, 2u * h + j) - softplus(-ft);
    let m = select(max(it, a), it, n0 == 0.0);
    let i = exp(it - m);
    let f = exp(a - m);
    let z = tanh_(out0(r, 2u * h + j));
    let o = sigmoid(out0(r, 3u * h + j));
    let c = f * c0 + i * z;
    let n = f * n0 + i;
    set_out0(r, j, i);
    set_out0(r, h + j, f);
    set_out0(r, 2u * h + j, z);
    set_out0(r, 3u * h + j, o);
    set_out1(r, j, c);
    set_out1(r, h + j, n);
    set_out1(r, 2u * h + j, m);
    set_out2(r, j, sigmoid(-ft));
    set_out3(r, j, o * c / n);
}";

    fn units(&self) -> usize {
        self.0
    }

    fn row(&self, [prev]: [&[S]; 1], [g, state, sf, h]: [&mut [S]; 4]) {
        let hn = self.0;
        let (c0, n0, m0) = (&prev[..hn], &prev[hn..2 * hn], &prev[2 * hn..3 * hn]);
        let (gi, rest) = g[..4 * hn].split_at_mut(hn);
        let (gf, rest) = rest.split_at_mut(hn);
        let (gz, go) = rest.split_at_mut(hn);
        let (c, rest) = state[..3 * hn].split_at_mut(hn);
        let (n, m) = rest.split_at_mut(hn);
        let (sf, h) = (&mut sf[..hn], &mut h[..hn]);
        // Branch-free loops, so that each vectorizes. First a = m + ln σ(f̃)
        // (kept in f's place) and σ(-f̃).
        for j in 0..hn {
            sf[j] = sigmoid(-gf[j]);
            gf[j] = m0[j] - softplus(-gf[j]);
        }
        // The stabilizer and the exponential gates.
        for j in 0..hn {
            let (it, a) = (gi[j], gf[j]);
            let mj = if n0[j] == S::zero() || it >= a { it } else { a };
            m[j] = mj;
            gi[j] = (it - mj).exp_fast();
            gf[j] = (a - mj).exp_fast();
        }
        for j in 0..hn {
            let (z, o) = (gz[j].tanh_fast(), sigmoid(go[j]));
            c[j] = gf[j] * c0[j] + gi[j] * z;
            n[j] = gf[j] * n0[j] + gi[j];
            h[j] = o * c[j] / n[j];
            (gz[j], go[j]) = (z, o);
        }
    }
}

/// The pointwise backward of one row: `ins = [gates (4H), (c, n, m)
/// (3H), σ(-f̃) (H), dh (H)]`, `outs = [(dc, dn, dm) (3H), dgates (4H)]`;
/// `(dc, dn, dm)` are the gradients of the state after the step on entry
/// and of the state before it on return. The field is H.
struct Backward(usize);

impl<S: Scalar> RowKernel<S, 4, 2> for Backward {
    const WGSL: &'static str = "
fn unit(r: u32, j: u32) {
    let h = units();
    let i = in0(r, j);
    let f = in0(r, h + j);
    let z = in0(r, 2u * h + j);
    let o = in0(r, 3u * h + j);
    let c0 = in1(r, j);
    let n0 = in1(r, h + j);
    let c = f * c0 + i * z;
    let n = f * n0 + i;
    let dh = in3(r, j);
    let gc = out0(r, j) + dh * o / n;
    let gn = out0(r, h + j) - dh * o * c / (n * n);
    let df = gc * c0 + gn * n0;
    let di = gc * z + gn;
    let mu = out0(r, 2u * h + j) - df * f - di * i;
    let to_i = n0 == 0.0 || i >= f;
    let da = df * f + select(mu, 0.0, to_i);
    set_out1(r, j, di * i + select(0.0, mu, to_i));
    set_out1(r, h + j, da * in2(r, j));
    set_out1(r, 2u * h + j, gc * i * (1.0 - z * z));
    set_out1(r, 3u * h + j, dh * c / n * o * (1.0 - o));
    set_out0(r, j, gc * f);
    set_out0(r, h + j, gn * f);
    set_out0(r, 2u * h + j, da);
}";

    fn units(&self) -> usize {
        self.0
    }

    fn row(&self, [g, prev, sf, dh]: [&[S]; 4], [ds, dg]: [&mut [S]; 2]) {
        let (hn, zero, one) = (self.0, S::zero(), S::one());
        for j in 0..hn {
            let (i, f, z, o) = (g[j], g[hn + j], g[2 * hn + j], g[3 * hn + j]);
            let (c0, n0) = (prev[j], prev[hn + j]);
            let (c, n) = (f * c0 + i * z, f * n0 + i);
            // h' = o·c'/n'
            let gc = ds[j] + dh[j] * o / n;
            let gn = ds[hn + j] - dh[j] * o * c / (n * n);
            // c' = f·c + i·z, n' = f·n + i
            let (df, di) = (gc * c0 + gn * n0, gc * z + gn);
            // i = exp(ĩ - m'), f = exp(a - m'), m' = max(ĩ, a) (or ĩ)
            let mu = ds[2 * hn + j] - df * f - di * i;
            let to_i = n0 == zero || i >= f;
            let da = df * f + if to_i { zero } else { mu };
            dg[j] = di * i + if to_i { mu } else { zero };
            // a = m + ln σ(f̃)
            dg[hn + j] = da * sf[j];
            dg[2 * hn + j] = gc * i * (one - z * z);
            dg[3 * hn + j] = dh[j] * c / n * o * (one - o);
            (ds[j], ds[hn + j], ds[2 * hn + j]) = (gc * f, gn * f, da);
        }
    }
}

/// Zeros off the heads' diagonal blocks of one gate's `(H, H)` block of
/// `W_hh` (or its gradient), one row per gate: `outs = [block (H·H)]`.
/// The field is H.
struct OffBlocks(usize);

impl<S: Scalar> RowKernel<S, 0, 1> for OffBlocks {
    const WGSL: &'static str = "
fn unit(r: u32, u: u32) {
    let h = units();
    let head = u / (h / 4u);
    for (var c = 0u; c < h; c++) {
        if (c / (h / 4u) != head) {
            set_out0(r, u * h + c, 0.0);
        }
    }
}";

    fn units(&self) -> usize {
        self.0
    }

    fn row(&self, _: [&[S]; 0], [w]: [&mut [S]; 1]) {
        let (h, size) = (self.0, self.0 / HEADS);
        for (u, row) in w.chunks_exact_mut(h).enumerate() {
            for (c, v) in row.iter_mut().enumerate() {
                if c / size != u / size {
                    *v = S::zero();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_step_by_hand() {
        // H = 1, a fresh state: m' = ĩ = 0.5, i = 1, f = exp(ln σ(0) - ½);
        // z = tanh(0) = 0 → c' = 0, n' = 1, h' = 0.
        let pre = [0.5, 0.0, 0.0, 0.0];
        let (mut g, mut s, mut sf, mut h) = (pre, [0.0f64; 3], [0.0], [0.0]);
        Forward(1).row([&[0.0, 0.0, 0.0]], [&mut g, &mut s, &mut sf, &mut h]);
        let f = (0.5f64.ln() - 0.5).exp();
        assert_eq!(g[0], 1.0);
        assert!((g[1] - f).abs() < 1e-15);
        assert_eq!((s, sf, h), ([0.0, 1.0, 0.5], [0.5], [0.0]));
        // From (c, n, m) = (2, 1, 0): a = ln ½ ≈ -0.69 < ĩ = 0.5, so m' = ĩ,
        // f = ½ e^{-½}; z = tanh(1), o = ½; n' = f + 1, c' = 2f + z.
        let mut g = [0.5, 0.0, 1.0, 0.0];
        Forward(1).row([&[2.0, 1.0, 0.0]], [&mut g, &mut s, &mut sf, &mut h]);
        let (z, f) = (1f64.tanh(), 0.5 * (-0.5f64).exp());
        assert!((s[0] - (2.0 * f + z)).abs() < 1e-15 && (s[1] - (f + 1.0)).abs() < 1e-15);
        assert!((h[0] - 0.5 * s[0] / s[1]).abs() < 1e-15);
        // Scaling c, n by e^{-δ} and moving m by δ changes nothing: the
        // stabilizer cancels.
        let (mut g2, mut s2, mut h2) = ([0.5, 0.0, 1.0, 0.0], [0.0; 3], [0.0]);
        let d = 3.0f64;
        let prev = [2.0 * (-d).exp(), (-d).exp(), d];
        Forward(1).row([&prev], [&mut g2, &mut s2, &mut sf, &mut h2]);
        assert!((h2[0] - h[0]).abs() < 1e-15, "{h2:?} {h:?}");
        assert!((s2[0] * s2[2].exp() - s[0] * s[2].exp()).abs() < 1e-12);
    }

    #[test]
    fn the_blocks_of_four_heads() {
        // H = 8: heads of 2 units; a row of 64 ones keeps 4 blocks of 2×2.
        let mut w = [1.0f64; 64];
        OffBlocks(8).row([], [&mut w]);
        for u in 0..8 {
            for c in 0..8 {
                assert_eq!(w[u * 8 + c], f64::from(u / 2 == c / 2), "({u}, {c})");
            }
        }
    }
}
