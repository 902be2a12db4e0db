//! Recurrent cells, and the driver that runs any of them over a `(T, B, ·)`
//! block.
//!
//! A cell is one file: its equations at the top, then its step forward and
//! its step backward side by side, behind the [`Cell`] trait ([`rnn`],
//! [`lstm`], [`gru`], the cells whose gates read the input only,
//! [`mingru`] and [`minlstm`], and xLSTM's [`slstm`] and [`mlstm`]). The
//! [`driver`] runs a cell over time, in either direction, with
//! per-sequence lengths; it knows cells only through the trait.
//! [`CellKind`] names the cells a model can be built from.
//!
//! xLSTM's [`mlstm`] runs whole blocks ([`Cell::parallel`]): its state is a
//! matrix per head and it trains in a parallel, attention-like form over
//! the window, so it writes [`Cell::block_forward`] and
//! [`Cell::block_backward`] instead of a step and its backward.
//!
//! **Adding a cell**: write `cell/NAME.rs` (a type implementing [`Cell`],
//! with its equations), then register it in the block marked *Registry*
//! below: its [`CellKind`] variant and its line in `registry!`. Flags,
//! checkpoints, the gradient checker and the driver then know it.

pub mod driver;
pub mod gru;
pub mod lstm;
mod math;
pub mod mingru;
pub mod minlstm;
pub mod mlstm;
pub mod rnn;
pub mod slstm;

pub use crate::backend::Activation;
pub use driver::{
    CellCache, CellGrads, CellWeights, Input, Pass, Planes, SeqInput, backward, forward,
};

use serde::{Deserialize, Serialize};

use crate::backend::{Backend, View, ViewMut};
use crate::tensor::{Scalar, Trans};

/// How a cell uses its hidden bias `b_hh`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HiddenBias {
    /// No `b_hh` (the vanilla RNN: two biases that always add up are one).
    None,
    /// `b_hh` adds to `b_ih`: it is folded into the input projection of
    /// every step before the loop (LSTM).
    Folded,
    /// `b_hh` enters each step with `W_hh h` (GRU: inside the reset
    /// product). The hidden side's pre-activation gradients then differ
    /// from the input side's, and are kept apart.
    PerStep,
}

