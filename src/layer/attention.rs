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

/// The score's weights (empty slices where a score has none).
#[derive(Clone, Copy, Debug)]
pub struct ScoreWeights<'a, S> {
    /// `(Hd, E)` general; `(A, Hd)` additive.
    pub w: &'a [S],
    /// `(A, E)` additive.
    pub u: &'a [S],
    /// `(A)` additive.
    pub v: &'a [S],
}

/// Gradients of [`ScoreWeights`].
#[derive(Debug)]
pub struct ScoreGrads<'a, S> {
    /// `dL/dW`.
    pub w: &'a mut [S],
    /// `dL/dU`.
    pub u: &'a mut [S],
    /// `dL/dv`.
    pub v: &'a mut [S],
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

/// What the backward needs from one sequence's forward.
#[derive(Clone, Debug, Default)]
pub struct AttnCache<S> {
    /// `(T, S)` attention weights (0 past the source's length).
    pub alpha: Vec<S>,
    /// `(S, Hd)`: `k Wᵀ` (general).
    kw: Vec<S>,
    /// `(T, S, A)`: `tanh(W h_t + U k_s)` (additive).
    z: Vec<S>,
    /// Scratch: `(T, A)` and `(S, A)` projections / their gradients, `(T, S)`.
    wq: Vec<S>,
    uk: Vec<S>,
    de: Vec<S>,
}

/// Forward for one sequence: fills `cache.alpha` and writes `ctx: (T, E)`.
#[allow(clippy::too_many_arguments)]
pub fn forward<S: Scalar>(
    score: Score,
    w: &ScoreWeights<'_, S>,
    d: Dims,
    h: &[S],
    k: &[S],
    n: usize,
    cache: &mut AttnCache<S>,
    ctx: &mut [S],
) {
    let cpu = &Cpu;
    let z = S::zero();
    cache.alpha.resize(d.t * d.s, z);
    let e = &mut cache.alpha; // scores first, softmax in place below
    match score {
        Score::LuongDot => cpu.matmul(d.t, d.s, d.hd, h, Trans::No, k, Trans::Yes, e, false),
        Score::LuongGeneral => {
            cache.kw.resize(d.s * d.hd, z);
            cpu.matmul(
                d.s,
                d.hd,
                d.e,
                k,
                Trans::No,
                w.w,
                Trans::Yes,
                &mut cache.kw,
                false,
            );
            cpu.matmul(
                d.t,
                d.s,
                d.hd,
                h,
                Trans::No,
                &cache.kw,
                Trans::Yes,
                e,
                false,
            );
        }
        Score::Bahdanau => {
            cache.wq.resize(d.t * d.a, z);
            cache.uk.resize(d.s * d.a, z);
            cache.z.resize(d.t * d.s * d.a, z);
            cpu.matmul(
                d.t,
                d.a,
                d.hd,
                h,
                Trans::No,
                w.w,
                Trans::Yes,
                &mut cache.wq,
                false,
            );
            cpu.matmul(
                d.s,
                d.a,
                d.e,
                k,
                Trans::No,
                w.u,
                Trans::Yes,
                &mut cache.uk,
                false,
            );
            for t in 0..d.t {
                let q = &cache.wq[t * d.a..(t + 1) * d.a];
                for s in 0..d.s {
                    let zs = &mut cache.z[(t * d.s + s) * d.a..(t * d.s + s + 1) * d.a];
                    for ((o, &a), &b) in zs.iter_mut().zip(q).zip(&cache.uk[s * d.a..(s + 1) * d.a])
                    {
                        *o = (a + b).tanh_fast();
                    }
                    e[t * d.s + s] = zs.iter().zip(w.v).map(|(&a, &b)| a * b).sum();
                }
            }
        }
    }
    // Softmax over the real source steps; padding gets weight 0.
    for row in e.chunks_exact_mut(d.s) {
        let (real, pad) = row.split_at_mut(n);
        let max = real.iter().fold(S::neg_infinity(), |m, &x| m.max(x));
        let mut sum = S::zero();
        for x in real.iter_mut() {
            *x = (*x - max).exp_fast();
            sum += *x;
        }
        real.iter_mut().for_each(|x| *x /= sum);
        pad.fill(S::zero());
    }
    cpu.matmul(
        d.t,
        d.e,
        d.s,
        &cache.alpha,
        Trans::No,
        k,
        Trans::No,
        ctx,
        false,
    );
}

