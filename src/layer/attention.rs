//! Attention of decoder states over encoder outputs, for one sequence of a
//! batch at a time, with its backward:
//!
//! ```text
//! e[t, s] = score(h_t, k_s)        s < n (the source's length), else -∞
//! α[t, ·] = softmax(e[t, ·])
//! c_t     = Σ_s α[t, s] k_s
//! ```
//!
//! with the scores of Luong (`dot`: `h·k`; `general`: `h·W k`) and Bahdanau
//! (`additive`: `v·tanh(W h + U k)`). Shapes: `h: (T, Hd)` decoder states,
//! `k: (S, E)` encoder outputs, `α: (T, S)`, `c: (T, E)`; `W: (Hd, E)` for
//! general, `W: (A, Hd)`, `U: (A, E)`, `v: (A)` for additive.

use serde::{Deserialize, Serialize};

use crate::backend::{Backend, Cpu};
use crate::tensor::{Scalar, Trans};

/// Which score.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Score {
    /// Luong's dot product `h·k` (needs `Hd = E`).
    LuongDot,
    /// Luong's general form `h·W k`.
    LuongGeneral,
    /// Bahdanau's additive form `v·tanh(W h + U k)`.
    Bahdanau,
}

impl Score {
    /// The name the command line uses: `luong-dot`, `luong-general` or
    /// `bahdanau`.
    pub fn name(self) -> &'static str {
        match self {
            Score::LuongDot => "luong-dot",
            Score::LuongGeneral => "luong-general",
            Score::Bahdanau => "bahdanau",
        }
    }
}

/// The score's weights (empty views where a score has none).
#[derive(Debug)]
pub struct ScoreWeights<'a, S: Scalar, K: Backend<S> = Cpu> {
    /// `(Hd, E)` general; `(A, Hd)` additive.
    pub w: K::Ref<'a>,
    /// `(A, E)` additive.
    pub u: K::Ref<'a>,
    /// `(A)` additive.
    pub v: K::Ref<'a>,
}

/// Gradients of [`ScoreWeights`].
#[derive(Debug)]
pub struct ScoreGrads<'a, S: Scalar, K: Backend<S> = Cpu> {
    /// `dL/dW`.
    pub w: K::Mut<'a>,
    /// `dL/dU`.
    pub u: K::Mut<'a>,
    /// `dL/dv`.
    pub v: K::Mut<'a>,
}

/// Sizes of one attention: T decoder steps over S source steps.
#[derive(Clone, Copy, Debug)]
pub struct Dims {
    /// T.
    pub t: usize,
    /// S.
    pub s: usize,
    /// Hd: decoder state size.
    pub hd: usize,
    /// E: encoder output size.
    pub e: usize,
    /// A: additive attention size.
    pub a: usize,
}

/// What the backward needs from one sequence's forward, in the backend's
/// buffers.
#[derive(Clone, Debug)]
#[derive_where::derive_where(Default)]
pub struct AttnCache<S: Scalar, K: Backend<S> = Cpu> {
    /// `(T, S)` attention weights (0 past the source's length).
    pub alpha: K::Buf,
    /// `(S, Hd)`: `k Wᵀ` (general).
    kw: K::Buf,
    /// `(T, S, A)`: `tanh(W h_t + U k_s)` (additive).
    z: K::Buf,
    /// Scratch: `(T, A)` and `(S, A)` projections / their gradients, `(T, S)`.
    wq: K::Buf,
    uk: K::Buf,
    de: K::Buf,
}

/// Forward for one sequence: fills `cache.alpha` and writes `ctx: (T, E)`.
/// `h: (T, Hd)`, `keys: (S, E)`, `n`: the source's length.
#[allow(clippy::too_many_arguments)]
pub fn forward<S: Scalar, K: Backend<S>>(
    k: &K,
    score: Score,
    w: &ScoreWeights<'_, S, K>,
    d: Dims,
    h: K::Ref<'_>,
    keys: K::Ref<'_>,
    n: usize,
    cache: &mut AttnCache<S, K>,
    ctx: K::Mut<'_>,
) {
    k.resize(&mut cache.alpha, d.t * d.s);
    let AttnCache {
        alpha,
        kw,
        z,
        wq,
        uk,
        ..
    } = cache;
    // Scores first, softmax in place below.
    let e = K::view_mut(alpha);
    match score {
        Score::LuongDot => k.matmul(d.t, d.s, d.hd, h, Trans::No, keys, Trans::Yes, e, false),
        Score::LuongGeneral => {
            k.resize(kw, d.s * d.hd);
            let kw_out = K::view_mut(kw);
            k.matmul(
                d.s,
                d.hd,
                d.e,
                keys,
                Trans::No,
                w.w,
                Trans::Yes,
                kw_out,
                false,
            );
            k.matmul(
                d.t,
                d.s,
                d.hd,
                h,
                Trans::No,
                K::view(kw),
                Trans::Yes,
                e,
                false,
            );
        }
        Score::Bahdanau => {
            k.resize(wq, d.t * d.a);
            k.resize(uk, d.s * d.a);
            k.resize(z, d.t * d.s * d.a);
            let (wq_out, uk_out) = (K::view_mut(wq), K::view_mut(uk));
            k.matmul(d.t, d.a, d.hd, h, Trans::No, w.w, Trans::Yes, wq_out, false);
            k.matmul(
                d.s,
                d.a,
                d.e,
                keys,
                Trans::No,
                w.u,
                Trans::Yes,
                uk_out,
                false,
            );
            k.additive_scores(K::view(wq), K::view(uk), w.v, K::view_mut(z), e);
        }
    }
    // Softmax over the real source steps; padding gets weight 0.
    k.softmax_rows(K::view_mut(alpha), d.s, n);
    let alpha = K::view(alpha);
    k.matmul(d.t, d.e, d.s, alpha, Trans::No, keys, Trans::No, ctx, false);
}

