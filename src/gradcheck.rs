//! Finite-difference gradient checks in f64.
//!
//! Each parameter (and each initial-state or input value) is nudged by ±h,
//! ±2h and the loss differentiated with the five-point stencil
//! `(8(f(x+h) - f(x-h)) - (f(x+2h) - f(x-2h))) / 12h`, whose error is
//! O(h⁴): far below the 1e-6 relative tolerance the checks demand. The
//! relative error of an analytic gradient `a` against the numerical `n` is
//! `|a - n| / max(|a|, |n|, FLOOR)`, the floor keeping exact zeros from
//! dividing by zero.

use rand::SeedableRng;
use rand::distr::{Distribution, Uniform};
use rand_chacha::ChaCha8Rng;

use crate::backend::Activation;
use crate::cell::SeqInput;
use crate::error::Result;
use crate::layer::loss::Target;
use crate::model::{Init, ParamLayout, Readout, RnnConfig, VanillaRnn};

/// Step of the finite differences.
pub const STEP: f64 = 1e-4;
/// Gradients below this magnitude are compared absolutely.
pub const FLOOR: f64 = 1e-7;
/// The largest relative error a check accepts.
pub const TOLERANCE: f64 = 1e-6;

/// The worst error over one named tensor.
#[derive(Clone, Debug)]
pub struct TensorCheck {
    /// Tensor name (`rnn.weight_hh_l0`, `h0`, `x`).
    pub name: String,
    /// Number of values checked.
    pub count: usize,
    /// Largest relative error.
    pub max_rel_error: f64,
}

/// All tensors of one configuration.
#[derive(Clone, Debug)]
pub struct CaseReport {
    /// What was checked, e.g. `rnn tanh many-to-many tokens cross-entropy`.
    pub case: String,
    /// One row per tensor.
    pub tensors: Vec<TensorCheck>,
}

impl CaseReport {
    /// The worst relative error in the case.
    pub fn max_rel_error(&self) -> f64 {
        self.tensors
            .iter()
            .map(|t| t.max_rel_error)
            .fold(0.0, f64::max)
    }

    /// Whether every tensor is within [`TOLERANCE`].
    pub fn passed(&self) -> bool {
        self.max_rel_error() <= TOLERANCE
    }
}

/// Relative error of `a` against `n` (see the module docs).
pub fn relative_error(a: f64, n: f64) -> f64 {
    (a - n).abs() / a.abs().max(n.abs()).max(FLOOR)
}

/// The five-point numerical derivative of `loss` with respect to `values[i]`.
pub fn numerical_gradient(
    values: &mut [f64],
    i: usize,
    loss: &mut impl FnMut(&[f64]) -> f64,
) -> f64 {
    let x = values[i];
    let mut at = |d: f64| {
        values[i] = x + d;
        let l = loss(values);
        values[i] = x;
        l
    };
    let (p1, m1, p2, m2) = (at(STEP), at(-STEP), at(2.0 * STEP), at(-2.0 * STEP));
    (8.0 * (p1 - m1) - (p2 - m2)) / (12.0 * STEP)
}

/// Compare `analytic` with finite differences of `loss` at `values`, one
/// report row per tensor of `layout`.
pub fn check_tensors(
    layout: &ParamLayout,
    values: &mut [f64],
    analytic: &[f64],
    mut loss: impl FnMut(&[f64]) -> f64,
) -> Vec<TensorCheck> {
    layout
        .specs()
        .iter()
        .map(|spec| {
            let max_rel_error = spec
                .range()
                .map(|i| relative_error(analytic[i], numerical_gradient(values, i, &mut loss)))
                .fold(0.0, f64::max);
            TensorCheck {
                name: spec.name.clone(),
                count: spec.len(),
                max_rel_error,
            }
        })
        .collect()
}

fn random_vec(rng: &mut ChaCha8Rng, n: usize, scale: f64) -> Vec<f64> {
    let u = Uniform::new_inclusive(-scale, scale).expect("finite scale");
    (0..n).map(|_| u.sample(rng)).collect()
}

/// The kind of loss a vanilla-RNN check uses.
#[derive(Clone, Copy, Debug)]
enum LossKind {
    CrossEntropy,
    Mse,
    OutputGrad,
}

