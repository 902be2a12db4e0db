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
