//! AVX-512 kernels, in f32, of products of one to a few rows
//! ([`super::SMALL_M`]): a batch-1 step and sampling. [`super::gemm`]'s
//! portable kernels run for f64 and where the CPU has no AVX-512.
//!
//! - Row updates (`c += Σ_p a[p]·B[p, :]`: the backward of a step) sum
//!   in the portable kernel's order, so the bits are the same; what they save is its
//!   second pass over the rows for the columns past the last full block.
//! - Dot products (`c[j] += x·B[j, :]`: a step's forward through `W_hh`,
//!   sampling's) read the rows one after the other with `x` in registers,
//!   1.4-1.5x as fast on this CPU as the portable kernel's four rows side
//!   by side; their order differs from the portable kernel's.

use std::arch::x86_64::*;

use super::avx512::{W, lanes};

/// `c += Σ_p coef[p·stride] · rows[p]` for `rows (k×n)`, `n = c.len()`:
/// blocks of up to eight registers (128 columns) kept in registers over
/// all `k` rows, the last register of the last block masked, even and odd
/// rows summed apart (twice the FMA chains in flight; an even row's
/// registers, then the odd row's: one row read at a time runs faster on
/// this CPU than two side by side) and then added. The
/// order is that of [`super::gemm`]'s portable row updates, so the bits
/// are the same.
///
/// # Safety
/// The CPU must have AVX-512F ([`super::avx512::available`]).
///
/// # Panics
/// If `rows` holds fewer than `k·n` values or `coef` fewer than
/// `(k-1)·stride + 1`.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn row_updates(
    coef: &[f32],
    stride: usize,
    k: usize,
    rows: &[f32],
    c: &mut [f32],
) {
    let n = c.len();
    assert!(
        rows.len() >= k * n,
        "row_updates: rows hold {} < {}",
        rows.len(),
        k * n
    );
    assert!(
        k == 0 || coef.len() > (k - 1) * stride,
        "row_updates: too few coefficients"
    );
    let mut start = 0;
    while start < n {
        let width = (n - start).min(8 * W);
        let b = Block {
            coef,
            stride,
            k,
            rows,
            start,
            width,
        };
        // SAFETY: AVX-512F is enabled here; the block lies inside `c` and
        // inside every row (asserted above).
        unsafe {
            match width.div_ceil(W) {
                8 => b.run::<8>(c),
                7 => b.run::<7>(c),
                6 => b.run::<6>(c),
                5 => b.run::<5>(c),
                4 => b.run::<4>(c),
                3 => b.run::<3>(c),
                2 => b.run::<2>(c),
                _ => b.run::<1>(c),
            }
        }
        start += width;
    }
}

/// Columns `start..start + width` of a [`row_updates`].
struct Block<'a> {
    coef: &'a [f32],
    stride: usize,
    k: usize,
    rows: &'a [f32],
    start: usize,
    width: usize,
}

