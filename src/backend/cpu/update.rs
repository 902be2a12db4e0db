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
    if p.len() >= 2 * PARALLEL_MIN {
        let mid = p.len() / 2;
        let (pa, pb) = p.split_at_mut(mid);
        let (ga, gb) = g.split_at(mid);
        let (m0a, m0b) = split_moment(m0, mid);
        let (m1a, m1b) = split_moment(m1, mid);
        rayon::join(|| apply(u, pa, ga, m0a, m1a), || apply(u, pb, gb, m0b, m1b));
        return;
    }
    let eps = S::of(EPS);
    match u {
        Update::Sgd { lr } => {
            for (p, &g) in p.iter_mut().zip(g) {
                *p -= lr * g;
            }
        }
        Update::Momentum { lr, mu } => {
            for ((p, &g), v) in p.iter_mut().zip(g).zip(m0) {
                *v = mu * *v + g;
                *p -= lr * *v;
            }
        }
        Update::Adagrad { lr } => {
            for ((p, &g), m) in p.iter_mut().zip(g).zip(m0) {
                *m += g * g;
                *p -= lr * g / (m.sqrt() + S::of(ADAGRAD_EPS));
            }
        }
        Update::Rmsprop { lr, a } => {
            let one_minus_a = S::one() - a;
            for ((p, &g), s) in p.iter_mut().zip(g).zip(m0) {
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
            for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m0).zip(m1) {
                *m = b1 * *m + c1 * g;
                *v = b2 * *v + c2 * g * g;
                *p -= step * *m / (v.sqrt() / corr2 + eps);
            }
        }
    }
}