/// Backward for one sequence from `dctx: (T, E)`: accumulates into the
/// score's gradients, `dh: (T, Hd)` and `dk: (S, E)`.
#[allow(clippy::too_many_arguments)]
pub fn backward<S: Scalar>(
    score: Score,
    w: &ScoreWeights<'_, S>,
    g: &mut ScoreGrads<'_, S>,
    d: Dims,
    h: &[S],
    k: &[S],
    cache: &mut AttnCache<S>,
    dctx: &[S],
    dh: &mut [S],
    dk: &mut [S],
) {
    let cpu = &Cpu;
    let z = S::zero();
    // c = α k: dα = dc kᵀ, dk += αᵀ dc.
    cache.de.resize(d.t * d.s, z);
    cpu.matmul(
        d.t,
        d.s,
        d.e,
        dctx,
        Trans::No,
        k,
        Trans::Yes,
        &mut cache.de,
        false,
    );
    cpu.matmul(
        d.s,
        d.e,
        d.t,
        &cache.alpha,
        Trans::Yes,
        dctx,
        Trans::No,
        dk,
        true,
    );
    // Softmax: de = α ⊙ (dα - Σ_s α dα) (zero where α is).
    for (de, a) in cache
        .de
        .chunks_exact_mut(d.s)
        .zip(cache.alpha.chunks_exact(d.s))
    {
        let dot: S = de.iter().zip(a).map(|(&x, &y)| x * y).sum();
        for (x, &y) in de.iter_mut().zip(a) {
            *x = y * (*x - dot);
        }
    }
    let de = &cache.de;
    match score {
        Score::LuongDot => {
            cpu.matmul(d.t, d.hd, d.s, de, Trans::No, k, Trans::No, dh, true);
            cpu.matmul(d.s, d.e, d.t, de, Trans::Yes, h, Trans::No, dk, true);
        }
        Score::LuongGeneral => {
            // e = h (k Wᵀ)ᵀ: dh += de kW; d(kW) = deᵀ h; dk += d(kW) W; dW += d(kW)ᵀ k.
            cpu.matmul(
                d.t,
                d.hd,
                d.s,
                de,
                Trans::No,
                &cache.kw,
                Trans::No,
                dh,
                true,
            );
            let dkw = &mut cache.wq; // (S, Hd) scratch
            dkw.resize(d.s * d.hd, z);
            cpu.matmul(d.s, d.hd, d.t, de, Trans::Yes, h, Trans::No, dkw, false);
            cpu.matmul(d.s, d.e, d.hd, dkw, Trans::No, w.w, Trans::No, dk, true);
            cpu.matmul(d.hd, d.e, d.s, dkw, Trans::Yes, k, Trans::No, g.w, true);
        }
        Score::Bahdanau => {
            // e[t,s] = v·z_ts, z = tanh(Wq_t + Uk_s).
            let (dwq, duk) = (&mut cache.wq, &mut cache.uk);
            dwq.fill(z);
            duk.fill(z);
            for t in 0..d.t {
                for s in 0..d.s {
                    let det = de[t * d.s + s];
                    if det == z {
                        continue;
                    }
                    let zs = &cache.z[(t * d.s + s) * d.a..(t * d.s + s + 1) * d.a];
                    for j in 0..d.a {
                        g.v[j] += det * zs[j];
                        let dpre = det * w.v[j] * (S::one() - zs[j] * zs[j]);
                        dwq[t * d.a + j] += dpre;
                        duk[s * d.a + j] += dpre;
                    }
                }
            }
            cpu.matmul(d.a, d.hd, d.t, dwq, Trans::Yes, h, Trans::No, g.w, true);
            cpu.matmul(d.t, d.hd, d.a, dwq, Trans::No, w.w, Trans::No, dh, true);
            cpu.matmul(d.a, d.e, d.s, duk, Trans::Yes, k, Trans::No, g.u, true);
            cpu.matmul(d.s, d.e, d.a, duk, Trans::No, w.u, Trans::No, dk, true);
        }
    }
}
