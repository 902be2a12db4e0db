//! The mLSTM of xLSTM (Beck et al. 2024): per head, a matrix memory `C`
//! (d × d) written with exponential input and forget gates, a normalizer
//! `n` and a stabilizer `m`; a recurrent form for generation and the
//! stabilized parallel (attention-like) form for training, which give the
//! same numbers (the tests show it, outputs and gradients).
//!
//! ```text
//! per sequence and head: q, k, v ∈ R^d and the scalar pre-activations ĩ, f̃
//! of each step; the keys are divided by √d inside these functions (k ← k/√d).
//!
//! recurrent (generation), state (C, n, m), C[i][j] pairing key i with value j:
//!   a  = m + ln σ(f̃)                  m' = max(a, ĩ)
//!   f  = exp(a - m')                   i  = exp(ĩ - m')
//!   C' = f C + i k vᵀ                  n' = f n + i k
//!   h̃  = C'ᵀ q / max(|n'·q|, exp(-m'))
//!
//! parallel (training), steps t = 1..T from (C0, n0, m0):
//!   F_t  = Σ_{u≤t} ln σ(f̃_u)                            (F_0 = 0)
//!   ℓ_ts = F_t - F_s + ĩ_s  (s ≤ t)     ℓ_t0 = F_t + m0  (the log weights)
//!   m_t  = max(ℓ_t0, max_s ℓ_ts)                        (the recurrent m_t)
//!   D_ts = exp(ℓ_ts - m_t)  (0 for s > t)   g_t = exp(ℓ_t0 - m_t)
//!   S_ts = q_t·k_s          E_ts = D_ts S_ts
//!   z_t  = g_t n0·q_t + Σ_s E_ts         num_t = g_t C0ᵀq_t + Σ_s E_ts v_s
//!   h̃_t  = num_t / den_t,               den_t = max(|z_t|, exp(-m_t))
//!   C_T  = g_T C0 + Σ_s D_Ts k_s v_sᵀ    n_T = g_T n0 + Σ_s D_Ts k_s    m_T
//!
//! backward of the parallel form (dh̃ (T, d), and dC_T, dn_T, dm_T if given):
//!   dnum_t = dh̃_t / den_t
//!   dz_t   = -sign(z_t) (dh̃_t·h̃_t) / den_t where |z_t| is the max, else 0
//!   dE_ts  = dnum_t·v_s + dz_t           dv_s += E_ts dnum_t
//!   dq_t  += D_ts dE_ts k_s              dk_s += D_ts dE_ts q_t
//!   dℓ_ts  = dE_ts E_ts                  (= dD_ts D_ts)
//!   dg_t   = dnum_t·C0ᵀq_t + dz_t n0·q_t     dℓ_t0 = dg_t g_t
//!   dq_t  += g_t (C0 dnum_t + dz_t n0)   dC0 += g_t q_t dnum_tᵀ    dn0 += g_t dz_t q_t
//!  the final state:
//!   dD_Ts  = k_sᵀ dC_T v_s + dn_T·k_s    dℓ_Ts += dD_Ts D_Ts
//!   dk_s  += D_Ts (dC_T v_s + dn_T)      dv_s += D_Ts dC_Tᵀ k_s
//!   dg_T   = ⟨dC_T, C0⟩ + dn_T·n0        dℓ_T0 += dg_T g_T
//!   dC0   += g_T dC_T                    dn0 += g_T dn_T
//!   μ      = dm_T - Σ_{s=0..T} (the final state's dℓ_Ts)     dℓ_{T,argmax m_T} += μ
//!  the gates:
//!   dĩ_s = Σ_t dℓ_ts     dF_t = Σ_s dℓ_ts + dℓ_t0 - Σ_t' dℓ_t't     dm0 = Σ_t dℓ_t0
//!   df̃_u = σ(-f̃_u) Σ_{t≥u} dF_t                      (d ln σ(x)/dx = σ(-x))
//! ```
//!
//! **No eps in the denominator.** NX-AI's reference adds `eps = 1e-6` to
//! `den`; recur does not, and then `h̃` does not depend on the stabilizer
//! at all: with the unstabilized `ñ = e^m n` and `C̃ = e^m C`,
//! `max(|n·q|, e^{-m}) = e^{-m} max(|ñ·q|, 1)` and `C'ᵀq = e^{-m} C̃ᵀq`, so
//! `h̃ = C̃ᵀq / max(|ñ·q|, 1)`, whatever `m` is. The stabilizer only keeps
//! the exponentials in range. The backward uses this: it holds every `m_t`
//! fixed for the outputs (their gradient through `m_t` is exactly zero),
//! and adds the one path that is not zero, the final state's through
//! `m_T`: `C_T` and `n_T` carry the factor `e^{-m_T}`, so
//! `∂/∂m_T (⟨dC_T, C_T⟩ + dn_T·n_T)` is minus their sum, which is the sum
//! of the final state's `dℓ_T·`. `m_T` itself is one of the log weights
//! (the one that attained the max, `argmax`; ties go to the later step, as
//! the recurrent form's `max(a, ĩ)` does), so `μ` is routed to it.
//!
//! Where NX-AI's code differs, besides eps: its parallel form
//! (`parallel_stabilized_simple`) starts from no state and takes
//! `m_t = max_s ℓ_ts` without the initial-state term `ℓ_t0`, while its
//! recurrent step (`recurrent_step_stabilized_simple`) starts from `m = 0`
//! and so keeps `ℓ_t0 = F_t`; the two then differ in `m_t` (and in `h̃`
//! through eps). Here `m_t` includes `ℓ_t0`, which makes the forms equal.
//! (NX-AI's `chunkwise_simple` divides `q` by √d instead of `k`: the same
//! `h̃`, but its `C` and `n` are √d times these.)
//! A fresh state is `C = 0, n = 0, m = 0`; unlike the sLSTM there is no
//! special rule for it (`m' = max(a, ĩ)` always, as NX-AI's step does).
//!
//! Layout: the window's inputs are time-major, `q, k, v: (T, B, H)` with
//! head `h` in columns `h·d .. (h+1)·d`, and `ĩ, f̃: (T, B, NH)`; the state
//! is `C: (B, NH, d, d)`, `n: (B, NH, d)`, `m: (B, NH)`. The drivers
//! ([`forward`], [`backward`], [`step`]) gather each (sequence, head) into
//! contiguous `(T, d)` rows and call the per-head functions
//! ([`head_forward`], [`head_backward`]). The parallel form costs
//! `O(T²d + Td²)` per head and keeps `O(T²)` scratch; the drivers run it
//! on chunks of a window ([`CHUNK`] steps), each from the state the one
//! before left, which makes a window linear in T. The output gate `σ(o)`
//! is the layer's, not this module's.

