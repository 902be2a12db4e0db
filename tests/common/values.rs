//! Deterministic test values without a random-number crate: the tests that
//! compare two forms of the same maths in f64 draw their inputs here.

/// `n` values in `[lo, hi)` from a linear congruential generator seeded
/// with `seed`.
pub fn values(n: usize, seed: u64, lo: f64, hi: f64) -> Vec<f64> {
    let next = |s: u64| {
        s.wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407)
    };
    let mut s = next(seed);
    (0..n)
        .map(|_| {
            s = next(s);
            lo + (s >> 11) as f64 / (1u64 << 53) as f64 * (hi - lo)
        })
        .collect()
}
