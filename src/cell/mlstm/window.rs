//! The mLSTM over a window of many sequences and heads: the shapes, the
//! state, the inputs and their gradients, the workspace, and the drivers
//! that gather each (sequence, head) into contiguous rows for the
//! per-head maths of [`super::head`] ([`forward`], [`backward`]), and the
//! recurrent form's step ([`step`]) for generation.
//!
//! **Chunkwise.** The parallel form of a window of T steps costs `O(T²d)`
//! per head. The drivers cut the window into chunks of at most `L` steps
//! ([`CHUNK`] unless [`MlstmWorkspace::chunked`] says otherwise) and run
//! the parallel form on each from the state the chunk before left (the
//! per-head functions take an initial state): `O(T·L·d + T·d²)`, linear in
//! T, with `O(L²)` scratch. The backward runs the chunks in reverse, each
//! handing `dL/d(its initial state)` to the one before as the gradient of
//! its final state. The numbers are the recurrent form's whatever `L` is
//! (the tests show it); only rounding differs.

use std::ops::Range;

use super::head::*;
use crate::tensor::Scalar;

/// Steps per chunk of the chunkwise form (see the module docs): measured
/// on this project's 2-core machine, `recur bench --model mlstm --layers 1
/// --hidden 256 --batch 32 --seq-len 512` (README, "xLSTM's mLSTM").
pub const CHUNK: usize = 32;

/// The layer's shape: B sequences, NH heads of d units (H = NH·d).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dims {
    /// B: sequences.
    pub b: usize,
    /// NH: heads.
    pub heads: usize,
    /// d: units per head.
    pub d: usize,
}

impl Dims {
    /// H = NH·d.
    pub fn hidden(&self) -> usize {
        self.heads * self.d
    }
}

/// The memory of every (sequence, head); also the type of its gradient.
#[derive(Clone, Debug, PartialEq)]
pub struct MlstmState<S> {
    /// `C: (B, NH, d, d)`, `C[i][j]` pairing key unit `i` with value unit `j`.
    pub c: Vec<S>,
    /// `n: (B, NH, d)`.
    pub n: Vec<S>,
    /// `m: (B, NH)`.
    pub m: Vec<S>,
}

/// An empty state (of no sequences), to take the place of one moved out.
impl<S> Default for MlstmState<S> {
    fn default() -> Self {
        MlstmState {
            c: Vec::new(),
            n: Vec::new(),
            m: Vec::new(),
        }
    }
}

impl<S: Scalar> MlstmState<S> {
    /// The fresh state `C = 0, n = 0, m = 0`.
    pub fn zeros(dims: Dims) -> Self {
        let bh = dims.b * dims.heads;
        MlstmState {
            c: vec![S::zero(); bh * dims.d * dims.d],
            n: vec![S::zero(); bh * dims.d],
            m: vec![S::zero(); bh],
        }
    }

    /// The state of (sequence, head) number `bh = b·NH + head`.
    fn head(&self, bh: usize, d: usize) -> HeadState<'_, S> {
        HeadState {
            c: &self.c[bh * d * d..(bh + 1) * d * d],
            n: &self.n[bh * d..(bh + 1) * d],
            m: self.m[bh],
        }
    }

    /// The same, to write.
    fn head_mut(&mut self, bh: usize, d: usize) -> HeadStateMut<'_, S> {
        HeadStateMut {
            c: &mut self.c[bh * d * d..(bh + 1) * d * d],
            n: &mut self.n[bh * d..(bh + 1) * d],
            m: &mut self.m[bh],
        }
    }
}

/// A window's inputs (from the layer's input projection), time-major.
#[derive(Clone, Copy, Debug)]
pub struct Inputs<'a, S> {
    /// Queries `q: (T, B, H)`.
    pub q: &'a [S],
    /// Keys `k: (T, B, H)`, as projected: the functions divide them by √d.
    pub k: &'a [S],
    /// Values `v: (T, B, H)`.
    pub v: &'a [S],
    /// Input-gate pre-activations `ĩ: (T, B, NH)`.
    pub i: &'a [S],
    /// Forget-gate pre-activations `f̃: (T, B, NH)`.
    pub f: &'a [S],
}