use super::super::math::{sigmoid, softplus};
use crate::tensor::{Scalar, Trans, dot, matmul};

/// One (sequence, head)'s window as the per-head functions read it:
/// contiguous rows, the keys already divided by √d.
#[derive(Clone, Copy, Debug)]
pub struct HeadInputs<'a, S> {
    /// `q: (T, d)`.
    pub q: &'a [S],
    /// `k/√d: (T, d)`.
    pub k: &'a [S],
    /// `v: (T, d)`.
    pub v: &'a [S],
    /// `ĩ: (T)`.
    pub i: &'a [S],
    /// `f̃: (T)`.
    pub f: &'a [S],
}

impl<S> HeadInputs<'_, S> {
    fn steps(&self) -> usize {
        self.i.len()
    }
    fn d(&self) -> usize {
        self.q.len().checked_div(self.i.len()).unwrap_or(0)
    }
}

/// One head's state (read): `c: (d, d)`, `n: (d)`, `m`.
#[derive(Clone, Copy, Debug)]
pub struct HeadState<'a, S> {
    /// `C: (d, d)`.
    pub c: &'a [S],
    /// `n: (d)`.
    pub n: &'a [S],
    /// `m`.
    pub m: S,
}

/// One head's state (written): `c: (d, d)`, `n: (d)`, `m`.
#[derive(Debug)]
pub struct HeadStateMut<'a, S> {
    /// `C: (d, d)`.
    pub c: &'a mut [S],
    /// `n: (d)`.
    pub n: &'a mut [S],
    /// `m`.
    pub m: &'a mut S,
}

