//! A counter-based random generator for dropout masks: value `i` of the
//! mask keyed `key` is a hash of `(key, i)` alone, so a GPU draws it in
//! place (no mask crosses the bus), every backend draws the same bits, and
//! a run's masks follow from the keys it takes from its seeded generator
//! (exact resume).
//!
//! The hash is Chris Wellons' `lowbias32` mixer applied twice, with the
//! key's halves folded in between; the GPU's copy is `wgsl/random.wgsl`.

/// One round of the 32-bit mixer.
fn mix(mut x: u32) -> u32 {
    x ^= x >> 16;
    x = x.wrapping_mul(0x7feb_352d);
    x ^= x >> 15;
    x = x.wrapping_mul(0x846c_a68b);
    x ^ (x >> 16)
}

/// 24 random bits for value `i` of the stream `key`.
pub fn bits24(key: u64, i: u32) -> u32 {
    mix(mix(i ^ key as u32) ^ (key >> 32) as u32) >> 8
}

/// A value is dropped when its 24 bits fall below this threshold:
/// probability `p`, rounded to a multiple of 2⁻²⁴.
pub fn drop_threshold(p: f64) -> u32 {
    (p.clamp(0.0, 1.0) * (1u32 << 24) as f64).round() as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn about_p_of_the_values_are_dropped_and_keys_differ() {
        let (n, p) = (100_000u32, 0.3);
        let t = drop_threshold(p);
        let dropped = |key| (0..n).filter(|&i| bits24(key, i) < t).count() as f64 / n as f64;
        for key in [0, 1, 42, u64::MAX] {
            assert!(
                (dropped(key) - p).abs() < 0.01,
                "key {key}: {}",
                dropped(key)
            );
        }
        // Two keys that differ in one bit of either half give unrelated masks.
        for (a, b) in [(7u64, 6u64), (7, 7 | 1 << 40)] {
            let same = (0..n)
                .filter(|&i| (bits24(a, i) < t) == (bits24(b, i) < t))
                .count();
            let expected = (p * p + (1.0 - p) * (1.0 - p)) * n as f64;
            assert!(
                (same as f64 - expected).abs() < 0.01 * n as f64,
                "{a} {b}: {same}"
            );
        }
    }
}