/// The gradients of [`Inputs`], same shapes (overwritten; `k`'s is with
/// respect to the keys as projected, before the division by √d).
#[derive(Debug)]
pub struct InputGrads<'a, S> {
    /// `dq: (T, B, H)`.
    pub q: &'a mut [S],
    /// `dk: (T, B, H)`.
    pub k: &'a mut [S],
    /// `dv: (T, B, H)`.
    pub v: &'a mut [S],
    /// `dĩ: (T, B, NH)`.
    pub i: &'a mut [S],
    /// `df̃: (T, B, NH)`.
    pub f: &'a mut [S],
}

/// What flows into [`backward`] from above.
#[derive(Clone, Copy, Debug)]
pub struct Upstream<'a, S> {
    /// `dL/dh̃: (T, B, H)`.
    pub dh: &'a [S],
    /// `dL/d(C_T, n_T, m_T)`, or `None` when the loss does not read the
    /// final state.
    pub last: Option<&'a MlstmState<S>>,
}

/// Everything [`forward`] and [`backward`] use besides their arguments,
/// for one window shape: allocated once by [`MlstmWorkspace::new`], then
/// reused (neither function allocates).
#[derive(Clone, Debug)]
pub struct MlstmWorkspace<S> {
    dims: Dims,
    t: usize,
    /// L: steps per chunk.
    chunk: usize,
    /// `F_t, m_t, z_t: (B, NH, T)` and the argmax `(B, NH, T)`, kept by
    /// the forward for the backward; each chunk's rows are its own (`F`
    /// sums from the chunk's start, the argmax counts in the chunk).
    log_f: Vec<S>,
    m: Vec<S>,
    z: Vec<S>,
    arg: Vec<usize>,
    /// The state each chunk starts from, kept by the forward.
    starts: Vec<MlstmState<S>>,
    /// The gradient handed from one chunk to the one before it.
    carry: MlstmState<S>,
    /// One head's chunk gathered: `q, k/√d, v, h̃, dh̃, dq, dk, dv: (L, d)`,
    /// `ĩ, f̃, dĩ, df̃: (L)`.
    q: Vec<S>,
    k: Vec<S>,
    v: Vec<S>,
    h: Vec<S>,
    dh: Vec<S>,
    dq: Vec<S>,
    dk: Vec<S>,
    dv: Vec<S>,
    i: Vec<S>,
    f: Vec<S>,
    di: Vec<S>,
    df: Vec<S>,
    scratch: Scratch<S>,
}

impl<S: Scalar> MlstmWorkspace<S> {
    /// A workspace for windows of `t` steps of layers of shape `dims`, in
    /// chunks of [`CHUNK`] steps.
    pub fn new(dims: Dims, t: usize) -> Self {
        Self::chunked(dims, t, CHUNK)
    }

    /// The same in chunks of `chunk` steps (at least 1); `chunk >= t` runs
    /// the window's parallel form at once.
    pub fn chunked(dims: Dims, t: usize, chunk: usize) -> Self {
        let chunk = chunk.clamp(1, t.max(1));
        let (bh, ld) = (dims.b * dims.heads, chunk * dims.d);
        let z = || vec![S::zero(); ld];
        let mut ws = MlstmWorkspace {
            dims,
            t,
            chunk,
            log_f: vec![S::zero(); bh * t],
            m: vec![S::zero(); bh * t],
            z: vec![S::zero(); bh * t],
            arg: vec![0; bh * t],
            starts: Vec::new(),
            carry: MlstmState::zeros(dims),
            q: z(),
            k: z(),
            v: z(),
            h: z(),
            dh: z(),
            dq: z(),
            dk: z(),
            dv: z(),
            i: vec![S::zero(); chunk],
            f: vec![S::zero(); chunk],
            di: vec![S::zero(); chunk],
            df: vec![S::zero(); chunk],
            scratch: Scratch::new(chunk, dims.d),
        };
        ws.starts = vec![MlstmState::zeros(dims); ws.chunks()];
        ws
    }

