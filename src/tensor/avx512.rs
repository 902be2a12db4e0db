//! What the AVX-512 kernels of [`super`] share: whether this CPU runs
//! them, and the masks of a register's first lanes.

use std::arch::x86_64::__mmask16;

/// Lanes of one register of f32 (or of one of bf16 pairs).
pub(crate) const W: usize = 16;

/// Whether this CPU runs AVX-512F kernels.
pub(crate) fn available() -> bool {
    std::arch::is_x86_feature_detected!("avx512f")
}

/// The mask of the first `len` lanes (`len <= 16`; 0 masks none).
pub(crate) fn lanes(len: usize) -> __mmask16 {
    debug_assert!(len <= W);
    ((1u32 << len) - 1) as __mmask16
}
