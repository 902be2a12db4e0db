//! Matrix products with bf16 operands and f32 accumulation: the
//! arithmetic of `--precision bf16`, where master weights, optimizer
//! state and every sum stay f32 and only the operands of a product are
//! rounded to bf16 (8 significant bits, f32's exponent range).
//!
//! [`matmul_bf16`] computes `C = [C +] op(A)·op(B)` like
//! [`super::matmul`], with `op(A)` and `op(B)` rounded to bf16 (to
//! nearest, ties to even). On a CPU with AVX-512 BF16 ([`native`]) it
//! packs both operands as bf16 pairs and runs `vdpbf16ps`, which
//! multiplies two pairs of bf16 and adds both products to an f32 lane:
//! twice the multiply-adds of an f32 FMA per instruction. Elsewhere it
//! rounds the operands and runs the f32 product on them: the same
//! products (a product of two bf16 is exact in f32) at f32's speed.
//!
//! Packed layouts (`kp = ⌈k/2⌉` pairs, the last padded with a zero):
//! `op(A)` in panels of [`MR`] rows, each `(kp, MR)` pairs; `op(B)` in
//! panels of [`NR`] columns, each `(kp, NR)` pairs. A pair is one `u32`,
//! element `2p` in its low half and `2p + 1` in its high half, as
//! `vdpbf16ps` reads them.

#[cfg(target_arch = "x86_64")]
mod avx512;
mod precision;

use std::cell::RefCell;

use rayon::prelude::*;

use super::gemm::{PARALLEL_MIN_MACS, Trans, matmul, threads};

pub use precision::{Precision, precision, set_precision, with_precision};

/// An operand packed once for the products of a [`holding`] call.
struct Held {
    /// Where it lives, its length, which side it is, the shape of `op(x)`
    /// and its layout.
    at: usize,
    len: usize,
    side: Operand,
    dims: (usize, usize),
    t: Trans,
    panels: Vec<u32>,
    /// Pairs of `k` still to be packed (see [`holding_as_written`]): 0
    /// once the panels are whole; `None` where a block came that could
    /// not be packed alone, and the panels are never used.
    left: Option<usize>,
}

thread_local! {
    static HELD: RefCell<Vec<Held>> = const { RefCell::new(Vec::new()) };
    /// The packed operands of this thread's last product, kept for the
    /// next: allocating them afresh cost a training step a few percent in
    /// zeroed pages.
    static SCRATCH: RefCell<(Vec<u32>, Vec<u32>)> = const { RefCell::new((Vec::new(), Vec::new())) };
    /// The rows of `A` this thread packs for its half of a product in
    /// halves.
    static HALF: RefCell<Vec<u32>> = const { RefCell::new(Vec::new()) };
}

/// The panels of `x`, held on this thread as `side` of products where
/// `op(x)` is `dims` (stored as `t` says), if it is.
fn find_held<'h>(
    held: &'h [Held],
    x: &[f32],
    side: Operand,
    dims: (usize, usize),
    t: Trans,
) -> Option<&'h [u32]> {
    let key = (x.as_ptr() as usize, x.len(), side, dims, t);
    let found = held
        .iter()
        .rev()
        .find(|h| h.left == Some(0) && (h.at, h.len, h.side, h.dims, h.t) == key);
    found.map(|h| h.panels.as_slice())
}

