//! The mLSTM layer over a block: for each sequence, its window gathered
//! from the input projection in the pass's reading order over its real
//! steps, the parallel form ([`super::window`]) run from its initial
//! state, the output gate applied, padded steps carrying the state; and
//! the backward of all that. A backend with kernels for it (the GPU's:
//! [`Backend::mlstm_block_forward`]) runs the block itself; otherwise the
//! window maths runs here, on the host, in place for the CPU and through
//! copies for a backend with its own memory.

use super::window::{self, Dims, InputGrads, Inputs, MlstmState, MlstmWorkspace, Upstream};
use super::{HEADS, Mlstm};
use std::borrow::Cow;

use crate::backend::{Backend, ViewMut, to_host};
use crate::cell::math::sigmoid;
use crate::cell::{Block, BlockBack, Cell, Pass};
use crate::tensor::Scalar;

use rayon::prelude::*;

/// A layer's sizes: H units in [`HEADS`] heads of d, G rows of `xg`.
#[derive(Clone, Copy, Debug)]
struct Shape {
    h: usize,
    d: usize,
    g: usize,
}

impl Shape {
    fn of(h: usize) -> Shape {
        Shape {
            h,
            d: h / HEADS,
            g: Mlstm.rows(h),
        }
    }
    /// Values in one sequence's state row `(d + 2)·H`: `C`, `n`, `m`.
    fn width(&self) -> usize {
        Mlstm.state_width(self.h) * self.h
    }
    /// One sequence's window.
    fn dims(&self) -> Dims {
        Dims {
            b: 1,
            heads: HEADS,
            d: self.d,
        }
    }
    /// Where `m`'s plane starts in a state row.
    fn m_at(&self) -> usize {
        (self.d + 1) * self.h
    }
}

/// One sequence's window: its real steps in reading order and their
/// inputs `q, k, v, õ: (T', H)`, `ĩ, f̃: (T', NH)`.
struct Seq<S> {
    steps: Vec<usize>,
    q: Vec<S>,
    k: Vec<S>,
    v: Vec<S>,
    o: Vec<S>,
    i: Vec<S>,
    f: Vec<S>,
}

impl<S: Scalar> Seq<S> {
    /// Sequence `b` of the block `xg: (T, B, G)`.
    fn gather(p: &Pass<'_>, sh: Shape, xg: &[S], b: usize) -> Seq<S> {
        let len = p.lengths.map_or(p.t, |l| l[b].min(p.t));
        let steps: Vec<usize> = p.order().filter(|&s| s < len).collect();
        let h = sh.h;
        let mut seq = Seq {
            q: Vec::with_capacity(len * h),
            k: Vec::with_capacity(len * h),
            v: Vec::with_capacity(len * h),
            o: Vec::with_capacity(len * h),
            i: Vec::with_capacity(len * HEADS),
            f: Vec::with_capacity(len * HEADS),
            steps,
        };
        for &s in &seq.steps {
            let row = &xg[(s * p.b + b) * sh.g..][..sh.g];
            seq.q.extend_from_slice(&row[..h]);
            seq.k.extend_from_slice(&row[h..2 * h]);
            seq.v.extend_from_slice(&row[2 * h..3 * h]);
            seq.o.extend_from_slice(&row[3 * h..4 * h]);
            seq.i.extend_from_slice(&row[4 * h..4 * h + HEADS]);
            seq.f.extend_from_slice(&row[4 * h + HEADS..]);
        }
        seq
    }

    fn inputs(&self) -> Inputs<'_, S> {
        Inputs {
            q: &self.q,
            k: &self.k,
            v: &self.v,
            i: &self.i,
            f: &self.f,
        }
    }

    /// `h̃: (T', H)` and the final state from `init`: for one step (a
    /// token of generation) the recurrent form's step, else the parallel
    /// form (see [`Seq::run`]).
    fn outputs(&self, sh: Shape, init: &MlstmState<S>) -> (Vec<S>, MlstmState<S>) {
        if self.steps.len() == 1 {
            let (mut state, mut h) = (init.clone(), vec![S::zero(); sh.h]);
            window::step(sh.dims(), &self.inputs(), &mut state, &mut h);
            return (h, state);
        }
        let (_, h, last) = self.run(sh, init);
        (h, last)
    }

    /// The parallel form from `init`: the workspace as the forward left
    /// it, `h̃: (T', H)` and the final state.
    fn run(&self, sh: Shape, init: &MlstmState<S>) -> (MlstmWorkspace<S>, Vec<S>, MlstmState<S>) {
        let mut ws = MlstmWorkspace::new(sh.dims(), self.steps.len());
        let (mut h, mut last) = (vec![S::zero(); self.q.len()], MlstmState::zeros(sh.dims()));
        window::forward(&mut ws, &self.inputs(), init, &mut h, &mut last);
        (ws, h, last)
    }
}

