//! Recurrent cells and the driver that runs them over a `(T, B, ·)` block.
//!
//! Each cell has one file with its step forward and its step backward side
//! by side ([`rnn`], [`lstm`], [`gru`]); this module runs any of them over
//! time, in either direction, with per-sequence lengths:
//!
//! - The input projection of all steps is one GEMM (or, for one-hot
//!   tokens, a gather of weight columns): `xg = x W_ihᵀ + b (T, B, G)`,
//!   `G = H, 4H, 3H` for RNN, LSTM, GRU. Only `h W_hhᵀ` runs step by step.
//! - A reverse direction reads the block from the last step to the first.
//!   States are kept in one `(T+1, B, H)` buffer whose slot `s + 1` (forward)
//!   or `s` (reverse) holds the state after step `s`; the initial state sits
//!   in slot 0 (forward) or T (reverse). The state before step `s` is then
//!   slot `s` (forward) or `s + 1` (reverse), so that both the outputs by
//!   time and the previous states by time are contiguous.
//! - Padded steps (step `s` at or past a sequence's length) carry the state
//!   through unchanged and get no gradient: padding changes neither the
//!   outputs at real steps, the final state, nor any gradient.

pub mod gru;
pub mod lstm;
pub mod rnn;

pub use crate::backend::Activation;

use serde::{Deserialize, Serialize};

use crate::backend::Backend;
use crate::tensor::{SMALL_M, Scalar, Trans};

/// The input of a sequence block, laid out time-major.
#[derive(Clone, Copy, Debug)]
pub enum SeqInput<'a, S> {
    /// Token ids `(T, B)`, each below the input size: a one-hot input done as
    /// a gather of weight columns.
    Tokens(&'a [u32]),
    /// Dense vectors `(T, B, I)`.
    Dense(&'a [S]),
}

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
}

impl CellKind {
    /// Every [`CellKind::name`].
    pub const NAMES: [&'static str; 3] = ["rnn", "lstm", "gru"];

    /// Gates per hidden unit: 1, 4 or 3.
    pub fn gates(self) -> usize {
        match self {
            CellKind::Rnn(_) => 1,
            CellKind::Lstm => 4,
            CellKind::Gru => 3,
        }
    }

    /// Whether the cell has a second bias `b_hh` (the vanilla RNN keeps one
    /// bias: two that always add up are one parameter).
    pub fn has_hidden_bias(self) -> bool {
        !matches!(self, CellKind::Rnn(_))
    }

    /// Whether the cell carries a cell state `c` besides `h` (LSTM).
    pub fn has_cell_state(self) -> bool {
        self == CellKind::Lstm
    }

    /// `rnn`, `lstm` or `gru`.
    pub fn name(self) -> &'static str {
        match self {
            CellKind::Rnn(_) => "rnn",
            CellKind::Lstm => "lstm",
            CellKind::Gru => "gru",
        }
    }
}

impl std::str::FromStr for CellKind {
    type Err = crate::error::Error;

    /// `rnn` (tanh; pick relu with the activation separately), `lstm` or
    /// `gru`: the one place a cell name is read.
    fn from_str(s: &str) -> crate::error::Result<Self> {
        match s {
            "rnn" => Ok(CellKind::Rnn(Activation::Tanh)),
            "lstm" => Ok(CellKind::Lstm),
            "gru" => Ok(CellKind::Gru),
            other => Err(crate::error::Error::Config(format!(
                "unknown cell '{other}': choose one of {}",
                CellKind::NAMES.join(", ")
            ))),
        }
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

/// Borrowed weights of one cell (one layer, one direction). `G·H` rows:
/// `w_ih: (G·H, I)`, `w_hh: (G·H, H)`, `b_ih: (G·H)`, `b_hh: (G·H)` (empty
/// for the vanilla RNN, whose single bias is `b_ih`).
#[derive(Clone, Copy, Debug)]
pub struct CellWeights<'a, S> {
    /// Input-to-hidden weights.
    pub w_ih: &'a [S],
    /// Hidden-to-hidden weights.
    pub w_hh: &'a [S],
    /// Input bias (the vanilla RNN's only bias).
    pub b_ih: &'a [S],
    /// Hidden bias (empty for the vanilla RNN).
    pub b_hh: &'a [S],
}

/// Mutable gradients of one cell, shaped like [`CellWeights`].
#[derive(Debug)]
pub struct CellGrads<'a, S> {
    /// `dL/dW_ih`.
    pub w_ih: &'a mut [S],
    /// `dL/dW_hh`.
    pub w_hh: &'a mut [S],
    /// `dL/db_ih`.
    pub b_ih: &'a mut [S],
    /// `dL/db_hh`.
    pub b_hh: &'a mut [S],
}

