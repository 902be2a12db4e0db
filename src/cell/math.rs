//! Pointwise activations the cells' row kernels share (CPU bodies).

use crate::tensor::Scalar;

/// `σ(x) = 1 / (1 + e^{-x})`.
#[inline(always)]
pub(crate) fn sigmoid<S: Scalar>(x: S) -> S {
    S::one() / (S::one() + (-x).exp_fast())
}

/// `x = σ(x)` over a slice (a loop of its own, so it vectorizes).
pub(crate) fn sigmoid_all<S: Scalar>(x: &mut [S]) {
    x.iter_mut().for_each(|v| *v = sigmoid(*v));
}

/// `x = tanh(x)` over a slice.
pub(crate) fn tanh_all<S: Scalar>(x: &mut [S]) {
    x.iter_mut().for_each(|v| *v = v.tanh_fast());
}

/// minGRU's and minLSTM's positive candidate activation,
/// `g(v) = v + ½` for `v ≥ 0` and `σ(v)` below: continuous, increasing and
/// positive, so that states stay positive (the log-space form needs it).
#[inline(always)]
pub(crate) fn positive<S: Scalar>(v: S) -> S {
    if v >= S::zero() {
        v + S::of(0.5)
    } else {
        sigmoid(v)
    }
}

/// `g'(v)` read from `y = g(v)`: 1 where `y ≥ ½` (then `v ≥ 0`), else
/// `σ'(v) = y (1 - y)`.
#[inline(always)]
pub(crate) fn positive_grad<S: Scalar>(y: S) -> S {
    if y >= S::of(0.5) {
        S::one()
    } else {
        y * (S::one() - y)
    }
}

/// `softplus(x) = ln(1 + eˣ)`, without overflow for large `x`; branch-free
/// (f32: within about 1e-7 absolute, see [`Scalar::ln_1p_fast`]).
#[inline(always)]
pub(crate) fn softplus<S: Scalar>(x: S) -> S {
    x.max(S::zero()) + (-x.abs()).exp_fast().ln_1p_fast()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_positive_activation_and_softplus() {
        assert_eq!(positive(0.0f64), 0.5);
        assert_eq!(positive(1.5f64), 2.0);
        assert!((positive(-1.0f64) - 1.0 / (1.0 + 1f64.exp())).abs() < 1e-15);
        assert_eq!(positive_grad(2.0f64), 1.0);
        assert!((positive_grad(positive(-1.0f64)) - 0.19661193324148185).abs() < 1e-15);
        assert!((softplus(0.0f64) - 2f64.ln()).abs() < 1e-15);
        assert_eq!(softplus(1000.0f32), 1000.0);
        assert!(softplus(-1000.0f32) >= 0.0 && softplus(-1000.0f32) < 1e-7);
        for i in -2000..=2000 {
            let x = i as f32 * 0.01;
            let want = (x as f64).exp().ln_1p();
            assert!(
                (softplus(x) as f64 - want).abs() < 2e-7 * want.max(1.0),
                "{x}"
            );
        }
    }
}