/// A recurrent cell: `G·H` gate rows computed from the input projection
/// `xg = W_ih x + b (B, G·H)` and the hidden projection `h_prev W_hhᵀ`,
/// then pointwise maths to the new state.
///
/// The [`driver`] does everything outside one step: the input projection
/// of all steps, the order of steps, padding, the weight gradients. A cell
/// writes one step forward and its backward, and says what it keeps.
pub trait Cell: Copy + std::fmt::Debug + Send + Sync + 'static {
    /// The name in flags and checkpoints: `rnn`, `lstm`, `gru`, `mingru`,
    /// `minlstm`, `slstm`, `mlstm`.
    fn name(&self) -> &'static str;
    /// The name in prose: `tanh RNN`, `LSTM`, `minGRU`, ...
    fn title(&self) -> &'static str;
    /// Gate rows per hidden unit `G/H`: 1 (RNN), 4 (LSTM), 3 (GRU), 2
    /// (minGRU), 3 (minLSTM), 4 (sLSTM).
    fn gates(&self) -> usize;
    /// How `b_hh` enters.
    fn hidden_bias(&self) -> HiddenBias;
    /// G: rows of the input projection `xg = W_ih x + b` for hidden size
    /// `h`: `gates·H`, except where a cell has gates per head (mLSTM:
    /// `4H + 2·heads`). Saturates rather than overflows, so that a
    /// parameter count of absurd sizes (checked arithmetic) comes out `None`.
    fn rows(&self, h: usize) -> usize {
        self.gates().saturating_mul(h)
    }
    /// Values per unit in the cell state besides `h`, for hidden size `h`:
    /// 0 (none), 1 (LSTM's `c`), 3 (sLSTM's `c, n, m`), `d + 2` (mLSTM's
    /// matrix memory of `d = H/heads` planes, `n`, `m`). A step sees the
    /// cell state as rows `(B, W·H)`, each row's `W` parts side by side;
    /// models hold it as `W` planes `(L·D, B, H)` after `h` (see
    /// [`driver::Planes`]).
    fn state_width(&self, h: usize) -> usize {
        let _ = h;
        0
    }
    /// The bias rows of a forget gate (of `xg`'s `G` rows, for hidden size
    /// `h`), which `--forget-bias` sets: LSTM, minLSTM, sLSTM and mLSTM
    /// have one.
    fn forget_rows(&self, h: usize) -> Option<std::ops::Range<usize>> {
        let _ = h;
        None
    }
    /// The planes of the cell state that are positive in any state the
    /// cell reaches (sLSTM: `n`, plane 1); a state drawn at random for a
    /// test is made positive there.
    fn positive_planes(&self) -> std::ops::Range<usize> {
        0..0
    }
    /// Heads of a block-diagonal `W_hh`: each gate's `(H, H)` block holds
    /// `heads` blocks on its diagonal and zeros elsewhere (sLSTM: 4); 1 for
    /// a dense one.
    fn heads(&self) -> usize {
        1
    }
    /// Keep the zeros of a block-diagonal `W_hh` in its gradient
    /// `dW_hh (G·H, H)` (see [`Cell::heads`]); nothing for a dense one.
    fn mask_recurrent_grad<S: Scalar, K: Backend<S>>(&self, k: &K, h: usize, dw_hh: K::Mut<'_>) {
        let _ = (k, h, dw_hh);
    }
    /// Whether `h_prev` reaches `h` other than through `W_hh` (GRU's
    /// `z ⊙ h_prev`): the step backward then writes that direct part of
    /// `dL/dh_prev` into [`StepBack::dprev`]. A cell without `W_hh` (see
    /// [`Cell::recurrent`]) has only that path.
    fn has_direct_path(&self) -> bool {
        !self.recurrent()
    }
    /// Whether the cell has a recurrent weight `W_hh`. A cell without one
    /// (minGRU, minLSTM) computes its gates from the input alone: every
    /// step's gates come from the one input projection of the block, the
    /// state enters each step only pointwise (through
    /// [`StepBack::dprev`]: [`Cell::has_direct_path`] follows),
    /// and the step loop is a scan `h_t = a_t ⊙ h_{t-1} + b_t` with no
    /// matrix product in it.
    fn recurrent(&self) -> bool {
        true
    }
    /// Whether the cell runs a whole block at once ([`Cell::block_forward`],
    /// [`Cell::block_backward`]) instead of step by step (the mLSTM's
    /// parallel form): the driver then does the input projection and the
    /// weight gradients around it, and keeps only the first and the last
    /// cell state.
    fn parallel(&self) -> bool {
        false
    }
    /// Multiply-adds of a training iteration's window maths besides the
    /// projections, for `t` steps of `b` sequences of hidden size `h`
    /// (forward and backward; the mLSTM's attention-like products): what
    /// `recur bench` adds to its FLOP count.
    fn window_macs(&self, t: usize, b: usize, h: usize) -> f64 {
        let _ = (t, b, h);
        0.0
    }
    /// Whether the step keeps its activated gates `(B, G·H)` and an extra
    /// `(B, H)` ([`Step::gates`], [`Step::aux`]) for the backward.
    fn keeps_gates(&self) -> bool {
        true
    }
    /// Whether the step's pre-activations are its input projection plus
    /// `h_prev · W_hhᵀ`, summed where it keeps its gates, and the step
    /// reads the projection nowhere else (LSTM, sLSTM): the driver then
    /// projects each step's input straight into the step's gates, and the
    /// step adds the hidden part there ([`StepWeights::hidden_onto`] with
    /// an empty [`Step::xg`]) instead of copying the projection in first.
    fn projects_into_gates(&self) -> bool {
        false
    }

    /// One step forward (see [`Step`]).
    fn step<S: Scalar, K: Backend<S>>(&self, k: &K, w: &StepWeights<'_, S, K>, s: Step<'_, S, K>);

    /// The backward of one step (see [`StepBack`]).
    fn step_backward<S: Scalar, K: Backend<S>>(&self, k: &K, s: StepBack<'_, S, K>);

    /// A whole block forward (cells that are [`Cell::parallel`]; see
    /// [`Block`]).
    fn block_forward<S: Scalar, K: Backend<S>>(&self, k: &K, b: Block<'_, S, K>) {
        let _ = (k, b);
        unreachable!("{} runs step by step", self.title());
    }

    /// The backward of [`Cell::block_forward`] (see [`BlockBack`]).
    fn block_backward<S: Scalar, K: Backend<S>>(&self, k: &K, b: BlockBack<'_, S, K>) {
        let _ = (k, b);
        unreachable!("{} runs step by step", self.title());
    }
}

