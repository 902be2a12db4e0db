//! `C = A·B` (optionally accumulating) on row-major slices, backed by the
//! `gemm` crate, which picks AVX-512/AVX2 kernels at run time; in f32 on
//! AVX-512, products of a few rows run [`few_rows`]' kernels and
//! mid-sized ones [`row_tiles`]' (their packing is what the crate's
//! kernels cost most at those sizes).

use std::sync::atomic::{AtomicUsize, Ordering};

use super::pair::{self, Shared};
#[cfg(target_arch = "x86_64")]
use super::{few_rows, row_tiles};

use super::{Scalar, madd};

/// Whether an operand is used as stored or transposed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trans {
    /// Use the matrix as stored.
    No,
    /// Use its transpose.
    Yes,
}

static THREADS: AtomicUsize = AtomicUsize::new(0);

/// Below this many multiply-adds (4 M) a GEMM runs on one thread: splitting
/// a small product costs more than it saves. Measured with the `gemm` crate
/// on 2 cores: (1×512)·(512×512) gains nothing from a second thread and
/// (32×512)·(512×512) about breaks even, while (1600×512)·(512×65), 53 M
/// multiply-adds, runs 1.3-2.5× as fast on two.
pub(crate) const PARALLEL_MIN_MACS: usize = 1 << 22;

/// Set the number of threads large GEMMs may use (0 = all cores).
pub fn set_threads(n: usize) {
    THREADS.store(n, Ordering::Relaxed);
}

/// The number of threads large GEMMs may use (0 = all cores).
pub fn threads() -> usize {
    THREADS.load(Ordering::Relaxed)
}

/// `c (m×n) = [c +] op(a) · op(b)` where `op(a)` is `(m×k)` and `op(b)` is
/// `(k×n)`; `a` is stored `(m×k)` or, with `Trans::Yes`, `(k×m)`, and likewise
/// `b` is stored `(k×n)` or `(n×k)`. With `accumulate` the product is added to
/// `c`, otherwise it overwrites `c`.
///
/// # Panics
/// If a slice is shorter than its stated shape (a programming error inside
/// the library, never a user input).
#[allow(clippy::too_many_arguments)]
pub fn matmul<S: Scalar>(
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
    assert!(a.len() >= m * k, "matmul: a has {} < {}", a.len(), m * k);
    assert!(b.len() >= k * n, "matmul: b has {} < {}", b.len(), k * n);
    assert!(c.len() >= m * n, "matmul: c has {} < {}", c.len(), m * n);
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            c[..m * n].fill(S::zero());
        }
        return;
    }
    if m <= SMALL_M && !(ta == Trans::Yes && tb == Trans::Yes) {
        small_m(m, n, k, a, ta, b, tb, c, accumulate);
        return;
    }
    // Below the size of a product cut into halves: never cut.
    #[cfg(target_arch = "x86_64")]
    if m * n * k < row_tiles::MAX_MACS
        && let (Some(a), Some(b), Some(c)) = (f32s(a), f32s(b), f32s_mut(&mut *c))
        && super::avx512::available()
    {
        by_row_tiles((m, n, k), a, ta, b, tb, &mut c[..m * n], accumulate);
        return;
    }
    if ta == Trans::No
        && let Some(mid) = row_halves(m, n, k)
    {
        pair::halves_of(&mut c[..m * n], mid * n, &|half, c| {
            let rows = if half == 0 { 0..mid } else { mid..m };
            let a = &a[rows.start * k..rows.end * k];
            large(
                rows.len(),
                n,
                k,
                a,
                ta,
                b,
                tb,
                c,
                accumulate,
                gemm::Parallelism::None,
            );
        });
        return;
    }
    // Never nest: a product inside one of several rayon tasks (training
    // shards) runs on that task's thread (see `may_split`).
    let par = if m * n * k >= PARALLEL_MIN_MACS && threads() != 1 && super::may_split() {
        gemm::Parallelism::Rayon(threads())
    } else {
        gemm::Parallelism::None
    };
    large(m, n, k, a, ta, b, tb, c, accumulate, par);
}

