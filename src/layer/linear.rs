//! A fully connected layer `y = x Wᵀ + b` (PyTorch's `nn.Linear`), the
//! output head `y_t = W_hy h_t + b_y` of every language model.

use crate::backend::{Backend, View, ViewMut};
use crate::tensor::{Scalar, Trans};

/// Forward. `x: (R, In)`, `w: (Out, In)`, `bias: (Out)`, `y: (R, Out)`.
pub fn forward<S: Scalar, K: Backend<S>>(
    k: &K,
    x: K::Ref<'_>,
    w: K::Ref<'_>,
    bias: K::Ref<'_>,
    mut y: K::Mut<'_>,
) {
    let (out, rows) = (bias.len(), y.len() / bias.len());
    let inp = w.len() / out;
    k.matmul(
        rows,
        out,
        inp,
        x,
        Trans::No,
        w,
        Trans::Yes,
        K::reborrow(&mut y),
        false,
    );
    k.add_bias(y, bias);
}

/// Backward. `dy: (R, Out)`; accumulates `dw (Out, In) += dyᵀ x` and
/// `db (Out) += Σ_r dy`; writes `dx (R, In) = dy w` when given.
#[allow(clippy::too_many_arguments)]
pub fn backward<S: Scalar, K: Backend<S>>(
    k: &K,
    x: K::Ref<'_>,
    w: K::Ref<'_>,
    dy: K::Ref<'_>,
    dw: K::Mut<'_>,
    db: K::Mut<'_>,
    dx: Option<K::Mut<'_>>,
) {
    let out = db.len();
    let rows = dy.len() / out;
    let inp = w.len() / out;
    k.matmul(out, inp, rows, dy, Trans::Yes, x, Trans::No, dw, true);
    k.sum_rows_into(dy, db);
    if let Some(dx) = dx {
        k.matmul(rows, inp, out, dy, Trans::No, w, Trans::No, dx, false);
    }
}