/// A whole block's buffers for a [`Cell::parallel`] cell: what the driver
/// computed and where the cell writes.
pub struct Block<'a, S: Scalar, K: Backend<S>> {
    /// The pass: steps, sequences, direction, lengths.
    pub p: &'a Pass<'a>,
    /// `(T, B, G)`: the input projections plus biases, by time.
    pub xg: K::Ref<'a>,
    /// `(T+1, B, H)`: the states in the driver's slots (see [`driver`]);
    /// the initial one is in place, the cell writes the others (padded
    /// steps carry the state before them).
    pub hs: K::Mut<'a>,
    /// `(B, W·H)`: the initial cell state.
    pub c0: K::Ref<'a>,
    /// `(B, W·H)`: the final cell state (written).
    pub c: K::Mut<'a>,
}

/// The backward of a [`Block`]: what the forward had and wrote, the
/// incoming gradients, and the outputs.
pub struct BlockBack<'a, S: Scalar, K: Backend<S>> {
    /// The pass, as the forward's.
    pub p: &'a Pass<'a>,
    /// `(T, B, G)`: the input projections plus biases.
    pub xg: K::Ref<'a>,
    /// `(T+1, B, H)`: the states the forward wrote.
    pub hs: K::Ref<'a>,
    /// `(B, W·H)`: the initial cell state.
    pub c0: K::Ref<'a>,
    /// `(T, B, H)`: `dL/dh` after each step, from above (and into the
    /// final state at the last step read).
    pub dh: K::Ref<'a>,
    /// `(B, W·H)`: `dL/dc` of the final cell state on entry, of the
    /// initial one on return.
    pub dc: K::Mut<'a>,
    /// `(T, B, G)`: the pre-activation gradients (written; zero at padded
    /// steps).
    pub dg: K::Mut<'a>,
    /// `(B, H)`: `dL/dh0`, zero on entry; the cell adds what reaches the
    /// initial state.
    pub dh0: K::Mut<'a>,
}

/// The recurrent weight as each step multiplies it, and the hidden bias.
pub struct StepWeights<'a, S: Scalar, K: Backend<S>> {
    /// `W_hh` (with `trans = Yes`) or `W_hhᵀ` (with `No`), as
    /// [`Backend::recurrent_weight`] prepared it.
    pub w: K::Ref<'a>,
    /// How `w` is used.
    pub trans: Trans,
    /// `b_hh (G·H)` (empty unless [`HiddenBias::PerStep`]).
    pub b_hh: K::Ref<'a>,
    /// B: rows.
    pub b: usize,
    /// H: hidden size.
    pub h: usize,
}

