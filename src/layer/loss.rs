//! Losses and their gradients with respect to the model's outputs.

use crate::backend::{Backend, Cpu, IGNORE, View};
use crate::error::{Error, Result};
use crate::tensor::Scalar;

/// What a model's outputs are compared with.
#[derive(Clone, Copy, Debug)]
pub enum Target<'a, S> {
    /// Class ids, one per output row (`IGNORE` rows skipped): softmax
    /// cross-entropy, averaged over the counted rows. `(R)`.
    Classes(&'a [u32]),
    /// Real-valued targets: mean squared error averaged over all elements
    /// (PyTorch's `MSELoss`). `(R, Out)`.
    Values(&'a [S]),
    /// Real-valued targets: mean absolute error over all elements
    /// (PyTorch's `L1Loss`). `(R, Out)`.
    AbsValues(&'a [S]),
    /// A caller-supplied gradient `dL/dy` for the outputs, as in a classroom
    /// notebook; the reported loss is 0. `(R, Out)`.
    OutputGrad(&'a [S]),
}

/// Softmax cross-entropy, mean over counted rows, in nats.
/// `logits: (R, V)`, `targets: (R)`, `dlogits: (R, V)` receives the gradient.
pub fn softmax_cross_entropy<S: Scalar, K: Backend<S>>(
    k: &K,
    logits: K::Ref<'_>,
    v: usize,
    targets: &[u32],
    dlogits: K::Mut<'_>,
) -> f64 {
    let count = targets.iter().filter(|&&t| t != IGNORE).count();
    if count == 0 {
        k.fill(dlogits, S::zero());
        return 0.0;
    }
    let (sum, _) = k.softmax_cross_entropy(logits, v, targets, S::of(1.0 / count as f64), dlogits);
    sum / count as f64
}

/// [`softmax_cross_entropy`] with the summed loss left in `loss[0]` on the
/// backend (divide by the returned count of counted rows for the mean).
pub fn softmax_cross_entropy_to<S: Scalar, K: Backend<S>>(
    k: &K,
    logits: K::Ref<'_>,
    v: usize,
    targets: &[u32],
    dlogits: K::Mut<'_>,
    loss: K::Mut<'_>,
) -> usize {
    let count = targets.iter().filter(|&&t| t != IGNORE).count();
    if count == 0 {
        k.fill(dlogits, S::zero());
        k.fill(loss, S::zero());
        return 0;
    }
    let scale = S::of(1.0 / count as f64);
    k.softmax_cross_entropy_to(logits, v, targets, scale, dlogits, loss)
}

/// Mean squared error over all elements; `dy` receives `2 (y - t) / N`.
pub fn mse<S: Scalar>(y: &[S], target: &[S], dy: &mut [S]) -> f64 {
    Cpu.mse(y, target, dy)
}

/// Mean absolute error over all elements; `dy` receives `sign(y - t) / N`
/// (0 where they are equal).
pub fn mae<S: Scalar>(y: &[S], target: &[S], dy: &mut [S]) -> f64 {
    Cpu.mae(y, target, dy)
}

/// The loss of outputs `y: (R, V)` against `target`, and its gradient `dy`.
///
/// Cross-entropy for class targets, MSE for values; for an output gradient
/// the gradient is copied and the loss is 0.
pub fn loss_and_grad<S: Scalar>(
    y: &[S],
    v: usize,
    target: Target<'_, S>,
    dy: &mut [S],
) -> Result<f64> {
    loss_and_grad_on(&Cpu, y, v, target, dy, &mut Vec::new())
}

/// [`loss_and_grad`] on backend `k`: `y` and `dy` are views of its
/// buffers; the targets come from the host (real values are read in place
/// where the backend can, else uploaded into `staging`).
pub fn loss_and_grad_on<S: Scalar, K: Backend<S>>(
    k: &K,
    y: K::Ref<'_>,
    v: usize,
    target: Target<'_, S>,
    dy: K::Mut<'_>,
    staging: &mut K::Buf,
) -> Result<f64> {
    let rows = y.len() / v;
    match target {
        Target::Classes(t) => {
            check_classes(t, rows, v)?;
            Ok(softmax_cross_entropy(k, y, v, t, dy))
        }
        Target::Values(t) => {
            check_len("value targets", t.len(), y.len())?;
            Ok(k.mse(y, k.host_view(t, staging), dy))
        }
        Target::AbsValues(t) => {
            check_len("value targets", t.len(), y.len())?;
            Ok(k.mae(y, k.host_view(t, staging), dy))
        }
        Target::OutputGrad(g) => {
            check_len("output gradient", g.len(), y.len())?;
            k.copy(k.host_view(g, staging), dy);
            Ok(0.0)
        }
    }
}

/// [`loss_and_grad_on`] with the summed loss left in `loss[0]` on the
/// backend: returns the count to divide it by for the mean (counted rows,
/// or elements for the regression losses; 0 for an output gradient, whose
/// loss is 0).
pub fn loss_and_grad_to<S: Scalar, K: Backend<S>>(
    k: &K,
    y: K::Ref<'_>,
    v: usize,
    target: Target<'_, S>,
    dy: K::Mut<'_>,
    staging: &mut K::Buf,
    loss: K::Mut<'_>,
) -> Result<usize> {
    match target {
        Target::Classes(t) => {
            check_classes(t, y.len() / v, v)?;
            Ok(softmax_cross_entropy_to(k, y, v, t, dy, loss))
        }
        Target::Values(t) => {
            check_len("value targets", t.len(), y.len())?;
            k.mse_to(y, k.host_view(t, staging), dy, loss);
            Ok(y.len())
        }
        Target::AbsValues(t) => {
            check_len("value targets", t.len(), y.len())?;
            k.mae_to(y, k.host_view(t, staging), dy, loss);
            Ok(y.len())
        }
        Target::OutputGrad(_) => {
            loss_and_grad_on(k, y, v, target, dy, staging)?;
            k.fill(loss, S::zero());
            Ok(0)
        }
    }
}

/// An error unless `t` holds one class id below `v` (or [`IGNORE`]) for
/// each of `rows` output rows.
pub fn check_classes(t: &[u32], rows: usize, v: usize) -> Result<()> {
    if t.len() != rows {
        return Err(Error::Shape(format!(
            "{} class targets for {rows} output rows",
            t.len()
        )));
    }
    if let Some(&bad) = t.iter().find(|&&c| c != IGNORE && c as usize >= v) {
        return Err(Error::Shape(format!(
            "class target {bad} is outside the {v} outputs"
        )));
    }
    Ok(())
}

/// The loss of outputs `y: (R, V)` against `target`, without the gradient.
pub fn compute_loss<S: Scalar>(y: &[S], v: usize, target: Target<'_, S>) -> Result<f64> {
    let mut dy = vec![S::zero(); y.len()];
    loss_and_grad(y, v, target, &mut dy)
}

fn check_len(what: &str, got: usize, want: usize) -> Result<()> {
    if got == want {
        Ok(())
    } else {
        Err(Error::Shape(format!(
            "{what} has {got} values, the outputs have {want}"
        )))
    }
}