/// One head's input gradients (overwritten), shapes as [`HeadInputs`];
/// `k`'s is with respect to `k/√d`.
#[derive(Debug)]
pub struct HeadGrads<'a, S> {
    /// `dq: (T, d)`.
    pub q: &'a mut [S],
    /// `d(k/√d): (T, d)`.
    pub k: &'a mut [S],
    /// `dv: (T, d)`.
    pub v: &'a mut [S],
    /// `dĩ: (T)`.
    pub i: &'a mut [S],
    /// `df̃: (T)`.
    pub f: &'a mut [S],
}

/// What one head's forward keeps for its backward, each `(T)`.
#[derive(Debug)]
pub struct HeadRecord<'a, S> {
    /// `F_t`, the cumulative log forget gates.
    pub log_f: &'a mut [S],
    /// `m_t`, the stabilizers.
    pub m: &'a mut [S],
    /// `z_t`, the normalizer's signed product (`den_t = max(|z_t|, e^{-m_t})`).
    pub z: &'a mut [S],
    /// Which log weight attained `m_t`: 0 for the initial state's `ℓ_t0`,
    /// `s + 1` for step `s`'s `ℓ_ts` (steps counted from 0).
    pub arg: &'a mut [usize],
}

/// What one head's forward kept, read by [`head_backward`]: as
/// [`HeadRecord`], each `(T)`.
#[derive(Clone, Copy, Debug)]
pub struct Saved<'a, S> {
    /// `F_t`.
    pub log_f: &'a [S],
    /// `m_t`.
    pub m: &'a [S],
    /// `z_t`.
    pub z: &'a [S],
    /// The argmax of each `m_t` (see [`HeadRecord::arg`]).
    pub arg: &'a [usize],
}

/// One head's outputs and their gradients: `h̃, dL/dh̃: (T, d)`.
#[derive(Clone, Copy, Debug)]
pub struct HeadOut<'a, S> {
    /// `h̃: (T, d)` as [`head_forward`] wrote it.
    pub h: &'a [S],
    /// `dL/dh̃: (T, d)`.
    pub dh: &'a [S],
}

/// Per-head scratch for a window of T steps (reused from head to head).
#[derive(Clone, Debug)]
pub struct Scratch<S> {
    /// `D: (T, T)`, zero above the diagonal.
    d_mat: Vec<S>,
    /// `S = q kᵀ: (T, T)`; in the backward `dE`, then `dS`.
    s_mat: Vec<S>,
    /// `E = D ∘ S: (T, T)`, zero above the diagonal.
    e_mat: Vec<S>,
    /// `Q C0: (T, d)` (row t: `C0ᵀ q_t`).
    qc: Vec<S>,
    /// `dnum: (T, d)`, then `g_t dnum_t`.
    dnum: Vec<S>,
    /// `dz: (T)`.
    dz: Vec<S>,
    /// `g: (T)`.
    g: Vec<S>,
    /// `dℓ_t0: (T)`.
    dl0: Vec<S>,
    /// `Σ_s dℓ_ts: (T)`.
    drow: Vec<S>,
    /// `Σ_t dℓ_ts: (T)`.
    dcol: Vec<S>,
    /// A d-vector: `dnum_t` or `dC_T v_s`.
    vec_d: Vec<S>,
}

impl<S: Scalar> Scratch<S> {
    /// Scratch for `t` steps of heads of `d` units.
    pub fn new(t: usize, d: usize) -> Self {
        Scratch {
            d_mat: vec![S::zero(); t * t],
            s_mat: vec![S::zero(); t * t],
            e_mat: vec![S::zero(); t * t],
            qc: vec![S::zero(); t * d],
            dnum: vec![S::zero(); t * d],
            dz: vec![S::zero(); t],
            g: vec![S::zero(); t],
            dl0: vec![S::zero(); t],
            drow: vec![S::zero(); t],
            dcol: vec![S::zero(); t],
            vec_d: vec![S::zero(); d],
        }
    }

    /// Size it for `t` steps (no allocation within the capacity it was
    /// made with).
    pub fn set_steps(&mut self, t: usize) {
        let d = self.vec_d.len();
        for (buf, n) in [
            (&mut self.d_mat, t * t),
            (&mut self.s_mat, t * t),
            (&mut self.e_mat, t * t),
            (&mut self.qc, t * d),
            (&mut self.dnum, t * d),
            (&mut self.dz, t),
            (&mut self.g, t),
            (&mut self.dl0, t),
            (&mut self.drow, t),
            (&mut self.dcol, t),
        ] {
            buf.resize(n, S::zero());
        }
    }
}

