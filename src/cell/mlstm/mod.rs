//! xLSTM's mLSTM (Beck et al. 2024) as a layer: a matrix memory per head,
//! written with exponential input and forget gates, read with a query.
//!
//! ```text
//! H units in NH = 4 heads of d = H/4; one input projection per step,
//! xg = W_ih x + b, of G = 4H + 2·NH rows in the order
//!   q (H), k (H), v (H), õ (H), ĩ (NH), f̃ (NH)
//! per head (q, k, v ∈ R^d, the scalars ĩ, f̃), state (C ∈ R^{d×d}, n ∈ R^d, m):
//!   a  = m + ln σ(f̃)          m' = max(a, ĩ)
//!   f  = exp(a - m')           i  = exp(ĩ - m')
//!   C' = f C + i (k/√d) vᵀ     n' = f n + i k/√d
//!   h̃  = C'ᵀ q / max(|n'·q|, exp(-m'))
//! per unit:  h = σ(õ) ⊙ h̃
//! ```
//!
//! The gates read the input only, never `h`: the layer has no `W_hh`, and
//! a window trains in the stabilized parallel (attention-like) form over
//! many steps at once (`head.rs`: the form, its derivation and its
//! backward), chunk by chunk (`window.rs`: chunks of [`CHUNK`] steps, each
//! from the state the one before left, so a window costs time linear in
//! its length), which gives the same numbers as the recurrent form step by
//! step ([`step`]; the tests show it). Here the cell is
//! [`Cell::parallel`]: the driver computes `xg` for the window and the
//! weight gradients, and `layer.rs` runs the window for each sequence,
//! reading it in the pass's direction and over its real steps only (a
//! padded step carries `h` and the state through, as for every cell).
//!
//! Where this differs from NX-AI's mLSTM *block* (their `mLSTMLayer`):
//! that block wraps the cell in an up-projection, a causal convolution, a
//! learnable skip and a group norm; this is the cell alone, stacked like
//! the other cells, with `q, k, v, õ` and the per-head `ĩ, f̃` projected
//! from the layer's input by one `W_ih`. Keys are divided by `√d` after
//! their bias (a reparametrization of the paper's `k = W_k x/√d + b_k`);
//! there is no `eps` in the denominator (see [`head_forward`]). Checkpoint tensors:
//! `rnn.weight_ih_l{k}[_reverse]` `(G, I)` and `rnn.bias_ih_l{k}[_reverse]`
//! `(G)`, rows as above.
//!
//! The state as a model holds it: `d + 2` planes `(L·D, B, H)` after `h`
//! ([`Cell::state_width`]): each sequence's `C (NH, d, d)` flattened over
//! the first `d` planes, `n (NH, d)` in plane `d`, and `m` in plane `d + 1`,
//! each head's value written into its `d` columns (and read from the
//! first of them).

mod head;
mod layer;
mod window;

pub use head::*;
pub use window::*;

use super::{Block, BlockBack, Cell, CellKind, HiddenBias, Pass, Step, StepBack, StepWeights};
use crate::backend::{Backend, Cpu, MlstmBlock};
use crate::tensor::Scalar;

/// Heads of an mLSTM layer (xLSTM's default, as for the sLSTM); the hidden
/// size must be a multiple of it.
pub const HEADS: usize = 4;

/// The mLSTM cell (see the module docs).
#[derive(Clone, Copy, Debug)]
pub struct Mlstm;

