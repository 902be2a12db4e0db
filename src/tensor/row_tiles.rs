//! An AVX-512 kernel, in f32, of mid-sized products with `B` as stored:
//! `C (m×n) += A (m×k) · B (k×n)` with `m` from a few to a few hundred
//! rows and fewer than [`MAX_MACS`] multiply-adds, such as a window's output
//! layer and weight gradients at batch 1 (`(25×100)·(100×65)`,
//! `(100×25)·(25×100)`). The GEMM crate packs both operands for each
//! call, which for these sizes costs as much as the arithmetic; here `B`
//! is read in place, a tile of `C` stays in registers over the whole
//! `k`, and `A`'s values are broadcast from wherever they lie (either
//! layout).
//!
//! Each value of `C` sums its `k` products in order, one fused
//! multiply-add after another, starting from its old value: the result
//! of a row does not depend on the other rows, so a product cut into row
//! halves gives the uncut product's bits.

use std::arch::x86_64::*;

use super::avx512::{W, lanes};

/// Rows of a tile.
const MR: usize = 4;

/// Most registers of a tile's row (96 columns): `MR·NR` accumulators,
/// `MR` broadcasts and one row of `B` fill the 32 registers but one.
const NR: usize = 6;

/// Products of at least this many multiply-adds go to the GEMM crate,
/// whose packing pays off once `B` no longer fits in the first-level
/// cache. It is the least size of a product cut into row halves on two
/// cores ([`super::gemm::in_halves`]), so a product this kernel computes
/// is never cut, and one that is cut never meets it in its halves.
pub(super) const MAX_MACS: usize = super::gemm::HALVES_MIN_MACS;

/// `A`'s layout: value `(i, p)` lies at `i·row + p·col`.
#[derive(Clone, Copy, Debug)]
pub(super) struct Strides {
    /// Distance between rows.
    pub row: usize,
    /// Distance between columns.
    pub col: usize,
}

/// `c (m×n) += A·b` for `b (k×n)` row-major, `A (m×k)` read through
/// `strides`: column blocks of up to [`NR`] registers (cut evenly), each
/// in tiles of [`MR`] rows (fewer at the end), every tile kept in
/// registers over all of `k`.
///
/// # Safety
/// The CPU must have AVX-512F ([`super::avx512::available`]).
///
/// # Panics
/// If `c` holds fewer than `m·n` values, `b` fewer than `k·n`, or `a`
/// does not reach value `(m-1, k-1)`.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn product(
    (m, n, k): (usize, usize, usize),
    a: &[f32],
    strides: Strides,
    b: &[f32],
    c: &mut [f32],
) {
    if m == 0 || n == 0 || k == 0 {
        return;
    }
    assert!(
        c.len() >= m * n && b.len() >= k * n,
        "row tiles: short c or b"
    );
    assert!(
        a.len() > (m - 1) * strides.row + (k - 1) * strides.col,
        "row tiles: short a"
    );
    let registers = n.div_ceil(W);
    let blocks = registers.div_ceil(NR);
    let (mut start, mut used) = (0, 0);
    for blk in 0..blocks {
        // Registers of this block: as even as the blocks can be.
        let regs = (registers - used).div_ceil(blocks - blk);
        used += regs;
        let width = (regs * W).min(n - start);
        let tile = Tile {
            n,
            k,
            a,
            strides,
            b,
            start,
            width,
        };
        let mut i = 0;
        while i < m {
            let rows = (m - i).min(MR);
            // SAFETY: AVX-512F is enabled here; rows `i..i + rows` and
            // columns `start..start + width` lie inside `c` (asserted
            // above), and `A` reaches every value they need.
            unsafe {
                match (rows, width.div_ceil(W)) {
                    (4, 6) => tile.run::<4, 6>(i, c),
                    (4, 5) => tile.run::<4, 5>(i, c),
                    (4, 4) => tile.run::<4, 4>(i, c),
                    (4, 3) => tile.run::<4, 3>(i, c),
                    (4, 2) => tile.run::<4, 2>(i, c),
                    (4, _) => tile.run::<4, 1>(i, c),
                    (3, 6) => tile.run::<3, 6>(i, c),
                    (3, 5) => tile.run::<3, 5>(i, c),
                    (3, 4) => tile.run::<3, 4>(i, c),
                    (3, 3) => tile.run::<3, 3>(i, c),
                    (3, 2) => tile.run::<3, 2>(i, c),
                    (3, _) => tile.run::<3, 1>(i, c),
                    (2, 6) => tile.run::<2, 6>(i, c),
                    (2, 5) => tile.run::<2, 5>(i, c),
                    (2, 4) => tile.run::<2, 4>(i, c),
                    (2, 3) => tile.run::<2, 3>(i, c),
                    (2, 2) => tile.run::<2, 2>(i, c),
                    (2, _) => tile.run::<2, 1>(i, c),
                    (_, 6) => tile.run::<1, 6>(i, c),
                    (_, 5) => tile.run::<1, 5>(i, c),
                    (_, 4) => tile.run::<1, 4>(i, c),
                    (_, 3) => tile.run::<1, 3>(i, c),
                    (_, 2) => tile.run::<1, 2>(i, c),
                    (_, _) => tile.run::<1, 1>(i, c),
                }
            }
            i += rows;
        }
        start += width;
    }
}

/// Columns `start..start + width` of a [`product`].
struct Tile<'a> {
    n: usize,
    k: usize,
    a: &'a [f32],
    strides: Strides,
    b: &'a [f32],
    start: usize,
    width: usize,
}

impl Tile<'_> {
    /// Rows `i..i + R` of the tile as `V` registers each (`width` in
    /// `(V-1)·16 + 1 ..= V·16`).
    ///
    /// # Safety
    /// AVX-512F; `c`, `a` and `b` as [`product`] asserts, `i + R <= m`.
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn run<const R: usize, const V: usize>(&self, i: usize, c: &mut [f32]) {
        let last = lanes(self.width - (V - 1) * W);
        let mask = |v: usize| if v + 1 == V { last } else { !0 };
        let at = |row: usize, v: usize| row * self.n + self.start + v * W;
        // SAFETY (loads and stores of `c`): the lanes under `mask(v)` are
        // columns below `start + width <= n` of a row below `m`.
        let mut acc: [[__m512; V]; R] = std::array::from_fn(|r| {
            std::array::from_fn(|v| unsafe {
                _mm512_maskz_loadu_ps(mask(v), c.as_ptr().add(at(i + r, v)))
            })
        });
        let Strides { row, col } = self.strides;
        for p in 0..self.k {
            // SAFETY: `product` asserts that `a` reaches `(m-1, k-1)`.
            let s: [__m512; R] = std::array::from_fn(|r| unsafe {
                _mm512_set1_ps(*self.a.get_unchecked((i + r) * row + p * col))
            });
            for v in 0..V {
                // SAFETY: as for `c`, in row `p < k` of `b`.
                let bv = unsafe { _mm512_maskz_loadu_ps(mask(v), self.b.as_ptr().add(at(p, v))) };
                for (regs, &s) in acc.iter_mut().zip(&s) {
                    regs[v] = _mm512_fmadd_ps(s, bv, regs[v]);
                }
            }
        }
        for (r, regs) in acc.iter().enumerate() {
            for (v, &x) in regs.iter().enumerate() {
                // SAFETY: as for the loads.
                unsafe { _mm512_mask_storeu_ps(c.as_mut_ptr().add(at(i + r, v)), mask(v), x) };
            }
        }
    }
}
