//! Gradient clipping: elementwise (min-char-rnn's `np.clip(g, -5, 5)`) and
//! by global norm (PyTorch's `clip_grad_norm_`).

use serde::{Deserialize, Serialize};

use crate::backend::{Backend, Cpu, ViewMut};
use crate::tensor::Scalar;

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
    /// Clip `grads` in place. Returns `false` if any gradient is NaN or
    /// infinite (training has blown up), `true` otherwise.
    pub fn apply<S: Scalar>(&self, grads: &mut [S]) -> bool {
        self.apply_on(&Cpu, grads)
    }

    /// [`Clip::apply`] to gradients in backend `k`'s buffers.
    pub fn apply_on<S: Scalar, K: Backend<S>>(&self, k: &K, grads: K::Mut<'_>) -> bool {
        match *self {
            Clip::None => k.all_finite(grads.into_ref()),
            Clip::Elementwise(c) => k.clamp(grads, S::of(-c), S::of(c)),
            Clip::GlobalNorm(c) => clip_global_norm_on(k, grads, c).is_finite(),
        }
    }

    /// [`Clip::apply_on`] without a round trip: the verdict goes to
    /// `verdict[0]` on the backend, finite exactly when the gradients are
    /// (for the global norm it is the sum of squares, which the scaling
    /// reads there too).
    pub fn apply_to<S: Scalar, K: Backend<S>>(
        &self,
        k: &K,
        mut grads: K::Mut<'_>,
        mut verdict: K::Mut<'_>,
    ) {
        match *self {
            Clip::None => k.finite_flag_to(grads.into_ref(), verdict),
            Clip::Elementwise(c) => k.clamp_to(grads, S::of(-c), S::of(c), verdict),
            Clip::GlobalNorm(c) => {
                k.sum_squares_to(
                    K::reborrow(&mut grads).into_ref(),
                    K::reborrow(&mut verdict),
                );
                k.scale_to_norm(grads, verdict.into_ref(), c);
            }
        }
    }
}

/// The L2 norm of all values (NaN or infinite if any value is).
pub fn global_norm<S: Scalar>(grads: &[S]) -> f64 {
    Cpu.sum_squares(grads).sqrt()
}

/// Clamp every value to `[-c, c]`; returns whether all were finite (a NaN
/// would otherwise be clamped silently).
pub fn clip_elementwise<S: Scalar>(grads: &mut [S], c: f64) -> bool {
    Cpu.clamp(grads, S::of(-c), S::of(c))
}

/// Scale `grads` so their L2 norm is at most `c`; returns the norm before.
pub fn clip_global_norm<S: Scalar>(grads: &mut [S], c: f64) -> f64 {
    clip_global_norm_on(&Cpu, grads, c)
}

/// [`clip_global_norm`] on backend `k`: the norm is the one scalar that
/// comes back to the host.
fn clip_global_norm_on<S: Scalar, K: Backend<S>>(k: &K, mut grads: K::Mut<'_>, c: f64) -> f64 {
    let n = k.sum_squares(K::reborrow(&mut grads).into_ref()).sqrt();
    if n > c {
        k.scale(grads, S::of(c / (n + 1e-6)));
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elementwise_clamps_each_value() {
        let mut g = vec![-7.0f32, 0.5, 9.0];
        assert!(Clip::Elementwise(5.0).apply(&mut g));
        assert_eq!(g, vec![-5.0, 0.5, 5.0]);
        assert!(!Clip::Elementwise(5.0).apply(&mut [1.0f32, f32::NAN]));
        assert!(!Clip::None.apply(&mut [f64::INFINITY]));
    }

    #[test]
    fn global_norm_scales_to_the_limit() {
        let mut g = vec![3.0f64, 4.0];
        let before = clip_global_norm(&mut g, 1.0);
        assert!((before - 5.0).abs() < 1e-12);
        assert!((global_norm(&g) - 1.0).abs() < 1e-5);
        let mut small = vec![0.3f64, 0.4];
        Clip::GlobalNorm(1.0).apply(&mut small);
        assert_eq!(small, vec![0.3, 0.4]);
    }
}