/// What one pass over a block needs to know besides weights and buffers.
#[derive(Clone, Copy, Debug)]
pub struct Pass<'a> {
    /// The cell.
    pub kind: CellKind,
    /// T: steps.
    pub t: usize,
    /// B: sequences.
    pub b: usize,
    /// H: hidden size.
    pub h: usize,
    /// Read the block from the last step to the first.
    pub reverse: bool,
    /// Per-sequence lengths `(B)`; `None` when all are `T`.
    pub lengths: Option<&'a [usize]>,
}

impl Pass<'_> {
    fn bh(&self) -> usize {
        self.b * self.h
    }
    fn gh(&self) -> usize {
        self.kind.gates() * self.h
    }
    /// Slot of the state before step `s`, and of the state after it.
    fn slots(&self, s: usize) -> (usize, usize) {
        if self.reverse { (s + 1, s) } else { (s, s + 1) }
    }
    /// Slot of the initial state and of the final state.
    fn ends(&self) -> (usize, usize) {
        if self.reverse {
            (self.t, 0)
        } else {
            (0, self.t)
        }
    }
    /// Steps in the order the pass reads them.
    fn order(&self) -> impl DoubleEndedIterator<Item = usize> + use<> {
        let (t, reverse) = (self.t, self.reverse);
        (0..t).map(move |i| if reverse { t - 1 - i } else { i })
    }
    /// Rows (sequences) that are padding at step `s`.
    fn padded(&self, s: usize) -> impl Iterator<Item = usize> + '_ {
        self.lengths.into_iter().flat_map(move |l| {
            l.iter()
                .enumerate()
                .filter(move |&(_, &n)| s >= n)
                .map(|(r, _)| r)
        })
    }
}

/// Activations of one cell over one block, kept for the backward, plus its
/// scratch. Sizes follow the last [`CellCache::resize`].
#[derive(Clone, Debug, Default)]
pub struct CellCache<S> {
    /// `(T, B, G·H)`: input projections plus biases, by time.
    pub xg: Vec<S>,
    /// `(T+1, B, H)`: hidden states (slots as in the module docs).
    pub hs: Vec<S>,
    /// `(T+1, B, H)`: LSTM cell states, same slots.
    pub cs: Vec<S>,
    /// `(T, B, G·H)`: activated gates by time (LSTM, GRU).
    pub gates: Vec<S>,
    /// `(T, B, H)`: LSTM `tanh(c)`, GRU `W_hn h + b_hn`, by time.
    pub aux: Vec<S>,
    /// `(T, B, H)`: `dL/dh` after each step by time (from above, then the
    /// recurrence).
    pub dh: Vec<S>,
    /// `(T, B, G·H)`: pre-activation gradients by time (GRU: input side).
    pub dg: Vec<S>,
    /// `(T, B, 3H)`: GRU hidden-side pre-activation gradients.
    pub dgh: Vec<S>,
    /// `(B, H)`: LSTM `dL/dc` carried between steps; GRU direct `dL/dh_prev`.
    pub dcarry: Vec<S>,
    /// `(B, H)`: LSTM `dL/dc` of padded rows, kept across a step.
    pub dc_keep: Vec<S>,
    /// `(B, G·H)`: GRU hidden projection of one step.
    pub gh: Vec<S>,
    /// `(H, G·H)`: `W_hhᵀ` for batches past [`SMALL_M`].
    pub w_hh_t: Vec<S>,
}

