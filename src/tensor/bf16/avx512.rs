//! The AVX-512 BF16 side of [`super::matmul_bf16`]: packing operands as
//! bf16 pairs and the `vdpbf16ps` kernel.

use std::arch::x86_64::*;

use super::{MR, NR};
use crate::tensor::avx512::lanes;

/// Pairs of `k` a block of the product covers, so that a panel of
/// A (`MR × KC` pairs, 12 KB) stays in L1 and one of B (`KC × NR`,
/// 32 KB) in L2.
const KC: usize = 256;

/// `c (m×n) = [c +] A·B` from packed panels (`kp` pairs each; `pa`
/// starts at the panel of `c`'s first row).
///
/// # Safety
/// The CPU must have AVX-512F and AVX-512 BF16.
#[target_feature(enable = "avx512f,avx512bf16")]
pub(super) unsafe fn product(
    m: usize,
    n: usize,
    kp: usize,
    pa: &[u32],
    pb: &[u32],
    c: &mut [f32],
    accumulate: bool,
) {
    for p0 in (0..kp).step_by(KC) {
        let len = KC.min(kp - p0);
        let add = accumulate || p0 > 0;
        for (i, rows) in (0..m).step_by(MR).enumerate() {
            let a = &pa[i * kp * MR + p0 * MR..][..len * MR];
            for (j, cols) in (0..n).step_by(NR).enumerate() {
                let b = &pb[j * kp * NR + p0 * NR..][..len * NR];
                let tile = (MR.min(m - rows), NR.min(n - cols));
                // SAFETY: the features are enabled on this function;
                // `a` and `b` hold `len` pairs of full panels, and the
                // tile lies inside `c` (m×n).
                unsafe { kernel(a, b, len, &mut c[rows * n + cols..], n, tile, add) };
            }
        }
    }
}

/// One `MR × NR` tile: `c[r][j] = [c +] Σ_p a[p][r] · b[p][j]` over
/// `len` pairs, written for the `tile` rows and columns that exist.
#[target_feature(enable = "avx512f,avx512bf16")]
unsafe fn kernel(
    a: &[u32],
    b: &[u32],
    len: usize,
    c: &mut [f32],
    ldc: usize,
    (rows, cols): (usize, usize),
    add: bool,
) {
    let mut acc = [[_mm512_setzero_ps(); 2]; MR];
    for p in 0..len {
        // SAFETY: `b` holds `len · NR` pairs, `a` `len · MR`.
        let (b0, b1) = unsafe {
            let at = b.as_ptr().add(p * NR) as *const __m512i;
            (_mm512_loadu_si512(at), _mm512_loadu_si512(at.add(1)))
        };
        // SAFETY: the same 512 bits, read as 32 bf16.
        let (b0, b1) = unsafe { (bh(b0), bh(b1)) };
        for (r, acc) in acc.iter_mut().enumerate() {
            // SAFETY: as above.
            let x = unsafe { bh(_mm512_set1_epi32(a[p * MR + r] as i32)) };
            acc[0] = _mm512_dpbf16_ps(acc[0], x, b0);
            acc[1] = _mm512_dpbf16_ps(acc[1], x, b1);
        }
    }
    let masks = [lanes(cols.min(16)), lanes(cols.saturating_sub(16))];
    for (r, acc) in acc.iter().enumerate().take(rows) {
        for (h, (&v, &mask)) in acc.iter().zip(&masks).enumerate() {
            if mask == 0 {
                continue;
            }
            // SAFETY: the masked lanes are the tile's columns, inside
            // row r of `c`.
            unsafe {
                let at = c.as_mut_ptr().add(r * ldc + 16 * h);
                let v = match add {
                    true => _mm512_add_ps(v, _mm512_maskz_loadu_ps(mask, at)),
                    false => v,
                };
                _mm512_mask_storeu_ps(at, mask, v);
            }
        }
    }
}

