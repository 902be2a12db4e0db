//! The driver: any [`Cell`] over a `(T, B, ·)` block, on any [`Backend`].
//!
//! - The input projection of all steps is one GEMM (or, for one-hot
//!   tokens, a gather of weight columns): `xg = x W_ihᵀ + b (T, B, G)`,
//!   `G = gates·H`. Only `h W_hhᵀ` runs step by step; for a cell without a
//!   recurrent weight (see [`Cell::recurrent`]) the step loop is pointwise
//!   only: a scan over time, parallel over the batch and the units.
//! - A reverse direction reads the block from the last step to the first.
//!   States are kept in one `(T+1, B, H)` buffer whose slot `s + 1` (forward)
//!   or `s` (reverse) holds the state after step `s`; the initial state sits
//!   in slot 0 (forward) or T (reverse). The state before step `s` is then
//!   slot `s` (forward) or `s + 1` (reverse), so that both the outputs by
//!   time and the previous states by time are contiguous.
//! - Padded steps (step `s` at or past a sequence's length) carry the state
//!   through unchanged and get no gradient: padding changes neither the
//!   outputs at real steps, the final state, nor any gradient.

use super::{Block, BlockBack, Cell, CellKind, HiddenBias, Step, StepBack, StepWeights, with_cell};
use crate::backend::{Backend, Ready, View, ViewMut, slot, slot_mut, slot_pair};
use crate::tensor::{Operand, Scalar, Trans};

/// The input of a sequence block as the caller holds it, on the host,
/// laid out time-major.
#[derive(Clone, Copy, Debug)]
pub enum SeqInput<'a, S> {
    /// Token ids `(T, B)`, each below the input size: a one-hot input done as
    /// a gather of weight columns.
    Tokens(&'a [u32]),
    /// Dense vectors `(T, B, I)`.
    Dense(&'a [S]),
}

/// The input of a sequence block where the backend reads it: tokens (on
/// the host: they index) or dense vectors `(T, B, I)` in a backend view.
#[derive(Debug)]
pub enum Input<'a, S: Scalar, K: Backend<S>> {
    /// Token ids `(T, B)`.
    Tokens(&'a [u32]),
    /// Dense vectors `(T, B, I)`.
    Dense(K::Ref<'a>),
}

impl<S: Scalar, K: Backend<S>> Clone for Input<'_, S, K> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<S: Scalar, K: Backend<S>> Copy for Input<'_, S, K> {}

impl<'a, S: Scalar, K: Backend<S>> Input<'a, S, K> {
    /// The same input borrowed for a shorter time (views are invariant in
    /// their lifetime).
    pub fn shorten<'b>(self) -> Input<'b, S, K>
    where
        'a: 'b,
    {
        match self {
            Input::Tokens(t) => Input::Tokens(t),
            Input::Dense(x) => Input::Dense(K::shorten(x)),
        }
    }

    /// A host input where `k` reads it: dense values the backend cannot
    /// read in place are uploaded into `staging`.
    pub fn from_host(k: &K, x: SeqInput<'a, S>, staging: &'a mut K::Buf) -> Self {
        match x {
            SeqInput::Tokens(t) => Input::Tokens(t),
            SeqInput::Dense(xs) => Input::Dense(k.host_view(xs, staging)),
        }
    }
}

/// Borrowed weights of one cell (one layer, one direction). `G` rows:
/// `w_ih: (G, I)`, `w_hh: (G, H)`, `b_ih: (G)`, `b_hh: (G)` (empty for the
/// vanilla RNN, whose single bias is `b_ih`).
#[derive(Debug)]
pub struct CellWeights<'a, S: Scalar, K: Backend<S> = crate::backend::Cpu> {
    /// Input-to-hidden weights.
    pub w_ih: K::Ref<'a>,
    /// Hidden-to-hidden weights.
    pub w_hh: K::Ref<'a>,
    /// Input bias (the vanilla RNN's only bias).
    pub b_ih: K::Ref<'a>,
    /// Hidden bias (empty for the vanilla RNN).
    pub b_hh: K::Ref<'a>,
}

/// Exclusive views of the gradients of one cell, shaped like [`CellWeights`].
#[derive(Debug)]
pub struct CellGrads<'a, S: Scalar, K: Backend<S> = crate::backend::Cpu> {
    /// `dL/dW_ih`.
    pub w_ih: K::Mut<'a>,
    /// `dL/dW_hh`.
    pub w_hh: K::Mut<'a>,
    /// `dL/db_ih`.
    pub b_ih: K::Mut<'a>,
    /// `dL/db_hh`.
    pub b_hh: K::Mut<'a>,
}