    /// Chunks in a window: at least one (empty for an empty window).
    fn chunks(&self) -> usize {
        self.t.div_ceil(self.chunk).max(1)
    }

    /// The steps of chunk `c`.
    fn chunk_rows(&self, c: usize) -> Range<usize> {
        (c * self.chunk).min(self.t)..((c + 1) * self.chunk).min(self.t)
    }

    /// Size the per-head buffers for a chunk of `n` steps (within the
    /// capacity [`MlstmWorkspace::chunked`] allocated: no allocation).
    fn set_steps(&mut self, n: usize) {
        let nd = n * self.dims.d;
        for buf in [
            &mut self.q,
            &mut self.k,
            &mut self.v,
            &mut self.h,
            &mut self.dh,
            &mut self.dq,
            &mut self.dk,
            &mut self.dv,
        ] {
            buf.resize(nd, S::zero());
        }
        for buf in [&mut self.i, &mut self.f, &mut self.di, &mut self.df] {
            buf.resize(n, S::zero());
        }
        self.scratch.set_steps(n);
    }

    /// The layer's shape.
    pub fn dims(&self) -> Dims {
        self.dims
    }

    /// T: the window's steps.
    pub fn steps(&self) -> usize {
        self.t
    }

    /// The last forward's stabilizers `m_t: (B, NH, T)`.
    pub fn stabilizers(&self) -> &[S] {
        &self.m
    }

    /// The last forward's argmax of each `m_t: (B, NH, T)` (see
    /// [`HeadRecord::arg`]).
    pub fn argmax(&self) -> &[usize] {
        &self.arg
    }

    /// Copy steps `rows` of (sequence `b`, head `hd`) into the head
    /// buffers: `q, k/√d, v` from `(T, B, H)`, `ĩ, f̃` from `(T, B, NH)`.
    fn gather(&mut self, x: &Inputs<'_, S>, b: usize, hd: usize, rows: Range<usize>) {
        let Dims { b: bn, heads, d } = self.dims;
        let (hn, scale) = (heads * d, S::one() / S::of(d as f64).sqrt());
        for (j, t) in rows.enumerate() {
            let (src, dst) = ((t * bn + b) * hn + hd * d, j * d);
            self.q[dst..dst + d].copy_from_slice(&x.q[src..src + d]);
            self.v[dst..dst + d].copy_from_slice(&x.v[src..src + d]);
            for c in 0..d {
                self.k[dst + c] = x.k[src + c] * scale;
            }
            self.i[j] = x.i[(t * bn + b) * heads + hd];
            self.f[j] = x.f[(t * bn + b) * heads + hd];
        }
    }

    /// Copy steps `rows` of (sequence `b`, head `hd`) of a `(T, B, H)`
    /// buffer into the head's `(L, d)` rows `dst`.
    fn gather_rows(&self, src: &[S], b: usize, hd: usize, rows: Range<usize>, dst: &mut [S]) {
        let Dims { b: bn, heads, d } = self.dims;
        for (j, t) in rows.enumerate() {
            let from = (t * bn + b) * heads * d + hd * d;
            dst[j * d..(j + 1) * d].copy_from_slice(&src[from..from + d]);
        }
    }

    /// Copy the head's `(L, d)` rows `src`, times `scale`, into steps
    /// `rows` of (sequence `b`, head `hd`) of a `(T, B, H)` buffer.
    fn scatter_rows(
        &self,
        src: &[S],
        scale: S,
        (b, hd): (usize, usize),
        rows: Range<usize>,
        dst: &mut [S],
    ) {
        let Dims { b: bn, heads, d } = self.dims;
        for (j, t) in rows.enumerate() {
            let to = (t * bn + b) * heads * d + hd * d;
            for c in 0..d {
                dst[to + c] = src[j * d + c] * scale;
            }
        }
    }

    /// Copy the head's `(L)` values `src` into steps `rows` of (sequence
    /// `b`, head `hd`) of a `(T, B, NH)` buffer.
    fn scatter_gate(&self, src: &[S], b: usize, hd: usize, rows: Range<usize>, dst: &mut [S]) {
        let Dims { b: bn, heads, .. } = self.dims;
        for (j, t) in rows.enumerate() {
            dst[(t * bn + b) * heads + hd] = src[j];
        }
    }