/// A state row `(W·H)` as the window's state: `m` from each head's first
/// column of its plane.
fn state_from_row<S: Scalar>(sh: Shape, row: &[S]) -> MlstmState<S> {
    let cn = sh.h * sh.d;
    MlstmState {
        c: row[..cn].to_vec(),
        n: row[cn..cn + sh.h].to_vec(),
        m: (0..HEADS).map(|hd| row[sh.m_at() + hd * sh.d]).collect(),
    }
}

/// The inverse of [`state_from_row`]: each head's `m` in all its columns.
fn state_to_row<S: Scalar>(sh: Shape, s: &MlstmState<S>, row: &mut [S]) {
    let cn = sh.h * sh.d;
    row[..cn].copy_from_slice(&s.c);
    row[cn..cn + sh.h].copy_from_slice(&s.n);
    for (hd, &m) in s.m.iter().enumerate() {
        row[sh.m_at() + hd * sh.d..][..sh.d].fill(m);
    }
}

/// The gradient of a state row written by [`state_to_row`]: `m`'s is the
/// sum over the head's columns.
fn grad_from_row<S: Scalar>(sh: Shape, row: &[S]) -> MlstmState<S> {
    let mut g = state_from_row(sh, row);
    for (hd, m) in g.m.iter_mut().enumerate() {
        *m = row[sh.m_at() + hd * sh.d..][..sh.d].iter().copied().sum();
    }
    g
}

/// The gradient of a state row read by [`state_from_row`]: `m`'s in the
/// head's first column, zero in the others.
fn grad_to_row<S: Scalar>(sh: Shape, g: &MlstmState<S>, row: &mut [S]) {
    state_to_row(sh, g, row);
    for (hd, &m) in g.m.iter().enumerate() {
        let cols = &mut row[sh.m_at() + hd * sh.d..][..sh.d];
        cols.fill(S::zero());
        cols[0] = m;
    }
}

/// `view` on the host: borrowed where the backend keeps it there, else
/// downloaded.
fn host<'a, S: Scalar, K: Backend<S>>(k: &K, view: K::Ref<'a>) -> Cow<'a, [S]> {
    match K::host_ref(view) {
        Some(values) => Cow::Borrowed(values),
        None => Cow::Owned(to_host(k, view)),
    }
}

/// Run `f` on the values of `dst` on the host: in place where the backend
/// keeps them there, else on a downloaded copy that then goes back.
fn with_host<S: Scalar, K: Backend<S>>(k: &K, mut dst: K::Mut<'_>, f: impl FnOnce(&mut [S])) {
    if let Some(values) = K::host_mut(K::reborrow(&mut dst)) {
        return f(values);
    }
    let mut values = to_host(k, K::reborrow(&mut dst).into_ref());
    f(&mut values);
    let mut staging = K::Buf::default();
    k.copy(k.host_view(&values, &mut staging), dst);
}

/// See [`crate::cell::Cell::block_forward`].
pub(super) fn forward<S: Scalar, K: Backend<S>>(k: &K, mut b: Block<'_, S, K>) {
    let (hs, c) = (K::reborrow(&mut b.hs), K::reborrow(&mut b.c));
    if k.mlstm_block_forward(&super::block_shape(b.p), b.xg, b.c0, hs, c) {
        return;
    }
    let (xg, c0) = (host(k, b.xg), host(k, b.c0));
    with_host(k, b.hs, |hs| {
        with_host(k, b.c, |c| forward_on_host(b.p, &xg, &c0, hs, c));
    });
}