/// `ln σ(x) = -softplus(-x)`.
pub(super) fn log_sigmoid<S: Scalar>(x: S) -> S {
    -softplus(-x)
}

/// The parallel form for one (sequence, head): `h̃: (T, d)` and the final
/// state `last` from `x` and `init`; `rec` keeps what [`head_backward`]
/// needs. A window of no steps leaves the state as it was.
pub fn head_forward<S: Scalar>(
    x: HeadInputs<'_, S>,
    init: HeadState<'_, S>,
    h: &mut [S],
    last: HeadStateMut<'_, S>,
    rec: HeadRecord<'_, S>,
    ws: &mut Scratch<S>,
) {
    let t_len = x.steps();
    if t_len == 0 {
        last.c.copy_from_slice(init.c);
        last.n.copy_from_slice(init.n);
        *last.m = init.m;
        return;
    }
    log_forget_cumsum(x.f, rec.log_f);
    stabilizers(rec.log_f, x.i, init.m, rec.m, rec.arg);
    decays(rec.log_f, x.i, init.m, rec.m, ws);
    scores(&x, init, ws);
    outputs(&x, &init, rec.m, ws, h, rec.z);
    *last.m = rec.m[t_len - 1];
    final_state(&x, &init, ws, last);
}

/// `F_t = Σ_{u≤t} ln σ(f̃_u)`: `f: (T)` to `log_f: (T)`.
fn log_forget_cumsum<S: Scalar>(f: &[S], log_f: &mut [S]) {
    let mut acc = S::zero();
    for (l, &x) in log_f.iter_mut().zip(f) {
        acc += log_sigmoid(x);
        *l = acc;
    }
}

/// `m_t = max(ℓ_t0, max_{s≤t} ℓ_ts)` and which log weight attained it (0
/// for `ℓ_t0`, `s + 1` for `ℓ_ts`; a tie goes to the later one):
/// `log_f, i: (T)` to `m, arg: (T)`.
fn stabilizers<S: Scalar>(log_f: &[S], i: &[S], m0: S, m: &mut [S], arg: &mut [usize]) {
    for t in 0..log_f.len() {
        let (mut best, mut at) = (log_f[t] + m0, 0);
        for s in 0..=t {
            let l = log_f[t] - log_f[s] + i[s];
            if l >= best {
                (best, at) = (l, s + 1);
            }
        }
        (m[t], arg[t]) = (best, at);
    }
}

/// `D_ts = exp(ℓ_ts - m_t)` (zero above the diagonal) into `ws.d_mat:
/// (T, T)` and `g_t = exp(ℓ_t0 - m_t)` into `ws.g: (T)`.
fn decays<S: Scalar>(log_f: &[S], i: &[S], m0: S, m: &[S], ws: &mut Scratch<S>) {
    let t_len = log_f.len();
    for t in 0..t_len {
        let row = &mut ws.d_mat[t * t_len..(t + 1) * t_len];
        for s in 0..=t {
            row[s] = (log_f[t] - log_f[s] + i[s] - m[t]).exp_fast();
        }
        row[t + 1..].fill(S::zero());
        ws.g[t] = (log_f[t] + m0 - m[t]).exp_fast();
    }
}

