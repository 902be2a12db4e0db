//! Numeric foundations: the [`Scalar`] element type (f32 for training, f64
//! for gradient checks) and a thin GEMM wrapper over contiguous row-major
//! buffers.
//!
//! Matrices are plain slices plus their dimensions; every function documents
//! the shapes it expects, as `(rows, cols)` in row-major order.

#[cfg(target_arch = "x86_64")]
mod avx512;
pub mod bf16;
#[cfg(target_arch = "x86_64")]
mod few_rows;
mod gemm;
pub mod pair;
#[cfg(target_arch = "x86_64")]
mod row_tiles;
mod transpose;

pub(crate) use gemm::{PARALLEL_MIN_MACS, f32s, f32s_mut, in_halves, is_f32};
pub(crate) use transpose::{transpose, transpose_bits};

pub use bf16::Operand;
pub use gemm::{SMALL_M, Trans, dot, matmul, set_threads, threads};

thread_local! {
    /// Whether this thread runs the one task of its kind (see [`as_sole_task`]).
    static SOLE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether a product on this thread may split over other threads: outside
/// the rayon pool (the pool's threads are free), or in a task that runs
/// alone ([`as_sole_task`]). A product inside one of several tasks (a
/// training shard among others) runs on its task's thread: never nested.
pub(crate) fn may_split() -> bool {
    rayon::current_thread_index().is_none() || SOLE.with(std::cell::Cell::get)
}

/// Run `f`, the only task the pool runs meanwhile, letting its products
/// split over the pool although it runs on one of its threads (a single
/// shard whose caller waits on something else).
#[cfg_attr(not(feature = "mpi"), allow(dead_code))] // used by the MPI overlap and tests
pub(crate) fn as_sole_task<R>(f: impl FnOnce() -> R) -> R {
    /// Ends the sole task when `f` returns or unwinds.
    struct End(bool);
    impl Drop for End {
        fn drop(&mut self) {
            SOLE.with(|s| s.set(self.0));
        }
    }
    let _end = End(SOLE.with(|s| s.replace(true)));
    f()
}

use std::fmt::{Debug, Display};
use std::iter::Sum;
use std::ops::{AddAssign, DivAssign, MulAssign, SubAssign};

/// A floating-point element type the models run in: `f32` or `f64`.
pub trait Scalar:
    num_traits::Float
    + num_traits::FromPrimitive
    + num_traits::ToPrimitive
    + AddAssign
    + SubAssign
    + MulAssign
    + DivAssign
    + Sum
    + Default
    + Debug
    + Display
    + Send
    + Sync
    + 'static
{
    /// Convert from `f64` (rounding for `f32`).
    fn of(x: f64) -> Self;
    /// Widen to `f64`.
    fn f64(self) -> f64;
    /// `tanh`, as a branch-free formula the compiler vectorizes (f32: a
    /// rational approximation within a few ulp; f64: the exact libm call,
    /// for gradient checks).
    fn tanh_fast(self) -> Self;
    /// `exp`, likewise (f32: a Cephes polynomial within 2 ulp, inputs below
    /// -87 give the smallest normal number instead of a subnormal or 0).
    fn exp_fast(self) -> Self;
    /// `ln(1 + x)` for `x ≥ 0`, likewise (f32: `ln` of the rounded `1 + x`
    /// by a Cephes polynomial, within 6e-8 of the exact value, so relative
    /// accuracy is lost only where `x` is below the rounding of 1; f64: the
    /// exact libm call).
    fn ln_1p_fast(self) -> Self;
}

impl Scalar for f32 {
    #[inline]
    fn of(x: f64) -> Self {
        x as f32
    }
    #[inline]
    fn f64(self) -> f64 {
        self as f64
    }
    #[inline]
    fn tanh_fast(self) -> Self {
        tanh_f32(self)
    }
    #[inline]
    fn exp_fast(self) -> Self {
        exp_f32(self)
    }
    #[inline]
    fn ln_1p_fast(self) -> Self {
        ln_f32(1.0 + self)
    }
}

impl Scalar for f64 {
    #[inline]
    fn of(x: f64) -> Self {
        x
    }
    #[inline]
    fn f64(self) -> f64 {
        self
    }
    #[inline]
    fn tanh_fast(self) -> Self {
        self.tanh()
    }
    #[inline]
    fn exp_fast(self) -> Self {
        self.exp()
    }
    #[inline]
    fn ln_1p_fast(self) -> Self {
        self.ln_1p()
    }
}

/// `a · b + c`, fused into one instruction where the CPU has FMA (it is then
/// also one rounding more exact), else a multiply and an add.
#[inline(always)]
pub fn madd<S: Scalar>(a: S, b: S, c: S) -> S {
    if cfg!(target_feature = "fma") {
        a.mul_add(b, c)
    } else {
        a * b + c
    }
}

/// `exp` for f32: `2ⁿ · e^r` with `r = x - n ln 2` in `[-ln2/2, ln2/2]` and
/// Cephes' degree-6 polynomial for `e^r`; branch-free, so loops vectorize.
#[inline(always)]
pub fn exp_f32(x: f32) -> f32 {
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let x = x.clamp(-87.3, 88.7);
    let n = (x * std::f32::consts::LOG2_E + 0.5).floor();
    let r = x - n * LN2_HI - n * LN2_LO;
    let mut p = 1.987_569_1e-4f32;
    p = p * r + 1.398_2e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 0.5;
    let y = p * r * r + r + 1.0;
    // 2ⁿ from the bits: adding 1.5·2²³ puts n in the low mantissa bits (a
    // float-to-int `as` cast would be a saturating conversion that does not
    // vectorize).
    let ni = (n + 12_582_912.0).to_bits() as i32 - 0x4B40_0000;
    y * f32::from_bits(((ni + 127) << 23) as u32)
}

/// `ln` for positive normal f32: `x = m·2ᵉ` with `m` in `[√½, √2)` from the
/// bits, then Cephes' degree-9 polynomial for `ln m`; branch-free, so loops
/// vectorize. (Zero, subnormals, infinities and NaN are not handled.)
#[inline(always)]
pub fn ln_f32(x: f32) -> f32 {
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let bits = x.to_bits() as i32;
    // m in [1, 2), then halved (and e raised) where m ≥ √2.
    let e = ((bits >> 23) & 0xff) - 127;
    let m = f32::from_bits(((bits & 0x007f_ffff) | 0x3f80_0000) as u32);
    let big = m >= std::f32::consts::SQRT_2;
    let (m, e) = if big { (m * 0.5, e + 1) } else { (m, e) };
    let (r, e) = (m - 1.0, e as f32);
    let z = r * r;
    let mut p = 7.037_683_6e-2f32;
    p = p * r - 1.151_461e-1;
    p = p * r + 1.167_699_9e-1;
    p = p * r - 1.242_014_1e-1;
    p = p * r + 1.424_932_3e-1;
    p = p * r - 1.666_805_8e-1;
    p = p * r + 2.000_071_4e-1;
    p = p * r - 2.499_999_4e-1;
    p = p * r + 3.333_333e-1;
    let y = p * r * z + e * LN2_LO - 0.5 * z;
    r + y + e * LN2_HI
}

/// Sum of a slice with 16 independent partial sums, so the loop vectorizes.
#[inline]
pub fn sum<S: Scalar>(x: &[S]) -> S {
    const W: usize = 16;
    let mut acc = [S::zero(); W];
    let chunks = x.chunks_exact(W);
    let tail: S = chunks.remainder().iter().copied().sum();
    for c in chunks {
        for l in 0..W {
            acc[l] += c[l];
        }
    }
    acc.iter().copied().sum::<S>() + tail
}

/// `tanh` for f32 as a 13/6 rational minimax approximation on the clamped
/// range where f32 tanh is not yet ±1 (the form Eigen uses); no branches or
/// library calls, so loops over it vectorize.
#[inline(always)]
pub fn tanh_f32(x: f32) -> f32 {
    const CLAMP: f32 = 7.905_311;
    let x = x.clamp(-CLAMP, CLAMP);
    let x2 = x * x;
    let mut p = -2.760_768_5e-16f32;
    p = p * x2 + 2.000_188e-13;
    p = p * x2 - 8.604_672e-11;
    p = p * x2 + 5.122_297e-8;
    p = p * x2 + 1.485_722_4e-5;
    p = p * x2 + 6.372_619_3e-4;
    p = p * x2 + 4.893_524_6e-3;
    let mut q = 1.198_258_4e-6f32;
    q = q * x2 + 1.185_347_1e-4;
    q = q * x2 + 2.268_434_6e-3;
    q = q * x2 + 4.893_525e-3;
    x * p / q
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pool_task_splits_its_products_only_as_the_sole_task() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        assert!(may_split(), "outside the pool");
        let inside = pool.install(|| {
            let before = may_split();
            let sole = as_sole_task(may_split);
            (before, sole, may_split())
        });
        assert_eq!(inside, (false, true, false));
    }

    #[test]
    fn exp_f32_is_accurate_everywhere() {
        for i in -87_000..=88_000 {
            let x = i as f32 * 1e-3;
            let (got, want) = (exp_f32(x) as f64, (x as f64).exp());
            assert!(
                ((got - want) / want).abs() < 3e-7,
                "exp({x}) = {got}, want {want}"
            );
        }
        assert!(exp_f32(-1000.0) < 1e-37 && exp_f32(-1000.0) >= 0.0);
        assert!(exp_f32(f32::NAN).is_nan());
    }

    #[test]
    fn ln_f32_is_accurate() {
        // Over 1e-30 .. 1e30, and where the sLSTM and softplus use it
        // (1 .. 2) densely.
        let mut xs: Vec<f32> = (-300..=300).map(|i| 10f32.powf(i as f32 * 0.1)).collect();
        xs.extend((0..=100_000).map(|i| 1.0 + i as f32 * 1e-5));
        for x in xs {
            let (got, want) = (ln_f32(x) as f64, (x as f64).ln());
            assert!(
                (got - want).abs() <= 2e-7 * want.abs().max(1.0),
                "ln({x}) = {got}, want {want}"
            );
        }
        assert_eq!(ln_f32(1.0), 0.0);
        assert!((0.5f32.ln_1p_fast() - 1.5f32.ln()).abs() < 1e-7);
    }

    #[test]
    fn sum_matches_sequential() {
        let x: Vec<f64> = (0..100).map(|i| i as f64 * 0.5).collect();
        assert_eq!(sum(&x), 2475.0);
    }

    #[test]
    fn tanh_f32_is_accurate_everywhere() {
        let mut worst = 0.0f64;
        for i in -200_000..=200_000 {
            let x = i as f32 * 1e-4;
            let err = (tanh_f32(x) as f64 - (x as f64).tanh()).abs();
            worst = worst.max(err);
        }
        for x in [1e-8f32, -1e-30, 20.0, -50.0, f32::MAX] {
            assert!((tanh_f32(x) as f64 - (x as f64).tanh()).abs() < 1e-6, "{x}");
        }
        assert!(worst < 5e-7, "max error {worst:e}");
    }
}