/// At most this many rows, and at least [`HALVES_MIN_MACS`]
/// multiply-adds, make a product the size of a window's step (a batch of
/// states times a recurrent weight): see [`in_halves`].
pub(crate) const HALVES_MAX_M: usize = 512;

/// See [`HALVES_MAX_M`].
pub(crate) const HALVES_MIN_MACS: usize = 256 * 1024;

/// Whether a product of `m×n` outputs over `k` runs its rows in two halves
/// on the two cores ([`pair::halves`]): more than [`SMALL_M`] and at most
/// [`HALVES_MAX_M`] rows, at least [`HALVES_MIN_MACS`] multiply-adds. A
/// window's steps are a chain of such products, each a few to a few
/// hundred microseconds: the pool's sleeping workers take tens of
/// microseconds to wake for each (or are not woken at all below
/// [`PARALLEL_MIN_MACS`]), the spinning helper a fraction of one. Where
/// the pool has more than two threads, products it would share stay with
/// it (two halves would leave its other cores idle). Either way the
/// bits are those of the uncut product (the tests hold both to it), so
/// the thread count does not change a result.
pub(crate) fn in_halves(m: usize, n: usize, k: usize) -> bool {
    let macs = m * n * k;
    m > SMALL_M
        && m <= HALVES_MAX_M
        && macs >= HALVES_MIN_MACS
        && (macs < PARALLEL_MIN_MACS || rayon::current_num_threads() <= 2)
}

/// Where [`in_halves`] cuts the rows of a product: the multiple of 8
/// nearest the middle.
fn row_halves(m: usize, n: usize, k: usize) -> Option<usize> {
    let mid = (m / 2 + 4) / 8 * 8;
    (in_halves(m, n, k) && mid > 0 && mid < m).then_some(mid)
}

/// Products of a few rows ([`SMALL_M`]) with at least this many
/// multiply-adds are cut into two halves by columns, run on two cores
/// where [`pair::halves`] can. Measured on 2 cores (AMD EPYC, AVX2): a
/// split costs about 0.3 µs, so the `(1×100)·(100×100)` step of the
/// classic vanilla RNN (10k, 0.6 µs) runs faster whole, and the
/// `(1×128)·(128×512)` step of char-rnn's LSTM (65k, 4-6 µs) 1.6-1.9×
/// faster in halves. (Larger products go to the GEMM crate, whose
/// per-call cost of 1-2 µs eats what a split of a mid-sized one saves.)
pub(crate) const SPLIT_MIN_MACS: usize = 32 * 1024;

/// Where a product of `m×n` outputs over `k` is cut into two halves of
/// columns (the multiple of the block width nearest the middle, each half
/// at least one block wide), if it is; decided by the shape alone, so the halves and the
/// result are the same whatever runs them.
fn split(m: usize, n: usize, k: usize) -> Option<usize> {
    let work = m * n * k;
    (m <= SMALL_M && work >= SPLIT_MIN_MACS && n >= 2 * W)
        .then(|| (n / 2 + W / 2) / W * W)
        .filter(|&mid| mid >= W && n - mid >= W)
}

/// `matmul` through the GEMM crate with the given parallelism. Its threads
/// split the output into tiles and every tile sums over `k` in the same
/// order, so the result does not depend on how many there are
/// (a test below holds it to that).
#[allow(clippy::too_many_arguments)]
fn large<S: Scalar>(
    m: usize,
    n: usize,
    k: usize,
    a: &[S],
    ta: Trans,
    b: &[S],
    tb: Trans,
    c: &mut [S],
    accumulate: bool,
    par: gemm::Parallelism,
) {
    assert!(a.len() >= m * k && b.len() >= k * n && c.len() >= m * n);
    // Strides (column stride, row stride) of each operand as used.
    let (a_cs, a_rs) = match ta {
        Trans::No => (1, k as isize),
        Trans::Yes => (m as isize, 1),
    };
    let (b_cs, b_rs) = match tb {
        Trans::No => (1, n as isize),
        Trans::Yes => (k as isize, 1),
    };
    // SAFETY: the assert above guarantees every index the strides reach is
    // inside its slice, and `c` does not alias `a` or `b` (borrow rules).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.as_ptr(),
            a_cs,
            a_rs,
            b.as_ptr(),
            b_cs,
            b_rs,
            S::one(),
            S::one(),
            false,
            false,
            false,
            par,
        );
    }
}