impl<S: Scalar> CellCache<S> {
    /// Size every buffer for a pass (no allocation once large enough).
    pub fn resize(&mut self, p: &Pass<'_>) {
        let (t, bh, gh) = (p.t, p.bh(), p.gh());
        let z = S::zero();
        self.xg.resize(t * p.b * gh, z);
        self.hs.resize((t + 1) * bh, z);
        self.dh.resize(t * bh, z);
        self.dg.resize(t * p.b * gh, z);
        let gated = !matches!(p.kind, CellKind::Rnn(_));
        let n = |on: bool, len: usize| if on { len } else { 0 };
        self.cs.resize(n(p.kind == CellKind::Lstm, (t + 1) * bh), z);
        self.gates.resize(n(gated, t * p.b * gh), z);
        self.aux.resize(n(gated, t * bh), z);
        self.dgh.resize(n(p.kind == CellKind::Gru, t * p.b * gh), z);
        self.dcarry.resize(n(gated, bh), z);
        self.dc_keep
            .resize(n(p.kind == CellKind::Lstm && p.lengths.is_some(), bh), z);
        self.gh.resize(n(p.kind == CellKind::Gru, p.b * gh), z);
        self.w_hh_t.resize(n(p.b > SMALL_M, gh * p.h), z);
    }

    /// The state after the last step read: `(B, H)`.
    pub fn final_h(&self, p: &Pass<'_>) -> &[S] {
        let (_, last) = p.ends();
        &self.hs[last * p.bh()..(last + 1) * p.bh()]
    }

    /// The LSTM cell state after the last step read: `(B, H)`.
    pub fn final_c(&self, p: &Pass<'_>) -> &[S] {
        let (_, last) = p.ends();
        &self.cs[last * p.bh()..(last + 1) * p.bh()]
    }

    /// Outputs by time, `(T, B, H)`: the state after each step.
    pub fn outputs(&self, p: &Pass<'_>) -> &[S] {
        let start = if p.reverse { 0 } else { p.bh() };
        &self.hs[start..start + p.t * p.bh()]
    }
}

/// Two distinct slots `a` and `b` of `buf` (`len` values each), the first
/// shared and the second mutable.
fn slot_pair<S>(buf: &mut [S], len: usize, a: usize, b: usize) -> (&[S], &mut [S]) {
    if a < b {
        let (lo, hi) = buf.split_at_mut(b * len);
        (&lo[a * len..(a + 1) * len], &mut hi[..len])
    } else {
        let (lo, hi) = buf.split_at_mut(a * len);
        (&hi[..len], &mut lo[b * len..(b + 1) * len])
    }
}

/// Forward over a block: `x` is tokens `(T, B)` or dense `(T, B, I)`,
/// `h0, c0: (B, H)` the initial states (`c0` only for the LSTM). Fills
/// `cache`; outputs and final states are read from it.
pub fn forward<S: Scalar, K: Backend<S>>(
    k: &K,
    w: &CellWeights<'_, S>,
    x: SeqInput<'_, S>,
    p: &Pass<'_>,
    h0: &[S],
    c0: &[S],
    cache: &mut CellCache<S>,
) {
    cache.resize(p);
    let (t, b, h, bh, gh) = (p.t, p.b, p.h, p.bh(), p.gh());
    let i = w.w_ih.len() / gh;
    // 1. Input projection of every step at once.
    match x {
        SeqInput::Tokens(tok) => k.gather_columns(w.w_ih, i, tok, &mut cache.xg),
        SeqInput::Dense(xs) => k.matmul(
            t * b,
            gh,
            i,
            xs,
            Trans::No,
            w.w_ih,
            Trans::Yes,
            &mut cache.xg,
            false,
        ),
    }
    k.add_bias(&mut cache.xg, w.b_ih);
    if p.kind == CellKind::Lstm {
        k.add_bias(&mut cache.xg, w.b_hh);
    }
    let (first, _) = p.ends();
    cache.hs[first * bh..(first + 1) * bh].copy_from_slice(h0);
    if p.kind.has_cell_state() {
        cache.cs[first * bh..(first + 1) * bh].copy_from_slice(c0);
    }
    // 2. The recurrence. Large batches multiply by a row-major W_hhᵀ (GEMM
    //    kernels would otherwise repack it at every step); one to a few rows
    //    take dot products with W_hh's rows directly.
    let (w_step, t_step) = if b > SMALL_M {
        k.transpose(gh, h, w.w_hh, &mut cache.w_hh_t);
        (&cache.w_hh_t[..], Trans::No)
    } else {
        (w.w_hh, Trans::Yes)
    };
    let step = StepWeights {
        w: w_step,
        trans: t_step,
        b_hh: w.b_hh,
    };
    for s in p.order() {
        let (before, after) = p.slots(s);
        let (prev, out) = slot_pair(&mut cache.hs, bh, before, after);
        let xg = &cache.xg[s * b * gh..(s + 1) * b * gh];
        match p.kind {
            CellKind::Rnn(act) => rnn::step(k, act, &step, p, xg, prev, out),
            CellKind::Lstm => {
                let (c_prev, c) = slot_pair(&mut cache.cs, bh, before, after);
                let gates = &mut cache.gates[s * b * gh..(s + 1) * b * gh];
                lstm::step(
                    k,
                    &step,
                    p,
                    xg,
                    prev,
                    c_prev,
                    gates,
                    c,
                    &mut cache.aux[s * bh..(s + 1) * bh],
                    out,
                );
            }
            CellKind::Gru => {
                let gates = &mut cache.gates[s * b * gh..(s + 1) * b * gh];
                let hn = &mut cache.aux[s * bh..(s + 1) * bh];
                gru::step(k, &step, p, xg, prev, &mut cache.gh, gates, hn, out);
            }
        }
        // Padding carries the state through.
        for r in p.padded(s) {
            out[r * h..(r + 1) * h].copy_from_slice(&prev[r * h..(r + 1) * h]);
        }
        if p.kind.has_cell_state() && p.lengths.is_some() {
            let (c_prev, c) = slot_pair(&mut cache.cs, bh, before, after);
            for r in p.padded(s) {
                c[r * h..(r + 1) * h].copy_from_slice(&c_prev[r * h..(r + 1) * h]);
            }
        }
    }
}