/// Backward for one sequence from `dctx: (T, E)`: accumulates into the
/// score's gradients, `dh: (T, Hd)` and `dk: (S, E)`.
#[allow(clippy::too_many_arguments)]
pub fn backward<S: Scalar, K: Backend<S>>(
    k: &K,
    score: Score,
    w: &ScoreWeights<'_, S, K>,
    g: &mut ScoreGrads<'_, S, K>,
    d: Dims,
    h: K::Ref<'_>,
    keys: K::Ref<'_>,
    cache: &mut AttnCache<S, K>,
    dctx: K::Ref<'_>,
    mut dh: K::Mut<'_>,
    mut dk: K::Mut<'_>,
) {
    // c = α k: dα = dc kᵀ, dk += αᵀ dc.
    k.resize(&mut cache.de, d.t * d.s);
    let AttnCache {
        alpha,
        kw,
        z,
        wq,
        uk,
        de,
    } = cache;
    let alpha = K::view(alpha);
    k.matmul(
        d.t,
        d.s,
        d.e,
        dctx,
        Trans::No,
        keys,
        Trans::Yes,
        K::view_mut(de),
        false,
    );
    let dk1 = K::reborrow(&mut dk);
    k.matmul(d.s, d.e, d.t, alpha, Trans::Yes, dctx, Trans::No, dk1, true);
    // Softmax: de = α ⊙ (dα - Σ_s α dα) (zero where α is).
    k.softmax_rows_backward(alpha, K::view_mut(de), d.s);
    let de = K::view(de);
    match score {
        Score::LuongDot => {
            k.matmul(d.t, d.hd, d.s, de, Trans::No, keys, Trans::No, dh, true);
            k.matmul(d.s, d.e, d.t, de, Trans::Yes, h, Trans::No, dk, true);
        }
        Score::LuongGeneral => {
            // e = h (k Wᵀ)ᵀ: dh += de kW; d(kW) = deᵀ h; dk += d(kW) W; dW += d(kW)ᵀ k.
            k.matmul(
                d.t,
                d.hd,
                d.s,
                de,
                Trans::No,
                K::view(kw),
                Trans::No,
                dh,
                true,
            );
            let dkw = wq; // (S, Hd) scratch
            k.resize(dkw, d.s * d.hd);
            k.matmul(
                d.s,
                d.hd,
                d.t,
                de,
                Trans::Yes,
                h,
                Trans::No,
                K::view_mut(dkw),
                false,
            );
            let dkw = K::view(dkw);
            k.matmul(d.s, d.e, d.hd, dkw, Trans::No, w.w, Trans::No, dk, true);
            let gw = K::reborrow(&mut g.w);
            k.matmul(d.hd, d.e, d.s, dkw, Trans::Yes, keys, Trans::No, gw, true);
        }
        Score::Bahdanau => {
            // e[t,s] = v·z_ts, z = tanh(Wq_t + Uk_s).
            let gv = K::reborrow(&mut g.v);
            k.additive_scores_backward(K::view(z), w.v, de, gv, K::view_mut(wq), K::view_mut(uk));
            let (dwq, duk) = (K::view(wq), K::view(uk));
            let gw = K::reborrow(&mut g.w);
            k.matmul(d.a, d.hd, d.t, dwq, Trans::Yes, h, Trans::No, gw, true);
            let dh1 = K::reborrow(&mut dh);
            k.matmul(d.t, d.hd, d.a, dwq, Trans::No, w.w, Trans::No, dh1, true);
            let gu = K::reborrow(&mut g.u);
            k.matmul(d.a, d.e, d.s, duk, Trans::Yes, keys, Trans::No, gu, true);
            k.matmul(d.s, d.e, d.a, duk, Trans::No, w.u, Trans::No, dk, true);
        }
    }
}
