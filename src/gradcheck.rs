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

use crate::backend::{Activation, IGNORE};
use crate::cell::{CellKind, SeqInput};
use crate::error::{Error, Result};
use crate::layer::attention::Score;
use crate::layer::loss::Target;
use crate::model::seq2seq::{PairBatch, Seq2Seq, Seq2SeqConfig};
use crate::model::{Batch, Init, Net, NetConfig, NetWorkspace, ParamLayout, Readout};

/// Step of the finite differences.
pub const STEP: f64 = 1e-4;
/// Gradients below this magnitude are compared absolutely: the check then
/// demands `|a - n| ≤ FLOOR · TOLERANCE = 1e-11`. (The differences
/// themselves carry rounding noise of about `ε·|L|/h ≈ 1e-12`, so a smaller
/// floor would fail exact gradients of saturated LSTM gates.)
pub const FLOOR: f64 = 1e-5;
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
    /// What was checked, e.g. `rnn (tanh) many-to-many one-hot cross-entropy`.
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
                .filter(|&i| !spec.structural_zero(i - spec.offset))
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

/// The loss a check differentiates.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LossKind {
    /// Softmax cross-entropy against class targets (`IGNORE` at padding).
    CrossEntropy,
    /// Mean squared error against random values.
    Mse,
    /// Mean absolute error against random values.
    Mae,
    /// `Σ y · g` for a random caller-supplied `g = dL/dy`.
    OutputGrad,
}

/// One configuration to check.
#[derive(Clone, Debug)]
pub struct Case {
    /// The network's shape.
    pub config: NetConfig,
    /// Dense input (else token ids).
    pub dense: bool,
    /// The loss.
    pub loss: LossKind,
    /// Sequences of different lengths, padded.
    pub padded: bool,
    /// Seed of the weights and data.
    pub seed: u64,
}

impl Case {
    /// `lstm 2 layers bidirectional many-to-one embedding cross-entropy padded`.
    pub fn name(&self) -> String {
        let c = &self.config;
        let mut parts = vec![c.cell.to_string()];
        if c.layers > 1 {
            parts.push(format!("{} layers", c.layers));
        }
        if c.bidirectional {
            parts.push("bidirectional".into());
        }
        parts.push(match c.readout {
            Readout::ManyToMany => "many-to-many".into(),
            Readout::ManyToOne => "many-to-one".into(),
        });
        parts.push(match (self.dense, c.embed) {
            (true, _) => "dense".into(),
            (false, Some(_)) => "embedding".into(),
            (false, None) => "one-hot".into(),
        });
        parts.push(match self.loss {
            LossKind::CrossEntropy => "cross-entropy".into(),
            LossKind::Mse => "mse".into(),
            LossKind::Mae => "mae".into(),
            LossKind::OutputGrad => "given dL/dy".into(),
        });
        if self.padded {
            parts.push("padded".into());
        }
        parts.join(" ")
    }
}