/// `S_ts = q_t·k_s` for `s ≤ t`: `q, k: (T, d)` to `s_mat: (T, T)` (the
/// `S = Q Kᵀ: (T, T)` (the whole square: one matrix product is faster
/// than the triangle's dot products), `E = D ∘ S` (zero above the diagonal,
/// as `D`) and `Q C0: (T, d)`, into `ws`.
fn scores<S: Scalar>(x: &HeadInputs<'_, S>, init: HeadState<'_, S>, ws: &mut Scratch<S>) {
    let (t, d) = (x.steps(), x.d());
    let tt = t * t;
    matmul(
        t,
        t,
        d,
        x.q,
        Trans::No,
        x.k,
        Trans::Yes,
        &mut ws.s_mat,
        false,
    );
    for ((e, &dm), &sm) in ws.e_mat[..tt].iter_mut().zip(&ws.d_mat).zip(&ws.s_mat) {
        *e = dm * sm;
    }
    matmul(
        t,
        d,
        d,
        x.q,
        Trans::No,
        init.c,
        Trans::No,
        &mut ws.qc,
        false,
    );
}
/// Every step's output from what [`scores`] left:
/// `num_t = g_t C0ᵀq_t + Σ_s E_ts v_s` (`num = diag(g) Q C0 + E V`),
/// `z_t = g_t n0·q_t + Σ_s E_ts`, `h̃_t = num_t / max(|z_t|, e^{-m_t})`;
/// `h: (T, d)`, `z: (T)` written.
fn outputs<S: Scalar>(
    x: &HeadInputs<'_, S>,
    init: &HeadState<'_, S>,
    m: &[S],
    ws: &Scratch<S>,
    h: &mut [S],
    z: &mut [S],
) {
    let (t_len, d) = (x.steps(), x.d());
    matmul(
        t_len,
        d,
        t_len,
        &ws.e_mat,
        Trans::No,
        x.v,
        Trans::No,
        h,
        false,
    );
    for t in 0..t_len {
        let (qt, g) = (&x.q[t * d..(t + 1) * d], ws.g[t]);
        let e_row = &ws.e_mat[t * t_len..t * t_len + t + 1];
        z[t] = g * dot(init.n, qt) + e_row.iter().copied().sum::<S>();
        let den = z[t].abs().max((-m[t]).exp_fast());
        let ht = &mut h[t * d..(t + 1) * d];
        for (hj, &p) in ht.iter_mut().zip(&ws.qc[t * d..(t + 1) * d]) {
            *hj = (*hj + g * p) / den;
        }
    }
}

/// `C_T = g_T C0 + Σ_s D_Ts k_s v_sᵀ` and `n_T = g_T n0 + Σ_s D_Ts k_s`
/// into `last` (its `m` is left to the caller).
fn final_state<S: Scalar>(
    x: &HeadInputs<'_, S>,
    init: &HeadState<'_, S>,
    ws: &Scratch<S>,
    last: HeadStateMut<'_, S>,
) {
    let (t_len, d) = (x.steps(), x.d());
    let (tl, g) = (t_len - 1, ws.g[t_len - 1]);
    for (c, &c0) in last.c.iter_mut().zip(init.c) {
        *c = g * c0;
    }
    for (n, &n0) in last.n.iter_mut().zip(init.n) {
        *n = g * n0;
    }
    for s in 0..t_len {
        let w = ws.d_mat[tl * t_len + s];
        let (ks, vs) = (&x.k[s * d..(s + 1) * d], &x.v[s * d..(s + 1) * d]);
        let rows = last.c.chunks_exact_mut(d);
        for ((&kr, n), row) in ks.iter().zip(last.n.iter_mut()).zip(rows) {
            let wk = w * kr;
            *n += wk;
            for (c, &vj) in row.iter_mut().zip(vs) {
                *c += wk * vj;
            }
        }
    }
}