/// Check one vanilla-RNN configuration: every parameter, the initial state,
/// and for dense input the input itself.
fn check_rnn(
    act: Activation,
    readout: Readout,
    dense: bool,
    loss_kind: LossKind,
    seed: u64,
) -> Result<CaseReport> {
    let (t, b, i, h, v) = (5, 3, 4, 6, 5);
    let config = RnnConfig {
        input_size: i,
        hidden_size: h,
        output_size: v,
        activation: act,
        readout,
    };
    let mut rnn = VanillaRnn::<f64>::new(config, Init::Uniform, seed)?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed + 1);
    // Larger weights than the init so that gradients are not all tiny.
    rnn.params = random_vec(&mut rng, rnn.params.len(), 0.6);
    let tokens: Vec<u32> = (0..t * b)
        .map(|k| ((k * 7 + seed as usize) % i) as u32)
        .collect();
    let xs = random_vec(&mut rng, t * b * i, 1.0);
    let x = if dense {
        SeqInput::Dense(&xs)
    } else {
        SeqInput::Tokens(&tokens)
    };
    let rows = if readout == Readout::ManyToMany {
        t * b
    } else {
        b
    };
    let classes: Vec<u32> = (0..rows).map(|k| ((k * 3 + 1) % v) as u32).collect();
    let values = random_vec(&mut rng, rows * v, 1.0);
    let dy = random_vec(&mut rng, rows * v, 1.0);
    // With a caller-supplied dL/dy the scalar being differentiated is Σ y·dy.
    let target = match loss_kind {
        LossKind::CrossEntropy => Target::Classes(&classes),
        LossKind::Mse => Target::Values(&values),
        LossKind::OutputGrad => Target::OutputGrad(&dy),
    };
    let h0 = random_vec(&mut rng, b * h, 0.5);
    let mut ws = rnn.workspace();
    let mut grads = rnn.zero_grads();
    rnn.loss_and_grad(x, Some(&h0), t, b, target, &mut ws, &mut grads)?;
    let dh0 = ws.initial_state_grad().to_vec();
    let dx = ws.input_grad().to_vec();

    let eval = |rnn: &VanillaRnn<f64>,
                x: SeqInput<'_, f64>,
                h0: &[f64],
                ws: &mut crate::model::NetWorkspace<f64>|
     -> f64 {
        match loss_kind {
            LossKind::OutputGrad => {
                rnn.forward(x, Some(h0), t, b, ws).expect("valid shapes");
                ws.outputs().iter().zip(&dy).map(|(y, g)| y * g).sum()
            }
            _ => rnn
                .loss(x, Some(h0), t, b, target, ws)
                .expect("valid shapes"),
        }
    };

    let mut params = rnn.params.clone();
    let layout = rnn.layout().clone();
    let mut probe = rnn.clone();
    let mut tensors = check_tensors(&layout, &mut params, &grads, |p| {
        probe.params.copy_from_slice(p);
        eval(&probe, x, &h0, &mut ws)
    });
    let mut one =
        |name: &str, values: &mut Vec<f64>, analytic: &[f64], f: &mut dyn FnMut(&[f64]) -> f64| {
            let mut l = ParamLayout::new();
            l.push(name, &[values.len()]);
            tensors.extend(check_tensors(&l, values, analytic, f));
        };
    let mut h0v = h0.clone();
    one("h0", &mut h0v, &dh0, &mut |h| eval(&rnn, x, h, &mut ws));
    if dense {
        let mut xv = xs.clone();
        one("x", &mut xv, &dx, &mut |xd| {
            eval(&rnn, SeqInput::Dense(xd), &h0, &mut ws)
        });
    }
    let act = match act {
        Activation::Tanh => "tanh",
        Activation::Relu => "relu",
    };
    let readout = match readout {
        Readout::ManyToMany => "many-to-many",
        Readout::ManyToOne => "many-to-one",
    };
    let input = if dense { "dense" } else { "one-hot" };
    let loss = match loss_kind {
        LossKind::CrossEntropy => "cross-entropy",
        LossKind::Mse => "mse",
        LossKind::OutputGrad => "given dL/dy",
    };
    Ok(CaseReport {
        case: format!("rnn {act} {readout} {input} {loss}"),
        tensors,
    })
}

/// Every vanilla-RNN configuration: tanh and relu, many-to-many and
/// many-to-one, one-hot and dense input, cross-entropy, MSE and a given
/// output gradient.
pub fn vanilla_rnn() -> Result<Vec<CaseReport>> {
    let mut reports = Vec::new();
    // Fixed seeds: finite differences are meaningless across a relu kink, and
    // these draw no pre-activation within a few steps of zero.
    for (act, seed) in [(Activation::Tanh, 0), (Activation::Relu, 20)] {
        reports.push(check_rnn(
            act,
            Readout::ManyToMany,
            false,
            LossKind::CrossEntropy,
            seed,
        )?);
        reports.push(check_rnn(
            act,
            Readout::ManyToMany,
            true,
            LossKind::Mse,
            seed + 1,
        )?);
        reports.push(check_rnn(
            act,
            Readout::ManyToOne,
            false,
            LossKind::CrossEntropy,
            seed + 2,
        )?);
        reports.push(check_rnn(
            act,
            Readout::ManyToOne,
            true,
            LossKind::Mse,
            seed + 3,
        )?);
        reports.push(check_rnn(
            act,
            Readout::ManyToOne,
            true,
            LossKind::OutputGrad,
            seed + 4,
        )?);
    }
    Ok(reports)
}
