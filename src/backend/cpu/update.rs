//! The CPU's parameter updates: one pass over the buffers, in halves on two
//! threads for large ones (elementwise, so the result is the same either
//! way).

use crate::backend::update::{ADAGRAD_EPS, EPS, Update};
use crate::tensor::Scalar;

/// Buffers at least twice this long are updated on two threads.
const PARALLEL_MIN: usize = 1 << 18;

fn split_moment<S>(m: &mut [S], mid: usize) -> (&mut [S], &mut [S]) {
    if m.is_empty() {
        (&mut [], &mut [])
    } else {
        m.split_at_mut(mid)
    }
}

/// Update `p` from `g` with moments `m0`, `m1` (empty when unused).
pub(super) fn apply<S: Scalar>(u: Update<S>, p: &mut [S], g: &[S], m0: &mut [S], m1: &mut [S]) {
    sweep(u, p, g, m0, m1, |g| g);
}

/// [`apply`] from `g` clamped to `[-c, c]` as it is read (`g` itself is
/// not written): the elementwise clip and the update in one sweep.
pub(super) fn apply_clamped<S: Scalar>(
    u: Update<S>,
    p: &mut [S],
    g: &[S],
    m0: &mut [S],
    m1: &mut [S],
    c: S,
) {
    sweep(u, p, g, m0, m1, move |g: S| g.max(-c).min(c));
}

/// Whether every value of `x` is finite: `x - x` is 0 for a finite value
/// and NaN otherwise, summed in 64 lanes (four registers of f32, so that
/// four chains of additions run at once; a search that stops at the first
/// non-finite value would not vectorize).
#[allow(clippy::eq_op)] // `v - v` on purpose: NaN exactly where `v` is not finite
pub(super) fn all_finite<S: Scalar>(x: &[S]) -> bool {
    const LANES: usize = 64;
    let mut acc = [S::zero(); LANES];
    let chunks = x.chunks_exact(LANES);
    let tail = chunks.remainder().iter().all(|v| v.is_finite());
    for c in chunks {
        for (a, &v) in acc.iter_mut().zip(c) {
            *a += v - v;
        }
    }
    tail && acc.iter().all(|a| a.is_finite())
}

/// [`apply`] with each gradient read through `grad`.
fn sweep<S: Scalar>(
    u: Update<S>,
    p: &mut [S],
    g: &[S],
    m0: &mut [S],
    m1: &mut [S],
    grad: impl Fn(S) -> S + Copy + Send + Sync,
) {
    if p.len() >= 2 * PARALLEL_MIN {
        let mid = p.len() / 2;
        let (pa, pb) = p.split_at_mut(mid);
        let (ga, gb) = g.split_at(mid);
        let (m0a, m0b) = split_moment(m0, mid);
        let (m1a, m1b) = split_moment(m1, mid);
        rayon::join(
            || sweep(u, pa, ga, m0a, m1a, grad),
            || sweep(u, pb, gb, m0b, m1b, grad),
        );
        return;
    }
    let eps = S::of(EPS);
    let g = g.iter().map(|&g| grad(g));
    match u {
        Update::Sgd { lr } => {
            for (p, g) in p.iter_mut().zip(g) {
                *p -= lr * g;
            }
        }
        Update::Momentum { lr, mu } => {
            for ((p, g), v) in p.iter_mut().zip(g).zip(m0) {
                *v = mu * *v + g;
                *p -= lr * *v;
            }
        }
        Update::Adagrad { lr } => {
            for ((p, g), m) in p.iter_mut().zip(g).zip(m0) {
                *m += g * g;
                *p -= lr * g / (m.sqrt() + S::of(ADAGRAD_EPS));
            }
        }
        Update::Rmsprop { lr, a } => {
            let one_minus_a = S::one() - a;
            for ((p, g), s) in p.iter_mut().zip(g).zip(m0) {
                *s = a * *s + one_minus_a * g * g;
                *p -= lr * g / (s.sqrt() + eps);
            }
        }
        Update::Adam {
            step,
            b1,
            b2,
            corr2,
        } => {
            let (c1, c2) = (S::one() - b1, S::one() - b2);
            for (((p, g), m), v) in p.iter_mut().zip(g).zip(m0).zip(m1) {
                *m = b1 * *m + c1 * g;
                *v = b2 * *v + c2 * g * g;
                *p -= step * *m / (v.sqrt() / corr2 + eps);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> [Update<f32>; 5] {
        [
            Update::Sgd { lr: 0.1 },
            Update::Momentum { lr: 0.1, mu: 0.9 },
            Update::Adagrad { lr: 0.1 },
            Update::Rmsprop { lr: 0.01, a: 0.99 },
            Update::Adam {
                step: 0.002,
                b1: 0.9,
                b2: 0.999,
                corr2: 0.05,
            },
        ]
    }

    /// The fused sweep gives the bits of a clamp followed by the update,
    /// for every rule.
    #[test]
    fn clamping_in_the_sweep_is_clamping_first() {
        let n = 1000;
        let g: Vec<f32> = (0..n)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) * 0.2)
            .collect();
        let p0: Vec<f32> = (0..n).map(|i| (i as f32 * 0.3).sin()).collect();
        let m0: Vec<f32> = (0..n).map(|i| (i as f32 * 0.7).cos().abs()).collect();
        for rule in rules() {
            let (mut pa, mut ma, mut va) = (p0.clone(), m0.clone(), m0.clone());
            let (mut pb, mut mb, mut vb) = (p0.clone(), m0.clone(), m0.clone());
            let clamped: Vec<f32> = g.iter().map(|v| v.clamp(-5.0, 5.0)).collect();
            assert!(clamped != g, "the test clamps something");
            apply(rule, &mut pa, &clamped, &mut ma, &mut va);
            apply_clamped(rule, &mut pb, &g, &mut mb, &mut vb, 5.0);
            assert_eq!((pa, ma, va), (pb, mb, vb), "{rule:?}");
        }
    }

    #[test]
    fn a_single_nan_or_infinity_anywhere_is_found() {
        for n in [0, 1, 63, 64, 65, 200] {
            let x = vec![1.5f32; n];
            assert!(all_finite(&x));
            for at in [0, n / 2, n.saturating_sub(1)]
                .into_iter()
                .filter(|&i| i < n)
            {
                for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
                    let mut y = x.clone();
                    y[at] = bad;
                    assert!(!all_finite(&y), "{bad} at {at} of {n}");
                }
            }
        }
    }
}