/// Run `f`, during which `x` is packed once rather than at every
/// [`matmul_bf16`] on this thread where it is `side` of the product,
/// `op(x)` of shape `dims` (`(m×k)` for A, `(k×n)` for B), stored as `t`
/// says: the recurrent weight of a window's steps, or the gate gradients
/// of the weight gradients' products. `x` must not change during `f` (a
/// shared borrow holds it). Where the CPU has no native bf16 products,
/// nothing is packed.
pub fn holding<R>(
    x: &[f32],
    side: Operand,
    dims: (usize, usize),
    t: Trans,
    f: impl FnOnce() -> R,
) -> R {
    // Nothing to pack where the CPU has no bf16 products, or where `x` is
    // held already (packed as it was written: see `holding_as_written`).
    let held = || HELD.with(|h| find_held(&h.borrow(), x, side, dims, t).is_some());
    if !native() || dims.0 == 0 || dims.1 == 0 || held() {
        return f();
    }
    assert!(x.len() >= dims.0 * dims.1);
    // Rows of op(A), or columns of op(B), each over k.
    let (rows, k) = match side {
        Operand::A => dims,
        Operand::B => (dims.1, dims.0),
    };
    let mut panels = spare(rows.div_ceil(width(side)) * k.div_ceil(2) * width(side));
    pack(
        &mut panels,
        side,
        0..rows,
        rows,
        k,
        x,
        t,
        super::may_split(),
    );
    let held = Held {
        at: x.as_ptr() as usize,
        len: x.len(),
        side,
        dims,
        t,
        panels,
        left: Some(0),
    };
    HELD.with(|h| h.borrow_mut().push(held));
    let _release = Release;
    f()
}

/// Lets the operand a [`holding`] or [`holding_as_written`] call pushed
/// go when its `f` returns or unwinds.
struct Release;

impl Drop for Release {
    fn drop(&mut self) {
        if let Some(held) = HELD.with(|h| h.borrow_mut().pop()) {
            keep_spare(held.panels);
        }
    }
}

/// Panel buffers this thread's holds let go, kept for the next: a
/// window's gate gradients take 26 MB of panels a layer (2x512 LSTM,
/// B=64, T=100), and fresh pages cost a fault each.
const SPARES: usize = 4;

thread_local! {
    static SPARE: RefCell<Vec<Vec<u32>>> = const { RefCell::new(Vec::new()) };
}

/// A kept buffer for `len` values (their contents are stale): the
/// smallest that holds them, else the largest, else a new one.
fn spare(len: usize) -> Vec<u32> {
    SPARE.with(|s| {
        let mut s = s.borrow_mut();
        let fits = (0..s.len())
            .filter(|&i| s[i].capacity() >= len)
            .min_by_key(|&i| s[i].capacity());
        let pick = fits.or_else(|| (0..s.len()).max_by_key(|&i| s[i].capacity()));
        pick.map(|i| s.swap_remove(i)).unwrap_or_default()
    })
}

/// Keep `panels` for a later [`spare`], with the [`SPARES`] - 1 largest
/// already kept.
fn keep_spare(panels: Vec<u32>) {
    SPARE.with(|s| {
        let mut s = s.borrow_mut();
        s.push(panels);
        s.sort_by_key(|v| std::cmp::Reverse(v.capacity()));
        s.truncate(SPARES);
    })
}

/// Run `f`, which writes an operand `x` a block of its rows at a time and
/// then multiplies by it: as [`holding`] for `x` (`side` of products
/// where `op(x)` is `dims`, stored as `t` says), but packed block by
/// block while each is fresh, where `f` calls `ready(block, first)` once
/// rows `first..` of `x` (`block`, a whole number of rows) are final.
/// Each row must be reported once and not change afterwards. It serves
/// operands stored with `k` over their rows (A transposed or B as
/// stored: the gate gradients of a window's weight gradients, written
/// a step at a time). A block that does not start at an even row, or
/// has an odd number of rows and is not the last, cannot be packed
/// alone: then no panels are used, and the products pack `x` as usual.
pub fn holding_as_written<R>(
    side: Operand,
    dims: (usize, usize),
    t: Trans,
    f: impl FnOnce(&mut dyn FnMut(&[f32], usize)) -> R,
) -> R {
    let k_outer = matches!(
        (side, t),
        (Operand::A, Trans::Yes) | (Operand::B, Trans::No)
    );
    if !native() || !k_outer || dims.0 == 0 || dims.1 == 0 {
        return f(&mut |_, _| {});
    }
    // Columns of x (rows of op(A), or columns of op(B)), each over k.
    let (rows, k) = match side {
        Operand::A => dims,
        Operand::B => (dims.1, dims.0),
    };
    let (width, kp) = (width(side), k.div_ceil(2));
    let (count, size) = (rows.div_ceil(width), kp * width);
    // Every pair of every panel is written by the time they serve, but
    // for the lanes past the last row in the last panel: zeros.
    let mut panels = spare(count * size);
    panels.resize((count - 1) * size, 0);
    panels.resize(count * size, 0);
    let held = Held {
        at: 0,
        len: k * rows,
        side,
        dims,
        t,
        panels,
        left: Some(kp),
    };
    let index = HELD.with(|h| {
        let mut h = h.borrow_mut();
        h.push(held);
        h.len() - 1
    });
    let _release = Release;
    f(&mut |block: &[f32], first: usize| {
        HELD.with(|h| {
            let held = &mut h.borrow_mut()[index];
            let n = block.len() / rows;
            let base = (block.as_ptr() as usize).wrapping_sub(first * rows * size_of::<f32>());
            let fits = first.is_multiple_of(2)
                && (n.is_multiple_of(2) || first + n == k)
                && n * rows == block.len()
                && first + n <= k
                && (held.at == 0 || held.at == base);
            held.left = match (fits, held.left) {
                (true, Some(left)) => left.checked_sub(n.div_ceil(2)),
                _ => None,
            };
            if held.left.is_none() {
                return;
            }
            held.at = base;
            pack_block(&mut held.panels, block, rows, (first / 2, kp), width);
        })
    })
}