    /// Panics unless the inputs and a state have the workspace's shapes
    /// (callers check the rest with [`expect_len`]); returns the sizes of
    /// a `(T, B, H)` buffer and of a state's `C`.
    fn check(&self, x: &Inputs<'_, S>, init: &MlstmState<S>) -> (usize, usize) {
        let (bh, d, t) = (self.dims.b * self.dims.heads, self.dims.d, self.t);
        for (name, len, want) in [
            ("q", x.q.len(), t * bh * d),
            ("k", x.k.len(), t * bh * d),
            ("v", x.v.len(), t * bh * d),
            ("ĩ", x.i.len(), t * bh),
            ("f̃", x.f.len(), t * bh),
            ("C", init.c.len(), bh * d * d),
            ("n", init.n.len(), bh * d),
            ("m", init.m.len(), bh),
        ] {
            expect_len(name, len, want);
        }
        (t * bh * d, bh * d * d)
    }
}

/// Panics with the buffer's name unless `len == want` (a wrong shape is a
/// bug in the calling layer, not something a user feeds in).
fn expect_len(name: &str, len: usize, want: usize) {
    assert_eq!(len, want, "mlstm: {name} has {len} values, want {want}");
}

/// The parallel form over a window, chunk by chunk (see the module docs):
/// `h̃: (T, B, H)` and the final state `last` from the inputs `x` and the
/// initial state `init` (`(B, NH, ·)`, see [`MlstmState`]); keeps in `ws`
/// what [`backward`] needs.
pub fn forward<S: Scalar>(
    ws: &mut MlstmWorkspace<S>,
    x: &Inputs<'_, S>,
    init: &MlstmState<S>,
    h: &mut [S],
    last: &mut MlstmState<S>,
) {
    let (th, cc) = ws.check(x, init);
    expect_len("h̃", h.len(), th);
    expect_len("C_T", last.c.len(), cc);
    let Dims { b: bn, heads, d } = ws.dims;
    let t = ws.t;
    let (mut hh, mut starts) = (std::mem::take(&mut ws.h), std::mem::take(&mut ws.starts));
    starts[0].clone_from(init);
    for c in 0..ws.chunks() {
        let rows = ws.chunk_rows(c);
        ws.set_steps(rows.len());
        hh.resize(rows.len() * d, S::zero());
        let (before, after) = starts.split_at_mut(c + 1);
        let (from, to) = (&before[c], after.first_mut().unwrap_or(&mut *last));
        for b in 0..bn {
            for hd in 0..heads {
                let bh = b * heads + hd;
                ws.gather(x, b, hd, rows.clone());
                let kept = bh * t + rows.start..bh * t + rows.end;
                let hx = HeadInputs {
                    q: &ws.q,
                    k: &ws.k,
                    v: &ws.v,
                    i: &ws.i,
                    f: &ws.f,
                };
                let rec = HeadRecord {
                    log_f: &mut ws.log_f[kept.clone()],
                    m: &mut ws.m[kept.clone()],
                    z: &mut ws.z[kept.clone()],
                    arg: &mut ws.arg[kept],
                };
                let (start, out) = (from.head(bh, d), to.head_mut(bh, d));
                head_forward(hx, start, &mut hh, out, rec, &mut ws.scratch);
                ws.scatter_rows(&hh, S::one(), (b, hd), rows.clone(), h);
            }
        }
    }
    (ws.h, ws.starts) = (hh, starts);
}

