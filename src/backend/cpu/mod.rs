//! The CPU reference backend: buffers are `Vec<S>`, views are slices,
//! kernels are plain loops the compiler vectorizes, and the `gemm` crate
//! does matrix products.

mod attention;
mod update;

use crate::tensor::transpose;

use super::{Activation, Backend, IGNORE, Ready, RowKernel, Update, random};
use crate::tensor::bf16::{self, Precision};
use crate::tensor::pair::{self, Shared};
use crate::tensor::{Operand, SMALL_M, Scalar, Trans, dot, f32s, f32s_mut, is_f32, matmul, sum};

/// The CPU backend (stateless; threads for large GEMMs follow
/// [`crate::tensor::set_threads`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct Cpu;

/// Whether products of `S` take bf16 operands now: f32 under
/// `--precision bf16` (see [`bf16::set_precision`]).
fn bf16_operands<S: Scalar>() -> bool {
    bf16::precision() == Precision::Bf16 && is_f32::<S>()
}

/// `x` as f32s.
///
/// # Panics
/// Unless `S` is f32 ([`is_f32`]).
fn as_f32<S: Scalar>(x: &[S]) -> &[f32] {
    f32s(x).expect("S is f32")
}

/// [`as_f32`] of an exclusive slice.
fn as_f32_mut<S: Scalar>(x: &mut [S]) -> &mut [f32] {
    f32s_mut(x).expect("S is f32")
}

/// Rows of `x` that are padding at step `s` (`lengths[r] <= s`), each as
/// its range in a `(B, n)` buffer.
fn padded(lengths: &[usize], s: usize, n: usize) -> impl Iterator<Item = std::ops::Range<usize>> {
    lengths
        .iter()
        .enumerate()
        .filter(move |&(_, &len)| s >= len)
        .map(move |(r, _)| r * n..(r + 1) * n)
}

impl<S: Scalar> Backend<S> for Cpu {
    type Buf = Vec<S>;
    type Ref<'a> = &'a [S];
    type Mut<'a> = &'a mut [S];

    const READS_HOST: bool = true;

    fn resize(&self, buf: &mut Vec<S>, len: usize) {
        buf.resize(len, S::zero());
    }

    #[inline]
    fn buf_len(buf: &Vec<S>) -> usize {
        buf.len()
    }

    fn upload(&self, host: &[S]) -> Vec<S> {
        host.to_vec()
    }

    fn download(&self, src: &[S], dst: &mut [S]) {
        dst.copy_from_slice(src);
    }

    #[inline]
    fn host_view<'a>(&self, host: &'a [S], _staging: &'a mut Vec<S>) -> &'a [S] {
        host
    }

    fn write_from_host(&self, dst: &mut [S], mut f: impl FnMut() -> S) {
        dst.iter_mut().for_each(|v| *v = f());
    }