impl<S: Scalar, K: Backend<S>> StepWeights<'_, S, K> {
    /// `out (B, G·H) = base + h_prev (B, H) · W_hhᵀ` (`base`: the step's
    /// input part), one kernel where the backend fuses it; an empty `base`
    /// is already in `out` ([`Cell::projects_into_gates`]).
    pub fn hidden_onto(&self, k: &K, h_prev: K::Ref<'_>, base: K::Ref<'_>, out: K::Mut<'_>) {
        if base.is_empty() {
            return self.add_hidden(k, h_prev, out);
        }
        let g = out.len() / self.b;
        let dims = (self.b, g, self.h);
        k.matmul_onto(dims, h_prev, Trans::No, self.w, self.trans, base, out);
    }

    /// `out (B, G·H) += h_prev (B, H) · W_hhᵀ`.
    pub fn add_hidden(&self, k: &K, h_prev: K::Ref<'_>, out: K::Mut<'_>) {
        let g = out.len() / self.b;
        k.matmul(
            self.b,
            g,
            self.h,
            h_prev,
            Trans::No,
            self.w,
            self.trans,
            out,
            true,
        );
    }
}

/// One step's buffers, views of the driver's cache. What a cell does not
/// use (see [`Cell`]) is empty.
pub struct Step<'a, S: Scalar, K: Backend<S>> {
    /// `(B, G·H)`: the input projection plus folded biases; empty where
    /// the driver projected it into `gates` ([`Cell::projects_into_gates`]).
    pub xg: K::Ref<'a>,
    /// `(B, H)`: the state before the step.
    pub h_prev: K::Ref<'a>,
    /// `(B, W·H)`: the cell state before the step (see
    /// [`Cell::state_width`]).
    pub c_prev: K::Ref<'a>,
    /// `(B, H)`: the new state (written).
    pub h: K::Mut<'a>,
    /// `(B, W·H)`: the new cell state (written).
    pub c: K::Mut<'a>,
    /// `(B, G·H)`: activated gates, kept for the backward.
    pub gates: K::Mut<'a>,
    /// `(B, H)`: one more value per unit kept for the backward.
    pub aux: K::Mut<'a>,
    /// `(B, G·H)`: scratch for the hidden projection ([`HiddenBias::PerStep`]).
    pub scratch: K::Mut<'a>,
}

/// The backward of one step: what the forward kept, the incoming gradient,
/// and the outputs. What a cell does not use is empty.
pub struct StepBack<'a, S: Scalar, K: Backend<S>> {
    /// B: rows.
    pub b: usize,
    /// H: hidden size.
    pub h_size: usize,
    /// `(B, G·H)`: the gates the forward kept.
    pub gates: K::Ref<'a>,
    /// `(B, H)`: the extra values the forward kept.
    pub aux: K::Ref<'a>,
    /// `(B, H)`: the state before the step.
    pub h_prev: K::Ref<'a>,
    /// `(B, H)`: the state after the step.
    pub h: K::Ref<'a>,
    /// `(B, W·H)`: the cell state before the step.
    pub c_prev: K::Ref<'a>,
    /// `(B, H)`: `dL/dh` after the step (from above and from later steps).
    pub dh: K::Ref<'a>,
    /// `(B, W·H)`: `dL/dc` from the next step on entry, `dL/dc_prev` on return.
    pub dc: K::Mut<'a>,
    /// `(B, G·H)`: the pre-activation gradients (input side) written.
    pub dg: K::Mut<'a>,
    /// `(B, G·H)`: the hidden side's, when they differ ([`HiddenBias::PerStep`]).
    pub dgh: K::Mut<'a>,
    /// `(B, H)`: the direct part of `dL/dh_prev` ([`Cell::has_direct_path`]).
    pub dprev: K::Mut<'a>,
}

// ---- Registry: the cells a model can be built from. ----