/// Check one configuration: every parameter, the initial state and, for
/// dense input, the input itself.
pub fn check(case: &Case) -> Result<CaseReport> {
    let (t, b) = (5, 3);
    let c = &case.config;
    let (i, v) = (c.input_size, c.output_size);
    let mut net = Net::<f64>::new(c.clone(), Init::Uniform, case.seed)?;
    let mut rng = ChaCha8Rng::seed_from_u64(case.seed + 1);
    // Larger weights than the init so that gradients are not all tiny.
    let mut params = random_vec(&mut rng, net.params.len(), 0.6);
    net.layout().keep_structure(&mut params);
    net.params = params;
    let tokens: Vec<u32> = (0..t * b)
        .map(|k| ((k * 7 + case.seed as usize) % i) as u32)
        .collect();
    let xs = random_vec(&mut rng, t * b * i, 1.0);
    let x = if case.dense {
        SeqInput::Dense(&xs)
    } else {
        SeqInput::Tokens(&tokens)
    };
    let lengths: Vec<usize> = if case.padded {
        vec![t, 2, 4]
    } else {
        vec![t; b]
    };
    let rows = if c.readout == Readout::ManyToMany {
        t * b
    } else {
        b
    };
    let classes: Vec<u32> = (0..rows)
        .map(|k| match c.readout {
            Readout::ManyToMany if k / b >= lengths[k % b] => IGNORE,
            _ => ((k * 3 + 1) % v) as u32,
        })
        .collect();
    let values = random_vec(&mut rng, rows * v, 1.0);
    let dy = random_vec(&mut rng, rows * v, 1.0);
    let target = match case.loss {
        LossKind::CrossEntropy => Target::Classes(&classes),
        LossKind::Mse => Target::Values(&values),
        LossKind::Mae => Target::AbsValues(&values),
        LossKind::OutputGrad => Target::OutputGrad(&dy),
    };
    let mut state0 = random_vec(&mut rng, c.state_len(b), 0.5);
    c.stack().make_reachable(b, &mut state0);
    let lens = case.padded.then_some(&lengths[..]);
    let mut ws = net.workspace();
    let mut grads = net.zero_grads();
    let first = Batch {
        x,
        t,
        b,
        lengths: lens,
        state: Some(&state0),
    };
    net.loss_and_grad_batch(&first, target, &mut ws, &mut grads, None)?;
    let dstate0 = ws.initial_state_grad().to_vec();
    let dx = ws.input_grad().to_vec();

    // With a caller-supplied dL/dy the scalar being differentiated is Σ y·dy.
    let eval =
        |net: &Net<f64>, x: SeqInput<'_, f64>, state: &[f64], ws: &mut NetWorkspace<f64>| -> f64 {
            let batch = Batch {
                x,
                t,
                b,
                lengths: lens,
                state: Some(state),
            };
            match case.loss {
                LossKind::OutputGrad => {
                    net.forward_batch(&batch, ws, None).expect("valid shapes");
                    ws.outputs().iter().zip(&dy).map(|(y, g)| y * g).sum()
                }
                _ => net.loss_batch(&batch, target, ws).expect("valid shapes"),
            }
        };
    let mut params = net.params.clone();
    let layout = net.layout().clone();
    let mut probe = net.clone();
    let mut tensors = check_tensors(&layout, &mut params, &grads, |p| {
        probe.params.copy_from_slice(p);
        eval(&probe, x, &state0, &mut ws)
    });
    let mut one =
        |name: &str, values: &mut Vec<f64>, analytic: &[f64], f: &mut dyn FnMut(&[f64]) -> f64| {
            let mut l = ParamLayout::new();
            l.push(name, &[values.len()]);
            tensors.extend(check_tensors(&l, values, analytic, f));
        };
    let mut s0 = state0.clone();
    one("initial state", &mut s0, &dstate0, &mut |s| {
        eval(&net, x, s, &mut ws)
    });
    if case.dense {
        let mut xv = xs.clone();
        one("x", &mut xv, &dx, &mut |xd| {
            eval(&net, SeqInput::Dense(xd), &state0, &mut ws)
        });
    }
    Ok(CaseReport {
        case: case.name(),
        tensors,
    })
}

fn base(cell: CellKind, readout: Readout) -> NetConfig {
    NetConfig {
        readout,
        // 6 units, or 8 for the sLSTM's 4 heads.
        ..NetConfig::char_lm(cell, 4, 6usize.next_multiple_of(cell.heads()))
    }
}

/// The configurations checked for one cell: one layer in every read-out,
/// input and loss; then two layers (bidirectional with dense input, with an
/// embedding, and stacked one-hot), with padded sequences.
pub fn cases(cell: CellKind, seed: u64) -> Vec<Case> {
    use LossKind::*;
    use Readout::*;
    let case = |config: NetConfig, dense: bool, loss: LossKind, padded: bool, k: u64| Case {
        config,
        dense,
        loss,
        padded,
        seed: seed + k,
    };
    let two = |readout: Readout, bidirectional: bool, embed: Option<usize>| NetConfig {
        layers: 2,
        bidirectional,
        embed,
        ..base(cell, readout)
    };
    vec![
        case(base(cell, ManyToMany), false, CrossEntropy, false, 0),
        case(base(cell, ManyToMany), true, Mse, false, 1),
        case(base(cell, ManyToOne), false, CrossEntropy, false, 2),
        case(base(cell, ManyToOne), true, Mse, false, 3),
        case(base(cell, ManyToOne), true, OutputGrad, false, 4),
        case(base(cell, ManyToOne), true, Mae, false, 8),
        case(two(ManyToMany, true, None), true, Mse, true, 5),
        case(two(ManyToOne, true, Some(3)), false, CrossEntropy, true, 6),
        case(two(ManyToMany, false, None), false, CrossEntropy, true, 7),
    ]
}

/// The cells `recur gradcheck --model NAME` covers (`all`: every one), each
/// with a seed whose draws keep relu pre-activations (and those of the
/// minGRU's and minLSTM's candidate, whose `g` bends at 0) away from the
/// kink, where finite differences are meaningless.
pub fn cells(name: &str) -> Result<Vec<(CellKind, u64)>> {
    let all = [
        (CellKind::Rnn(Activation::Tanh), 0),
        (CellKind::Rnn(Activation::Relu), 20),
        (CellKind::Lstm, 40),
        (CellKind::Gru, 60),
        (CellKind::MinGru, 120),
        (CellKind::MinLstm, 100),
        (CellKind::Slstm, 140),
        (CellKind::Mlstm, 160),
    ];
    if name == "all" {
        return Ok(all.to_vec());
    }
    let wanted: CellKind = name.parse().map_err(|_| {
        Error::Config(format!(
            "unknown model '{name}': use {} or all",
            CellKind::names().join(", ")
        ))
    })?;
    // `rnn` names the vanilla RNN with either activation.
    Ok(all
        .into_iter()
        .filter(|(cell, _)| cell.name() == wanted.name())
        .collect())
}

