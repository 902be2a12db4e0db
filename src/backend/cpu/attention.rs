//! The CPU's attention kernels: masked row softmax and Bahdanau's additive
//! scores, with their backwards (see [`crate::backend::Backend`]).

use crate::tensor::Scalar;

/// See [`crate::backend::Backend::softmax_rows`].
pub(super) fn softmax_rows<S: Scalar>(x: &mut [S], cols: usize, n: usize) {
    for row in x.chunks_exact_mut(cols) {
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
}

/// See [`crate::backend::Backend::softmax_rows_backward`].
pub(super) fn softmax_rows_backward<S: Scalar>(y: &[S], d: &mut [S], cols: usize) {
    for (de, a) in d.chunks_exact_mut(cols).zip(y.chunks_exact(cols)) {
        let dot: S = de.iter().zip(a).map(|(&x, &y)| x * y).sum();
        for (x, &y) in de.iter_mut().zip(a) {
            *x = y * (*x - dot);
        }
    }
}

/// See [`crate::backend::Backend::additive_scores`].
pub(super) fn additive_scores<S: Scalar>(q: &[S], u: &[S], v: &[S], z: &mut [S], e: &mut [S]) {
    let a = v.len();
    let (t_len, s_len) = (q.len() / a, u.len() / a);
    for t in 0..t_len {
        let q = &q[t * a..(t + 1) * a];
        for s in 0..s_len {
            let zs = &mut z[(t * s_len + s) * a..(t * s_len + s + 1) * a];
            for ((o, &x), &y) in zs.iter_mut().zip(q).zip(&u[s * a..(s + 1) * a]) {
                *o = (x + y).tanh_fast();
            }
            e[t * s_len + s] = zs.iter().zip(v).map(|(&x, &y)| x * y).sum();
        }
    }
}

/// See [`crate::backend::Backend::additive_scores_backward`].
pub(super) fn additive_scores_backward<S: Scalar>(
    z: &[S],
    v: &[S],
    de: &[S],
    dv: &mut [S],
    dq: &mut [S],
    du: &mut [S],
) {
    let a = v.len();
    let (t_len, s_len) = (dq.len() / a, du.len() / a);
    dq.fill(S::zero());
    du.fill(S::zero());
    for t in 0..t_len {
        for s in 0..s_len {
            let det = de[t * s_len + s];
            if det == S::zero() {
                continue;
            }
            let zs = &z[(t * s_len + s) * a..(t * s_len + s + 1) * a];
            for j in 0..a {
                dv[j] += det * zs[j];
                let dpre = det * v[j] * (S::one() - zs[j] * zs[j]);
                dq[t * a + j] += dpre;
                du[s * a + j] += dpre;
            }
        }
    }
}
