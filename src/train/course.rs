//! The course of a run: what every trainer carries from one iteration to
//! the next (the count, the smoothed loss, the random generator, the
//! optimizer) and the update that ends each iteration, with its
//! divergence checks.
//!
//! A run's state file saves exactly this (see [`super::state`]) plus each
//! trainer's own buffers.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::log::SmoothLoss;
use super::run_loop::Cadence;
use crate::backend::{Backend, Cpu, View, ViewMut};
use crate::error::{Error, Result};
use crate::optim::{Clip, Optimizer, Schedule};

/// How a trainer turns a batch's gradients into an update.
#[derive(Clone, Copy, Debug)]
pub(crate) struct StepSettings {
    /// The base learning rate (`--lr`).
    pub lr: f64,
    /// How the rate changes over the run.
    pub schedule: Schedule,
    /// Gradient clipping, applied before every update.
    pub clip: Clip,
    /// What a divergence error advises after "Lower the learning rate (now
    /// --lr X)": the trainer's clipping flags, and whether a checkpoint is
    /// kept.
    pub advice: &'static str,
}

/// A step's scalars on backend `k`, zeroed: the summed loss and the
/// clip's verdict (see [`Course::step`]).
pub(crate) fn step_scalars<K: Backend<f32>>(k: &K) -> K::Buf {
    let mut b = K::Buf::default();
    k.resize(&mut b, 2);
    b
}

/// The progress of a run, shared in form by every trainer; the optimizer
/// lives on backend `K`, where the parameters do.
pub(crate) struct Course<K: Backend<f32> = Cpu> {
    /// Iterations done.
    pub iter: u64,
    /// Iterations planned.
    pub total: u64,
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
        Course {
            iter: 0,
            total,
            smooth: SmoothLoss::new(decay),
            rng: ChaCha8Rng::seed_from_u64(seed),
            optimizer,
            update,
            cadence,
        }
    }

    /// End an iteration whose summed loss over `count` targets the backend
    /// left in `scalars[0]` (see [`step_scalars`]), with `grads` (as long
    /// as `params`): clip (the verdict into `scalars[1]`), set the
    /// scheduled rate, update where the verdict allows, then read loss and
    /// verdict back at once (the iteration's one round trip on a device),
    /// refuse a non-finite loss or gradient, count the iteration and smooth
    /// its loss. Returns the mean loss.
    pub fn step(
        &mut self,
        count: usize,
        params: K::Mut<'_>,
        mut grads: K::Mut<'_>,
        scalars: &mut K::Buf,
    ) -> Result<f64> {
        let u = self.update;
        let k = self.optimizer.backend().clone();
        let verdict = K::view_mut(scalars).sub(1..2);
        u.clip.apply_to(&k, K::reborrow(&mut grads), verdict);
        self.optimizer
            .set_lr(u.schedule.lr(u.lr, self.iter, self.total));
        let guard = K::view(scalars).sub(1..2);
        self.optimizer.step_guarded(params, grads.into_ref(), guard);
        let mut host = [0.0f32; 2];
        k.download(K::view(scalars).sub(0..2), &mut host);
        k.check()?;
        let loss = host[0] as f64 / count.max(1) as f64;
        if !loss.is_finite() {
            return Err(self.diverged(&format!("the loss is {loss}")));
        }
        if !host[1].is_finite() {
            return Err(self.diverged("a gradient is not finite"));
        }
        self.iter += 1;
        self.smooth.add(loss);
        Ok(loss)
    }

    /// The error of a run that blew up in the iteration under way: `what`
    /// happened, with the trainer's advice.
    pub fn diverged(&self, what: &str) -> Error {
        Error::Diverged(format!(
            "training diverged at iteration {}: {what}. Lower the learning rate (now --lr {}){}",
            self.iter + 1,
            self.update.lr,
            self.update.advice
        ))
    }
}
