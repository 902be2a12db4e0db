//! Optimizers over a flat parameter buffer, and gradient clipping.
//!
//! Every optimizer updates `params` in place from `grads` (same layout) and
//! keeps its moments in flat buffers of the same length, which checkpoints
//! save so that a resumed run continues exactly.

mod clip;

pub use clip::{Clip, clip_elementwise, clip_global_norm, global_norm};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::tensor::Scalar;

/// Which optimizer, with its hyper-parameters.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum OptimizerKind {
    /// `v = μ v + g; p -= lr v` (plain SGD when μ = 0).
    Sgd {
        /// Momentum μ.
        momentum: f64,
    },
    /// Adagrad: `m += g²; p -= lr g / (√m + 1e-10)`.
    Adagrad,
    /// RMSprop (PyTorch form): `s = α s + (1-α) g²; p -= lr g / (√s + ε)`.
    Rmsprop {
        /// Decay α (PyTorch default 0.99).
        alpha: f64,
    },
    /// Adam with bias correction (PyTorch defaults β = (0.9, 0.999), ε = 1e-8).
    Adam {
        /// β₁.
        beta1: f64,
        /// β₂.
        beta2: f64,
    },
}

impl OptimizerKind {
    /// Parse a name (`sgd`, `adagrad`, `rmsprop`, `adam`) with default settings.
    pub fn from_name(name: &str, momentum: f64) -> Result<Self> {
        Ok(match name {
            "sgd" => OptimizerKind::Sgd { momentum },
            "adagrad" => OptimizerKind::Adagrad,
            "rmsprop" => OptimizerKind::Rmsprop { alpha: 0.99 },
            "adam" => OptimizerKind::Adam {
                beta1: 0.9,
                beta2: 0.999,
            },
            other => {
                return Err(Error::Config(format!(
                    "unknown optimizer '{other}': use sgd, adagrad, rmsprop or adam"
                )));
            }
        })
    }

    /// The short name.
    pub fn name(&self) -> &'static str {
        match self {
            OptimizerKind::Sgd { .. } => "sgd",
            OptimizerKind::Adagrad => "adagrad",
            OptimizerKind::Rmsprop { .. } => "rmsprop",
            OptimizerKind::Adam { .. } => "adam",
        }
    }

    /// Buffers of the parameters' size the optimizer keeps (0 to 2).
    pub fn moments(&self) -> usize {
        match self {
            OptimizerKind::Sgd { momentum } if *momentum == 0.0 => 0,
            OptimizerKind::Adam { .. } => 2,
            _ => 1,
        }
    }
}

/// How the learning rate changes over a run.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Schedule {
    /// The same rate throughout.
    Constant,
    /// Half a cosine from the rate down to `floor` times it at the last
    /// iteration.
    Cosine {
        /// The final fraction of the rate.
        floor: f64,
    },
}

impl Schedule {
    /// The rate at iteration `iter` (0-based) of `total`, from `base`.
    pub fn lr(&self, base: f64, iter: u64, total: u64) -> f64 {
        match *self {
            Schedule::Constant => base,
            Schedule::Cosine { floor } => {
                let progress = iter as f64 / total.saturating_sub(1).max(1) as f64;
                let cos = 0.5 * (1.0 + (std::f64::consts::PI * progress.min(1.0)).cos());
                base * (floor + (1.0 - floor) * cos)
            }
        }
    }
}

/// An optimizer with its state.
#[derive(Clone, Debug)]
pub struct Optimizer<S> {
    kind: OptimizerKind,
    lr: f64,
    /// Number of steps taken (Adam's bias correction uses it).
    steps: u64,
    /// Moment buffers, each as long as the parameters.
    moments: Vec<Vec<S>>,
}

const EPS: f64 = 1e-8;
/// Adagrad's ε, added after the square root (PyTorch's form and value): the
/// update is then invariant to the scale of the loss, so a mean loss trains
/// like min-char-rnn's summed one.
const ADAGRAD_EPS: f64 = 1e-10;

