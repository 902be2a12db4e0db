//! Optimizers over a flat parameter buffer, and gradient clipping.
//!
//! Every optimizer updates `params` in place from `grads` (same layout) and
//! keeps its moments in flat buffers of the same length, which checkpoints
//! save so that a resumed run continues exactly.

mod clip;

pub use clip::{Clip, clip_elementwise, clip_global_norm, global_norm};

use serde::{Deserialize, Serialize};

use crate::backend::{Backend, Cpu, Update, ViewMut};
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
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Schedule {
    /// The same rate throughout.
    #[default]
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
        let progress = iter as f64 / total.saturating_sub(1).max(1) as f64;
        base * self.factor(progress)
    }

    /// The fraction of the base rate where the run has done `progress`
    /// of its course (0 at the first iteration, 1 at the last; a run with
    /// a time budget measures it in time).
    pub fn factor(&self, progress: f64) -> f64 {
        match *self {
            Schedule::Constant => 1.0,
            Schedule::Cosine { floor } => {
                let cos = 0.5 * (1.0 + (std::f64::consts::PI * progress.clamp(0.0, 1.0)).cos());
                floor + (1.0 - floor) * cos
            }
        }
    }

    /// The schedule a flag names: `constant`, or `cosine` down to `floor`
    /// times the rate (each trainer has its own floor).
    pub fn from_name(name: &str, floor: f64) -> crate::error::Result<Self> {
        match name {
            "constant" => Ok(Schedule::Constant),
            "cosine" => Ok(Schedule::Cosine { floor }),
            other => Err(crate::error::Error::Config(format!(
                "unknown schedule '{other}': use \"cosine\" or \"constant\""
            ))),
        }
    }

    /// Whether this is [`Schedule::Constant`] (settings files leave the
    /// default out).
    pub fn is_constant(&self) -> bool {
        *self == Schedule::Constant
    }
}

/// The warm-up's fraction of the rate at iteration `iter` (0-based): it
/// rises linearly over the first `warmup` iterations, `1/warmup` at the
/// first, and is 1 from then on (and throughout without a warm-up).
pub fn warmup_factor(iter: u64, warmup: u64) -> f64 {
    if iter < warmup {
        (iter + 1) as f64 / warmup as f64
    } else {
        1.0
    }
}

/// An optimizer with its state, on backend `K` (the CPU unless said
/// otherwise): the moments live where the parameters do.
#[derive(Clone, Debug)]
pub struct Optimizer<S: Scalar, K: Backend<S> = Cpu> {
    kind: OptimizerKind,
    lr: f64,
    /// Number of steps taken (Adam's bias correction uses it).
    steps: u64,
    /// Moment buffers, each as long as the parameters.
    moments: Vec<K::Buf>,
    backend: K,
}

impl<S: Scalar> Optimizer<S, Cpu> {
    /// A fresh optimizer for `n` parameters on the CPU. The learning rate
    /// must be a positive finite number.
    pub fn new(kind: OptimizerKind, lr: f64, n: usize) -> Result<Self> {
        Self::new_on(Cpu, kind, lr, n)
    }
}

/// The gradients of one [`Optimizer`] step, and what guards it.
enum Grads<'a, S: Scalar, K: Backend<S>> {
    /// Applied as they are.
    Plain(K::Ref<'a>),
    /// Applied where the verdict (the second view) is finite.
    Guarded(K::Ref<'a>, K::Ref<'a>),
    /// Clamped to `[-c, c]`, their verdict written to the second view, and
    /// applied where it is finite.
    Clamped(K::Mut<'a>, f64, K::Mut<'a>),
}

impl<S: Scalar, K: Backend<S>> Optimizer<S, K> {
    /// A fresh optimizer for `n` parameters on `backend`.
    pub fn new_on(backend: K, kind: OptimizerKind, lr: f64, n: usize) -> Result<Self> {
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
        let moments = (0..kind.moments())
            .map(|_| {
                let mut m = K::Buf::default();
                backend.resize(&mut m, n);
                m
            })
            .collect();
        Ok(Optimizer {
            kind,
            lr,
            steps: 0,
            moments,
            backend,
        })
    }

