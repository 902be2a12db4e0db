//! `dst = srcᵀ` for row-major matrices, in 16×16 tiles: by registers in
//! f32 where the CPU has AVX-512, element by element otherwise. A batch's
//! recurrent weight is transposed once a window, a window's one-hot input
//! weight once each way, and the second operand of a mid-sized product
//! that uses it transposed (see [`super::gemm`]).

use super::{Scalar, f32s, f32s_mut};

/// Side of a tile (one AVX-512 register of f32).
const TILE: usize = 16;

/// `dst = srcᵀ`. `src: (rows, cols)`, `dst: (cols, rows)`.
///
/// # Panics
/// If `src` or `dst` holds fewer than `rows·cols` values.
pub(crate) fn transpose<S: Scalar>(rows: usize, cols: usize, src: &[S], dst: &mut [S]) {
    let (src, dst) = (&src[..rows * cols], &mut dst[..rows * cols]);
    #[cfg(target_arch = "x86_64")]
    if let Some(s) = f32s(src)
        && super::avx512::available()
    {
        let d = f32s_mut(dst).expect("dst has the element type of src");
        // SAFETY: the CPU has AVX-512F (checked); the slices hold rows·cols.
        return unsafe { avx512::transpose(rows, cols, s, d) };
    }
    portable(rows, cols, src, dst);
}

/// [`transpose`] of 32-bit words (packed pairs of bf16), moved as the
/// f32 values of the same bits.
pub(crate) fn transpose_bits(rows: usize, cols: usize, src: &[u32], dst: &mut [u32]) {
    // SAFETY: u32 and f32 have one size and alignment, and every bit
    // pattern is an f32; the transpose only moves values.
    let (src, dst) = unsafe {
        (
            std::slice::from_raw_parts(src.as_ptr().cast::<f32>(), src.len()),
            std::slice::from_raw_parts_mut(dst.as_mut_ptr().cast::<f32>(), dst.len()),
        )
    };
    transpose(rows, cols, src, dst);
}

/// [`transpose`] element by element, a tile at a time so both sides stay
/// in cache lines.
fn portable<S: Copy>(rows: usize, cols: usize, src: &[S], dst: &mut [S]) {
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

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    use super::TILE;
    use crate::tensor::avx512::lanes;

    /// [`super::transpose`] of f32, a tile of up to 16×16 at a time through
    /// registers: the tile's rows are loaded (masked at the right edge),
    /// transposed by four rounds of shuffles, and its columns stored as
    /// rows of `dst` (masked at the bottom edge).
    ///
    /// # Safety
    /// The CPU must have AVX-512F; `src` and `dst` hold `rows·cols`.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn transpose(rows: usize, cols: usize, src: &[f32], dst: &mut [f32]) {
        assert!(src.len() >= rows * cols && dst.len() >= rows * cols);
        for i0 in (0..rows).step_by(TILE) {
            let r = TILE.min(rows - i0);
            for j0 in (0..cols).step_by(TILE) {
                let c = TILE.min(cols - j0);
                // SAFETY: row `i0 + q` (q < r) has `c` columns from `j0`.
                let tile: [__m512; TILE] = std::array::from_fn(|q| {
                    if q < r {
                        unsafe {
                            _mm512_maskz_loadu_ps(lanes(c), src.as_ptr().add((i0 + q) * cols + j0))
                        }
                    } else {
                        _mm512_setzero_ps()
                    }
                });
                let t = tile16(tile);
                for (e, col) in t.iter().enumerate().take(c) {
                    // SAFETY: row `j0 + e` of `dst` has `r` columns from `i0`.
                    unsafe {
                        _mm512_mask_storeu_ps(
                            dst.as_mut_ptr().add((j0 + e) * rows + i0),
                            lanes(r),
                            *col,
                        )
                    };
                }
            }
        }
    }

    /// The transpose of a 16×16 tile held as 16 rows.
    #[target_feature(enable = "avx512f")]
    fn tile16(r: [__m512; TILE]) -> [__m512; TILE] {
        let (pd, ps) = (_mm512_castps_pd, _mm512_castpd_ps);
        // Each 128-bit lane L of row q holds q's columns 4L..4L+4.
        // t[2i], t[2i+1]: rows 2i, 2i+1 interleaved (columns 4L, 4L+1 and 4L+2, 4L+3).
        let t: [__m512; TILE] = std::array::from_fn(|i| {
            let (x, y) = (r[i & !1], r[i | 1]);
            if i % 2 == 0 {
                _mm512_unpacklo_ps(x, y)
            } else {
                _mm512_unpackhi_ps(x, y)
            }
        });
        // u[4g + e], lane L: rows 4g..4g+4 of column 4L + e.
        let u: [__m512; TILE] = std::array::from_fn(|i| {
            let (g, e) = (i / 4, i % 4);
            let (x, y) = (pd(t[4 * g + e / 2]), pd(t[4 * g + 2 + e / 2]));
            ps(if e % 2 == 0 {
                _mm512_unpacklo_pd(x, y)
            } else {
                _mm512_unpackhi_pd(x, y)
            })
        });
        // v[h][e] = [u[8h+e].L0, .L2, u[8h+4+e].L0, .L2], w likewise with lanes 1 and 3.
        let v: [[__m512; 4]; 2] = std::array::from_fn(|h| {
            std::array::from_fn(|e| {
                _mm512_shuffle_f32x4::<0b10_00_10_00>(u[8 * h + e], u[8 * h + 4 + e])
            })
        });
        let w: [[__m512; 4]; 2] = std::array::from_fn(|h| {
            std::array::from_fn(|e| {
                _mm512_shuffle_f32x4::<0b11_01_11_01>(u[8 * h + e], u[8 * h + 4 + e])
            })
        });
        // Column 4L + e gathers lane L of u[e], u[4+e], u[8+e], u[12+e].
        std::array::from_fn(|col| {
            let (l, e) = (col / 4, col % 4);
            let (x, y) = if l % 2 == 0 {
                (v[0][e], v[1][e])
            } else {
                (w[0][e], w[1][e])
            };
            if l < 2 {
                _mm512_shuffle_f32x4::<0b10_00_10_00>(x, y)
            } else {
                _mm512_shuffle_f32x4::<0b11_01_11_01>(x, y)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every shape of edge tile, in f32 (the AVX-512 path where the CPU
    /// has it) and f64 (element by element), against the definition.
    #[test]
    fn transposes_every_edge() {
        for rows in [1, 3, 15, 16, 17, 33, 100] {
            for cols in [1, 2, 16, 31, 65, 100] {
                let src: Vec<f32> = (0..rows * cols).map(|x| x as f32).collect();
                let mut dst = vec![-1.0f32; rows * cols];
                transpose(rows, cols, &src, &mut dst);
                let wide: Vec<f64> = src.iter().map(|&x| x as f64).collect();
                let mut dst64 = vec![-1.0f64; rows * cols];
                transpose(rows, cols, &wide, &mut dst64);
                for i in 0..rows {
                    for j in 0..cols {
                        assert_eq!(
                            dst[j * rows + i],
                            src[i * cols + j],
                            "{rows}x{cols} at ({i}, {j})"
                        );
                        assert_eq!(dst64[j * rows + i], wide[i * cols + j]);
                    }
                }
            }
        }
    }
}