/// `matmul` for f32 on AVX-512 below [`row_tiles::MAX_MACS`]: by
/// [`row_tiles::product`], `b` transposed first (into a buffer kept by
/// the thread) if it is to be used transposed.
#[cfg(target_arch = "x86_64")]
fn by_row_tiles(
    (m, n, k): (usize, usize, usize),
    a: &[f32],
    ta: Trans,
    b: &[f32],
    tb: Trans,
    c: &mut [f32],
    accumulate: bool,
) {
    thread_local! {
        static B_T: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    if !accumulate {
        c.fill(0.0);
    }
    let strides = match ta {
        Trans::No => row_tiles::Strides { row: k, col: 1 },
        Trans::Yes => row_tiles::Strides { row: 1, col: m },
    };
    // SAFETY (both calls): the caller checked that the CPU has AVX-512F;
    // `matmul` asserts the shapes.
    match tb {
        Trans::No => unsafe { row_tiles::product((m, n, k), a, strides, b, c) },
        Trans::Yes => B_T.with_borrow_mut(|bt| {
            bt.resize(k * n, 0.0);
            super::transpose(n, k, b, bt);
            unsafe { row_tiles::product((m, n, k), a, strides, bt, c) }
        }),
    }
}

/// At most this many rows of `op(a)` use the dot-product and row-update kernels: for one to a
/// few rows (batch-1 training, sampling) a product is a handful of dot
/// products or row updates, and the GEMM crate's packing and dispatch cost
/// more than the arithmetic.
pub const SMALL_M: usize = 4;

/// `matmul` for a few rows, as dot products (`b` transposed) or row
/// updates; dot products are cut into two halves of columns where
/// [`split`] says so (each core then keeps its half of the weights in its
/// own cache, step after step).
#[allow(clippy::too_many_arguments)]
fn small_m<S: Scalar>(
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
    if !accumulate {
        c[..m * n].fill(S::zero());
    }
    let Some(mid) = split(m, n, k).filter(|_| tb == Trans::Yes) else {
        for (i, ci) in c.chunks_exact_mut(n).take(m).enumerate() {
            small_row(i, (m, n, k), a, ta, b, tb, ci, 0);
        }
        return;
    };
    let c = Shared::new(c);
    pair::halves(&|half| {
        let j = if half == 0 { 0..mid } else { mid..n };
        for i in 0..m {
            // SAFETY: `c` holds m×n values (asserted in `matmul`), and the
            // halves write disjoint columns of each row.
            let ci =
                unsafe { std::slice::from_raw_parts_mut(c.get().add(i * n + j.start), j.len()) };
            small_row(i, (m, n, k), a, ta, b, tb, ci, j.start);
        }
    });
}

/// Row `i` of a [`small_m`] product, for the columns `j0..j0 + ci.len()`
/// that `ci` holds (all of them for row updates, which are not split:
/// they are the backward's, where the weights are no hotter in one core's
/// cache than in the other's).
#[allow(clippy::too_many_arguments)]
fn small_row<S: Scalar>(
    i: usize,
    (m, n, k): (usize, usize, usize),
    a: &[S],
    ta: Trans,
    b: &[S],
    tb: Trans,
    ci: &mut [S],
    j0: usize,
) {
    let width = ci.len();
    match tb {
        // c[i, j] += a[i, :] · b[j, :]   (b stored n×k; a not transposed here)
        Trans::Yes => dots(&a[i * k..(i + 1) * k], &b[j0 * k..(j0 + width) * k], ci),
        // c[i, :] += Σ_p a[i, p] b[p, :]   (b stored k×n; never split)
        Trans::No => {
            debug_assert!(j0 == 0 && width == n);
            match ta {
                Trans::No => row_updates(&a[i * k..], 1, k, &b[..k * n], ci),
                Trans::Yes => row_updates(&a[i..], m, k, &b[..k * n], ci),
            }
        }
    }
}

/// Lanes of one block of partial sums (one AVX-512 register of f32).
const W: usize = 16;

fn block<S>(x: &[S], p: usize) -> &[S; W] {
    x[p..p + W].try_into().expect("block in range")
}

/// `c[j] += x · rows[j]` for every row of `rows (n×k)`: by
/// [`few_rows::dots`] in f32 on AVX-512 for `k` up to 128, else
/// [`portable_dots`].
fn dots<S: Scalar>(x: &[S], rows: &[S], c: &mut [S]) {
    #[cfg(target_arch = "x86_64")]
    if let (Some(x), Some(rows)) = (f32s(x), f32s(rows))
        && x.len() <= few_rows::DOTS_MAX_K
        && super::avx512::available()
    {
        let c = f32s_mut(c).expect("c has the element type of x");
        // SAFETY: the CPU has AVX-512F (checked).
        return unsafe { few_rows::dots(x, rows, c) };
    }
    portable_dots(x, rows, c);
}

/// [`dots`] four rows at a time, so that each load of `x` feeds four
/// independent sums. When 16 does not divide `k`, the last block is placed
/// flush with the end and the part of `x` it shares with the block before
/// is masked to zero.
fn portable_dots<S: Scalar>(x: &[S], rows: &[S], c: &mut [S]) {
    let k = x.len();
    if k < W {
        for (cj, r) in c.iter_mut().zip(rows.chunks_exact(k)) {
            *cj += x.iter().zip(r).map(|(&u, &v)| u * v).sum::<S>();
        }
        return;
    }
    let full = k / W * W;
    let last = k - W;
    let mut masked = *block(x, last);
    masked[..full.saturating_sub(last).min(W)].fill(S::zero());
    let mut groups = rows.chunks_exact(4 * k);
    let mut cs = c.chunks_exact_mut(4);
    for (g, cg) in (&mut groups).zip(&mut cs) {
        let r: [&[S]; 4] = std::array::from_fn(|j| &g[j * k..(j + 1) * k]);
        let (mut a0, mut a1, mut a2, mut a3) = (
            [S::zero(); W],
            [S::zero(); W],
            [S::zero(); W],
            [S::zero(); W],
        );
        let mut step = |xs: &[S; W], p: usize| {
            let (s0, s1, s2, s3) = (
                block(r[0], p),
                block(r[1], p),
                block(r[2], p),
                block(r[3], p),
            );
            for l in 0..W {
                a0[l] = madd(xs[l], s0[l], a0[l]);
                a1[l] = madd(xs[l], s1[l], a1[l]);
                a2[l] = madd(xs[l], s2[l], a2[l]);
                a3[l] = madd(xs[l], s3[l], a3[l]);
            }
        };
        for p in (0..full).step_by(W) {
            step(block(x, p), p);
        }
        if full < k {
            step(&masked, last);
        }
        for (cj, a) in cg.iter_mut().zip([a0, a1, a2, a3]) {
            *cj += hsum(&a);
        }
    }
    for (cj, r) in cs
        .into_remainder()
        .iter_mut()
        .zip(groups.remainder().chunks_exact(k))
    {
        *cj += dot(x, r);
    }
}

/// `c += Σ_p coef[p·stride] · rows[p]` for `rows (k×n)`: by
/// [`few_rows::row_updates`] in f32 on AVX-512 for a register's width or
/// more, else [`portable_row_updates`], with the same bits either way.
fn row_updates<S: Scalar>(coef: &[S], stride: usize, k: usize, rows: &[S], c: &mut [S]) {
    #[cfg(target_arch = "x86_64")]
    if let (Some(coef), Some(rows)) = (f32s(coef), f32s(rows))
        && c.len() >= W
        && super::avx512::available()
    {
        let c = f32s_mut(c).expect("c has the element type of rows");
        // SAFETY: the CPU has AVX-512F (checked).
        return unsafe { few_rows::row_updates(coef, stride, k, rows, c) };
    }
    portable_row_updates(coef, stride, k, rows, c);
}

/// [`row_updates`] in column blocks kept in registers across all `k`
/// rows: as wide a block as fits (up to 128 columns), then one 16-column
/// block flush with the end for what is left.
fn portable_row_updates<S: Scalar>(coef: &[S], stride: usize, k: usize, rows: &[S], c: &mut [S]) {
    let coef = |p: usize| coef[p * stride];
    let n = c.len();
    let rows = &rows[..k * n];
    if n < W {
        for (p, row) in rows.chunks_exact(n).enumerate() {
            let s = coef(p);
            for (cj, &r) in c.iter_mut().zip(row) {
                *cj += s * r;
            }
        }
        return;
    }
    let mut done = 0;
    while n - done >= 8 * W {
        row_update_block::<S, { 8 * W }>(&coef, rows, c, done, done);
        done += 8 * W;
    }
    let run = (n - done) / W * W;
    match run / W {
        7 => row_update_block::<S, { 7 * W }>(&coef, rows, c, done, done),
        6 => row_update_block::<S, { 6 * W }>(&coef, rows, c, done, done),
        5 => row_update_block::<S, { 5 * W }>(&coef, rows, c, done, done),
        4 => row_update_block::<S, { 4 * W }>(&coef, rows, c, done, done),
        3 => row_update_block::<S, { 3 * W }>(&coef, rows, c, done, done),
        2 => row_update_block::<S, { 2 * W }>(&coef, rows, c, done, done),
        1 => row_update_block::<S, W>(&coef, rows, c, done, done),
        _ => {}
    }
    done += run;
    if done < n {
        row_update_block::<S, W>(&coef, rows, c, n - W, done);
    }
}

/// One block of [`row_updates`]: columns `start..start + BW`, of which
/// `from..start + BW` are written back (the rest overlap a block already
/// done). Even and odd rows have their own partial sums, so that twice as
/// many FMA chains are in flight.
fn row_update_block<S: Scalar, const BW: usize>(
    coef: &impl Fn(usize) -> S,
    rows: &[S],
    c: &mut [S],
    start: usize,
    from: usize,
) {
    let n = c.len();
    let k = rows.len() / n;
    let mut acc: [S; BW] = c[start..start + BW].try_into().expect("block in range");
    let mut odd = [S::zero(); BW];
    for (q, pair) in rows.chunks_exact(2 * n).enumerate() {
        let (s0, s1) = (coef(2 * q), coef(2 * q + 1));
        let r0: &[S; BW] = pair[start..start + BW].try_into().expect("block in range");
        let r1: &[S; BW] = pair[n + start..n + start + BW]
            .try_into()
            .expect("block in range");
        for l in 0..BW {
            acc[l] = madd(s0, r0[l], acc[l]);
            odd[l] = madd(s1, r1[l], odd[l]);
        }
    }
    if k % 2 == 1 {
        let s = coef(k - 1);
        let r: &[S; BW] = rows[(k - 1) * n + start..(k - 1) * n + start + BW]
            .try_into()
            .expect("block in range");
        for l in 0..BW {
            acc[l] = madd(s, r[l], acc[l]);
        }
    }
    for l in 0..BW {
        acc[l] += odd[l];
    }
    c[from..start + BW].copy_from_slice(&acc[from - start..]);
}

/// `x` as f32, where `S` is f32.
pub(crate) fn f32s<S: Scalar>(x: &[S]) -> Option<&[f32]> {
    // SAFETY: `S` is f32 (checked): the same type.
    is_f32::<S>().then(|| unsafe { std::slice::from_raw_parts(x.as_ptr().cast(), x.len()) })
}

/// [`f32s`] of an exclusive slice.
pub(crate) fn f32s_mut<S: Scalar>(x: &mut [S]) -> Option<&mut [f32]> {
    // SAFETY: as for `f32s`; the borrow is handed on whole.
    is_f32::<S>().then(|| unsafe { std::slice::from_raw_parts_mut(x.as_mut_ptr().cast(), x.len()) })
}

/// Whether `S` is f32.
pub(crate) fn is_f32<S: Scalar>() -> bool {
    std::any::TypeId::of::<S>() == std::any::TypeId::of::<f32>()
}

/// `x · y` with 16 independent partial sums, so the loop vectorizes.
#[inline]
pub fn dot<S: Scalar>(x: &[S], y: &[S]) -> S {
    let mut acc = [S::zero(); W];
    let (xc, yc) = (x.chunks_exact(W), y.chunks_exact(W));
    let tail: S = xc
        .remainder()
        .iter()
        .zip(yc.remainder())
        .map(|(&a, &b)| a * b)
        .sum();
    for (xs, ys) in xc.zip(yc) {
        for l in 0..W {
            acc[l] = madd(xs[l], ys[l], acc[l]);
        }
    }
    hsum(&acc) + tail
}

/// Sum of a block by halving (vectorizes, unlike a sequential sum).
#[inline(always)]
fn hsum<S: Scalar>(a: &[S; W]) -> S {
    let h8: [S; 8] = std::array::from_fn(|l| a[l] + a[l + 8]);
    let h4: [S; 4] = std::array::from_fn(|l| h8[l] + h8[l + 4]);
    (h4[0] + h4[2]) + (h4[1] + h4[3])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(m: usize, n: usize, k: usize, a: &[f64], ta: Trans, b: &[f64], tb: Trans) -> Vec<f64> {
        let mut c = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                for p in 0..k {
                    let av = if ta == Trans::No {
                        a[i * k + p]
                    } else {
                        a[p * m + i]
                    };
                    let bv = if tb == Trans::No {
                        b[p * n + j]
                    } else {
                        b[j * k + p]
                    };
                    c[i * n + j] += av * bv;
                }
            }
        }
        c
    }

    #[test]
    fn matches_naive_for_every_transpose() {
        for (m, n, k) in [
            (5, 7, 3),
            (1, 33, 37),
            (3, 20, 18),
            (2, 130, 70),
            (1, 300, 9),
            (1, 7, 16),
            (1, 9, 100),
            (40, 9, 21),
            // Large enough to be cut into two halves of columns.
            (1, 512, 128),
            (1, 200, 200),
            (3, 200, 60),
            (4, 33, 300),
            (25, 65, 100),
            (25, 100, 65),
            (65, 100, 25),
            (7, 1000, 9),
            (1, 7000, 5),
            // A window's steps: rows in two halves.
            (64, 300, 100),
            (50, 512, 128),
        ] {
            check(m, n, k);
        }
    }

    /// A product cut into two halves gives every column the same bits as
    /// the uncut product, whoever runs the halves.
    #[test]
    fn halves_give_the_uncut_bits() {
        for (m, n, k) in [(1, 256, 128), (2, 512, 128), (4, 77, 130)] {
            assert!(split(m, n, k).is_some(), "{m}x{n}x{k} is cut");
            let a: Vec<f32> = (0..m * k).map(|i| (i as f32 * 0.37).sin()).collect();
            let b: Vec<f32> = (0..k * n).map(|i| (i as f32 * 0.11).cos()).collect();
            for ta in [Trans::No, Trans::Yes] {
                for tb in [Trans::No, Trans::Yes] {
                    if ta == Trans::Yes && tb == Trans::Yes {
                        continue;
                    }
                    let mut cut: Vec<f32> = (0..m * n).map(|i| (i as f32 * 0.01).sin()).collect();
                    let mut whole = cut.clone();
                    matmul(m, n, k, &a, ta, &b, tb, &mut cut, true);
                    for (i, ci) in whole.chunks_exact_mut(n).enumerate() {
                        small_row(i, (m, n, k), &a, ta, &b, tb, ci, 0);
                    }
                    let same = cut
                        .iter()
                        .zip(&whole)
                        .all(|(x, y)| x.to_bits() == y.to_bits());
                    assert!(same, "{m}x{n}x{k} {ta:?} {tb:?}");
                }
            }
        }
    }

    #[test]
    fn only_mid_sized_products_are_cut() {
        assert_eq!(
            split(1, 100, 100),
            None,
            "10k multiply-adds: not worth a split"
        );
        assert_eq!(split(1, 16, 4096), None, "one block of columns");
        assert_eq!(split(1, 200, 200), Some(96));
        assert_eq!(split(1, 512, 128), Some(256));
        assert_eq!(
            split(64, 2048, 512),
            None,
            "large: the GEMM crate's threads"
        );
    }

    #[test]
    fn a_windows_steps_run_in_row_halves_with_the_uncut_bits() {
        assert_eq!(
            in_halves(64, 2048, 512),
            rayon::current_num_threads() <= 2,
            "the 2x512 LSTM's step at B=64: in halves on two cores, on a larger pool"
        );
        assert!(in_halves(50, 512, 128), "char-rnn's step at B=50");
        assert!(!in_halves(4, 2048, 512), "a few rows: column halves");
        assert!(!in_halves(25, 65, 100), "too small to share");
        assert!(!in_halves(6400, 2048, 512), "a window's bulk: the pool");
        for (m, n, k) in [(64, 300, 100), (50, 512, 128), (13, 2048, 40)] {
            let mid = row_halves(m, n, k).expect("cut");
            assert!(mid > 0 && mid < m && mid.is_multiple_of(8), "{m}: {mid}");
            let a: Vec<f32> = (0..m * k).map(|i| (i as f32 * 0.37).sin()).collect();
            let b: Vec<f32> = (0..k * n).map(|i| (i as f32 * 0.11).cos()).collect();
            for tb in [Trans::No, Trans::Yes] {
                let c0: Vec<f32> = (0..m * n).map(|i| (i as f32 * 0.01).sin()).collect();
                let (mut cut, mut whole) = (c0.clone(), c0);
                matmul(m, n, k, &a, Trans::No, &b, tb, &mut cut, true);
                large(
                    m,
                    n,
                    k,
                    &a,
                    Trans::No,
                    &b,
                    tb,
                    &mut whole,
                    true,
                    gemm::Parallelism::None,
                );
                assert!(
                    cut.iter()
                        .zip(&whole)
                        .all(|(x, y)| x.to_bits() == y.to_bits()),
                    "{m}x{n}x{k} {tb:?}: the halves differ from the whole"
                );
            }
        }
    }

    /// The GEMM crate's threads split the output into tiles, never the sum
    /// over `k`: any thread count gives the same bits. Training results
    /// rely on it (`--threads` must not change a checkpoint's bytes).
    #[test]
    fn thread_count_does_not_change_the_bits() {
        for (m, n, k) in [(600, 300, 1100), (61, 1030, 517), (2050, 70, 130)] {
            let a: Vec<f32> = (0..m * k).map(|i| (i as f32 * 0.37).sin()).collect();
            let b: Vec<f32> = (0..k * n).map(|i| (i as f32 * 0.11).cos()).collect();
            for ta in [Trans::No, Trans::Yes] {
                for tb in [Trans::No, Trans::Yes] {
                    let run = |par| {
                        let mut c: Vec<f32> = (0..m * n).map(|i| (i as f32 * 0.01).sin()).collect();
                        large(m, n, k, &a, ta, &b, tb, &mut c, true, par);
                        c
                    };
                    let want = run(gemm::Parallelism::None);
                    for t in [2, 3, 4, 7, 16] {
                        let got = run(gemm::Parallelism::Rayon(t));
                        assert!(
                            got.iter()
                                .zip(&want)
                                .all(|(x, w)| x.to_bits() == w.to_bits()),
                            "{m}x{n}x{k} {ta:?} {tb:?}: {t} threads differ from one"
                        );
                    }
                }
            }
        }
    }

    /// The f32 row updates (AVX-512 where the CPU has it) give the
    /// portable kernel's bits: every block width, masked tails, odd and
    /// even `k`, both strides of the coefficients.
    #[test]
    fn row_updates_give_the_portable_bits() {
        let value = |i: usize| ((i * 7919 % 1013) as f32 / 1013.0 - 0.5) * 3.0;
        for n in [16, 17, 31, 64, 100, 128, 129, 200, 300] {
            for k in [1, 2, 25, 100] {
                for stride in [1, 3] {
                    let coef: Vec<f32> = (0..k * stride).map(|i| value(i + 5)).collect();
                    let rows: Vec<f32> = (0..k * n).map(value).collect();
                    let start: Vec<f32> = (0..n).map(|i| value(i + 11)).collect();
                    let (mut fast, mut portable) = (start.clone(), start);
                    row_updates(&coef, stride, k, &rows, &mut fast);
                    portable_row_updates(&coef, stride, k, &rows, &mut portable);
                    assert_eq!(fast, portable, "n={n} k={k} stride={stride}");
                }
            }
        }
    }

    /// The f32 products of a few rows (AVX-512 kernels where the CPU has
    /// them: dot products for `b` transposed, row updates otherwise) and
    /// of mid-sized ones (register tiles, `b` transposed first where it is
    /// used so) are within rounding of the f64 reference, at every tail of
    /// `m`, `k` and `n`, for every layout, accumulating or not.
    #[test]
    fn f32_small_and_mid_products_match_the_f64_reference() {
        // A few rows (dot products, row updates), mid-sized (row tiles,
        // the last ones beyond their size limit: the GEMM crate).
        for m in [1, 3, 5, 7, 25, 65] {
            for k in [1, 5, 16, 17, 31, 100, 128, 129] {
                for n in [1, 3, 16, 65, 100, 256] {
                    let a: Vec<f64> = (0..m * k).map(|i| (i as f64 * 0.37).sin()).collect();
                    let b: Vec<f64> = (0..k * n).map(|i| (i as f64 * 0.11).cos()).collect();
                    let (a32, b32): (Vec<f32>, Vec<f32>) = (
                        a.iter().map(|&x| x as f32).collect(),
                        b.iter().map(|&x| x as f32).collect(),
                    );
                    for ta in [Trans::No, Trans::Yes] {
                        for tb in [Trans::No, Trans::Yes] {
                            let want = naive(m, n, k, &a, ta, &b, tb);
                            for (accumulate, from) in [(true, 0.5), (false, 0.0)] {
                                let mut c = vec![0.5f32; m * n];
                                matmul(m, n, k, &a32, ta, &b32, tb, &mut c, accumulate);
                                for (j, (&x, w)) in c.iter().zip(&want).enumerate() {
                                    let err = (x as f64 - (w + from)).abs();
                                    assert!(
                                        err < 1e-5 * k as f64,
                                        "{m}x{n}x{k} {ta:?} {tb:?} [{j}]: {x} vs {}",
                                        w + from
                                    );
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    fn check(m: usize, n: usize, k: usize) {
        let a: Vec<f64> = (0..m * k).map(|i| (i as f64 * 0.37).sin()).collect();
        let b: Vec<f64> = (0..k * n).map(|i| (i as f64 * 0.11).cos()).collect();
        for ta in [Trans::No, Trans::Yes] {
            for tb in [Trans::No, Trans::Yes] {
                let want = naive(m, n, k, &a, ta, &b, tb);
                let mut c = vec![1.0; m * n];
                matmul(m, n, k, &a, ta, &b, tb, &mut c, true);
                for (x, w) in c.iter().zip(&want) {
                    assert!((x - (w + 1.0)).abs() < 1e-12);
                }
                matmul(m, n, k, &a, ta, &b, tb, &mut c, false);
                for (x, w) in c.iter().zip(&want) {
                    assert!((x - w).abs() < 1e-12);
                }
            }
        }
    }
}
