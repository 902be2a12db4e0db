//! The mLSTM over a window of many sequences and heads: the shapes, the
//! state, the inputs and their gradients, the workspace, and the drivers
//! that gather each (sequence, head) into contiguous rows for the
//! per-head maths of [`super::head`] ([`forward`], [`backward`]), and the
//! recurrent form's step ([`step`]) for generation.

use super::head::*;
use crate::tensor::Scalar;

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
    /// `F_t, m_t, z_t: (B, NH, T)` and the argmax `(B, NH, T)`, kept by
    /// the forward for the backward.
    log_f: Vec<S>,
    m: Vec<S>,
    z: Vec<S>,
    arg: Vec<usize>,
    /// One head gathered: `q, k/√d, v, h̃, dh̃, dq, dk, dv: (T, d)`,
    /// `ĩ, f̃, dĩ, df̃: (T)`.
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
    /// A workspace for windows of `t` steps of layers of shape `dims`.
    pub fn new(dims: Dims, t: usize) -> Self {
        let (bh, td) = (dims.b * dims.heads, t * dims.d);
        let z = || vec![S::zero(); td];
        MlstmWorkspace {
            dims,
            t,
            log_f: vec![S::zero(); bh * t],
            m: vec![S::zero(); bh * t],
            z: vec![S::zero(); bh * t],
            arg: vec![0; bh * t],
            q: z(),
            k: z(),
            v: z(),
            h: z(),
            dh: z(),
            dq: z(),
            dk: z(),
            dv: z(),
            i: vec![S::zero(); t],
            f: vec![S::zero(); t],
            di: vec![S::zero(); t],
            df: vec![S::zero(); t],
            scratch: Scratch::new(t, dims.d),
        }
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

    /// Copy (sequence `b`, head `hd`) of the window into the head buffers:
    /// `q, k/√d, v` from `(T, B, H)`, `ĩ, f̃` from `(T, B, NH)`.
    fn gather(&mut self, x: &Inputs<'_, S>, b: usize, hd: usize) {
        let Dims { b: bn, heads, d } = self.dims;
        let (hn, scale) = (heads * d, S::one() / S::of(d as f64).sqrt());
        for t in 0..self.t {
            let (src, dst) = ((t * bn + b) * hn + hd * d, t * d);
            self.q[dst..dst + d].copy_from_slice(&x.q[src..src + d]);
            self.v[dst..dst + d].copy_from_slice(&x.v[src..src + d]);
            for j in 0..d {
                self.k[dst + j] = x.k[src + j] * scale;
            }
            self.i[t] = x.i[(t * bn + b) * heads + hd];
            self.f[t] = x.f[(t * bn + b) * heads + hd];
        }
    }

    /// Copy (sequence `b`, head `hd`) of a `(T, B, H)` buffer into the
    /// head's `(T, d)` rows `dst`.
    fn gather_rows(&self, src: &[S], b: usize, hd: usize, dst: &mut [S]) {
        let Dims { b: bn, heads, d } = self.dims;
        for t in 0..self.t {
            let from = (t * bn + b) * heads * d + hd * d;
            dst[t * d..(t + 1) * d].copy_from_slice(&src[from..from + d]);
        }
    }

    /// Copy the head's `(T, d)` rows `src`, times `scale`, into (sequence
    /// `b`, head `hd`) of a `(T, B, H)` buffer.
    fn scatter_rows(&self, src: &[S], scale: S, b: usize, hd: usize, dst: &mut [S]) {
        let Dims { b: bn, heads, d } = self.dims;
        for t in 0..self.t {
            let to = (t * bn + b) * heads * d + hd * d;
            for j in 0..d {
                dst[to + j] = src[t * d + j] * scale;
            }
        }
    }

    /// Copy the head's `(T)` values `src` into (sequence `b`, head `hd`)
    /// of a `(T, B, NH)` buffer.
    fn scatter_gate(&self, src: &[S], b: usize, hd: usize, dst: &mut [S]) {
        let Dims { b: bn, heads, .. } = self.dims;
        for t in 0..self.t {
            dst[(t * bn + b) * heads + hd] = src[t];
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

/// The parallel form over a window: `h̃: (T, B, H)` and the final state
/// `last` from the inputs `x` and the initial state `init` (`(B, NH, ·)`,
/// see [`MlstmState`]); keeps in `ws` what [`backward`] needs.
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
    let mut hh = std::mem::take(&mut ws.h);
    for b in 0..bn {
        for hd in 0..heads {
            let bh = b * heads + hd;
            ws.gather(x, b, hd);
            let rows = bh * t..(bh + 1) * t;
            let hx = HeadInputs {
                q: &ws.q,
                k: &ws.k,
                v: &ws.v,
                i: &ws.i,
                f: &ws.f,
            };
            let rec = HeadRecord {
                log_f: &mut ws.log_f[rows.clone()],
                m: &mut ws.m[rows.clone()],
                z: &mut ws.z[rows.clone()],
                arg: &mut ws.arg[rows],
            };
            let out = last.head_mut(bh, d);
            head_forward(hx, init.head(bh, d), &mut hh, out, rec, &mut ws.scratch);
            ws.scatter_rows(&hh, S::one(), b, hd, h);
        }
    }
    ws.h = hh;
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
    let t = ws.t;
    let scale = S::one() / S::of(d as f64).sqrt();
    let (mut hh, mut dhh) = (std::mem::take(&mut ws.h), std::mem::take(&mut ws.dh));
    for b in 0..bn {
        for hd in 0..heads {
            let bh = b * heads + hd;
            ws.gather(x, b, hd);
            ws.gather_rows(h, b, hd, &mut hh);
            ws.gather_rows(up.dh, b, hd, &mut dhh);
            let rows = bh * t..(bh + 1) * t;
            let hx = HeadInputs {
                q: &ws.q,
                k: &ws.k,
                v: &ws.v,
                i: &ws.i,
                f: &ws.f,
            };
            let rec = Saved {
                log_f: &ws.log_f[rows.clone()],
                m: &ws.m[rows.clone()],
                z: &ws.z[rows.clone()],
                arg: &ws.arg[rows],
            };
            let outs = HeadOut { h: &hh, dh: &dhh };
            let grads = HeadGrads {
                q: &mut ws.dq,
                k: &mut ws.dk,
                v: &mut ws.dv,
                i: &mut ws.di,
                f: &mut ws.df,
            };
            let dlast = up.last.map(|s| s.head(bh, d));
            let dst = dinit.head_mut(bh, d);
            head_backward(
                hx,
                init.head(bh, d),
                outs,
                dlast,
                rec,
                grads,
                dst,
                &mut ws.scratch,
            );
            ws.scatter_rows(&ws.dq, S::one(), b, hd, dx.q);
            // dL/dk = dL/d(k/√d) / √d.
            ws.scatter_rows(&ws.dk, scale, b, hd, dx.k);
            ws.scatter_rows(&ws.dv, S::one(), b, hd, dx.v);
            ws.scatter_gate(&ws.di, b, hd, dx.i);
            ws.scatter_gate(&ws.df, b, hd, dx.f);
        }
    }
    (ws.h, ws.dh) = (hh, dhh);
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
