//! Gradient clipping: elementwise (min-char-rnn's `np.clip(g, -5, 5)`) and
//! by global norm (PyTorch's `clip_grad_norm_`).

use serde::{Deserialize, Serialize};

use crate::tensor::{Scalar, dot};

/// How gradients are clipped before each update.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "kebab-case")]
pub enum Clip {
    /// No clipping.
    None,
    /// Every gradient value clamped to `[-c, c]`.
    Elementwise(f64),
    /// All gradients scaled so that their L2 norm is at most `c`.
    GlobalNorm(f64),
}

impl Clip {
    /// Apply to a flat gradient buffer; returns the gradient norm before
    /// clipping.
    pub fn apply<S: Scalar>(&self, grads: &mut [S]) -> f64 {
        match *self {
            Clip::None => global_norm(grads),
            Clip::Elementwise(c) => {
                let n = global_norm(grads);
                clip_elementwise(grads, c);
                n
            }
            Clip::GlobalNorm(c) => clip_global_norm(grads, c),
        }
    }
}

/// The L2 norm of all values (NaN or infinite if any value is).
pub fn global_norm<S: Scalar>(grads: &[S]) -> f64 {
    dot(grads, grads).f64().sqrt()
}

/// Clamp every value to `[-c, c]`.
pub fn clip_elementwise<S: Scalar>(grads: &mut [S], c: f64) {
    let (lo, hi) = (S::of(-c), S::of(c));
    grads.iter_mut().for_each(|g| *g = g.max(lo).min(hi));
}

/// Scale `grads` so their L2 norm is at most `c`; returns the norm before.
pub fn clip_global_norm<S: Scalar>(grads: &mut [S], c: f64) -> f64 {
    let n = global_norm(grads);
    if n > c {
        let s = S::of(c / (n + 1e-6));
        grads.iter_mut().for_each(|g| *g *= s);
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elementwise_clamps_each_value() {
        let mut g = vec![-7.0f32, 0.5, 9.0];
        Clip::Elementwise(5.0).apply(&mut g);
        assert_eq!(g, vec![-5.0, 0.5, 5.0]);
    }

    #[test]
    fn global_norm_scales_to_the_limit() {
        let mut g = vec![3.0f64, 4.0];
        let before = Clip::GlobalNorm(1.0).apply(&mut g);
        assert!((before - 5.0).abs() < 1e-12);
        assert!((global_norm(&g) - 1.0).abs() < 1e-5);
        let mut small = vec![0.3f64, 0.4];
        Clip::GlobalNorm(1.0).apply(&mut small);
        assert_eq!(small, vec![0.3, 0.4]);
    }
}