/// A cell state `(W, B, H)` as a model holds it (see
/// [`Cell::state_width`]): plane `q` (`c`; for the sLSTM `c`, `n`, `m`)
/// is the `(B, H)` starting at `q·stride` of `view`. Steps see it as rows
/// `(B, W·H)` instead; the driver moves it between the two.
#[derive(Debug)]
pub struct Planes<V> {
    /// The first plane and those after it.
    pub view: V,
    /// From one plane's start to the next's.
    pub stride: usize,
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
    /// Slot of the state before step `s`, and of the state after it.
    pub fn slots(&self, s: usize) -> (usize, usize) {
        if self.reverse { (s + 1, s) } else { (s, s + 1) }
    }
    /// Slot of the initial state and of the final state.
    pub fn ends(&self) -> (usize, usize) {
        if self.reverse {
            (self.t, 0)
        } else {
            (0, self.t)
        }
    }
    /// Steps in the order the pass reads them.
    pub fn order(&self) -> impl DoubleEndedIterator<Item = usize> + use<> {
        let (t, reverse) = (self.t, self.reverse);
        (0..t).map(move |i| if reverse { t - 1 - i } else { i })
    }
    /// The step read before `s`, whose `dL/dh` the backward of `s` feeds
    /// (`None` for the first step read).
    fn earlier(&self, s: usize) -> Option<usize> {
        match self.reverse {
            false => s.checked_sub(1),
            true => Some(s + 1).filter(|&n| n < self.t),
        }
    }
}

/// Per-step sizes of a cell's buffers: `0` for those it does not keep.
#[derive(Clone, Copy, Debug)]
struct Sizes {
    /// `B·H`: a state.
    bh: usize,
    /// `B·G`: the gate rows of one step.
    bg: usize,
    /// Cell state `(B, W·H)` or 0.
    c: usize,
    /// W: values per unit in the cell state.
    w: usize,
    /// Kept gates `(B, G)` and extra `(B, H)`, or 0.
    gates: usize,
    aux: usize,
    /// Hidden-side gate rows `(B, G)` ([`HiddenBias::PerStep`]) or 0.
    hidden: usize,
    /// Direct `dL/dh_prev` `(B, H)` or 0.
    direct: usize,
    /// Whether the cell runs whole blocks ([`Cell::parallel`]).
    parallel: bool,
    /// Whether the input projection goes straight into the kept gates
    /// ([`Cell::projects_into_gates`]; then `xg` is not kept).
    into_gates: bool,
}

impl Sizes {
    fn of<C: Cell>(cell: &C, p: &Pass<'_>) -> Sizes {
        let (bh, bg) = (p.bh(), p.b * cell.rows(p.h));
        let on = |yes: bool, n: usize| if yes { n } else { 0 };
        Sizes {
            bh,
            bg,
            c: cell.state_width(p.h) * bh,
            w: cell.state_width(p.h),
            gates: on(cell.keeps_gates(), bg),
            aux: on(cell.keeps_gates(), bh),
            hidden: on(cell.hidden_bias() == HiddenBias::PerStep, bg),
            direct: on(cell.has_direct_path(), bh),
            parallel: cell.parallel(),
            into_gates: cell.projects_into_gates() && cell.keeps_gates() && !cell.parallel(),
        }
    }

    /// Slots of the cell-state buffer: `T+1` (as `hs`), or for a
    /// [`Cell::parallel`] cell two, the initial and the final state.
    fn c_slots(&self, p: &Pass<'_>) -> usize {
        if self.parallel { 2 } else { p.t + 1 }
    }

    /// Slot of the initial and of the final cell state.
    fn c_ends(&self, p: &Pass<'_>) -> (usize, usize) {
        if self.parallel { (0, 1) } else { p.ends() }
    }
}