/// Columns of `op(x)` (B) or rows (A) that a panel of `side` covers.
fn width(side: Operand) -> usize {
    match side {
        Operand::A => MR,
        Operand::B => NR,
    }
}

/// `x`, `n` rows of `rows` values (`k` over its rows) that are pairs
/// `first..` of panels `depth` pairs deep, packed into `panels`: in
/// halves of the panels on the two cores where the block is large.
fn pack_block(
    panels: &mut [u32],
    x: &[f32],
    rows: usize,
    (first, depth): (usize, usize),
    width: usize,
) {
    let n = x.len() / rows;
    let count = rows.div_ceil(width);
    let mid = count / 2;
    let fill = |r: std::ops::Range<usize>, block: &mut [u32]| {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: packing runs only where `native()` holds (the CPU has
        // AVX-512F and BF16); `x` holds `n × rows` values, `block` the
        // half's panels, `depth` pairs each, and `first + ⌈n/2⌉ <= depth`
        // (checked by the caller).
        unsafe {
            avx512::pack_columns(block, x, r, (n, rows), width, (first, depth))
        }
        #[cfg(not(target_arch = "x86_64"))]
        unreachable!("bf16 panels are packed on x86-64 alone: {block:?} {r:?}");
    };
    match x.len() >= super::pair::MIN_VALUES && mid > 0 {
        true => super::pair::halves_of(panels, mid * depth * width, &|half, block| {
            fill(
                if half == 0 {
                    0..mid * width
                } else {
                    mid * width..rows
                },
                block,
            )
        }),
        false => fill(0..rows, panels),
    }
}

/// Rows of `op(A)` a kernel call covers.
pub const MR: usize = 12;
/// Columns of `op(B)` a kernel call covers (two registers of 16 lanes).
pub const NR: usize = 32;

/// `x` rounded to the nearest bf16, ties to even, as its 16 bits (a NaN
/// stays a NaN).
#[inline]
pub fn to_bf16(x: f32) -> u16 {
    let b = x.to_bits();
    if x.is_nan() {
        return ((b >> 16) | 0x40) as u16;
    }
    ((b + 0x7fff + ((b >> 16) & 1)) >> 16) as u16
}

/// The f32 a bf16 stands for.
#[inline]
pub fn from_bf16(h: u16) -> f32 {
    f32::from_bits((h as u32) << 16)
}

/// `x` rounded to bf16 and back.
#[inline]
pub fn round_bf16(x: f32) -> f32 {
    from_bf16(to_bf16(x))
}

/// Whether this CPU multiplies bf16 natively (AVX-512 BF16: `vdpbf16ps`).
pub fn native() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bf16")
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// `c (m×n) = [c +] op(a) · op(b)` with `op(a)` and `op(b)` rounded to
/// bf16 and the products summed in f32; shapes and layouts as for
/// [`super::matmul`]. Natively where [`native`], else by the f32 product
/// of the rounded operands.
///
/// # Panics
/// If a slice is shorter than its stated shape (a programming error inside
/// the library, never a user input).
#[allow(clippy::too_many_arguments)]
pub fn matmul_bf16(
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    ta: Trans,
    b: &[f32],
    tb: Trans,
    c: &mut [f32],
    accumulate: bool,
) {
    assert!(a.len() >= m * k && b.len() >= k * n && c.len() >= m * n);
    if m == 0 || n == 0 || k == 0 {
        return matmul(m, n, k, a, ta, b, tb, c, accumulate);
    }
    #[cfg(target_arch = "x86_64")]
    if native() {
        // As `matmul`: large products on the pool's threads, never nested.
        let par = m * n * k >= PARALLEL_MIN_MACS && threads() != 1 && super::may_split();
        // The packing buffers of this thread, taken for the product (a
        // nested product, if any, makes its own).
        let (mut pa, mut pb) = SCRATCH.with(|s| s.take());
        HELD.with(|h| {
            let h = h.borrow();
            let held_a = find_held(&h, a, Operand::A, (m, k), ta);
            let pb = match find_held(&h, b, Operand::B, (k, n), tb) {
                Some(panels) => panels,
                None => {
                    pack(&mut pb, Operand::B, 0..n, n, k, b, tb, par);
                    &pb
                }
            };
            let kp = k.div_ceil(2);
            let c = &mut c[..m * n];
            if super::in_halves(m, n, k) && m > MR {
                // A window's step (see `in_halves`): its rows in two halves
                // on the two cores, each packing its own rows of `A`.
                let mid = m.div_ceil(MR) / 2 * MR;
                super::pair::halves_of(c, mid * n, &|half, c| {
                    let r = if half == 0 { 0..mid } else { mid..m };
                    if let Some(panels) = held_a {
                        let pa = &panels[r.start * kp..];
                        return by_row_panels(n, kp, pa, pb, c, accumulate, false);
                    }
                    HALF.with(|pa| {
                        let mut pa = pa.borrow_mut();
                        pack(&mut pa, Operand::A, r, m, k, a, ta, false);
                        by_row_panels(n, kp, &pa, pb, c, accumulate, false);
                    });
                });
                return;
            }
            let pa = match held_a {
                Some(panels) => panels,
                None => {
                    pack(&mut pa, Operand::A, 0..m, m, k, a, ta, par);
                    &pa
                }
            };
            by_row_panels(n, kp, pa, pb, c, accumulate, par);
        });
        SCRATCH.with(|s| s.replace((pa, pb)));
        return;
    }
    let a: Vec<f32> = a[..m * k].iter().map(|&x| round_bf16(x)).collect();
    let b: Vec<f32> = b[..k * n].iter().map(|&x| round_bf16(x)).collect();
    matmul(m, n, k, &a, ta, &b, tb, c, accumulate);
}

/// `c (·×n) = [c +] A·B` from `A` packed in row panels and `B` in column
/// panels (`kp` pairs deep), the row panels on the pool's threads where
/// `par`.
#[cfg(target_arch = "x86_64")]
fn by_row_panels(
    n: usize,
    kp: usize,
    pa: &[u32],
    pb: &[u32],
    c: &mut [f32],
    accumulate: bool,
    par: bool,
) {
    let rows = |(i, c): (usize, &mut [f32])| {
        let panel = &pa[i * kp * MR..][..kp * MR];
        // SAFETY: packing and products run only where `native()` holds
        // (the CPU has AVX-512F and BF16).
        unsafe { avx512::product(c.len() / n, n, kp, panel, pb, c, accumulate) };
    };
    match par {
        true => c.par_chunks_mut(MR * n).enumerate().for_each(rows),
        false => c.chunks_mut(MR * n).enumerate().for_each(rows),
    }
}

/// Which side of a product an operand is: `op(A)` is `(m×k)`, `op(B)`
/// `(k×n)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operand {
    /// The left operand, `op(A) (m×k)`.
    A,
    /// The right operand, `op(B) (k×n)`.
    B,
}