/// Pack rows `r` of `x` (each contiguous over `k`, at `row · k`) into
/// `block`, a panel of `width` rows: pair `p` of the panel's row `i`
/// at `p · width + i`.
///
/// # Safety
/// The CPU must have AVX-512F and BF16; `x` must hold `r.end · k`
/// values and `block` `⌈k/2⌉ · width`.
#[target_feature(enable = "avx512f,avx512bf16")]
pub(super) unsafe fn pack_rows(
    block: &mut [u32],
    x: &[f32],
    r: std::ops::Range<usize>,
    k: usize,
    width: usize,
) {
    // 16 pairs of each of the panel's rows at a time, gathered in a
    // tile and written out pair by pair: the panel's writes then run
    // in order instead of striding across it once a row.
    let mut tile = [[0u32; 16]; 64];
    let rows = r.len();
    debug_assert!(rows <= width && width <= 64);
    for q in (0..k).step_by(32) {
        let n = (k - q).min(32);
        for (i, row) in r.clone().enumerate() {
            // SAFETY: the masks keep the loads inside row `row` of
            // `x`; 32 bf16 in order are 16 pairs, element 2j low in
            // pair j.
            unsafe {
                let at = x.as_ptr().add(row * k + q);
                let lo = _mm512_maskz_loadu_ps(lanes(n.min(16)), at);
                let hi = _mm512_maskz_loadu_ps(lanes(n.saturating_sub(16)), at.add(16));
                let v = _mm512_cvtne2ps_pbh(hi, lo);
                _mm512_storeu_si512(
                    tile[i].as_mut_ptr().cast(),
                    std::mem::transmute::<__m512bh, __m512i>(v),
                );
            }
        }
        let pairs = n.div_ceil(2);
        if rows == width && pairs == 16 {
            // A whole panel: the tile's transpose, by registers.
            let out = &mut block[q / 2 * width..][..16 * width];
            crate::tensor::transpose_bits(rows, 16, &tile.as_flattened()[..rows * 16], out);
            continue;
        }
        for j in 0..pairs {
            let out = &mut block[(q / 2 + j) * width..][..rows];
            for (i, o) in out.iter_mut().enumerate() {
                *o = tile[i][j];
            }
        }
    }
}

/// Pack rows `r` of `x` (element `(row, p)` at `p · rows + row`) into
/// `block`, the panels of `width` rows that cover them, each laid out
/// as [`pack_rows`] lays one; pair by pair, so that each reads a run
/// of `r.len()` values from each of two rows of `x`. The panels are
/// `depth` pairs deep and `x` holds pairs `first..` of them: the whole
/// operand (`first` 0, `depth` `⌈k/2⌉`), or a block of its `k` that
/// starts at pair `first` (where it was written: a step's rows).
///
/// # Safety
/// The CPU must have AVX-512F and BF16; `x` must hold `k · rows`
/// values, `first + ⌈k/2⌉ <= depth`, and `block` `depth · width` per
/// panel.
#[target_feature(enable = "avx512f,avx512bf16")]
pub(super) unsafe fn pack_columns(
    block: &mut [u32],
    x: &[f32],
    r: std::ops::Range<usize>,
    (k, rows): (usize, usize),
    width: usize,
    (first, depth): (usize, usize),
) {
    for p in 0..k.div_ceil(2) {
        let lo_row = &x[2 * p * rows..][..rows];
        let hi_row = (2 * p + 1 < k).then(|| &x[(2 * p + 1) * rows..][..rows]);
        for (panel, start) in r.clone().step_by(width).enumerate() {
            let out = &mut block[(panel * depth + first + p) * width..][..width];
            let live = (r.end - start).min(width);
            for c in (0..live).step_by(16) {
                let mask = lanes((live - c).min(16));
                // SAFETY: the mask keeps the loads inside rows `r` of
                // the two source rows and the store inside `out`'s
                // first `live` pairs; bf16 widened to 32 bits sits in
                // the low half, its partner shifted into the high half.
                unsafe {
                    let lo = _mm512_maskz_loadu_ps(mask, lo_row.as_ptr().add(start + c));
                    let hi = match hi_row {
                        Some(h) => _mm512_maskz_loadu_ps(mask, h.as_ptr().add(start + c)),
                        None => _mm512_setzero_ps(),
                    };
                    let v = _mm512_or_si512(widen(lo), _mm512_slli_epi32::<16>(widen(hi)));
                    _mm512_mask_storeu_epi32(out.as_mut_ptr().add(c).cast(), mask, v);
                }
            }
        }
    }
}

/// 16 floats rounded to bf16, each in the low half of a 32-bit lane.
#[target_feature(enable = "avx512f,avx512bf16")]
fn widen(v: __m512) -> __m512i {
    let h = _mm512_cvtneps_pbh(v);
    // SAFETY: the same 256 bits, read as 16 u16.
    _mm512_cvtepu16_epi32(unsafe { std::mem::transmute::<__m256bh, __m256i>(h) })
}

/// 16 pairs of bf16 as the type `vdpbf16ps` takes.
///
/// # Safety
/// Always sound (both are 512 bits of plain data); unsafe as
/// `transmute` is.
#[inline]
unsafe fn bh(x: __m512i) -> __m512bh {
    // SAFETY: see above.
    unsafe { std::mem::transmute::<__m512i, __m512bh>(x) }
}