/// Activations of one cell over one block, kept for the backward, plus its
/// scratch, in the backend's buffers. Sizes follow the last pass.
#[derive(Clone, Debug)]
#[derive_where::derive_where(Default)]
pub struct CellCache<S: Scalar, K: Backend<S> = crate::backend::Cpu> {
    /// `(T, B, G)`: input projections plus folded biases, by time.
    pub xg: K::Buf,
    /// `(T+1, B, H)`: hidden states (slots as in the module docs).
    pub hs: K::Buf,
    /// `(T+1, B, W·H)`: cell states, same slots (cells with one); for a
    /// [`Cell::parallel`] cell `(2, B, W·H)`, the initial and final states.
    pub cs: K::Buf,
    /// `(T, B, G)`: activated gates by time (cells that keep them).
    pub gates: K::Buf,
    /// `(T, B, H)`: the cell's extra kept values by time (LSTM `tanh(c)`,
    /// GRU `W_hn h + b_hn`).
    pub aux: K::Buf,
    /// `(T, B, H)`: `dL/dh` after each step by time (from above, then the
    /// recurrence).
    pub dh: K::Buf,
    /// `(T, B, G)`: pre-activation gradients by time (input side).
    pub dg: K::Buf,
    /// `(T, B, G)`: hidden-side pre-activation gradients ([`HiddenBias::PerStep`]).
    pub dgh: K::Buf,
    /// `(B, W·H)`: `dL/dc` carried between steps.
    pub dc: K::Buf,
    /// `(B, W·H)`: `dL/dc` before a step, for its padded rows.
    pub dc_keep: K::Buf,
    /// `(B, H)`: the direct part of `dL/dh_prev` of one step.
    pub dprev: K::Buf,
    /// `(B, G)`: the hidden projection of one step ([`HiddenBias::PerStep`]).
    pub gh: K::Buf,
    /// The recurrent weight as the backend prefers it for this batch.
    pub w_hh_t: K::Buf,
}

impl<S: Scalar, K: Backend<S>> CellCache<S, K> {
    /// Size every buffer for a pass (no allocation once large enough).
    fn resize(&mut self, k: &K, z: &Sizes, p: &Pass<'_>) {
        let (t, padded) = (p.t, p.lengths.is_some());
        k.resize(&mut self.xg, if z.into_gates { 0 } else { t * z.bg });
        k.resize(&mut self.hs, (t + 1) * z.bh);
        k.resize(&mut self.dh, t * z.bh);
        k.resize(&mut self.dg, t * z.bg);
        k.resize(&mut self.cs, z.c_slots(p) * z.c);
        k.resize(&mut self.gates, t * z.gates);
        k.resize(&mut self.aux, t * z.aux);
        k.resize(&mut self.dgh, t * z.hidden);
        k.resize(&mut self.dc, z.c);
        k.resize(&mut self.dc_keep, if padded { z.c } else { 0 });
        k.resize(&mut self.dprev, z.direct);
        k.resize(&mut self.gh, z.hidden);
    }