/// [`forward`] on host slices: `xg: (T, B, G)`, `c0, c: (B, W·H)`, `hs:
/// (T+1, B, H)` with the initial state in place. The sequences run in
/// parallel, each over its own window; their results are written after.
fn forward_on_host<S: Scalar>(p: &Pass<'_>, xg: &[S], c0: &[S], hs: &mut [S], c: &mut [S]) {
    let sh = Shape::of(p.h);
    let (bh, w) = (p.b * p.h, sh.width());
    let runs: Vec<_> = (0..p.b)
        .into_par_iter()
        .map(|r| {
            let seq = Seq::gather(p, sh, xg, r);
            let init = &c0[r * w..(r + 1) * w];
            let mut last = init.to_vec();
            if seq.steps.is_empty() {
                return (seq, Vec::new(), last);
            }
            let (mut ht, state) = seq.outputs(sh, &state_from_row(sh, init));
            // h = σ(õ) ⊙ h̃
            ht.iter_mut()
                .zip(&seq.o)
                .for_each(|(h, &o)| *h *= sigmoid(o));
            state_to_row(sh, &state, &mut last);
            (seq, ht, last)
        })
        .collect();
    for (r, (seq, h, last)) in runs.into_iter().enumerate() {
        for (j, &s) in seq.steps.iter().enumerate() {
            hs[p.slots(s).1 * bh + r * p.h..][..p.h].copy_from_slice(&h[j * p.h..][..p.h]);
        }
        c[r * w..(r + 1) * w].copy_from_slice(&last);
        // Padded steps carry h through (the state already is: the window
        // has only the real steps).
        let len = seq.steps.len();
        for s in p.order().filter(|&s| s >= len) {
            let (before, after) = p.slots(s);
            let from = before * bh + r * p.h;
            hs.copy_within(from..from + p.h, after * bh + r * p.h);
        }
    }
}

/// See [`crate::cell::Cell::block_backward`]. The window's forward runs
/// again here (its workspace is not kept between the passes).
pub(super) fn backward<S: Scalar, K: Backend<S>>(k: &K, mut b: BlockBack<'_, S, K>) {
    let m = super::block_shape(b.p);
    let (dc, dg, dh0) = (
        K::reborrow(&mut b.dc),
        K::reborrow(&mut b.dg),
        K::reborrow(&mut b.dh0),
    );
    if k.mlstm_block_backward(&m, b.xg, b.c0, b.dh, dc, dg, dh0) {
        return;
    }
    let (xg, c0, dh) = (host(k, b.xg), host(k, b.c0), host(k, b.dh));
    with_host(k, b.dg, |dg| {
        with_host(k, b.dc, |dc| {
            with_host(k, b.dh0, |dh0| {
                backward_on_host(b.p, &xg, &c0, &dh, dc, dg, dh0)
            });
        });
    });
}

/// One sequence's part of the backward: its real steps, `dg` at them
/// `(T', G)`, `dL/dc0` (`None`: the final state's passes through) and
/// what reaches `h0` `(H)`.
struct SeqGrads<S> {
    steps: Vec<usize>,
    dg: Vec<S>,
    dc0: Option<Vec<S>>,
    dh0: Vec<S>,
}