/// The backward of [`head_forward`] for one (sequence, head): from
/// `out.dh` and `dlast = dL/d(C_T, n_T, m_T)` (if the loss reads the final
/// state) to the input gradients `dx` and `dinit = dL/d(C0, n0, m0)`
/// (both overwritten).
#[allow(clippy::too_many_arguments)]
pub fn head_backward<S: Scalar>(
    x: HeadInputs<'_, S>,
    init: HeadState<'_, S>,
    out: HeadOut<'_, S>,
    dlast: Option<HeadState<'_, S>>,
    rec: Saved<'_, S>,
    mut dx: HeadGrads<'_, S>,
    mut dinit: HeadStateMut<'_, S>,
    ws: &mut Scratch<S>,
) {
    let t_len = x.steps();
    let zero = S::zero();
    for buf in [&mut *dx.q, &mut *dx.k, &mut *dx.v, &mut *dx.i, &mut *dx.f] {
        buf.fill(zero);
    }
    if t_len == 0 {
        match dlast {
            Some(s) => {
                dinit.c.copy_from_slice(s.c);
                dinit.n.copy_from_slice(s.n);
                *dinit.m = s.m;
            }
            None => {
                dinit.c.fill(zero);
                dinit.n.fill(zero);
                *dinit.m = zero;
            }
        }
        return;
    }
    dinit.c.fill(zero);
    dinit.n.fill(zero);
    for buf in [&mut ws.dl0, &mut ws.drow, &mut ws.dcol] {
        buf.fill(zero);
    }
    // Recompute D, g, S, E and Q C0 (O(T²d), as the forward).
    decays(rec.log_f, x.i, init.m, rec.m, ws);
    scores(&x, init, ws);
    // The outputs, with every m_t held fixed: h̃_t does not depend on m_t
    // (see the module docs), so the path through the stabilizers is zero.
    outputs_backward(&x, &init, &out, (rec.z, rec.m), ws, &mut dx, &mut dinit);
    if let Some(dl) = dlast {
        final_state_backward(&x, &init, &dl, rec.arg[t_len - 1], ws, &mut dx, &mut dinit);
    }
    gates_backward(&x, ws, &mut dx, &mut dinit);
}
/// The backward of [`outputs`] (`(z, m)` as the forward left them), as
/// matrix products over the window: adds to `dx.q, dx.k, dx.v`,
/// `dinit.c, dinit.n` and the log weights' gradients `ws.dl0, ws.drow,
/// ws.dcol`.
///
/// ```text
/// dnum_t = dh̃_t / den_t     dz_t = -sign(z_t) (dh̃_t·h̃_t)/den_t where |z_t| is the max
/// dE = dnum Vᵀ + dz 1ᵀ      dV += Eᵀ dnum      dℓ_ts = dE_ts E_ts
/// dS = dE ∘ D               dQ += dS K         dK += dSᵀ Q
/// dℓ_t0 = g_t (dnum_t·C0ᵀq_t + dz_t n0·q_t)
/// dQ += diag(g) (dnum C0ᵀ + dz n0ᵀ)   dC0 += Qᵀ diag(g) dnum   dn0 += Σ_t g_t dz_t q_t
/// ```
fn outputs_backward<S: Scalar>(
    x: &HeadInputs<'_, S>,
    init: &HeadState<'_, S>,
    out: &HeadOut<'_, S>,
    (z, m): (&[S], &[S]),
    ws: &mut Scratch<S>,
    dx: &mut HeadGrads<'_, S>,
    dinit: &mut HeadStateMut<'_, S>,
) {
    let (t_len, d) = (x.steps(), x.d());
    let (tt, td) = (t_len * t_len, t_len * d);
    for t in 0..t_len {
        let row = t * d..(t + 1) * d;
        let den = z[t].abs().max((-m[t]).exp_fast());
        for (dn, &g) in ws.dnum[row.clone()].iter_mut().zip(&out.dh[row.clone()]) {
            *dn = g / den;
        }
        ws.dz[t] = if z[t].abs() >= (-m[t]).exp_fast() {
            -dot(&out.dh[row.clone()], &out.h[row]) / den * z[t].signum()
        } else {
            S::zero()
        };
    }
    // dE into s_mat, then dℓ and dS = dE ∘ D there (zero above the diagonal).
    let de = &mut ws.s_mat;
    matmul(
        t_len,
        t_len,
        d,
        &ws.dnum,
        Trans::No,
        x.v,
        Trans::Yes,
        de,
        false,
    );
    for t in 0..t_len {
        for s in 0..t_len {
            let at = t * t_len + s;
            if s > t {
                de[at] = S::zero();
                continue;
            }
            let dl = (de[at] + ws.dz[t]) * ws.e_mat[at];
            ws.drow[t] += dl;
            ws.dcol[s] += dl;
            de[at] = (de[at] + ws.dz[t]) * ws.d_mat[at];
        }
    }
    let ds = &ws.s_mat[..tt];
    matmul(
        t_len,
        d,
        t_len,
        &ws.e_mat,
        Trans::Yes,
        &ws.dnum,
        Trans::No,
        dx.v,
        true,
    );
    matmul(t_len, d, t_len, ds, Trans::No, x.k, Trans::No, dx.q, true);
    matmul(t_len, d, t_len, ds, Trans::Yes, x.q, Trans::No, dx.k, true);
    // The initial state's terms.
    for t in 0..t_len {
        let (qt, g, dz) = (&x.q[t * d..(t + 1) * d], ws.g[t], ws.dz[t]);
        let dnum = &mut ws.dnum[t * d..(t + 1) * d];
        let dg = dot(dnum, &ws.qc[t * d..(t + 1) * d]) + dz * dot(init.n, qt);
        ws.dl0[t] += dg * g;
        dnum.iter_mut().for_each(|v| *v *= g);
        for (r, (dq, &qr)) in dx.q[t * d..(t + 1) * d].iter_mut().zip(qt).enumerate() {
            *dq += g * dz * init.n[r];
            dinit.n[r] += g * dz * qr;
        }
    }
    let dnum = &ws.dnum[..td];
    matmul(t_len, d, d, dnum, Trans::No, init.c, Trans::Yes, dx.q, true);
    matmul(d, d, t_len, x.q, Trans::Yes, dnum, Trans::No, dinit.c, true);
}

