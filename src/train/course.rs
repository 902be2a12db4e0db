//! The course of a run: what every trainer carries from one iteration to
//! the next (the count, the smoothed loss, the random generator, the
//! optimizer) and the update that ends each iteration, with its
//! divergence checks.
//!
//! On a device the update is recorded and the host goes on: each
//! iteration's summed loss and clip verdict wait on the backend, and the
//! host reads every waiting iteration's pair back at once when the run
//! logs, evaluates or has [`DEFER_MAX`] waiting ([`Course::settle`]).
//! Only then are the iterations checked for divergence and their losses
//! smoothed, in order, so the smoothed loss, the log and the saved state
//! are those of a run that read every loss at once. On the CPU reading is
//! free, and every iteration settles at once.
//!
//! A run's state file saves exactly this (see [`super::state`]) plus each
//! trainer's own buffers.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::budget::Budget;
use super::log::SmoothLoss;
use super::run_loop::Cadence;
use crate::backend::{Backend, Cpu, View, ViewMut};
use crate::error::{Error, Result};
use crate::optim::{Clip, Optimizer, Schedule, warmup_factor};

/// How a trainer turns a batch's gradients into an update.
#[derive(Clone, Copy, Debug)]
pub(crate) struct StepSettings {
    /// The base learning rate (`--lr`).
    pub lr: f64,
    /// How the rate changes over the run.
    pub schedule: Schedule,
    /// Iterations over which the rate rises linearly to the schedule's
    /// (see [`warmup_factor`]); 0: none.
    pub warmup: u64,
    /// Gradient clipping, applied before every update.
    pub clip: Clip,
    /// What a divergence error advises after "Lower the learning rate (now
    /// --lr X)": the trainer's clipping flags, and whether a checkpoint is
    /// kept.
    pub advice: &'static str,
    /// The loss of guessing uniformly (ln V) where the loss is a
    /// cross-entropy over V symbols: a finite loss far above it (over 3×
    /// it + 3) means the run has blown up.
    pub uniform: Option<f64>,
}

/// The most iterations a device runs ahead of the host before their losses
/// are read back (bounds the memory of recorded work and how late a
/// divergence is noticed).
pub const DEFER_MAX: usize = 64;

/// `len` scalars on backend `k`, zeroed; a step's two are the summed loss
/// and the clip's verdict (see [`Course::record`]).
pub(crate) fn step_scalars<K: Backend<f32>>(k: &K, len: usize) -> K::Buf {
    let mut b = K::Buf::default();
    k.resize(&mut b, len);
    b
}

/// The progress of a run, shared in form by every trainer; the optimizer
/// lives on backend `K`, where the parameters do.
pub(crate) struct Course<K: Backend<f32> = Cpu> {
    /// Iterations done.
    pub iter: u64,
    /// Iterations planned (`u64::MAX` for a run that ends with its time
    /// budget).
    pub total: u64,
    /// The time the run may train, if it ends with a time budget rather
    /// than an iteration count.
    pub budget: Option<Budget>,
    /// The smoothed training loss.
    pub smooth: SmoothLoss,
    /// Every random choice of the run after initialization (batch order,
    /// dropout, teacher forcing).
    pub rng: ChaCha8Rng,
    /// The optimizer with its moments.
    pub optimizer: Optimizer<f32, K>,
    /// How each iteration updates the parameters.
    pub update: StepSettings,
    /// How often the run evaluates and logs.
    pub cadence: Cadence,
    /// The loss and verdict of each iteration not yet settled, two scalars
    /// each, on the backend.
    waiting: K::Buf,
    /// The targets each unsettled iteration's loss is summed over, in order.
    counts: Vec<usize>,
}

impl<K: Backend<f32>> Course<K> {
    /// A run at iteration 0 of `total`: `rng` seeded with `seed`, the loss
    /// smoothed with decay `decay` (see [`SmoothLoss`]).
    pub fn new(
        optimizer: Optimizer<f32, K>,
        (update, cadence): (StepSettings, Cadence),
        seed: u64,
        decay: f64,
        total: u64,
    ) -> Self {
        let k = optimizer.backend().clone();
        Course {
            iter: 0,
            total,
            budget: None,
            smooth: SmoothLoss::new(decay),
            rng: ChaCha8Rng::seed_from_u64(seed),
            optimizer,
            update,
            cadence,
            waiting: step_scalars(&k, 2 * Self::depth()),
            counts: Vec::new(),
        }
    }

    /// How many iterations may wait on the backend: one on the host.
    fn depth() -> usize {
        if K::READS_HOST { 1 } else { DEFER_MAX }
    }

    /// Give the run a time budget instead of an iteration count: it ends
    /// when the budget is spent, and its schedule follows the time.
    pub fn set_budget(&mut self, budget: Budget) {
        self.budget = Some(budget);
        self.total = u64::MAX;
    }

    /// Whether the run has done its iterations or spent its time.
    pub fn finished(&self) -> bool {
        self.iter >= self.total || self.budget.as_ref().is_some_and(Budget::exhausted)
    }