    /// The state after the last step read: `(B, H)`.
    pub fn final_h(&self, p: &Pass<'_>) -> K::Ref<'_> {
        slot(K::view(&self.hs), p.bh(), p.ends().1)
    }

    /// Copy the cell state after the last step read into `dst` (cells
    /// with one; nothing for the others).
    pub fn copy_final_c(&self, k: &K, p: &Pass<'_>, dst: Planes<K::Mut<'_>>) {
        let (w, last) = with_cell!(p.kind, c => (c.state_width(p.h), Sizes::of(&c, p).c_ends(p).1));
        let last = slot(K::view(&self.cs), w * p.bh(), last);
        rows_to_planes(k, p, w, last, dst);
    }

    /// Outputs by time, `(T, B, H)`: the state after each step.
    pub fn outputs(&self, p: &Pass<'_>) -> K::Ref<'_> {
        let start = if p.reverse { 0 } else { p.bh() };
        K::view(&self.hs).sub(start..start + p.t * p.bh())
    }

    /// `dL/dh` from above at every step `(T, B, H)`, for the caller to fill
    /// before [`backward`].
    pub fn output_grad(&mut self) -> K::Mut<'_> {
        K::view_mut(&mut self.dh)
    }
}

/// A cell state from planes `(W, B, H)` into rows `(B, W·H)`.
fn planes_to_rows<S: Scalar, K: Backend<S>>(
    k: &K,
    p: &Pass<'_>,
    w: usize,
    src: Planes<K::Ref<'_>>,
    mut dst: K::Mut<'_>,
) {
    let (bh, len) = (p.bh(), dst.len());
    for q in 0..w {
        let plane = src.view.sub(q * src.stride..q * src.stride + bh);
        let rows = K::reborrow(&mut dst).sub(q * p.h..len);
        k.copy_block(p.b, p.h, (plane, p.h), (rows, w * p.h), false);
    }
}

/// The inverse of [`planes_to_rows`].
fn rows_to_planes<S: Scalar, K: Backend<S>>(
    k: &K,
    p: &Pass<'_>,
    w: usize,
    src: K::Ref<'_>,
    mut dst: Planes<K::Mut<'_>>,
) {
    let (bh, len) = (p.bh(), src.len());
    for q in 0..w {
        let plane = K::reborrow(&mut dst.view).sub(q * dst.stride..q * dst.stride + bh);
        k.copy_block(
            p.b,
            p.h,
            (src.sub(q * p.h..len), w * p.h),
            (plane, p.h),
            false,
        );
    }
}

/// Forward over a block: `x` is tokens `(T, B)` or dense `(T, B, I)`,
/// `h0: (B, H)` and `c0: (W, B, H)` the initial states (`c0` only for
/// cells with a cell state). Fills `cache`; outputs and final states are
/// read from it.
pub fn forward<S: Scalar, K: Backend<S>>(
    k: &K,
    w: &CellWeights<'_, S, K>,
    x: Input<'_, S, K>,
    p: &Pass<'_>,
    h0: K::Ref<'_>,
    c0: Planes<K::Ref<'_>>,
    cache: &mut CellCache<S, K>,
) {
    with_cell!(p.kind, cell => forward_cell(k, &cell, w, x, p, h0, c0, cache))
}

#[allow(clippy::too_many_arguments)]
fn forward_cell<S: Scalar, K: Backend<S>, C: Cell>(
    k: &K,
    cell: &C,
    w: &CellWeights<'_, S, K>,
    x: Input<'_, S, K>,
    p: &Pass<'_>,
    h0: K::Ref<'_>,
    c0: Planes<K::Ref<'_>>,
    cache: &mut CellCache<S, K>,
) {
    let z = Sizes::of(cell, p);
    cache.resize(k, &z, p);
    let (t, b, gh) = (p.t, p.b, z.bg / p.b);
    let i = w.w_ih.len() / gh;
    // 1. Input projection of every step at once (into the steps' gates
    // where the cell adds its hidden part there).
    {
        let mut xg = K::view_mut(match z.into_gates {
            true => &mut cache.gates,
            false => &mut cache.xg,
        });
        let folded = (cell.hidden_bias() == HiddenBias::Folded).then_some(w.b_hh);
        match x {
            Input::Tokens(tok) => k.gather_columns_biased(w.w_ih, i, tok, (w.b_ih, folded), xg),
            Input::Dense(xs) => {
                k.matmul(
                    t * b,
                    gh,
                    i,
                    xs,
                    Trans::No,
                    w.w_ih,
                    Trans::Yes,
                    K::reborrow(&mut xg),
                    false,
                );
                k.add_biases(xg, w.b_ih, folded);
            }
        }
    }
    let (first, _) = p.ends();
    k.copy(h0, slot_mut(K::view_mut(&mut cache.hs), z.bh, first));
    if z.c > 0 {
        planes_to_rows(
            k,
            p,
            z.w,
            c0,
            slot_mut(K::view_mut(&mut cache.cs), z.c, z.c_ends(p).0),
        );
    }
    if z.parallel {
        let (c0, c) = slot_pair(K::view_mut(&mut cache.cs), z.c, 0, 1);
        let block = Block {
            p,
            xg: K::view(&cache.xg),
            hs: K::view_mut(&mut cache.hs),
            c0: K::shorten(c0),
            c,
        };
        return cell.block_forward(k, block);
    }
    // 2. The recurrence.
    let CellCache {
        xg,
        hs,
        cs,
        gates,
        aux,
        gh: scratch,
        w_hh_t,
        ..
    } = cache;
    let (w_step, trans) = match cell.recurrent() {
        true => k.recurrent_weight(b, gh, p.h, K::shorten(w.w_hh), w_hh_t),
        false => (K::shorten(w.w_hh), Trans::Yes), // empty: no step reads it
    };
    let step = StepWeights::<S, K> {
        w: w_step,
        trans,
        b_hh: K::shorten(w.b_hh),
        b,
        h: p.h,
    };
    let steps = || {
        for s in p.order() {
            let (before, after) = p.slots(s);
            let (h_prev, mut h) = slot_pair(K::view_mut(hs), z.bh, before, after);
            let (c_prev, mut c) = slot_pair(K::view_mut(cs), z.c, before, after);
            cell.step(
                k,
                &step,
                Step {
                    xg: slot(K::view(xg), if z.into_gates { 0 } else { z.bg }, s),
                    h_prev: K::shorten(h_prev),
                    c_prev: K::shorten(c_prev),
                    h: K::reborrow(&mut h),
                    c: K::reborrow(&mut c),
                    gates: slot_mut(K::view_mut(gates), z.gates, s),
                    aux: slot_mut(K::view_mut(aux), z.aux, s),
                    scratch: K::view_mut(scratch),
                },
            );
            // Padding carries the state through.
            if let Some(lengths) = p.lengths {
                k.set_padded_rows(lengths, s, Some(h_prev), h);
                k.set_padded_rows(lengths, s, Some(c_prev), c);
            }
        }
    };
    holding_recurrent(k, cell, w_step, (p.h, gh), trans, steps);
}

/// Backward through time over the block [`forward`] computed.
///
/// On entry `cache.dh: (T, B, H)` holds `dL/dh` from above at every step,
/// by time (the caller fills it, see [`CellCache::output_grad`]);
/// `dh_last: (B, H)` and `dc_last: (W, B, H)` are gradients into the final
/// states (`None`: zero). Accumulates the weight gradients into `g`, writes
/// `dL/dh0` into `dh0` and (cells with a cell state) `dL/dc0` into `dc0`,
/// and for dense input adds `dL/dx (T, B, I)` into `dx`.
#[allow(clippy::too_many_arguments)]
pub fn backward<S: Scalar, K: Backend<S>>(
    k: &K,
    w: &CellWeights<'_, S, K>,
    g: CellGrads<'_, S, K>,
    x: Input<'_, S, K>,
    p: &Pass<'_>,
    cache: &mut CellCache<S, K>,
    dh_last: Option<K::Ref<'_>>,
    dc_last: Option<Planes<K::Ref<'_>>>,
    dh0: K::Mut<'_>,
    dc0: Planes<K::Mut<'_>>,
    dx: Option<K::Mut<'_>>,
) {
    with_cell!(p.kind, cell => backward_cell(
        k, &cell, w, g, x, p, cache, dh_last, dc_last, dh0, dc0, dx
    ))
}

#[allow(clippy::too_many_arguments)]
fn backward_cell<S: Scalar, K: Backend<S>, C: Cell>(
    k: &K,
    cell: &C,
    w: &CellWeights<'_, S, K>,
    g: CellGrads<'_, S, K>,
    x: Input<'_, S, K>,
    p: &Pass<'_>,
    cache: &mut CellCache<S, K>,
    dh_last: Option<K::Ref<'_>>,
    dc_last: Option<Planes<K::Ref<'_>>>,
    mut dh0: K::Mut<'_>,
    dc0: Planes<K::Mut<'_>>,
    dx: Option<K::Mut<'_>>,
) {
    let z = Sizes::of(cell, p);
    let (t, b, gh) = (p.t, p.b, z.bg / p.b);
    let last_step = if p.reverse { 0 } else { t - 1 };
    if let Some(d) = dh_last {
        k.add(d, slot_mut(K::view_mut(&mut cache.dh), z.bh, last_step));
    }
    match dc_last {
        Some(d) if z.c > 0 => planes_to_rows(k, p, z.w, d, K::view_mut(&mut cache.dc)),
        _ => k.fill(K::view_mut(&mut cache.dc), S::zero()),
    }
    k.fill(K::reborrow(&mut dh0), S::zero());
    // The gradients that multiply W_hh, written a step at a time, may be
    // prepared for the weight gradient's product as each step's are.
    let rest = |ready: &mut Ready<'_, S, K>| {
        backward_rest(k, cell, w, g, x, p, &z, cache, dh0, dc0, dx, ready);
    };
    match !z.parallel && cell.recurrent() {
        true => k.holding_as_written(Operand::A, (gh, t * b), Trans::Yes, rest),
        false => rest(&mut |_, _| {}),
    }
}