/// The backward of [`final_state`] and of `m_T` (`arg`, its argmax), from
/// `dl = dL/d(C_T, n_T, m_T)`.
fn final_state_backward<S: Scalar>(
    x: &HeadInputs<'_, S>,
    init: &HeadState<'_, S>,
    dl: &HeadState<'_, S>,
    arg: usize,
    ws: &mut Scratch<S>,
    dx: &mut HeadGrads<'_, S>,
    dinit: &mut HeadStateMut<'_, S>,
) {
    let (t_len, d) = (x.steps(), x.d());
    let (tl, g) = (t_len - 1, ws.g[t_len - 1]);
    // The initial state's term g_T (C0, n0).
    let dg = dot(dl.c, init.c) + dot(dl.n, init.n);
    for (dc, &w) in dinit.c.iter_mut().zip(dl.c) {
        *dc += g * w;
    }
    for (dn, &w) in dinit.n.iter_mut().zip(dl.n) {
        *dn += g * w;
    }
    // Σ over row T of the state's dℓ: ⟨dC_T, C_T⟩ + dn_T·n_T.
    let mut state_sum = dg * g;
    ws.dl0[tl] += dg * g;
    // The window's terms D_Ts (k_s v_sᵀ, k_s).
    for s in 0..t_len {
        let w = ws.d_mat[tl * t_len + s];
        let (ks, vs) = (&x.k[s * d..(s + 1) * d], &x.v[s * d..(s + 1) * d]);
        // dC_T v_s + dn_T, then dD_Ts = k_s·(dC_T v_s + dn_T).
        let rows = dl.c.chunks_exact(d);
        for ((vd, row), &dn) in ws.vec_d.iter_mut().zip(rows).zip(dl.n) {
            *vd = dot(row, vs) + dn;
        }
        let dd = dot(ks, &ws.vec_d);
        let (dks, dvs) = (&mut dx.k[s * d..(s + 1) * d], &mut dx.v[s * d..(s + 1) * d]);
        let rows = dl.c.chunks_exact(d);
        for (((dk, &vd), &kr), row) in dks.iter_mut().zip(&ws.vec_d).zip(ks).zip(rows) {
            *dk += w * vd;
            for (dv, &c) in dvs.iter_mut().zip(row) {
                *dv += w * kr * c;
            }
        }
        let dlog = dd * w;
        ws.drow[tl] += dlog;
        ws.dcol[s] += dlog;
        state_sum += dlog;
    }
    // m_T: C_T and n_T carry e^{-m_T}, so their part of dL/dm_T is
    // -state_sum; m_T is the log weight `arg`, which gets the whole.
    let mu = dl.m - state_sum;
    match arg {
        0 => ws.dl0[tl] += mu,
        a => {
            ws.drow[tl] += mu;
            ws.dcol[a - 1] += mu;
        }
    }
}

/// From the log weights' gradients to `dĩ`, `df̃` and `dm0`:
/// `ℓ_ts = F_t - F_s + ĩ_s`, `ℓ_t0 = F_t + m0`, `F_t = Σ_{u≤t} ln σ(f̃_u)`.
fn gates_backward<S: Scalar>(
    x: &HeadInputs<'_, S>,
    ws: &Scratch<S>,
    dx: &mut HeadGrads<'_, S>,
    dinit: &mut HeadStateMut<'_, S>,
) {
    let t_len = x.steps();
    let mut dm0 = S::zero();
    let mut acc = S::zero();
    for t in (0..t_len).rev() {
        dx.i[t] = ws.dcol[t];
        dm0 += ws.dl0[t];
        // dF_t, then Σ_{t'≥t} dF_t' = dL/d ln σ(f̃_t).
        acc += ws.drow[t] + ws.dl0[t] - ws.dcol[t];
        dx.f[t] = acc * sigmoid(-x.f[t]);
    }
    *dinit.m = dm0;
}
