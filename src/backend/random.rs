//! A counter-based random generator for dropout masks and sampling: value `i` of the
//! mask keyed `key` is a hash of `(key, i)` alone, so a GPU draws it in
//! place (no mask crosses the bus), every backend draws the same bits, and
//! a run's masks follow from the keys it takes from its seeded generator
//! (exact resume).
//!
//! The hash is Chris Wellons' `lowbias32` mixer applied twice, with the
//! key's halves folded in between; the GPU's copy is `bits24` in
//! `gpu/wgsl/prelude.wgsl`.

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

/// How [`pick`] chooses a token from logits.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Draw {
    /// Divides the logits (positive).
    pub temperature: f32,
    /// Only the `top_k` largest logits (with ties) may be drawn; 0: all.
    pub top_k: usize,
    /// The largest logit (the first on ties), drawing nothing.
    pub greedy: bool,
}

/// A token drawn from `logits` with 24 random bits (see [`bits24`]):
/// `u = bits / 2²⁴` of the way through the cumulative sum of
/// `exp((x - max) / T)` over the allowed tokens, in f32. The GPU's
/// `sample.wgsl` computes the same.
pub fn pick(logits: &[f32], draw: &Draw, bits: u32) -> usize {
    let max_at = (0..logits.len()).fold(0, |b, i| if logits[i] > logits[b] { i } else { b });
    if draw.greedy || logits.is_empty() {
        return max_at;
    }
    let max = logits[max_at];
    let cutoff = top_k_cutoff(logits, draw.top_k);
    let p = |x: f32| {
        if x >= cutoff {
            ((x - max) / draw.temperature).exp()
        } else {
            0.0
        }
    };
    let total: f32 = logits.iter().map(|&x| p(x)).sum();
    let mut u = bits as f32 / (1u32 << 24) as f32 * total;
    for (i, &x) in logits.iter().enumerate() {
        let pi = p(x);
        if u < pi {
            return i;
        }
        u -= pi;
    }
    // Rounding left u past the last bucket: the last allowed token.
    (0..logits.len())
        .rev()
        .find(|&i| p(logits[i]) > 0.0)
        .unwrap_or(max_at)
}

/// The smallest logit with fewer than `k` logits above it (so every
/// logit at least this large is among the `k` largest, ties kept); minus
/// infinity for `k` 0 or at least the count.
fn top_k_cutoff(logits: &[f32], k: usize) -> f32 {
    if k == 0 || k >= logits.len() {
        return f32::NEG_INFINITY;
    }
    logits
        .iter()
        .filter(|&&x| logits.iter().filter(|&&y| y > x).count() < k)
        .fold(f32::INFINITY, |m, &x| m.min(x))
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

    #[test]
    fn pick_follows_greedy_top_k_and_the_cumulative_sum() {
        let logits = [1.0f32, 0.0, 0.9, 0.8, 0.95];
        let draw = |temperature, top_k, greedy| Draw {
            temperature,
            top_k,
            greedy,
        };
        assert_eq!(pick(&logits, &draw(1.0, 0, true), 0), 0);
        // Top 2 (1.0 and 0.95): every draw lands on one of them.
        for bits in (0..1 << 24).step_by(99_991) {
            let i = pick(&logits, &draw(5.0, 2, false), bits);
            assert!(i == 0 || i == 4, "picked {i}");
        }
        // u = 0 takes the first allowed token, u just under 1 the last.
        assert_eq!(pick(&logits, &draw(1.0, 0, false), 0), 0);
        assert_eq!(pick(&logits, &draw(1.0, 0, false), (1 << 24) - 1), 4);
        // A large cold logit takes nearly every draw.
        let hot = [0.0f32, 20.0, 0.0];
        let hits = (0..1000)
            .filter(|&i| pick(&hot, &draw(1.0, 0, false), bits24(3, i)) == 1)
            .count();
        assert!(hits > 990, "{hits}");
    }
}