/// `part` of the `rows` (rows of `op(A)`, or columns of `op(B)`) of `x`
/// packed as bf16 pairs over `k` in panels (see the module docs), from
/// `part.start` on: [`MR`] rows a panel for A, [`NR`] columns for B, the
/// last panel padded with zeros.
#[allow(clippy::too_many_arguments)]
fn pack(
    out: &mut Vec<u32>,
    side: Operand,
    part: std::ops::Range<usize>,
    rows: usize,
    k: usize,
    x: &[f32],
    t: Trans,
    par: bool,
) {
    let width = width(side);
    // Row r of op(A) (or column r of op(B)) is contiguous over k, or
    // element (r, p) is at p·rows + r.
    let k_major = matches!(
        (side, t),
        (Operand::A, Trans::No) | (Operand::B, Trans::Yes)
    );
    let kp = k.div_ceil(2);
    let panels = part.len().div_ceil(width);
    out.clear();
    out.resize(panels * kp * width, 0);
    // A task packs a group of panels: one for contiguous rows; for the
    // other layout, enough that each pair's reads are runs of a few
    // hundred values rather than one panel's few.
    let group = match (k_major, par) {
        (true, _) => 1,
        // Half-rows or more a task where the pool shares the work.
        (false, true) => panels
            .div_ceil(rayon::current_num_threads().max(1))
            .max(GROUP_PANELS),
        (false, false) => panels.max(1),
    };
    let fill = |(g, block): (usize, &mut [u32])| {
        let r = part.start + g * group * width..part.end.min(part.start + (g + 1) * group * width);
        #[cfg(target_arch = "x86_64")]
        // SAFETY: packing runs only where `native()` holds (the CPU has
        // AVX-512F and BF16); `x` holds `rows × k` values (asserted by the
        // callers), `block` the group's panels.
        unsafe {
            match k_major {
                true => avx512::pack_rows(block, x, r, k, width),
                false => avx512::pack_columns(block, x, r, (k, rows), width, (0, kp)),
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        unreachable!("bf16 panels are packed on x86-64 alone: {block:?} {r:?} {k_major}");
    };
    match par {
        true => out
            .par_chunks_mut(group * kp * width)
            .enumerate()
            .for_each(fill),
        false => out
            .chunks_mut(group * kp * width)
            .enumerate()
            .for_each(fill),
    }
}

/// Panels one task packs from an operand stored `(k, rows)`.
const GROUP_PANELS: usize = 16;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_is_to_nearest_ties_to_even() {
        assert_eq!(round_bf16(1.0), 1.0);
        // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: to the even, 1.
        assert_eq!(round_bf16(1.0 + 1.0 / 256.0), 1.0);
        // 1 + 3·2^-8 is halfway between 1 + 2^-7 and 1 + 2^-6: to the even.
        assert_eq!(round_bf16(1.0 + 3.0 / 256.0), 1.0 + 4.0 / 256.0);
        // Just above halfway rounds up.
        assert_eq!(round_bf16(1.0 + 1.0 / 256.0 + 1e-6), 1.0 + 1.0 / 128.0);
        assert_eq!(round_bf16(-3.0), -3.0);
        assert!(round_bf16(f32::NAN).is_nan());
        assert_eq!(round_bf16(f32::INFINITY), f32::INFINITY);
        assert_eq!(round_bf16(f32::MAX), f32::INFINITY, "past bf16's largest");
    }

    /// The product of the bf16-rounded operands in f64.
    #[allow(clippy::too_many_arguments)]
    fn reference(
        (m, n, k): (usize, usize, usize),
        a: &[f32],
        ta: Trans,
        b: &[f32],
        tb: Trans,
        c0: &[f32],
        accumulate: bool,
    ) -> Vec<f64> {
        let ai = |i: usize, p: usize| match ta {
            Trans::No => a[i * k + p],
            Trans::Yes => a[p * m + i],
        };
        let bj = |p: usize, j: usize| match tb {
            Trans::No => b[p * n + j],
            Trans::Yes => b[j * k + p],
        };
        let mut out = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                let s: f64 = (0..k)
                    .map(|p| round_bf16(ai(i, p)) as f64 * round_bf16(bj(p, j)) as f64)
                    .sum();
                out[i * n + j] = s + if accumulate {
                    c0[i * n + j] as f64
                } else {
                    0.0
                };
            }
        }
        out
    }

    #[test]
    fn products_are_those_of_the_rounded_operands_summed_in_f32() {
        // Edges in every direction: rows past a panel of MR, columns past
        // one and two registers, odd k, several blocks of KC pairs.
        let shapes = [
            (1, 1, 1),
            (3, 17, 5),
            (13, 33, 7),
            (25, 64, 600),
            (12, 32, 2),
            (40, 70, 515),
            (200, 530, 9),
            // Large enough to pack on the pool's threads, in several groups.
            (500, 600, 20),
            // A window's step: row panels in two halves.
            (64, 100, 60),
        ];
        let mut seed = 1u64;
        let mut next = move || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((seed >> 33) as f32 / (1u64 << 31) as f32) * 2.0 - 1.0
        };
        for (m, n, k) in shapes {
            for (ta, tb) in [
                (Trans::No, Trans::No),
                (Trans::Yes, Trans::No),
                (Trans::No, Trans::Yes),
                (Trans::Yes, Trans::Yes),
            ] {
                for accumulate in [false, true] {
                    let a: Vec<f32> = (0..m * k).map(|_| next()).collect();
                    let b: Vec<f32> = (0..k * n).map(|_| next()).collect();
                    let c0: Vec<f32> = (0..m * n).map(|_| next()).collect();
                    let mut c = c0.clone();
                    matmul_bf16(m, n, k, &a, ta, &b, tb, &mut c, accumulate);
                    let want = reference((m, n, k), &a, ta, &b, tb, &c0, accumulate);
                    // f32 sums of k products of size below 1: within a few
                    // f32 roundings a term.
                    let tol = 4.0 * k as f64 * f32::EPSILON as f64 + 1e-6;
                    for (idx, (&got, &w)) in c.iter().zip(&want).enumerate() {
                        assert!(
                            (got as f64 - w).abs() <= tol,
                            "{m}x{n}x{k} {ta:?} {tb:?} acc {accumulate}: [{idx}] {got} vs {w}"
                        );
                    }
                }
            }
        }
    }

    /// `a (m×k)` and `b (k×n)` of small fractions, most not bf16 exactly.
    fn operands(m: usize, n: usize, k: usize) -> (Vec<f32>, Vec<f32>) {
        let a = (0..m * k).map(|i| ((i * 7 % 13) as f32 - 6.0) / 7.0);
        let b = (0..k * n).map(|i| ((i * 5 % 11) as f32 - 5.0) / 3.0);
        (a.collect(), b.collect())
    }

    #[test]
    fn a_held_operand_serves_its_own_products_alone() {
        // Small, and a window's step (in halves).
        for (m, n, k) in [(16, 40, 24), (64, 100, 60)] {
            held_operands_serve_their_own_products((m, n, k));
        }
    }

    #[test]
    fn an_operand_packed_as_it_is_written_serves_as_if_packed_at_once() {
        // (m, n, k, rows a block): a few panels; many, in halves of the
        // panels cut unevenly (43 of 12 rows for A); `k` odd, the last
        // block one row.
        for (m, n, k, rows) in [(30, 40, 24, 4), (520, 33, 96, 32), (30, 40, 25, 4)] {
            for side in [Operand::A, Operand::B] {
                // `k` over the rows of x: A transposed, B as stored.
                let (a, b) = operands(m, n, k);
                let (x, other, dims, t, cols) = match side {
                    Operand::A => (&a, &b, (m, k), Trans::Yes, m),
                    Operand::B => (&b, &a, (k, n), Trans::No, n),
                };
                let product = || {
                    let mut c = vec![0.5; m * n];
                    match side {
                        Operand::A => matmul_bf16(m, n, k, x, t, other, Trans::No, &mut c, true),
                        Operand::B => matmul_bf16(m, n, k, other, Trans::No, x, t, &mut c, true),
                    }
                    c
                };
                let direct = product();
                // Blocks reported last first, as a backward pass writes
                // them; or with an odd block before the last, which
                // cannot be packed alone; or one block never reported.
                let starts: Vec<usize> = (0..k).step_by(rows).rev().collect();
                let odd: Vec<usize> = (0..k).step_by(3).collect();
                for (blocks, step, whole) in [
                    (&starts[..], rows, true),
                    (&odd[..], 3, false),
                    (&starts[1..], rows, false),
                ] {
                    let (got, used) = holding_as_written(side, dims, t, |ready| {
                        for &first in blocks {
                            let end = (first + step).min(k);
                            ready(&x[first * cols..end * cols], first);
                        }
                        let used =
                            HELD.with(|h| find_held(&h.borrow(), x, side, dims, t).is_some());
                        (product(), used)
                    });
                    let what = format!("{m}x{n}x{k}, {side:?}, blocks at {blocks:?}");
                    assert_eq!(got, direct, "{what}: the products' bits");
                    assert_eq!(used, whole && native(), "{what}: the panels serve");
                }
                HELD.with(|h| assert!(h.borrow().is_empty()));
            }
        }
    }

    fn held_operands_serve_their_own_products((m, n, k): (usize, usize, usize)) {
        let (a, b) = operands(m, n, k);
        let other_b: Vec<f32> = b.iter().map(|x| -2.0 * x + 0.5).collect();
        let other_a: Vec<f32> = a.iter().map(|x| 0.5 - x).collect();
        let product = |a: &[f32], b: &[f32]| {
            let mut c = vec![0.0; m * n];
            matmul_bf16(m, n, k, a, Trans::No, b, Trans::No, &mut c, false);
            c
        };
        let each = || {
            [
                product(&a, &b),
                product(&a, &other_b),
                product(&other_a, &b),
            ]
        };
        let direct = each();
        let held_b = holding(&b, Operand::B, (k, n), Trans::No, each);
        let held_a = holding(&a, Operand::A, (m, k), Trans::No, each);
        let both = holding(&a, Operand::A, (m, k), Trans::No, || {
            holding(&b, Operand::B, (k, n), Trans::No, each)
        });
        for (held, what) in [(held_b, "B"), (held_a, "A"), (both, "A and B")] {
            assert_eq!(
                held[0], direct[0],
                "{m}x{n}x{k}, {what} held: the held packing is the one made at each product"
            );
            assert_eq!(
                held[1..],
                direct[1..],
                "{m}x{n}x{k}, {what} held: another operand of its shape is not the held one"
            );
        }
        // Let go once `holding` returns.
        HELD.with(|h| assert!(h.borrow().is_empty()));
    }

    #[test]
    fn bf16_products_stay_within_bf16_rounding_of_f32() {
        // What a user gives up: each operand rounded to 8 bits, so a
        // product of sums of k terms moves by about 2^-8 of its size.
        let (m, n, k) = (20, 40, 64);
        let (a, b) = operands(m, n, k);
        let (mut exact, mut half) = (vec![0.0; m * n], vec![0.0; m * n]);
        matmul(m, n, k, &a, Trans::No, &b, Trans::No, &mut exact, false);
        matmul_bf16(m, n, k, &a, Trans::No, &b, Trans::No, &mut half, false);
        let scale: f32 = exact.iter().map(|x| x.abs()).fold(0.0, f32::max);
        let off = exact
            .iter()
            .zip(&half)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max);
        assert!(
            off > 0.0,
            "bf16 rounding changed nothing: not a bf16 product"
        );
        assert!(off <= scale * 2.0f32.powi(-6), "{off} against {scale}");
    }
}