impl<S: Scalar> Optimizer<S> {
    /// A fresh optimizer for `n` parameters. The learning rate must be a
    /// positive finite number.
    pub fn new(kind: OptimizerKind, lr: f64, n: usize) -> Result<Self> {
        if !(lr.is_finite() && lr > 0.0) {
            return Err(Error::Config(format!(
                "learning rate must be a positive number, got {lr}"
            )));
        }
        if let OptimizerKind::Sgd { momentum } = kind
            && !(0.0..1.0).contains(&momentum)
        {
            return Err(Error::Config(format!(
                "momentum must be in [0, 1), got {momentum}"
            )));
        }
        let moments = (0..kind.moments()).map(|_| vec![S::zero(); n]).collect();
        Ok(Optimizer {
            kind,
            lr,
            steps: 0,
            moments,
        })
    }

    /// The kind and hyper-parameters.
    pub fn kind(&self) -> OptimizerKind {
        self.kind
    }

    /// The learning rate.
    pub fn lr(&self) -> f64 {
        self.lr
    }

    /// Change the learning rate (for a schedule).
    pub fn set_lr(&mut self, lr: f64) {
        self.lr = lr;
    }

    /// Steps taken so far.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// The moment buffers (for checkpoints).
    pub fn moments(&self) -> &[Vec<S>] {
        &self.moments
    }

    /// Restore state saved from [`Optimizer::moments`] and [`Optimizer::steps`].
    pub fn restore(&mut self, steps: u64, moments: Vec<Vec<S>>) -> Result<()> {
        let ok = moments.len() == self.moments.len()
            && moments
                .iter()
                .zip(&self.moments)
                .all(|(a, b)| a.len() == b.len());
        if !ok {
            return Err(Error::Checkpoint(format!(
                "optimizer state does not fit a {} optimizer of this model",
                self.kind.name()
            )));
        }
        self.steps = steps;
        self.moments = moments;
        Ok(())
    }

    /// One update of `params` from `grads`.
    pub fn step(&mut self, params: &mut [S], grads: &[S]) {
        self.steps += 1;
        let lr = S::of(self.lr);
        let rule = match self.kind {
            OptimizerKind::Sgd { momentum: 0.0 } => Rule::Sgd { lr },
            OptimizerKind::Sgd { momentum } => Rule::Momentum {
                lr,
                mu: S::of(momentum),
            },
            OptimizerKind::Adagrad => Rule::Adagrad { lr },
            OptimizerKind::Rmsprop { alpha } => Rule::Rmsprop {
                lr,
                a: S::of(alpha),
            },
            OptimizerKind::Adam { beta1, beta2 } => {
                let t = self.steps as i32;
                // Both bias corrections folded into the step size, as PyTorch does.
                Rule::Adam {
                    step: S::of(self.lr / (1.0 - beta1.powi(t))),
                    b1: S::of(beta1),
                    b2: S::of(beta2),
                    corr2: S::of((1.0 - beta2.powi(t)).sqrt()),
                }
            }
        };
        let (m0, m1) = match self.moments.as_mut_slice() {
            [] => (&mut [][..], &mut [][..]),
            [a] => (&mut a[..], &mut [][..]),
            [a, b, ..] => (&mut a[..], &mut b[..]),
        };
        rule.apply(params, grads, m0, m1);
    }
}

/// One optimizer's update, with its constants for this step.
#[derive(Clone, Copy)]
enum Rule<S> {
    Sgd { lr: S },
    Momentum { lr: S, mu: S },
    Adagrad { lr: S },
    Rmsprop { lr: S, a: S },
    Adam { step: S, b1: S, b2: S, corr2: S },
}

/// Below this many parameters an update runs on one thread (waking a
/// second thread costs more than updating tens of thousands of values).
const PARALLEL_MIN: usize = 1 << 18;

/// Split `m` at `mid`, or into two empty pieces when `m` is empty (an
/// optimizer without that moment).
fn split_moment<S>(m: &mut [S], mid: usize) -> (&mut [S], &mut [S]) {
    if m.is_empty() {
        (&mut [], &mut [])
    } else {
        m.split_at_mut(mid)
    }
}