impl Cell for Mlstm {
    fn name(&self) -> &'static str {
        "mlstm"
    }
    fn title(&self) -> &'static str {
        "mLSTM"
    }
    /// `q, k, v, õ` per unit (and `ĩ, f̃` per head: see [`Cell::rows`]).
    fn gates(&self) -> usize {
        4
    }
    fn rows(&self, h: usize) -> usize {
        h.saturating_mul(4).saturating_add(2 * HEADS)
    }
    fn forget_rows(&self, h: usize) -> Option<std::ops::Range<usize>> {
        Some(4 * h + HEADS..4 * h + 2 * HEADS)
    }
    fn hidden_bias(&self) -> HiddenBias {
        HiddenBias::None
    }
    fn state_width(&self, h: usize) -> usize {
        h / HEADS + 2
    }
    fn heads(&self) -> usize {
        HEADS
    }
    fn recurrent(&self) -> bool {
        false
    }
    fn has_direct_path(&self) -> bool {
        false
    }
    fn keeps_gates(&self) -> bool {
        false
    }
    fn parallel(&self) -> bool {
        true
    }
    /// Per (sequence, head) and chunk of `l` steps (see [`CHUNK`]): the
    /// forward's `q kᵀ` and `E v` over the chunk's causal triangle (`l²d`)
    /// and the initial and final states' products (`2ld²`); the backward
    /// about twice that; and the forward once more, which the backward
    /// recomputes.
    fn window_macs(&self, t: usize, b: usize, h: usize) -> f64 {
        let d = (h / HEADS) as f64;
        let chunk = |l: usize| {
            let l = l as f64;
            l * l * d + 2.0 * l * d * d
        };
        let per_head = (t / CHUNK) as f64 * chunk(CHUNK) + chunk(t % CHUNK);
        4.0 * (b * HEADS) as f64 * per_head
    }

    fn step<S: Scalar, K: Backend<S>>(&self, _: &K, _: &StepWeights<'_, S, K>, _: Step<'_, S, K>) {
        unreachable!("the mLSTM runs whole blocks (Cell::parallel)");
    }
    fn step_backward<S: Scalar, K: Backend<S>>(&self, _: &K, _: StepBack<'_, S, K>) {
        unreachable!("the mLSTM runs whole blocks (Cell::parallel)");
    }

    fn block_forward<S: Scalar, K: Backend<S>>(&self, k: &K, b: Block<'_, S, K>) {
        layer::forward(k, b);
    }
    fn block_backward<S: Scalar, K: Backend<S>>(&self, k: &K, b: BlockBack<'_, S, K>) {
        layer::backward(k, b);
    }
}

/// The pass as the backend's mLSTM kernels take it
/// ([`Backend::mlstm_block_forward`]).
fn block_shape<'a>(p: &Pass<'a>) -> MlstmBlock<'a> {
    MlstmBlock {
        t: p.t,
        b: p.b,
        h: p.h,
        heads: HEADS,
        reverse: p.reverse,
        lengths: p.lengths,
    }
}

/// The pass of `m`, for the host path.
fn pass_of<'a>(m: &MlstmBlock<'a>) -> Pass<'a> {
    assert_eq!(m.heads, HEADS, "the mLSTM has {HEADS} heads");
    Pass {
        kind: CellKind::Mlstm,
        t: m.t,
        b: m.b,
        h: m.h,
        reverse: m.reverse,
        lengths: m.lengths,
    }
}

/// [`Backend::mlstm_block_forward`] on host slices, as the CPU runs it: the
/// reference for a backend's kernels, and the kernel of a backend whose
/// kernels are the CPU's. Shapes as there.
///
/// # Panics
/// If `m.heads` is not [`HEADS`] or a slice is shorter than its shape.
pub fn block_forward_on_host<S: Scalar>(
    m: &MlstmBlock<'_>,
    xg: &[S],
    c0: &[S],
    hs: &mut [S],
    c: &mut [S],
) {
    let p = pass_of(m);
    layer::forward(
        &Cpu,
        Block {
            p: &p,
            xg,
            hs,
            c0,
            c,
        },
    );
}

/// [`Backend::mlstm_block_backward`] on host slices, as the CPU runs it
/// (see [`block_forward_on_host`], and its panics).
pub fn block_backward_on_host<S: Scalar>(
    m: &MlstmBlock<'_>,
    xg: &[S],
    c0: &[S],
    dh: &[S],
    dc: &mut [S],
    dg: &mut [S],
    dh0: &mut [S],
) {
    let p = pass_of(m);
    layer::backward(
        &Cpu,
        BlockBack {
            p: &p,
            xg,
            hs: &[],
            c0,
            dh,
            dc,
            dg,
            dh0,
        },
    );
}
