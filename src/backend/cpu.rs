//! The CPU reference backend: plain loops the compiler vectorizes, and the
//! `gemm` crate for matrix products.

use super::{Activation, Backend, IGNORE, cells};
use crate::tensor::{Scalar, Trans, matmul, sum};

/// The CPU backend (stateless; threads for large GEMMs follow
/// [`crate::tensor::set_threads`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct Cpu;

impl<S: Scalar> Backend<S> for Cpu {
    #[inline]
    fn matmul(
        &self,
        m: usize,
        n: usize,
        k: usize,
        a: &[S],
        ta: Trans,
        b: &[S],
        tb: Trans,
        c: &mut [S],
        accumulate: bool,
    ) {
        matmul(m, n, k, a, ta, b, tb, c, accumulate);
    }

    fn transpose(&self, rows: usize, cols: usize, src: &[S], dst: &mut [S]) {
        // 16×16 tiles keep both sides in cache lines.
        const TILE: usize = 16;
        for i0 in (0..rows).step_by(TILE) {
            for j0 in (0..cols).step_by(TILE) {
                for i in i0..(i0 + TILE).min(rows) {
                    for j in j0..(j0 + TILE).min(cols) {
                        dst[j * rows + i] = src[i * cols + j];
                    }
                }
            }
        }
    }

    fn gather_rows(&self, table: &[S], tokens: &[u32], out: &mut [S]) {
        let d = out.len() / tokens.len().max(1);
        for (row, &tok) in out.chunks_exact_mut(d).zip(tokens) {
            let t = tok as usize * d;
            row.copy_from_slice(&table[t..t + d]);
        }
    }

    fn scatter_add_rows(&self, d: &[S], tokens: &[u32], dtable: &mut [S]) {
        let n = d.len() / tokens.len().max(1);
        for (row, &tok) in d.chunks_exact(n).zip(tokens) {
            let t = tok as usize * n;
            for (o, &g) in dtable[t..t + n].iter_mut().zip(row) {
                *o += g;
            }
        }
    }

    fn lstm_step(
        &self,
        h_size: usize,
        gates: &mut [S],
        c_prev: &[S],
        c: &mut [S],
        tanh_c: &mut [S],
        h: &mut [S],
    ) {
        cells::lstm_step(h_size, gates, c_prev, c, tanh_c, h);
    }

    fn lstm_step_backward(
        &self,
        h_size: usize,
        gates: &[S],
        c_prev: &[S],
        tanh_c: &[S],
        dh: &[S],
        dc: &mut [S],
        dgates: &mut [S],
    ) {
        cells::lstm_step_backward(h_size, gates, c_prev, tanh_c, dh, dc, dgates);
    }

    fn gru_step(
        &self,
        h_size: usize,
        xg: &[S],
        gh: &[S],
        h_prev: &[S],
        gates: &mut [S],
        hn: &mut [S],
        h: &mut [S],
    ) {
        cells::gru_step(h_size, xg, gh, h_prev, gates, hn, h);
    }

    fn gru_step_backward(
        &self,
        h_size: usize,
        gates: &[S],
        hn: &[S],
        h_prev: &[S],
        dh: &[S],
        dgx: &mut [S],
        dgh: &mut [S],
        dprev: &mut [S],
    ) {
        cells::gru_step_backward(h_size, gates, hn, h_prev, dh, dgx, dgh, dprev);
    }

    fn gather_columns(&self, w: &[S], v: usize, tokens: &[u32], out: &mut [S]) {
        let h = w.len() / v;
        for (row, &tok) in out.chunks_exact_mut(h).zip(tokens) {
            let tok = tok as usize;
            for (j, o) in row.iter_mut().enumerate() {
                *o = w[j * v + tok];
            }
        }
    }

    fn scatter_add_columns(&self, d: &[S], tokens: &[u32], dw: &mut [S], v: usize) {
        let h = dw.len() / v;
        for (row, &tok) in d.chunks_exact(h).zip(tokens) {
            let tok = tok as usize;
            for (j, &g) in row.iter().enumerate() {
                dw[j * v + tok] += g;
            }
        }
    }

    fn add_bias(&self, x: &mut [S], bias: &[S]) {
        for row in x.chunks_exact_mut(bias.len()) {
            for (o, &b) in row.iter_mut().zip(bias) {
                *o += b;
            }
        }
    }

    fn sum_rows_into(&self, d: &[S], db: &mut [S]) {
        let n = db.len();
        for row in d.chunks_exact(n) {
            for (o, &g) in db.iter_mut().zip(row) {
                *o += g;
            }
        }
    }

    fn activate(&self, act: Activation, x: &mut [S]) {
        match act {
            Activation::Tanh => x.iter_mut().for_each(|v| *v = v.tanh_fast()),
            Activation::Relu => x.iter_mut().for_each(|v| *v = v.max(S::zero())),
        }
    }

    fn activate_backward(&self, act: Activation, y: &[S], d: &mut [S]) {
        match act {
            Activation::Tanh => {
                for (g, &y) in d.iter_mut().zip(y) {
                    *g *= S::one() - y * y;
                }
            }
            Activation::Relu => {
                for (g, &y) in d.iter_mut().zip(y) {
                    if y <= S::zero() {
                        *g = S::zero();
                    }
                }
            }
        }
    }

    fn softmax_cross_entropy(
        &self,
        logits: &[S],
        v: usize,
        targets: &[u32],
        scale: S,
        dlogits: &mut [S],
    ) -> (f64, usize) {
        let mut loss = 0.0;
        let mut count = 0;
        for ((row, d), &t) in logits
            .chunks_exact(v)
            .zip(dlogits.chunks_exact_mut(v))
            .zip(targets)
        {
            if t == IGNORE {
                d.fill(S::zero());
                continue;
            }
            let max = row.iter().fold(S::neg_infinity(), |m, &x| m.max(x));
            for (o, &x) in d.iter_mut().zip(row) {
                *o = (x - max).exp_fast();
            }
            let sum = sum(d);
            let t = t as usize;
            // -log softmax = log(sum) - (x_t - max)
            loss += sum.ln().f64() - (row[t] - max).f64();
            count += 1;
            let inv = scale / sum;
            d.iter_mut().for_each(|o| *o *= inv);
            d[t] -= scale;
        }
        (loss, count)
    }
}