impl<S: Scalar> Rule<S> {
    /// Update `p` from `g` with moments `m0`, `m1` (empty when unused), in
    /// halves on two threads for large buffers (elementwise, so the result
    /// is the same either way).
    fn apply(self, p: &mut [S], g: &[S], m0: &mut [S], m1: &mut [S]) {
        if p.len() >= 2 * PARALLEL_MIN {
            let mid = p.len() / 2;
            let (pa, pb) = p.split_at_mut(mid);
            let (ga, gb) = g.split_at(mid);
            let (m0a, m0b) = split_moment(m0, mid);
            let (m1a, m1b) = split_moment(m1, mid);
            rayon::join(
                || self.apply(pa, ga, m0a, m1a),
                || self.apply(pb, gb, m0b, m1b),
            );
            return;
        }
        let eps = S::of(EPS);
        match self {
            Rule::Sgd { lr } => {
                for (p, &g) in p.iter_mut().zip(g) {
                    *p -= lr * g;
                }
            }
            Rule::Momentum { lr, mu } => {
                for ((p, &g), v) in p.iter_mut().zip(g).zip(m0) {
                    *v = mu * *v + g;
                    *p -= lr * *v;
                }
            }
            Rule::Adagrad { lr } => {
                for ((p, &g), m) in p.iter_mut().zip(g).zip(m0) {
                    *m += g * g;
                    *p -= lr * g / (m.sqrt() + S::of(ADAGRAD_EPS));
                }
            }
            Rule::Rmsprop { lr, a } => {
                let one_minus_a = S::one() - a;
                for ((p, &g), s) in p.iter_mut().zip(g).zip(m0) {
                    *s = a * *s + one_minus_a * g * g;
                    *p -= lr * g / (s.sqrt() + eps);
                }
            }
            Rule::Adam {
                step,
                b1,
                b2,
                corr2,
            } => {
                let (c1, c2) = (S::one() - b1, S::one() - b2);
                for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m0).zip(m1) {
                    *m = b1 * *m + c1 * g;
                    *v = b2 * *v + c2 * g * g;
                    *p -= step * *m / (v.sqrt() / corr2 + eps);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Minimize f(p) = Σ (p - 3)² from 0 with each optimizer.
    #[test]
    fn every_optimizer_minimizes_a_quadratic() {
        for (name, lr) in [
            ("sgd", 0.1),
            ("adagrad", 0.5),
            ("rmsprop", 0.05),
            ("adam", 0.1),
        ] {
            let kind = OptimizerKind::from_name(name, 0.0).unwrap();
            let mut opt = Optimizer::<f64>::new(kind, lr, 2).unwrap();
            let mut p = vec![0.0, 0.0];
            for _ in 0..500 {
                let g: Vec<f64> = p.iter().map(|x| 2.0 * (x - 3.0)).collect();
                opt.step(&mut p, &g);
            }
            assert!(p.iter().all(|x| (x - 3.0).abs() < 0.05), "{name}: {p:?}");
        }
    }

    #[test]
    fn adam_first_step_moves_by_lr() {
        // With bias correction Adam's first step is lr·sign(g) (up to ε).
        let mut opt =
            Optimizer::<f64>::new(OptimizerKind::from_name("adam", 0.0).unwrap(), 0.01, 1).unwrap();
        let mut p = vec![1.0];
        opt.step(&mut p, &[123.0]);
        assert!((p[0] - 0.99).abs() < 1e-9);
    }

    #[test]
    fn cosine_schedule_runs_from_the_rate_to_the_floor() {
        let s = Schedule::Cosine { floor: 0.1 };
        assert!((s.lr(1.0, 0, 101) - 1.0).abs() < 1e-12);
        assert!((s.lr(1.0, 50, 101) - 0.55).abs() < 1e-12);
        assert!((s.lr(1.0, 100, 101) - 0.1).abs() < 1e-12);
        assert_eq!(Schedule::Constant.lr(0.3, 7, 10), 0.3);
    }

    #[test]
    fn bad_learning_rates_are_rejected() {
        for lr in [0.0, -0.1, f64::NAN, f64::INFINITY] {
            assert!(Optimizer::<f32>::new(OptimizerKind::Adagrad, lr, 1).is_err());
        }
    }
}
