//! `C = A·B` (optionally accumulating) on row-major slices, backed by the
//! `gemm` crate, which picks AVX-512/AVX2 kernels at run time.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::Scalar;

/// Whether an operand is used as stored or transposed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trans {
    /// Use the matrix as stored.
    No,
    /// Use its transpose.
    Yes,
}

static THREADS: AtomicUsize = AtomicUsize::new(0);

/// Below this many multiply-adds a GEMM runs on one thread: splitting a
/// small product costs more than it saves (see shared notes on this machine).
const PARALLEL_MIN_MACS: usize = 1 << 24;

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
    // Strides (column stride, row stride) of each operand as used.
    let (a_cs, a_rs) = match ta {
        Trans::No => (1, k as isize),
        Trans::Yes => (m as isize, 1),
    };
    let (b_cs, b_rs) = match tb {
        Trans::No => (1, n as isize),
        Trans::Yes => (k as isize, 1),
    };
    let par = if m * n * k >= PARALLEL_MIN_MACS && threads() != 1 {
        gemm::Parallelism::Rayon(threads())
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: the asserts above guarantee every index the strides reach is
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
        let (m, n, k) = (5, 7, 3);
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