/// The backward of [`forward`] (called with the same `x`, `init`, the
/// `h̃` it wrote, and `ws` as it left it): the input gradients `dx` and
/// `dinit = dL/d(C0, n0, m0)` (overwritten) from `up`.
pub fn backward<S: Scalar>(
    ws: &mut MlstmWorkspace<S>,
    x: &Inputs<'_, S>,
    init: &MlstmState<S>,
    h: &[S],
    up: Upstream<'_, S>,
    dx: InputGrads<'_, S>,
    dinit: &mut MlstmState<S>,
) {
    let (th, cc) = ws.check(x, init);
    for (name, len) in [("h̃", h.len()), ("dh̃", up.dh.len()), ("dq", dx.q.len())] {
        expect_len(name, len, th);
    }
    for (name, len) in [("dk", dx.k.len()), ("dv", dx.v.len())] {
        expect_len(name, len, th);
    }
    expect_len("dĩ", dx.i.len(), x.i.len());
    expect_len("df̃", dx.f.len(), x.f.len());
    expect_len("dC0", dinit.c.len(), cc);
    let Dims { b: bn, heads, d } = ws.dims;
    let (t, chunks) = (ws.t, ws.chunks());
    let scale = S::one() / S::of(d as f64).sqrt();
    let (mut hh, mut dhh) = (std::mem::take(&mut ws.h), std::mem::take(&mut ws.dh));
    let mut carry = std::mem::take(&mut ws.carry);
    for c in (0..chunks).rev() {
        let rows = ws.chunk_rows(c);
        ws.set_steps(rows.len());
        hh.resize(rows.len() * d, S::zero());
        dhh.resize(rows.len() * d, S::zero());
        // The last chunk's final state is the window's; each other's is
        // the next chunk's initial state, whose gradient `carry` holds.
        let dlast = if c + 1 == chunks {
            up.last
        } else {
            Some(&carry)
        };
        for b in 0..bn {
            for hd in 0..heads {
                let bh = b * heads + hd;
                ws.gather(x, b, hd, rows.clone());
                ws.gather_rows(h, b, hd, rows.clone(), &mut hh);
                ws.gather_rows(up.dh, b, hd, rows.clone(), &mut dhh);
                let kept = bh * t + rows.start..bh * t + rows.end;
                let hx = HeadInputs {
                    q: &ws.q,
                    k: &ws.k,
                    v: &ws.v,
                    i: &ws.i,
                    f: &ws.f,
                };
                let rec = Saved {
                    log_f: &ws.log_f[kept.clone()],
                    m: &ws.m[kept.clone()],
                    z: &ws.z[kept.clone()],
                    arg: &ws.arg[kept],
                };
                let outs = HeadOut { h: &hh, dh: &dhh };
                let grads = HeadGrads {
                    q: &mut ws.dq,
                    k: &mut ws.dk,
                    v: &mut ws.dv,
                    i: &mut ws.di,
                    f: &mut ws.df,
                };
                let start = ws.starts[c].head(bh, d);
                let dst = dinit.head_mut(bh, d);
                let dlast = dlast.map(|s| s.head(bh, d));
                head_backward(hx, start, outs, dlast, rec, grads, dst, &mut ws.scratch);
                let at = (b, hd);
                ws.scatter_rows(&ws.dq, S::one(), at, rows.clone(), dx.q);
                // dL/dk = dL/d(k/√d) / √d.
                ws.scatter_rows(&ws.dk, scale, at, rows.clone(), dx.k);
                ws.scatter_rows(&ws.dv, S::one(), at, rows.clone(), dx.v);
                ws.scatter_gate(&ws.di, b, hd, rows.clone(), dx.i);
                ws.scatter_gate(&ws.df, b, hd, rows.clone(), dx.f);
            }
        }
        carry.clone_from(dinit);
    }
    (ws.h, ws.dh, ws.carry) = (hh, dhh, carry);
}

/// The recurrent form, one step for every (sequence, head): `x` holds one
/// step (`q, k, v: (B, H)`, `ĩ, f̃: (B, NH)`), `state` (`(B, NH, ·)`) is
/// advanced in place and `h̃: (B, H)` written. For generation.
pub fn step<S: Scalar>(dims: Dims, x: &Inputs<'_, S>, state: &mut MlstmState<S>, h: &mut [S]) {
    let Dims { b: bn, heads, d } = dims;
    let scale = S::one() / S::of(d as f64).sqrt();
    assert_eq!(x.q.len(), bn * heads * d, "mlstm step: q is not (B, H)");
    assert_eq!(x.i.len(), bn * heads, "mlstm step: ĩ is not (B, NH)");
    for bh in 0..bn * heads {
        let cols = bh * d..(bh + 1) * d;
        let s = state.head_mut(bh, d);
        let (q, k, v) = (&x.q[cols.clone()], &x.k[cols.clone()], &x.v[cols.clone()]);
        head_step(q, k, v, scale, (x.i[bh], x.f[bh]), s, &mut h[cols]);
    }
}