/// The recurrent weight as each step multiplies it, and the GRU's `b_hh`.
pub struct StepWeights<'a, S> {
    /// `W_hh` (with `trans = Yes`) or `W_hhᵀ` (with `No`).
    pub w: &'a [S],
    /// How `w` is used.
    pub trans: Trans,
    /// Hidden bias (GRU adds it per step, inside the reset product).
    pub b_hh: &'a [S],
}

/// Backward through time over the block [`forward`] computed.
///
/// On entry `cache.dh: (T, B, H)` holds `dL/dh` from above at every step,
/// by time (the caller fills it, see [`CellCache::dh`]); `dh_last, dc_last:
/// (B, H)` are gradients into the final states (`None`: zero). Accumulates
/// the weight gradients into `g`, writes `dL/dh0` into `dh0` and (LSTM)
/// `dL/dc0` into `dc0`, and for dense input adds `dL/dx (T, B, I)` into `dx`.
#[allow(clippy::too_many_arguments)]
pub fn backward<S: Scalar, K: Backend<S>>(
    k: &K,
    w: &CellWeights<'_, S>,
    g: &mut CellGrads<'_, S>,
    x: SeqInput<'_, S>,
    p: &Pass<'_>,
    cache: &mut CellCache<S>,
    dh_last: Option<&[S]>,
    dc_last: Option<&[S]>,
    dh0: &mut [S],
    dc0: &mut [S],
    dx: Option<&mut [S]>,
) {
    let (t, b, h, bh, gh) = (p.t, p.b, p.h, p.bh(), p.gh());
    let i = w.w_ih.len() / gh;
    let last_step = if p.reverse { 0 } else { t - 1 };
    if let Some(d) = dh_last {
        for (o, &v) in cache.dh[last_step * bh..(last_step + 1) * bh]
            .iter_mut()
            .zip(d)
        {
            *o += v;
        }
    }
    if p.kind.has_cell_state() {
        match dc_last {
            Some(d) => cache.dcarry.copy_from_slice(d),
            None => cache.dcarry.fill(S::zero()),
        }
    }
    dh0.fill(S::zero());
    let CellCache {
        hs,
        cs,
        gates,
        aux,
        dh,
        dg,
        dgh,
        dcarry,
        dc_keep,
        ..
    } = cache;
    // 1. Step by step, in the reverse of the order the forward read.
    for s in p.order().rev() {
        let (before, _) = p.slots(s);
        let (dh_s, target) = match p.reverse {
            false if s == 0 => (&dh[..bh], &mut *dh0),
            true if s == t - 1 => (&dh[s * bh..], &mut *dh0),
            false => slot_pair(dh, bh, s, s - 1),
            true => slot_pair(dh, bh, s, s + 1),
        };
        let dg_s = &mut dg[s * b * gh..(s + 1) * b * gh];
        let prev = &hs[before * bh..(before + 1) * bh];
        let (_, after) = p.slots(s);
        match p.kind {
            CellKind::Rnn(act) => {
                rnn::step_backward(k, act, &hs[after * bh..(after + 1) * bh], dh_s, dg_s)
            }
            CellKind::Lstm => {
                if p.lengths.is_some() {
                    dc_keep.copy_from_slice(dcarry);
                }
                let c_prev = &cs[before * bh..(before + 1) * bh];
                lstm::step_backward(
                    k,
                    p,
                    &gates[s * b * gh..(s + 1) * b * gh],
                    c_prev,
                    &aux[s * bh..(s + 1) * bh],
                    dh_s,
                    dcarry,
                    dg_s,
                );
                // Padded rows carry dL/dc through unchanged.
                for r in p.padded(s) {
                    dcarry[r * h..(r + 1) * h].copy_from_slice(&dc_keep[r * h..(r + 1) * h]);
                }
            }
            CellKind::Gru => {
                let dgh_s = &mut dgh[s * b * gh..(s + 1) * b * gh];
                gru::step_backward(
                    k,
                    p,
                    &gates[s * b * gh..(s + 1) * b * gh],
                    &aux[s * bh..(s + 1) * bh],
                    prev,
                    dh_s,
                    dg_s,
                    dgh_s,
                    dcarry,
                );
                for r in p.padded(s) {
                    dgh_s[r * gh..(r + 1) * gh].fill(S::zero());
                    dcarry[r * h..(r + 1) * h].copy_from_slice(&dh_s[r * h..(r + 1) * h]);
                }
                for (o, &v) in target.iter_mut().zip(dcarry.iter()) {
                    *o += v;
                }
            }
        }
        // Padded rows: no gate gradient; dL/dh passes to the previous state.
        for r in p.padded(s) {
            dg_s[r * gh..(r + 1) * gh].fill(S::zero());
            if p.kind != CellKind::Gru {
                for (o, &v) in target[r * h..(r + 1) * h]
                    .iter_mut()
                    .zip(&dh_s[r * h..(r + 1) * h])
                {
                    *o += v;
                }
            }
        }
        // dL/dh_prev += dgates · W_hh   (GRU: the hidden-side gradients)
        let dgw = if p.kind == CellKind::Gru {
            &dgh[s * b * gh..(s + 1) * b * gh]
        } else {
            &dg[s * b * gh..(s + 1) * b * gh]
        };
        k.matmul(b, h, gh, dgw, Trans::No, w.w_hh, Trans::No, target, true);
    }
    if p.kind.has_cell_state() {
        dc0.copy_from_slice(dcarry);
    }
    // 2. Weight gradients of every step at once.
    let dgw: &[S] = if p.kind == CellKind::Gru { dgh } else { dg };
    let prevs = cache_previous(hs, p);
    k.matmul(
        gh,
        h,
        t * b,
        dgw,
        Trans::Yes,
        prevs,
        Trans::No,
        g.w_hh,
        true,
    );
    k.sum_rows_into(dg, g.b_ih);
    if p.kind.has_hidden_bias() {
        k.sum_rows_into(dgw, g.b_hh);
    }
    match x {
        SeqInput::Tokens(tok) => k.scatter_add_columns(dg, tok, g.w_ih, i),
        SeqInput::Dense(xs) => {
            k.matmul(gh, i, t * b, dg, Trans::Yes, xs, Trans::No, g.w_ih, true);
            if let Some(dx) = dx {
                k.matmul(t * b, i, gh, dg, Trans::No, w.w_ih, Trans::No, dx, true);
            }
        }
    }
}

/// States before each step by time, `(T, B, H)` (see [`CellCache`]).
fn cache_previous<'a, S>(hs: &'a [S], p: &Pass<'_>) -> &'a [S] {
    let start = if p.reverse { p.bh() } else { 0 };
    &hs[start..start + p.t * p.bh()]
}