    /// The iterations the run plans: its target, or with a time budget the
    /// estimate of where the budget ends (the iteration after this one
    /// until the pace is known).
    pub fn planned(&self) -> u64 {
        match &self.budget {
            Some(b) => b
                .estimated_iters(self.iter)
                .unwrap_or(self.iter + 1)
                .max(self.iter),
            None => self.total,
        }
    }

    /// How far through its course the run is, from 0 at the first
    /// iteration to 1 at the last (or at the end of its time budget).
    fn progress(&self) -> f64 {
        match &self.budget {
            Some(b) => b.progress(),
            None => self.iter as f64 / self.total.saturating_sub(1).max(1) as f64,
        }
    }

    /// The learning rate of the next iteration: the base rate, shaped by
    /// the schedule and the warm-up.
    pub fn rate(&self) -> f64 {
        let u = &self.update;
        u.lr * u.schedule.factor(self.progress()) * warmup_factor(self.iter, u.warmup)
    }

    /// Whether iterations wait to be settled.
    pub fn unsettled(&self) -> bool {
        !self.counts.is_empty()
    }

    /// Whether the next iteration must be settled before another is
    /// recorded.
    pub fn due(&self) -> bool {
        self.counts.len() >= Self::depth()
    }

    /// End an iteration whose summed loss over `count` targets the backend
    /// left in `scalars[0]` (see [`step_scalars`]), with `grads` (as long
    /// as `params`): clip (the verdict into `scalars[1]`), set the
    /// scheduled rate, update where the verdict allows, keep loss and
    /// verdict on the backend until [`Course::settle`], and count the
    /// iteration (settling the waiting ones first if [`Course::due`]).
    /// Elementwise clipping runs in the update's sweep
    /// ([`Optimizer::step_clamped`]); `grads` is spent.
    pub fn record(
        &mut self,
        count: usize,
        params: K::Mut<'_>,
        mut grads: K::Mut<'_>,
        scalars: &mut K::Buf,
    ) -> Result<()> {
        if self.due() {
            self.settle()?;
        }
        let u = self.update;
        let k = self.optimizer.backend().clone();
        self.optimizer.set_lr(self.rate());
        let verdict = K::view_mut(scalars).sub(1..2);
        if let Clip::Elementwise(c) = u.clip {
            self.optimizer.step_clamped(params, grads, c, verdict);
        } else {
            u.clip.apply_to(&k, K::reborrow(&mut grads), verdict);
            let guard = K::view(scalars).sub(1..2);
            self.optimizer.step_guarded(params, grads.into_ref(), guard);
        }
        let slot = 2 * self.counts.len();
        let dst = K::view_mut(&mut self.waiting).sub(slot..slot + 2);
        k.copy(K::view(scalars).sub(0..2), dst);
        self.counts.push(count);
        self.iter += 1;
        k.check()
    }

    /// Read the unsettled iterations' losses and verdicts back at once
    /// (one round trip on a device), refuse the first non-finite loss or
    /// gradient or exploded loss (the update was applied, but the run
    /// stops there, unsaved), and smooth the losses in
    /// order. Returns each iteration's mean loss.
    pub fn settle(&mut self) -> Result<Vec<f64>> {
        let n = self.counts.len();
        let mut host = vec![0.0f32; 2 * n];
        let k = self.optimizer.backend();
        k.download(K::view(&self.waiting).sub(0..2 * n), &mut host);
        k.check()?;
        let first = self.iter - n as u64 + 1;
        let counts = std::mem::take(&mut self.counts);
        let mut losses = Vec::with_capacity(n);
        for ((i, pair), count) in (first..).zip(host.chunks(2)).zip(counts) {
            let loss = pair[0] as f64 / count.max(1) as f64;
            if !loss.is_finite() {
                return Err(self.diverged(i, &format!("the loss is {loss}")));
            }
            if !pair[1].is_finite() {
                return Err(self.diverged(i, "a gradient is not finite"));
            }
            if let Some(uniform) = self.update.uniform
                && loss > 3.0 * uniform + 3.0
            {
                return Err(self.diverged(i, &format!(
                    "the loss exploded to {loss:.2} nats/char (uniform guessing gives {uniform:.2})"
                )));
            }
            self.smooth.add(loss);
            losses.push(loss);
        }
        Ok(losses)
    }

    /// [`Course::settle`], for one who records and settles every
    /// iteration: the last iteration's mean loss.
    pub fn settle_last(&mut self) -> Result<f64> {
        let losses = self.settle()?;
        Ok(*losses.last().expect("an iteration was recorded"))
    }

    /// The error of a run that blew up at iteration `iter` (counted from
    /// 1): `what` happened, with the trainer's advice.
    fn diverged(&self, iter: u64, what: &str) -> Error {
        Error::Diverged(format!(
            "training diverged at iteration {iter}: {what}. Lower the learning rate (now --lr {}){}",
            self.update.lr, self.update.advice
        ))
    }
}