impl Block<'_> {
    /// The block as `R` registers (`width` in `(R-1)·16 + 1 ..= R·16`).
    ///
    /// # Safety
    /// AVX-512F; `c`, `coef` and `rows` as [`row_updates`] asserts.
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn run<const R: usize>(&self, c: &mut [f32]) {
        let n = c.len();
        let mask = |v: usize| {
            if v + 1 == R {
                lanes(self.width - (R - 1) * W)
            } else {
                !0
            }
        };
        // SAFETY (all loads and stores): lanes under `mask(v)` of register
        // `v` are columns below `start + width <= n` of a row inside `rows`
        // (or of `c`).
        let load = |p: &[f32], v: usize| unsafe {
            _mm512_maskz_loadu_ps(mask(v), p.as_ptr().add(self.start + v * W))
        };
        let row = |p: usize| &self.rows[p * n..(p + 1) * n];
        let mut even: [__m512; R] = std::array::from_fn(|v| load(c, v));
        let mut odd = [_mm512_setzero_ps(); R];
        for q in 0..self.k / 2 {
            let (p0, p1) = (2 * q, 2 * q + 1);
            let s0 = _mm512_set1_ps(self.coef[p0 * self.stride]);
            let s1 = _mm512_set1_ps(self.coef[p1 * self.stride]);
            let (r0, r1) = (row(p0), row(p1));
            for (v, e) in even.iter_mut().enumerate() {
                *e = _mm512_fmadd_ps(s0, load(r0, v), *e);
            }
            for (v, o) in odd.iter_mut().enumerate() {
                *o = _mm512_fmadd_ps(s1, load(r1, v), *o);
            }
        }
        if self.k % 2 == 1 {
            let p = self.k - 1;
            let s = _mm512_set1_ps(self.coef[p * self.stride]);
            let r = row(p);
            for (v, e) in even.iter_mut().enumerate() {
                *e = _mm512_fmadd_ps(s, load(r, v), *e);
            }
        }
        for v in 0..R {
            let sum = _mm512_add_ps(even[v], odd[v]);
            // SAFETY: as for the loads.
            unsafe { _mm512_mask_storeu_ps(c.as_mut_ptr().add(self.start + v * W), mask(v), sum) };
        }
    }
}

/// Longest `k` of [`dots`]: `x` in eight registers.
pub(super) const DOTS_MAX_K: usize = 8 * W;

/// `c[j] += x · rows[j]` for every row of `rows (n×k)`, `n = c.len()`,
/// `k = x.len() <= DOTS_MAX_K`: `x` held in registers, the rows read one
/// after the other (on this CPU, reading four rows side by side, as the
/// portable kernel does, runs at two thirds of the speed), each row's
/// blocks summed alternately into two registers, then added and reduced
/// by a fixed tree: the same order for every row wherever it lies, so a
/// product cut into column halves gives the uncut product's bits.
///
/// # Safety
/// The CPU must have AVX-512F ([`super::avx512::available`]).
///
/// # Panics
/// If `k > DOTS_MAX_K` or `rows` holds fewer than `n·k` values.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn dots(x: &[f32], rows: &[f32], c: &mut [f32]) {
    let (k, n) = (x.len(), c.len());
    assert!(
        k <= DOTS_MAX_K && rows.len() >= n * k,
        "dots: {n} rows of {k}"
    );
    let blocks = k.div_ceil(W);
    let mask = |b: usize| {
        if b + 1 == blocks && k % W != 0 {
            lanes(k % W)
        } else {
            !0
        }
    };
    // SAFETY (all loads): the lanes under `mask(b)` of block `b < blocks`
    // lie inside `x` and inside row `j` of `rows`.
    let xs: [__m512; 8] = std::array::from_fn(|b| match b < blocks {
        true => unsafe { _mm512_maskz_loadu_ps(mask(b), x.as_ptr().add(b * W)) },
        false => _mm512_setzero_ps(),
    });
    for (j, cj) in c.iter_mut().enumerate() {
        let row = rows[j * k..][..k].as_ptr();
        let (mut even, mut odd) = (_mm512_setzero_ps(), _mm512_setzero_ps());
        let mut b = 0;
        while b + 1 < blocks {
            let (v0, v1) = unsafe {
                (
                    _mm512_loadu_ps(row.add(b * W)),
                    _mm512_maskz_loadu_ps(mask(b + 1), row.add(b * W + W)),
                )
            };
            even = _mm512_fmadd_ps(xs[b], v0, even);
            odd = _mm512_fmadd_ps(xs[b + 1], v1, odd);
            b += 2;
        }
        if b < blocks {
            let v = unsafe { _mm512_maskz_loadu_ps(mask(b), row.add(b * W)) };
            even = _mm512_fmadd_ps(xs[b], v, even);
        }
        *cj += _mm512_reduce_add_ps(_mm512_add_ps(even, odd));
    }
}