/// Which recurrent cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CellKind {
    /// Vanilla (Elman) RNN: `h = act(W_ih x + W_hh h + b)`.
    Rnn(Activation),
    /// LSTM, PyTorch's gate order (i, f, g, o).
    Lstm,
    /// GRU, PyTorch's formula (`b_hn` inside the reset product).
    Gru,
    /// minGRU (Feng et al. 2024): `h = (1 - z) ⊙ h + z ⊙ g(W_h x)`,
    /// `z = σ(W_z x)`, no recurrent weight.
    #[serde(rename = "mingru")]
    MinGru,
    /// minLSTM (Feng et al. 2024): normalized forget and input gates from
    /// the input alone, no recurrent weight and no cell state.
    #[serde(rename = "minlstm")]
    MinLstm,
    /// sLSTM (xLSTM, Beck et al. 2024): exponential gates with normalizer
    /// and stabilizer states, a block-diagonal `W_hh` of 4 heads.
    #[serde(rename = "slstm")]
    Slstm,
    /// mLSTM (xLSTM, Beck et al. 2024): a matrix memory per head with
    /// exponential gates, trained in its parallel form over the window.
    #[serde(rename = "mlstm")]
    Mlstm,
}

/// Declares the registry: for each cell, the [`CellKind`] pattern, the kind
/// with its default settings (for [`CellKind::ALL`]) and the [`Cell`] it
/// runs. Defines `with_cell!(kind, c => body)`, which runs `body` with `c`
/// bound to the cell a kind names: the one place kinds meet their types.
/// (`$d` is a `$`, for the inner macro's own variables.)
macro_rules! registry {
    ($d:tt $($variant:ident $(($arg:ident))? = $default:expr => $cell:expr;)*) => {
        macro_rules! with_cell {
            ($d kind:expr, $d c:ident => $d body:expr) => {
                match $d kind {
                    $($crate::cell::CellKind::$variant $(($arg))? => {
                        let $d c = $cell;
                        $d body
                    })*
                }
            };
        }
        pub(crate) use with_cell;

        impl CellKind {
            /// Every cell, with its default settings (the vanilla RNN with tanh).
            pub const ALL: &'static [CellKind] = &[$($default),*];
        }
    };
}

// One line per cell: its pattern, its default, its type.
registry! { $
    Rnn(act) = CellKind::Rnn(Activation::Tanh) => crate::cell::rnn::Rnn(act);
    Lstm = CellKind::Lstm => crate::cell::lstm::Lstm;
    Gru = CellKind::Gru => crate::cell::gru::Gru;
    MinGru = CellKind::MinGru => crate::cell::mingru::MinGru;
    MinLstm = CellKind::MinLstm => crate::cell::minlstm::MinLstm;
    Slstm = CellKind::Slstm => crate::cell::slstm::Slstm;
    Mlstm = CellKind::Mlstm => crate::cell::mlstm::Mlstm;
}

// ---- end of the registry ----