/// [`backward_cell`] from the recurrence on: the recurrence backward, then
/// the weight gradients; `ready` hears of each step's gradients that
/// multiply `W_hh` (see [`Backend::holding_as_written`]).
#[allow(clippy::too_many_arguments)]
fn backward_rest<S: Scalar, K: Backend<S>, C: Cell>(
    k: &K,
    cell: &C,
    w: &CellWeights<'_, S, K>,
    mut g: CellGrads<'_, S, K>,
    x: Input<'_, S, K>,
    p: &Pass<'_>,
    z: &Sizes,
    cache: &mut CellCache<S, K>,
    mut dh0: K::Mut<'_>,
    dc0: Planes<K::Mut<'_>>,
    dx: Option<K::Mut<'_>>,
    ready: &mut Ready<'_, S, K>,
) {
    let (t, b, h, gh) = (p.t, p.b, p.h, z.bg / p.b);
    let i = w.w_ih.len() / gh;
    // 1. The recurrence backward: the whole block at once, or step by step.
    if z.parallel {
        let c = &mut *cache;
        cell.block_backward(
            k,
            BlockBack {
                p,
                xg: K::view(&c.xg),
                hs: K::view(&c.hs),
                c0: slot(K::view(&c.cs), z.c, 0),
                dh: K::view(&c.dh),
                dc: K::view_mut(&mut c.dc),
                dg: K::view_mut(&mut c.dg),
                dh0: K::reborrow(&mut dh0),
            },
        );
    } else {
        steps_backward(k, cell, w.w_hh, p, z, cache, dh0, ready);
    }
    if z.c > 0 {
        rows_to_planes(k, p, z.w, K::view(&cache.dc), dc0);
    }
    let CellCache { hs, dg, dgh, .. } = cache;
    let hidden_side = z.hidden > 0;
    // 2. Weight gradients of every step at once.
    let dgw = if hidden_side {
        K::view(dgh)
    } else {
        K::view(dg)
    };
    let weight_grads = || {
        if cell.recurrent() {
            let before_start = if p.reverse { z.bh } else { 0 };
            let prevs = K::view(hs).sub(before_start..before_start + t * z.bh);
            k.matmul(
                gh,
                h,
                t * b,
                dgw,
                Trans::Yes,
                prevs,
                Trans::No,
                K::reborrow(&mut g.w_hh),
                true,
            );
            cell.mask_recurrent_grad(k, h, g.w_hh);
        }
        match (cell.hidden_bias(), hidden_side) {
            (HiddenBias::None, _) => k.sum_rows_into(K::view(dg), g.b_ih),
            // Both biases take the gates' gradients: one read of them.
            (_, false) => k.sum_rows_into_both(K::view(dg), g.b_ih, g.b_hh),
            (_, true) => {
                k.sum_rows_into(K::view(dg), g.b_ih);
                k.sum_rows_into(dgw, g.b_hh);
            }
        }
        match x {
            Input::Tokens(tok) => k.scatter_add_columns(K::view(dg), tok, g.w_ih, i),
            Input::Dense(xs) => {
                k.matmul(
                    gh,
                    i,
                    t * b,
                    K::view(dg),
                    Trans::Yes,
                    xs,
                    Trans::No,
                    g.w_ih,
                    true,
                );
                if let Some(dx) = dx {
                    k.matmul(
                        t * b,
                        i,
                        gh,
                        K::view(dg),
                        Trans::No,
                        w.w_ih,
                        Trans::No,
                        dx,
                        true,
                    );
                }
            }
        }
    };
    // Where the hidden side's gradients are the input side's, dGᵀ is `A`
    // of both dW_hh's and dW_ih's products: prepared once for both.
    match cell.recurrent() && !hidden_side && matches!(x, Input::Dense(_)) {
        true => k.holding(
            K::view(dg),
            Operand::A,
            (gh, t * b),
            Trans::Yes,
            weight_grads,
        ),
        false => weight_grads(),
    }
}

