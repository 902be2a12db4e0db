//! Numeric foundations: the [`Scalar`] element type (f32 for training, f64
//! for gradient checks) and a thin GEMM wrapper over contiguous row-major
//! buffers.
//!
//! Matrices are plain slices plus their dimensions; every function documents
//! the shapes it expects, as `(rows, cols)` in row-major order.

mod gemm;

pub use gemm::{Trans, matmul, set_threads, threads};

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
}