/// Run every case of the named models (`rnn`, `lstm`, `gru`, `seq2seq` or
/// `all`).
pub fn run(name: &str) -> Result<Vec<CaseReport>> {
    let mut reports = Vec::new();
    if name == "seq2seq" {
        return seq2seq();
    }
    for (cell, seed) in cells(name)? {
        for case in cases(cell, seed) {
            reports.push(check(&case)?);
        }
    }
    if name == "all" {
        reports.extend(seq2seq()?);
    }
    Ok(reports)
}

/// A sequence-to-sequence configuration to check: encoder, bridge,
/// attention (if any), decoder and output, with padded sources and targets.
pub fn check_seq2seq(
    cell: CellKind,
    attention: Option<Score>,
    bidirectional: bool,
    layers: usize,
    seed: u64,
) -> Result<CaseReport> {
    let config = Seq2SeqConfig {
        cell,
        src_vocab: 5,
        tgt_vocab: 6,
        embed: 3,
        hidden: 3usize.next_multiple_of(cell.heads()),
        layers,
        bidirectional,
        attention,
        attention_size: 4,
    };
    let mut model = Seq2Seq::<f64>::new(config, Init::Uniform, seed)?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed + 1);
    let mut params = random_vec(&mut rng, model.params.len(), 0.6);
    model.layout().keep_structure(&mut params);
    model.params = params;
    let (s, t, b) = (4, 3, 2);
    let src: Vec<u32> = (0..s * b).map(|k| ((k * 3 + 1) % 5) as u32).collect();
    let tgt_in: Vec<u32> = (0..t * b).map(|k| ((k * 5 + 2) % 6) as u32).collect();
    let (src_lengths, tgt_lengths) = ([4, 2], [3, 2]);
    let targets: Vec<u32> = (0..t * b)
        .map(|k| {
            if k / b >= tgt_lengths[k % b] {
                IGNORE
            } else {
                ((k * 7) % 6) as u32
            }
        })
        .collect();
    let batch = PairBatch {
        b,
        src: &src,
        src_lengths: &src_lengths,
        tgt_in: &tgt_in,
        tgt_lengths: &tgt_lengths,
    };
    let mut ws = model.workspace();
    let mut grads = model.zero_grads();
    model.loss_and_grad(&batch, &targets, &mut ws, &mut grads)?;
    let mut params = model.params.clone();
    let layout = model.layout().clone();
    let mut probe = model.clone();
    let tensors = check_tensors(&layout, &mut params, &grads, |p| {
        probe.params.copy_from_slice(p);
        probe.loss(&batch, &targets, &mut ws).expect("valid shapes")
    });
    let name = match attention {
        None => "no attention",
        Some(Score::Bahdanau) => "bahdanau",
        Some(Score::LuongDot) => "luong-dot",
        Some(Score::LuongGeneral) => "luong-general",
    };
    let dirs = if bidirectional { " bidirectional" } else { "" };
    Ok(CaseReport {
        case: format!(
            "seq2seq {} {layers} layer(s){dirs} {name} padded",
            cell.name()
        ),
        tensors,
    })
}

/// Every sequence-to-sequence configuration: GRU, LSTM, sLSTM and mLSTM,
/// each attention (and none), uni- and bidirectional encoders (the mLSTM
/// unidirectional: see [`CellKind::state_per_unit`]), one and two layers.
pub fn seq2seq() -> Result<Vec<CaseReport>> {
    let mut reports = Vec::new();
    let cells = [
        CellKind::Gru,
        CellKind::Lstm,
        CellKind::Slstm,
        CellKind::Mlstm,
    ];
    for (i, cell) in cells.into_iter().enumerate() {
        for (j, attention) in [
            None,
            Some(Score::LuongDot),
            Some(Score::LuongGeneral),
            Some(Score::Bahdanau),
        ]
        .into_iter()
        .enumerate()
        {
            let seed = 100 + 10 * i as u64 + j as u64;
            reports.push(check_seq2seq(
                cell,
                attention,
                j % 2 == 1 && cell.state_per_unit(),
                1 + (i + j) % 2,
                seed,
            )?);
        }
    }
    Ok(reports)
}