    #[inline]
    fn host_mut<'a>(m: Self::Mut<'a>) -> Option<&'a mut [S]> {
        Some(m)
    }

    #[inline]
    fn host_ref<'a>(r: Self::Ref<'a>) -> Option<&'a [S]> {
        Some(r)
    }

    #[inline]
    fn view(buf: &Vec<S>) -> &[S] {
        buf
    }

    #[inline]
    fn view_mut(buf: &mut Vec<S>) -> &mut [S] {
        buf
    }

    #[inline]
    fn shorten<'a: 'b, 'b>(r: &'a [S]) -> &'b [S] {
        r
    }

    #[inline]
    fn reborrow<'b>(m: &'b mut &mut [S]) -> &'b mut [S] {
        m
    }

    #[inline]
    fn copy(&self, src: &[S], dst: &mut [S]) {
        dst.copy_from_slice(src);
    }

    #[inline]
    fn fill(&self, dst: &mut [S], value: S) {
        dst.fill(value);
    }

    fn add(&self, src: &[S], dst: &mut [S]) {
        for (o, &v) in dst.iter_mut().zip(src) {
            *o += v;
        }
    }

    fn mul(&self, src: &[S], dst: &mut [S]) {
        for (o, &v) in dst.iter_mut().zip(src) {
            *o *= v;
        }
    }

    fn mul_into(&self, a: &[S], b: &[S], dst: &mut [S]) {
        for ((o, &x), &y) in dst.iter_mut().zip(a).zip(b) {
            *o = x * y;
        }
    }

    fn copy_block(
        &self,
        rows: usize,
        width: usize,
        src: (&[S], usize),
        dst: (&mut [S], usize),
        accumulate: bool,
    ) {
        let ((src, ss), (dst, ds)) = (src, dst);
        for r in 0..rows {
            let (d, s) = (
                &mut dst[r * ds..r * ds + width],
                &src[r * ss..r * ss + width],
            );
            if accumulate {
                self.add(s, d);
            } else {
                d.copy_from_slice(s);
            }
        }
    }

    fn set_padded_rows(&self, lengths: &[usize], s: usize, src: Option<&[S]>, dst: &mut [S]) {
        let n = dst.len() / lengths.len().max(1);
        for r in padded(lengths, s, n) {
            match src {
                Some(src) => dst[r.clone()].copy_from_slice(&src[r]),
                None => dst[r].fill(S::zero()),
            }
        }
    }

    fn add_padded_rows(&self, lengths: &[usize], s: usize, src: &[S], dst: &mut [S]) {
        let n = dst.len() / lengths.len().max(1);
        for r in padded(lengths, s, n) {
            for (o, &v) in dst[r.clone()].iter_mut().zip(&src[r]) {
                *o += v;
            }
        }
    }

    fn dropout_mask(&self, mask: &mut [S], p: f64, key: u64) {
        let (threshold, keep) = (random::drop_threshold(p), S::of(1.0 / (1.0 - p)));
        for (i, m) in mask.iter_mut().enumerate() {
            let dropped = random::bits24(key, i as u32) < threshold;
            *m = if dropped { S::zero() } else { keep };
        }
    }

    #[inline]
    fn rows<const N: usize, const M: usize>(
        &self,
        kernel: &impl RowKernel<S, N, M>,
        rows: usize,
        ins: [&[S]; N],
        mut outs: [&mut [S]; M],
    ) {
        let rows = rows.max(1);
        let in_len = ins.map(|x| x.len() / rows);
        let out_len: [usize; M] = std::array::from_fn(|k| outs[k].len() / rows);
        let shared = outs.each_mut().map(|x| Shared::new(x));
        // Rows `range`; each of its outputs is written through `shared`.
        let run = |range: std::ops::Range<usize>| {
            for r in range {
                let i = std::array::from_fn(|k| &ins[k][r * in_len[k]..(r + 1) * in_len[k]]);
                let o = std::array::from_fn(|k| {
                    let n = out_len[k];
                    // SAFETY: output `k` holds `rows × n` values (its
                    // length is `rows · n` or more), row `r` is in range,
                    // and each row is written by one call alone.
                    unsafe { std::slice::from_raw_parts_mut(shared[k].get().add(r * n), n) }
                });
                kernel.row(i, o);
            }
        };
        // A batch's step (rows of a cell's pointwise maths, read and
        // written once): in two halves on the two cores where it is
        // large enough, as its products are.
        let mid = rows / 2;
        match rows * out_len.iter().sum::<usize>() >= pair::MIN_VALUES && mid > 0 {
            true => pair::halves(&|half| run(if half == 0 { 0..mid } else { mid..rows })),
            false => run(0..rows),
        }
    }

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
        if m > SMALL_M && bf16_operands::<S>() {
            let (a, b, c) = (as_f32(a), as_f32(b), as_f32_mut(c));
            return bf16::matmul_bf16(m, n, k, a, ta, b, tb, c, accumulate);
        }
        matmul(m, n, k, a, ta, b, tb, c, accumulate);
    }

    fn holding<R>(
        &self,
        x: &[S],
        side: Operand,
        dims: (usize, usize),
        t: Trans,
        f: impl FnOnce() -> R,
    ) -> R {
        match bf16_operands::<S>() {
            true => bf16::holding(as_f32(x), side, dims, t, f),
            false => f(),
        }
    }

    fn holding_as_written<R>(
        &self,
        side: Operand,
        dims: (usize, usize),
        t: Trans,
        f: impl FnOnce(&mut Ready<'_, S, Self>) -> R,
    ) -> R {
        match bf16_operands::<S>() {
            true => bf16::holding_as_written(side, dims, t, |ready| {
                f(&mut |block: &[S], first| ready(as_f32(block), first))
            }),
            false => f(&mut |_, _| {}),
        }
    }

    fn recurrent_weight<'a>(
        &self,
        rows: usize,
        g: usize,
        h: usize,
        w_hh: &'a [S],
        scratch: &'a mut Vec<S>,
    ) -> (&'a [S], Trans) {
        // One to a few rows take dot products with W_hh's rows directly;
        // more multiply by a row-major W_hhᵀ.
        if rows <= SMALL_M {
            return (w_hh, Trans::Yes);
        }
        scratch.resize(g * h, S::zero());
        transpose(g, h, w_hh, scratch);
        (scratch, Trans::No)
    }

    fn gather_rows(&self, table: &[S], tokens: &[u32], out: &mut [S]) {
        gather_rows_in_halves(table, tokens, out);
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

    fn gather_columns(&self, w: &[S], v: usize, tokens: &[u32], out: &mut [S]) {
        let h = w.len() / v;
        if through_transpose(tokens.len(), v) {
            // A window's many tokens: copy rows of `wᵀ (V, H)` rather
            // than read `w` a column at a time for each.
            let mut wt = vec![S::zero(); w.len()];
            transpose(h, v, w, &mut wt);
            return gather_rows_in_halves(&wt, tokens, out);
        }
        for (row, &tok) in out.chunks_exact_mut(h).zip(tokens) {
            let tok = tok as usize;
            for (j, o) in row.iter_mut().enumerate() {
                *o = w[j * v + tok];
            }
        }
    }

    fn scatter_add_columns(&self, d: &[S], tokens: &[u32], dw: &mut [S], v: usize) {
        let h = dw.len() / v;
        if through_transpose(tokens.len(), v) {
            // Summed onto rows of `dwᵀ (V, H)`, in the same order (the
            // same bits), then moved back.
            let mut dwt = vec![S::zero(); dw.len()];
            transpose(h, v, dw, &mut dwt);
            for (row, &tok) in d.chunks_exact(h).zip(tokens) {
                for (o, &g) in dwt[tok as usize * h..][..h].iter_mut().zip(row) {
                    *o += g;
                }
            }
            transpose(v, h, &dwt, dw);
            return;
        }
        for (row, &tok) in d.chunks_exact(h).zip(tokens) {
            let tok = tok as usize;
            for (j, &g) in row.iter().enumerate() {
                dw[j * v + tok] += g;
            }
        }
    }

    fn add_bias(&self, x: &mut [S], bias: &[S]) {
        self.add_biases(x, bias, None);
    }

    fn add_biases(&self, x: &mut [S], first: &[S], second: Option<&[S]>) {
        let n = first.len();
        row_halves(x, n, &|_, x| {
            for row in x.chunks_exact_mut(n) {
                match second {
                    Some(second) => {
                        for ((o, &a), &b) in row.iter_mut().zip(first).zip(second) {
                            *o = *o + a + b;
                        }
                    }
                    None => {
                        for (o, &a) in row.iter_mut().zip(first) {
                            *o += a;
                        }
                    }
                }
            }
        });
    }

    fn gather_columns_biased(
        &self,
        w: &[S],
        v: usize,
        tokens: &[u32],
        (first, second): (&[S], Option<&[S]>),
        out: &mut [S],
    ) {
        if !through_transpose(tokens.len(), v) {
            self.gather_columns(w, v, tokens, out);
            return self.add_biases(out, first, second);
        }
        // Each token's row of `wᵀ (V, H)` with the biases added once.
        let h = w.len() / v;
        let mut table = vec![S::zero(); w.len()];
        transpose(h, v, w, &mut table);
        self.add_biases(&mut table, first, second);
        gather_rows_in_halves(&table, tokens, out);
    }

    fn set_rows(&self, x: &mut [S], bias: &[S]) {
        for row in x.chunks_exact_mut(bias.len()) {
            row.copy_from_slice(bias);
        }
    }

    fn sum_rows_into(&self, d: &[S], db: &mut [S]) {
        let n = db.len();
        // Each core its own columns, every row in order (the same bits).
        pair_of_columns(d.len(), n, [db], &|cols, [db]| {
            for row in d.chunks_exact(n) {
                for (o, &g) in db.iter_mut().zip(&row[cols.clone()]) {
                    *o += g;
                }
            }
        });
    }

    fn sum_rows_into_both(&self, d: &[S], first: &mut [S], second: &mut [S]) {
        let n = first.len();
        pair_of_columns(d.len(), n, [first, second], &|cols, [first, second]| {
            for row in d.chunks_exact(n) {
                for ((a, b), &g) in first
                    .iter_mut()
                    .zip(second.iter_mut())
                    .zip(&row[cols.clone()])
                {
                    *a += g;
                    *b += g;
                }
            }
        });
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

    fn mse(&self, y: &[S], target: &[S], dy: &mut [S]) -> f64 {
        let n = S::of(y.len().max(1) as f64);
        let mut loss = 0.0;
        for ((d, &y), &t) in dy.iter_mut().zip(y).zip(target) {
            let e = y - t;
            loss += (e * e).f64();
            *d = (e + e) / n;
        }
        loss / n.f64()
    }

    fn mae(&self, y: &[S], target: &[S], dy: &mut [S]) -> f64 {
        let n = S::of(y.len().max(1) as f64);
        let mut loss = 0.0;
        for ((d, &y), &t) in dy.iter_mut().zip(y).zip(target) {
            let e = y - t;
            loss += e.abs().f64();
            *d = if e > S::zero() {
                S::one() / n
            } else if e < S::zero() {
                -S::one() / n
            } else {
                S::zero()
            };
        }
        loss / n.f64()
    }

    fn softmax_rows(&self, x: &mut [S], cols: usize, n: usize) {
        attention::softmax_rows(x, cols, n);
    }

    fn softmax_rows_backward(&self, y: &[S], d: &mut [S], cols: usize) {
        attention::softmax_rows_backward(y, d, cols);
    }

    fn additive_scores(&self, q: &[S], u: &[S], v: &[S], z: &mut [S], e: &mut [S]) {
        attention::additive_scores(q, u, v, z, e);
    }

    fn additive_scores_backward(
        &self,
        z: &[S],
        v: &[S],
        de: &[S],
        dv: &mut [S],
        dq: &mut [S],
        du: &mut [S],
    ) {
        attention::additive_scores_backward(z, v, de, dv, dq, du);
    }

    fn update(&self, rule: Update<S>, p: &mut [S], g: &[S], m0: &mut [S], m1: &mut [S]) {
        update::apply(rule, p, g, m0, m1);
    }

    fn clamp_update_guarded(
        &self,
        rule: Update<S>,
        p: &mut [S],
        g: &mut [S],
        (m0, m1): (&mut [S], &mut [S]),
        c: S,
        verdict: &mut [S],
    ) {
        let finite = self.all_finite(g);
        verdict[0] = if finite { S::zero() } else { S::nan() };
        if finite {
            update::apply_clamped(rule, p, g, m0, m1, c);
        }
    }

    fn sum_squares(&self, x: &[S]) -> f64 {
        dot(x, x).f64()
    }

    fn scale(&self, x: &mut [S], s: S) {
        x.iter_mut().for_each(|v| *v *= s);
    }

    fn clamp(&self, x: &mut [S], lo: S, hi: S) -> bool {
        let mut finite = true;
        for v in x.iter_mut() {
            finite &= v.is_finite();
            *v = v.max(lo).min(hi);
        }
        finite
    }

    fn all_finite(&self, x: &[S]) -> bool {
        update::all_finite(x)
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

/// Whether [`Backend::gather_columns`] and [`Backend::scatter_add_columns`]
/// go through the transposed weight: for more than 4 tokens a column
/// (a window's batch), where moving the `(H, V)` weight once costs less
/// than reading it a column at a time for each token.
fn through_transpose(tokens: usize, v: usize) -> bool {
    tokens > 4 * v
}

/// `out[r, :] = table[tokens[r], :]`, the rows in two halves on the two
/// cores where `out` is large enough. `table: (V, D)`, `out: (R, D)`.
fn gather_rows_in_halves<S: Scalar>(table: &[S], tokens: &[u32], out: &mut [S]) {
    let d = out.len() / tokens.len().max(1);
    row_halves(out, d, &|first, out| {
        for (row, &tok) in out.chunks_exact_mut(d).zip(&tokens[first..]) {
            row.copy_from_slice(&table[tok as usize * d..][..d]);
        }
    });
}

/// `work(first, rows)` over the rows (`n` values each) of `x`, `first`
/// the index of the first row it is given: in two halves on the two cores
/// where `x` is large enough ([`pair::MIN_VALUES`]), else all at once.
fn row_halves<S: Send>(x: &mut [S], n: usize, work: &(dyn Fn(usize, &mut [S]) + Sync)) {
    let mid = x.len() / n.max(1) / 2;
    match x.len() >= pair::MIN_VALUES && mid > 0 {
        true => pair::halves_of(x, mid * n, &|half, x| work(half * mid, x)),
        false => work(0, x),
    }
}

/// What [`pair_of_columns`] runs on each half: its columns, and its part
/// of each output.
type ColumnsWork<'a, S, const N: usize> = dyn Fn(std::ops::Range<usize>, [&mut [S]; N]) + Sync + 'a;

/// `work(columns, outs)` over the `n` columns of a `(R, n)` input of
/// `len` values, summed into `outs` (each `(n)`; given the part that is
/// `columns`): in two halves of the columns on the two cores where the
/// input is large enough ([`pair::MIN_VALUES`]), else all at once.
fn pair_of_columns<S: Send, const N: usize>(
    len: usize,
    n: usize,
    outs: [&mut [S]; N],
    work: &ColumnsWork<'_, S, N>,
) {
    let mid = n / 2;
    match len >= pair::MIN_VALUES && mid > 0 {
        true => pair::halves_of_each(outs, [mid; N], &|half, outs| {
            work(if half == 0 { 0..mid } else { mid..n }, outs)
        }),
        false => work(0..n, outs),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Row `r`: `y = 2x` and `z[0] += x[0]`.
    struct Twice;

    impl RowKernel<f32, 1, 2> for Twice {
        const WGSL: &'static str = "";
        fn units(&self) -> usize {
            1
        }
        fn row(&self, [x]: [&[f32]; 1], [y, z]: [&mut [f32]; 2]) {
            for (v, &u) in y.iter_mut().zip(x) {
                *v = 2.0 * u;
            }
            z[0] += x[0];
        }
    }

    #[test]
    fn one_hot_gathers_and_scatters_read_and_write_the_tokens_columns() {
        let (h, v) = (7, 3);
        let w: Vec<f64> = (0..h * v).map(|i| (i as f64 * 0.7).sin()).collect();
        // 5 tokens read the columns in place, 40 the transposed weight.
        for n in [5, 40] {
            assert_eq!(through_transpose(n, v), n > 12);
            let tokens: Vec<u32> = (0..n).map(|i| (i * i % v) as u32).collect();
            let mut out = vec![0.0; n * h];
            Cpu.gather_columns(&w, v, &tokens, &mut out);
            let d: Vec<f64> = (0..n * h).map(|i| (i as f64 * 0.3).cos()).collect();
            let mut dw: Vec<f64> = (0..h * v).map(|i| i as f64).collect();
            let mut want = dw.clone();
            Cpu.scatter_add_columns(&d, &tokens, &mut dw, v);
            for (r, &t) in tokens.iter().enumerate() {
                for j in 0..h {
                    assert_eq!(out[r * h + j], w[j * v + t as usize], "{n}: ({r}, {j})");
                    want[j * v + t as usize] += d[r * h + j];
                }
            }
            // Summed in the same order either way: the same bits.
            assert_eq!(dw, want, "{n} tokens");
        }
    }

    #[test]
    fn bias_passes_give_the_bits_of_one_addition_at_a_time() {
        // 3 rows run whole; 65 rows of 301 (past `pair::MIN_VALUES`) in
        // halves, of rows or of columns, cut unevenly.
        for (rows, n) in [(3, 5), (65, 301)] {
            assert_eq!(rows * n >= pair::MIN_VALUES, rows == 65);
            let x: Vec<f32> = (0..rows * n)
                .map(|i| (i as f32 * 0.37).sin() * 1e3)
                .collect();
            let b1: Vec<f32> = (0..n).map(|j| (j as f32 * 0.11).cos()).collect();
            let b2: Vec<f32> = (0..n).map(|j| (j as f32 * 0.05).sin() * 1e-3).collect();
            for second in [None, Some(b2.as_slice())] {
                let mut got = x.clone();
                Cpu.add_biases(&mut got, &b1, second);
                let mut want = x.clone();
                for (i, o) in want.iter_mut().enumerate() {
                    *o += b1[i % n];
                    if let Some(b2) = second {
                        *o += b2[i % n];
                    }
                }
                assert_eq!(got, want, "{rows}x{n}, second bias: {}", second.is_some());
            }
            // The row sums, one at a time from the old values.
            let mut want: Vec<f32> = (0..n).map(|j| j as f32).collect();
            let start = want.clone();
            for row in x.chunks_exact(n) {
                for (o, &g) in want.iter_mut().zip(row) {
                    *o += g;
                }
            }
            let mut one = start.clone();
            Cpu.sum_rows_into(&x, &mut one);
            assert_eq!(one, want, "{rows}x{n}: one sum");
            let (mut first, mut second) = (start.clone(), start.clone());
            Cpu.sum_rows_into_both(&x, &mut first, &mut second);
            assert_eq!((&first, &second), (&want, &want), "{rows}x{n}: both sums");
        }
        // A one-hot projection with its biases: the gather, then each bias.
        let (h, v) = (301, 5);
        let w: Vec<f32> = (0..h * v).map(|i| (i as f32 * 0.7).sin()).collect();
        let b1: Vec<f32> = (0..h).map(|j| (j as f32 * 0.3).cos()).collect();
        let b2: Vec<f32> = (0..h).map(|j| (j as f32 * 0.2).sin() * 1e-2).collect();
        for tokens in [3, 65] {
            let tokens: Vec<u32> = (0..tokens).map(|i| (i * 7 % v) as u32).collect();
            for second in [None, Some(b2.as_slice())] {
                let mut got = vec![0.0; tokens.len() * h];
                Cpu.gather_columns_biased(&w, v, &tokens, (&b1, second), &mut got);
                let mut want = vec![0.0; tokens.len() * h];
                Cpu.gather_columns(&w, v, &tokens, &mut want);
                Cpu.add_bias(&mut want, &b1);
                if let Some(b2) = second {
                    Cpu.add_bias(&mut want, b2);
                }
                assert_eq!(got, want, "{} tokens", tokens.len());
            }
        }
    }

    #[test]
    fn row_kernels_write_every_row_whole_or_in_halves() {
        let n = 512;
        assert!(3 * (n + 1) < pair::MIN_VALUES, "3 rows run whole");
        assert!(64 * (n + 1) >= pair::MIN_VALUES, "64 rows run in halves");
        for rows in [1, 3, 64, 65] {
            let x: Vec<f32> = (0..rows * n).map(|i| i as f32).collect();
            let (mut y, mut z) = (vec![0.0; rows * n], vec![1.0; rows]);
            Backend::<f32>::rows(&Cpu, &Twice, rows, [&x], [&mut y, &mut z]);
            for r in 0..rows {
                let row = r * n..(r + 1) * n;
                assert!(
                    y[row.clone()]
                        .iter()
                        .zip(&x[row])
                        .all(|(v, u)| *v == 2.0 * u),
                    "{rows} rows: row {r}"
                );
                assert_eq!(z[r], 1.0 + x[r * n], "{rows} rows: row {r} once");
            }
        }
    }
}
