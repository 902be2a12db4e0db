//! [`Update`]: one optimizer step's rule with its scalars worked out, the
//! form in which the optimizers (see `crate::optim`) hand an update to a
//! backend.

/// `ε` of RMSprop and Adam (PyTorch's default).
pub const EPS: f64 = 1e-8;
/// `ε` of Adagrad (PyTorch's default).
pub const ADAGRAD_EPS: f64 = 1e-10;

/// An elementwise parameter update: `p` the parameters, `g` the gradients,
/// `m`, `v` the moments (as many as the rule keeps, each shaped like `p`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Update<S> {
    /// `p -= lr·g`.
    Sgd {
        /// Step size.
        lr: S,
    },
    /// `m = mu·m + g; p -= lr·m` (PyTorch's SGD momentum, no dampening).
    Momentum {
        /// Step size.
        lr: S,
        /// Momentum.
        mu: S,
    },
    /// `m += g²; p -= lr·g / (√m + ε)`.
    Adagrad {
        /// Step size.
        lr: S,
    },
    /// `m = a·m + (1-a)·g²; p -= lr·g / (√m + ε)`.
    Rmsprop {
        /// Step size.
        lr: S,
        /// Decay `a` (alpha).
        a: S,
    },
    /// `m = b1·m + (1-b1)·g; v = b2·v + (1-b2)·g²;
    /// p -= step·m / (√v / corr2 + ε)`: both bias corrections folded into
    /// `step = lr / (1 - b1^t)` and `corr2 = √(1 - b2^t)`, as PyTorch does.
    Adam {
        /// Step size with the first bias correction.
        step: S,
        /// First-moment decay.
        b1: S,
        /// Second-moment decay.
        b2: S,
        /// Second bias correction `√(1 - b2^t)`.
        corr2: S,
    },
}