/// The backward of sequence `r` (see [`backward_on_host`]).
fn seq_backward<S: Scalar>(
    p: &Pass<'_>,
    sh: Shape,
    (xg, c0, dh, dc): (&[S], &[S], &[S], &[S]),
    r: usize,
) -> SeqGrads<S> {
    let (h, w) = (p.h, sh.width());
    let seq = Seq::gather(p, sh, xg, r);
    let len = seq.steps.len();
    // dL/dh at each real step, with what the padded steps after it (in
    // reading order) carried; padded steps before the first real one
    // carried h0.
    let (mut dh_seq, mut carry) = (vec![S::zero(); len * h], vec![S::zero(); h]);
    for s in p.order().rev() {
        let d = &dh[(s * p.b + r) * h..][..h];
        carry.iter_mut().zip(d).for_each(|(c, &x)| *c += x);
        if s < len {
            let j = if p.reverse { len - 1 - s } else { s };
            dh_seq[j * h..(j + 1) * h].copy_from_slice(&carry);
            carry.fill(S::zero());
        }
    }
    let mut out = SeqGrads {
        steps: Vec::new(),
        dg: Vec::new(),
        dc0: None,
        dh0: carry,
    };
    if len == 0 {
        return out;
    }
    let init = state_from_row(sh, &c0[r * w..(r + 1) * w]);
    let (mut ws, ht, _) = seq.run(sh, &init);
    // h = σ(õ) ⊙ h̃
    let mut d_o = vec![S::zero(); len * h];
    for ((dh, d_o), (&o, &ht)) in dh_seq.iter_mut().zip(&mut d_o).zip(seq.o.iter().zip(&ht)) {
        let so = sigmoid(o);
        *d_o = *dh * ht * so * (S::one() - so);
        *dh *= so;
    }
    let dlast = grad_from_row(sh, &dc[r * w..(r + 1) * w]);
    let mut dinit = MlstmState::zeros(sh.dims());
    let zeros = |n: usize| vec![S::zero(); n];
    let (mut dq, mut dk, mut dv) = (zeros(len * h), zeros(len * h), zeros(len * h));
    let (mut di, mut df) = (zeros(len * HEADS), zeros(len * HEADS));
    let up = Upstream {
        dh: &dh_seq,
        last: Some(&dlast),
    };
    let grads = InputGrads {
        q: &mut dq,
        k: &mut dk,
        v: &mut dv,
        i: &mut di,
        f: &mut df,
    };
    window::backward(&mut ws, &seq.inputs(), &init, &ht, up, grads, &mut dinit);
    out.dg = Vec::with_capacity(len * sh.g);
    for j in 0..len {
        for (src, n) in [
            (&dq, h),
            (&dk, h),
            (&dv, h),
            (&d_o, h),
            (&di, HEADS),
            (&df, HEADS),
        ] {
            out.dg.extend_from_slice(&src[j * n..(j + 1) * n]);
        }
    }
    let mut row = zeros(w);
    grad_to_row(sh, &dinit, &mut row);
    (out.steps, out.dc0) = (seq.steps, Some(row));
    out
}

/// [`backward`] on host slices: `dh: (T, B, H)`, `dc: (B, W·H)` (the final
/// state's gradient in, the initial one's out), `dg: (T, B, G)` written,
/// `dh0: (B, H)` added to. The sequences run in parallel.
#[allow(clippy::too_many_arguments)]
fn backward_on_host<S: Scalar>(
    p: &Pass<'_>,
    xg: &[S],
    c0: &[S],
    dh: &[S],
    dc: &mut [S],
    dg: &mut [S],
    dh0: &mut [S],
) {
    let sh = Shape::of(p.h);
    let (h, w) = (p.h, sh.width());
    let ins = (xg, c0, dh, &*dc);
    let runs: Vec<SeqGrads<S>> = (0..p.b)
        .into_par_iter()
        .map(|r| seq_backward(p, sh, ins, r))
        .collect();
    dg.fill(S::zero());
    for (r, run) in runs.into_iter().enumerate() {
        for (j, &s) in run.steps.iter().enumerate() {
            dg[(s * p.b + r) * sh.g..][..sh.g].copy_from_slice(&run.dg[j * sh.g..][..sh.g]);
        }
        if let Some(row) = run.dc0 {
            dc[r * w..(r + 1) * w].copy_from_slice(&row);
        }
        let d0 = &mut dh0[r * h..(r + 1) * h];
        d0.iter_mut().zip(&run.dh0).for_each(|(d, &c)| *d += c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_row_holds_c_n_and_each_heads_m_in_its_columns() {
        // H = 8: 4 heads of d = 2; a row is C (16), n (8), m (8).
        let sh = Shape::of(8);
        let s = MlstmState {
            c: (0..16).map(f64::from).collect(),
            n: (16..24).map(f64::from).collect(),
            m: vec![1.0, 2.0, 3.0, 4.0],
        };
        let mut row = vec![0.0; sh.width()];
        state_to_row(sh, &s, &mut row);
        assert_eq!(row[..24], (0..24).map(f64::from).collect::<Vec<_>>()[..]);
        assert_eq!(row[24..], [1.0, 1.0, 2.0, 2.0, 3.0, 3.0, 4.0, 4.0]);
        assert_eq!(state_from_row(sh, &row), s);
        // m is written into every column and read from the first: its
        // gradient in is the columns' sum, out in the first column alone.
        let g = grad_from_row(sh, &row);
        assert_eq!(g.m, [2.0, 4.0, 6.0, 8.0]);
        let mut back = vec![9.0; sh.width()];
        grad_to_row(sh, &g, &mut back);
        assert_eq!(back[24..], [2.0, 0.0, 4.0, 0.0, 6.0, 0.0, 8.0, 0.0]);
        assert_eq!(back[..24], row[..24]);
    }
}