impl CellKind {
    /// Every [`CellKind::name`], in the order of [`CellKind::ALL`]: what
    /// flags and checkpoints accept.
    pub fn names() -> Vec<&'static str> {
        CellKind::ALL.iter().map(|c| c.name()).collect()
    }

    /// Gates per hidden unit: 1, 4, 3, 2, 3 or 4 (see [`Cell::gates`]).
    pub fn gates(self) -> usize {
        with_cell!(self, c => c.gates())
    }

    /// Whether the cell has a second bias `b_hh` (the vanilla RNN keeps one
    /// bias: two that always add up are one parameter).
    pub fn has_hidden_bias(self) -> bool {
        with_cell!(self, c => c.hidden_bias() != HiddenBias::None)
    }

    /// Whether the cell carries a cell state besides `h` (LSTM, sLSTM,
    /// mLSTM).
    pub fn has_cell_state(self) -> bool {
        self.state_width(self.heads()) > 0
    }

    /// Values per unit in the cell state for hidden size `h`: 0, 1 (LSTM),
    /// 3 (sLSTM) or `h/heads + 2` (mLSTM; see [`Cell::state_width`]).
    pub fn state_width(self, h: usize) -> usize {
        with_cell!(self, c => c.state_width(h))
    }

    /// G: rows of the input projection for hidden size `h` (see
    /// [`Cell::rows`]).
    pub fn rows(self, h: usize) -> usize {
        with_cell!(self, c => c.rows(h))
    }

    /// See [`Cell::forget_rows`].
    pub fn forget_rows(self, h: usize) -> Option<std::ops::Range<usize>> {
        with_cell!(self, c => c.forget_rows(h))
    }

    /// Whether the cell has a forget gate (see [`Cell::forget_rows`]).
    pub fn has_forget_gate(self) -> bool {
        self.forget_rows(self.heads()).is_some()
    }

    /// Whether the cell state is a fixed number of values per unit (all
    /// but the mLSTM, whose matrix memory grows with the head size), so
    /// that the states of two directions join unit by unit into a layer of
    /// twice the size (the seq2seq bridge).
    pub fn state_per_unit(self) -> bool {
        let h = self.heads();
        self.state_width(2 * h) == self.state_width(h)
    }

    /// See [`Cell::parallel`].
    pub fn parallel(self) -> bool {
        with_cell!(self, c => c.parallel())
    }

    /// See [`Cell::window_macs`].
    pub fn window_macs(self, t: usize, b: usize, h: usize) -> f64 {
        with_cell!(self, c => c.window_macs(t, b, h))
    }

    /// See [`Cell::positive_planes`].
    pub fn positive_planes(self) -> std::ops::Range<usize> {
        with_cell!(self, c => c.positive_planes())
    }

    /// Heads of the block-diagonal `W_hh` (1: dense; see [`Cell::heads`]).
    pub fn heads(self) -> usize {
        with_cell!(self, c => c.heads())
    }

    /// Whether the cell has a recurrent weight `W_hh` (all but minGRU and
    /// minLSTM, whose gates read the input only).
    pub fn has_recurrent_weight(self) -> bool {
        with_cell!(self, c => c.recurrent())
    }

    /// The name in prose (see [`Cell::title`]).
    pub fn title(self) -> &'static str {
        with_cell!(self, c => c.title())
    }

    /// `rnn`, `lstm`, `gru`, `mingru`, `minlstm`, `slstm` or `mlstm`.
    pub fn name(self) -> &'static str {
        with_cell!(self, c => c.name())
    }
}

impl std::str::FromStr for CellKind {
    type Err = crate::error::Error;

    /// `rnn` (tanh; pick relu with the activation separately), `lstm`,
    /// `gru`, `mingru`, `minlstm`, `slstm` or `mlstm`: the one place a cell
    /// name is read.
    fn from_str(s: &str) -> crate::error::Result<Self> {
        CellKind::ALL
            .iter()
            .copied()
            .find(|c| c.name() == s)
            .ok_or_else(|| {
                crate::error::Error::Config(format!(
                    "unknown cell '{s}': choose one of {}",
                    CellKind::names().join(", ")
                ))
            })
    }
}

impl std::fmt::Display for CellKind {
    /// The name [`CellKind::from_str`](std::str::FromStr) reads, with the
    /// activation of a vanilla RNN: `rnn (tanh)`, `lstm`, `gru`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CellKind::Rnn(Activation::Tanh) => f.write_str("rnn (tanh)"),
            CellKind::Rnn(Activation::Relu) => f.write_str("rnn (relu)"),
            other => f.write_str(other.name()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back_to_their_cells() {
        assert_eq!(
            CellKind::names(),
            ["rnn", "lstm", "gru", "mingru", "minlstm", "slstm", "mlstm"]
        );
        for (&kind, name) in CellKind::ALL.iter().zip(CellKind::names()) {
            assert_eq!(kind.name(), name);
            assert_eq!(name.parse::<CellKind>().unwrap(), kind);
        }
        let err = "lstn".parse::<CellKind>().unwrap_err().to_string();
        assert!(
            err.contains("'lstn'") && err.contains("rnn, lstm, gru, mingru, minlstm, slstm, mlstm"),
            "{err}"
        );
    }
}
