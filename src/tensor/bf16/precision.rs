//! Which operands the CPU backend's f32 products take: [`Precision`],
//! set for the whole process.

use std::sync::atomic::{AtomicU8, Ordering};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The precision of the CPU backend's f32 matrix products
/// ([`set_precision`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// f32 operands: the products as stored.
    #[default]
    F32,
    /// bf16 operands, f32 sums ([`matmul_bf16`](super::matmul_bf16)), for products of more
    /// than [`crate::tensor::SMALL_M`] rows; fewer rows (a batch of one to four,
    /// sampling) stay f32.
    Bf16,
}

impl std::str::FromStr for Precision {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "f32" => Ok(Precision::F32),
            "bf16" => Ok(Precision::Bf16),
            other => Err(Error::Config(format!(
                "unknown precision {other:?}: use f32 or bf16 (bf16 operands, f32 sums and weights)"
            ))),
        }
    }
}

impl std::fmt::Display for Precision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Precision::F32 => "f32",
            Precision::Bf16 => "bf16",
        })
    }
}

static PRECISION: AtomicU8 = AtomicU8::new(0);

/// Set the precision of the CPU backend's f32 matrix products, for the
/// whole process (like [`crate::tensor::set_threads`]): a trainer sets it for its
/// steps. f64 products (gradient checks) are never rounded.
pub fn set_precision(p: Precision) {
    PRECISION.store(p as u8, Ordering::Relaxed);
}

/// The precision of the CPU backend's f32 matrix products now.
pub fn precision() -> Precision {
    match PRECISION.load(Ordering::Relaxed) {
        0 => Precision::F32,
        _ => Precision::Bf16,
    }
}

/// `f()` with the products' precision set to `p`, then set back to what
/// it was (also when `f` unwinds).
pub fn with_precision<R>(p: Precision, f: impl FnOnce() -> R) -> R {
    /// Sets the precision back when dropped.
    struct Restore(Precision);
    impl Drop for Restore {
        fn drop(&mut self) {
            set_precision(self.0);
        }
    }
    let _restore = Restore(precision());
    set_precision(p);
    f()
}