/// The recurrence backward of a cell that runs step by step: each step's
/// backward in the reverse of the order the forward read, `dL/dh_prev`
/// through `W_hh (G, H)` and the direct path, padded steps passing their
/// gradients through; `dh0` gets what reaches the initial state.
#[allow(clippy::too_many_arguments)]
fn steps_backward<S: Scalar, K: Backend<S>, C: Cell>(
    k: &K,
    cell: &C,
    w_hh: K::Ref<'_>,
    p: &Pass<'_>,
    z: &Sizes,
    cache: &mut CellCache<S, K>,
    mut dh0: K::Mut<'_>,
    ready: &mut Ready<'_, S, K>,
) {
    let (b, h, gh) = (p.b, p.h, z.bg / p.b);
    let CellCache {
        hs,
        cs,
        gates,
        aux,
        dh,
        dg,
        dgh,
        dc,
        dc_keep,
        dprev,
        ..
    } = cache;
    // The gradients that multiply W_hh: the hidden side's where it differs.
    let hidden_side = z.hidden > 0;
    let steps = || {
        for s in p.order().rev() {
            let (before, after) = p.slots(s);
            let (dh_s, mut target) = match p.earlier(s) {
                None => (slot(K::view(dh), z.bh, s), K::reborrow(&mut dh0)),
                Some(e) => slot_pair(K::view_mut(dh), z.bh, s, e),
            };
            if p.lengths.is_some() && z.c > 0 {
                k.copy(K::view(dc), K::view_mut(dc_keep));
            }
            let (dg_all, dgh_all) = (K::view_mut(dg), K::view_mut(dgh));
            let (mut dg_s, mut dgh_s) = (slot_mut(dg_all, z.bg, s), slot_mut(dgh_all, z.hidden, s));
            cell.step_backward(
                k,
                StepBack {
                    b,
                    h_size: h,
                    gates: slot(K::view(gates), z.gates, s),
                    aux: slot(K::view(aux), z.aux, s),
                    h_prev: slot(K::view(hs), z.bh, before),
                    h: slot(K::view(hs), z.bh, after),
                    c_prev: slot(K::view(cs), z.c, before),
                    dh: K::shorten(dh_s),
                    dc: K::view_mut(dc),
                    dg: K::reborrow(&mut dg_s),
                    dgh: K::reborrow(&mut dgh_s),
                    dprev: K::view_mut(dprev),
                },
            );
            // Padded rows: no gate gradient; dL/dh (and dL/dc) pass to the
            // previous step unchanged.
            if let Some(lengths) = p.lengths {
                k.set_padded_rows(lengths, s, None, K::reborrow(&mut dg_s));
                k.set_padded_rows(lengths, s, None, K::reborrow(&mut dgh_s));
                k.set_padded_rows(lengths, s, Some(K::view(dc_keep)), K::view_mut(dc));
                if z.direct > 0 {
                    k.set_padded_rows(lengths, s, Some(dh_s), K::view_mut(dprev));
                } else {
                    k.add_padded_rows(lengths, s, dh_s, K::reborrow(&mut target));
                }
            }
            if z.direct > 0 {
                k.add(K::view(dprev), K::reborrow(&mut target));
            }
            // dL/dh_prev += dgates · W_hh
            if !cell.recurrent() {
                continue;
            }
            let dgw = if hidden_side { dgh_s } else { dg_s }.into_ref();
            ready(dgw, s * b);
            k.matmul(b, h, gh, dgw, Trans::No, w_hh, Trans::No, target, true);
        }
    };
    holding_recurrent(k, cell, w_hh, (gh, h), Trans::No, steps);
}

/// `steps()`, during which the recurrent weight `w` (as `op(b)` of the
/// steps' `(k×n)` products) is held by the backend (see
/// [`Backend::holding`]), where the cell has one.
fn holding_recurrent<S: Scalar, K: Backend<S>, C: Cell>(
    k: &K,
    cell: &C,
    w: K::Ref<'_>,
    kn: (usize, usize),
    t: Trans,
    steps: impl FnOnce(),
) {
    match cell.recurrent() {
        true => k.holding(w, Operand::B, kn, t, steps),
        false => steps(),
    }
}