    /// The backend its moments live on.
    pub fn backend(&self) -> &K {
        &self.backend
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

    /// The moment buffers (what a checkpoint saves).
    pub fn moments(&self) -> &[K::Buf] {
        &self.moments
    }

    /// Restore the step count and moments saved by a checkpoint (host
    /// values, placed on the backend).
    pub fn restore(&mut self, steps: u64, moments: Vec<Vec<S>>) -> Result<()> {
        let ok = moments.len() == self.moments.len()
            && moments
                .iter()
                .zip(&self.moments)
                .all(|(a, b)| a.len() == K::buf_len(b));
        if !ok {
            return Err(Error::Checkpoint(format!(
                "optimizer state does not fit a {} optimizer of this model",
                self.kind.name()
            )));
        }
        self.steps = steps;
        self.moments = moments.iter().map(|m| self.backend.upload(m)).collect();
        Ok(())
    }

    /// One update of `params` from `grads` (same length as the moments).
    pub fn step(&mut self, params: K::Mut<'_>, grads: K::Ref<'_>) {
        self.apply(params, Grads::Plain(grads));
    }

    /// [`Optimizer::step`] where `guard[0]` (a clip's verdict, see
    /// [`Clip::apply_to`]) is finite; elsewhere the parameters and moments
    /// stay as they were.
    pub fn step_guarded(&mut self, params: K::Mut<'_>, grads: K::Ref<'_>, guard: K::Ref<'_>) {
        self.apply(params, Grads::Guarded(K::shorten(grads), K::shorten(guard)));
    }

    /// Clip `grads` elementwise to `[-c, c]`, leave the verdict in
    /// `verdict[0]` (see [`Clip::apply_to`]), and take
    /// [`Optimizer::step_guarded`] by it: in one sweep where the backend
    /// fuses them (see [`Backend::clamp_update_guarded`]). `grads` is
    /// spent.
    pub fn step_clamped(
        &mut self,
        params: K::Mut<'_>,
        mut grads: K::Mut<'_>,
        c: f64,
        mut verdict: K::Mut<'_>,
    ) {
        let (g, v) = (K::reborrow(&mut grads), K::reborrow(&mut verdict));
        self.apply(params, Grads::Clamped(g, c, v));
    }

    fn apply(&mut self, mut params: K::Mut<'_>, grads: Grads<'_, S, K>) {
        self.steps += 1;
        let rule = self.rule();
        // Moments the rule does not keep are empty views (cut from `params`).
        let (none0, rest) = K::reborrow(&mut params).split(0);
        let (none1, params) = rest.split(0);
        let mut m = self.moments.iter_mut().map(K::view_mut);
        let (m0, m1) = (m.next().unwrap_or(none0), m.next().unwrap_or(none1));
        let k = &self.backend;
        match grads {
            Grads::Plain(g) => k.update(rule, params, g, m0, m1),
            Grads::Guarded(g, guard) => k.update_guarded(rule, params, g, (m0, m1), guard),
            Grads::Clamped(g, c, verdict) => {
                k.clamp_update_guarded(rule, params, g, (m0, m1), S::of(c), verdict)
            }
        }
    }

    /// This step's rule, its scalars worked out.
    fn rule(&self) -> Update<S> {
        let lr = S::of(self.lr);
        match self.kind {
            OptimizerKind::Sgd { momentum: 0.0 } => Update::Sgd { lr },
            OptimizerKind::Sgd { momentum } => Update::Momentum {
                lr,
                mu: S::of(momentum),
            },
            OptimizerKind::Adagrad => Update::Adagrad { lr },
            OptimizerKind::Rmsprop { alpha } => Update::Rmsprop {
                lr,
                a: S::of(alpha),
            },
            OptimizerKind::Adam { beta1, beta2 } => {
                let t = self.steps as i32;
                // Both bias corrections folded into the step size, as PyTorch does.
                Update::Adam {
                    step: S::of(self.lr / (1.0 - beta1.powi(t))),
                    b1: S::of(beta1),
                    b2: S::of(beta2),
                    corr2: S::of((1.0 - beta2.powi(t)).sqrt()),
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
        assert!((s.factor(0.5) - 0.55).abs() < 1e-12);
        assert_eq!(s.factor(2.0), s.factor(1.0));
    }

    #[test]
    fn warmup_rises_linearly_to_the_rate() {
        assert_eq!(warmup_factor(0, 4), 0.25);
        assert_eq!(warmup_factor(3, 4), 1.0);
        assert_eq!(warmup_factor(9, 4), 1.0);
        assert_eq!(warmup_factor(0, 0), 1.0);
    }

    #[test]
    fn bad_learning_rates_are_rejected() {
        for lr in [0.0, -0.1, f64::NAN, f64::INFINITY] {
            assert!(Optimizer::<f32>::new(OptimizerKind::Adagrad, lr, 1).is_err());
        }
    }
}