/// One head, one step of the recurrent form: `q, k, v: (d)` (`k` as
/// projected, times `scale = 1/√d` here), the pre-activations `(ĩ, f̃)`,
/// the state advanced in place, `h̃: (d)` written.
fn head_step<S: Scalar>(
    q: &[S],
    k: &[S],
    v: &[S],
    scale: S,
    (ig, fg): (S, S),
    s: HeadStateMut<'_, S>,
    h: &mut [S],
) {
    let d = q.len();
    let a = *s.m + log_sigmoid(fg);
    let m = if ig >= a { ig } else { a };
    let (f, i) = ((a - m).exp_fast(), (ig - m).exp_fast());
    *s.m = m;
    h.fill(S::zero());
    let mut qn = S::zero();
    for r in 0..d {
        let ik = i * k[r] * scale;
        s.n[r] = f * s.n[r] + ik;
        qn += q[r] * s.n[r];
        let row = &mut s.c[r * d..(r + 1) * d];
        for j in 0..d {
            row[j] = f * row[j] + ik * v[j];
            h[j] += q[r] * row[j];
        }
    }
    let den = qn.abs().max((-m).exp_fast());
    h.iter_mut().for_each(|x| *x /= den);
}

#[cfg(test)]
mod tests {
    use super::*;

    const E2: f64 = 0.135_335_283_236_612_7; // e^{-2}

    /// One step from a fresh state by both forms: `(h̃, C', n', m')`.
    fn one_step(d: usize, q: &[f64], k: &[f64], v: &[f64], ig: f64) -> [Vec<f64>; 4] {
        let dims = Dims { b: 1, heads: 1, d };
        let x = Inputs {
            q,
            k,
            v,
            i: &[ig],
            f: &[0.0],
        };
        let (mut state, mut h) = (MlstmState::zeros(dims), vec![0.0; d]);
        step(dims, &x, &mut state, &mut h);
        let mut ws = MlstmWorkspace::new(dims, 1);
        let (mut h_par, mut last) = (vec![0.0; d], MlstmState::zeros(dims));
        forward(&mut ws, &x, &MlstmState::zeros(dims), &mut h_par, &mut last);
        let close = |a: &[f64], b: &[f64]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-15);
        assert!(
            close(&h_par, &h) && close(&last.c, &state.c),
            "the two forms"
        );
        assert!(
            close(&last.n, &state.n) && close(&last.m, &state.m),
            "the two forms"
        );
        [h, state.c, state.n, state.m]
    }

    #[test]
    fn one_step_by_hand_where_exp_minus_m_is_the_denominator() {
        // d = 1, q = 2, k = 1 (√d = 1), v = 3, ĩ = -2, f̃ = 0, fresh state:
        // a = 0 + ln σ(0) = -ln 2 > ĩ, so m' = -ln 2 (the initial state's
        // term); i = e^{-2 + ln 2} = 2e^{-2}, C' = i k v = 6e^{-2},
        // n' = 2e^{-2}; |n'q| = 4e^{-2} ≈ 0.54 < e^{-m'} = 2, so
        // h̃ = q C' / 2 = 6e^{-2} ≈ 0.812 (unstabilized: q k v e^ĩ / max(|q k e^ĩ|, 1)).
        let [h, c, n, m] = one_step(1, &[2.0], &[1.0], &[3.0], -2.0);
        let close = |a: f64, b: f64| (a - b).abs() < 1e-15;
        assert!(close(m[0], -(2f64.ln())), "{m:?}");
        assert!(
            close(c[0], 6.0 * E2) && close(n[0], 2.0 * E2),
            "{c:?} {n:?}"
        );
        assert!(close(h[0], 6.0 * E2), "{h:?}");
    }

    #[test]
    fn one_step_by_hand_where_n_q_is_the_denominator() {
        // d = 2, k = (2, 0) → k/√2 = (√2, 0), v = (1, 3), ĩ = f̃ = 0, fresh:
        // a = -ln 2 < ĩ = 0, so m' = 0 (the write), i = 1; C' = k vᵀ =
        // [[√2, 3√2], [0, 0]] (row: key unit), n' = (√2, 0). With
        // q = (-1, 5): n'·q = -√2, den = max(√2, e⁰) = √2, h̃ = C'ᵀq/√2 =
        // (-1, -3) = -v: one memory, read back with the query's sign. (With
        // C transposed, h̃ would be (14, 0).)
        let r2 = 2f64.sqrt();
        let [h, c, n, m] = one_step(2, &[-1.0, 5.0], &[2.0, 0.0], &[1.0, 3.0], 0.0);
        let close = |a: &[f64], b: &[f64]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-15);
        assert_eq!(m, [0.0]);
        assert!(
            close(&c, &[r2, 3.0 * r2, 0.0, 0.0]) && close(&n, &[r2, 0.0]),
            "{c:?} {n:?}"
        );
        assert!(close(&h, &[-1.0, -3.0]), "{h:?}");
    }

    #[test]
    fn one_step_gradients_by_hand() {
        // The first case above: h̃ = q k v e^ĩ (the denominator is 1 before
        // stabilizing), so dh̃/dq = k v e^ĩ = 3e^{-2}, dh̃/dk = q v e^ĩ =
        // 6e^{-2}, dh̃/dv = q k e^ĩ = 2e^{-2}, dh̃/dĩ = h̃ = 6e^{-2}; f̃ only
        // moves m, which h̃ does not see: 0. With C0 = n0 = 0 in
        // C0 σ(f̃) e^{m0}: dh̃/dC0 = q σ(0) / 1 = 1, dh̃/dn0 = 0 (that side of
        // the max is not taken), dh̃/dm0 = 0.
        // A loss on m_T = m0 + ln σ(f̃) alone: dm0 = 1, df̃ = σ(-f̃) = ½.
        let dims = Dims {
            b: 1,
            heads: 1,
            d: 1,
        };
        let x = Inputs {
            q: &[2.0],
            k: &[1.0],
            v: &[3.0],
            i: &[-2.0],
            f: &[0.0],
        };
        let init = MlstmState::zeros(dims);
        let mut ws = MlstmWorkspace::new(dims, 1);
        let (mut h, mut last) = ([0.0], MlstmState::zeros(dims));
        forward(&mut ws, &x, &init, &mut h, &mut last);
        assert_eq!(ws.argmax(), [0]);
        let grads = |dh: f64, dlast: Option<&MlstmState<f64>>| {
            let mut ws = ws.clone();
            let mut g = [[0.0]; 5];
            let mut dinit = MlstmState::zeros(dims);
            let [dq, dk, dv, di, df] = &mut g;
            let dx = InputGrads {
                q: dq,
                k: dk,
                v: dv,
                i: di,
                f: df,
            };
            let up = Upstream {
                dh: &[dh],
                last: dlast,
            };
            backward(&mut ws, &x, &init, &h, up, dx, &mut dinit);
            (g.map(|x| x[0]), [dinit.c[0], dinit.n[0], dinit.m[0]])
        };
        let close = |a: &[f64], b: &[f64]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-15);
        let (dx, dinit) = grads(1.0, None);
        assert!(
            close(&dx, &[3.0 * E2, 6.0 * E2, 2.0 * E2, 6.0 * E2, 0.0]),
            "{dx:?}"
        );
        assert!(close(&dinit, &[1.0, 0.0, 0.0]), "{dinit:?}");
        let on_m = MlstmState {
            c: vec![0.0],
            n: vec![0.0],
            m: vec![1.0],
        };
        let (dx, dinit) = grads(0.0, Some(&on_m));
        assert!(close(&dx, &[0.0, 0.0, 0.0, 0.0, 0.5]), "{dx:?}");
        assert!(close(&dinit, &[0.0, 0.0, 1.0]), "{dinit:?}");
    }
}
