//! The language-model trainer: char-rnn over running text (B streams of
//! T-character windows, the state carried across windows) or over a word
//! list (shuffled batches of padded words), split into shards that run on
//! the current rayon pool's threads. The loop, logging and checkpoint
//! cadence are [`super::run_loop`]'s; saving and resuming are in
//! `lm_state.rs`.

use crate::backend::{Backend, Cpu};
use crate::data::{CharStreams, CharVocab, WordBatch};
use crate::error::{Error, Result};
use crate::model::memory::net_training;
use crate::model::{Net, NetConfig};
use crate::optim::Optimizer;
use crate::tensor::bf16::{Precision, with_precision};

use super::config::TrainConfig;
use super::course::{Course, StepSettings};
use super::data::{Prepared, TrainData};
use super::distributed::Group;
use super::epoch::EpochOrder;
use super::evaluate::words_loss;
use super::log::LogWriter;
use super::run_dir::RunDir;
use super::run_loop::{Cadence, Event, Fit, Flow, Saver, Summary, fit, watching};
use super::shard::{self, Shard, Work};

/// A training run in progress, its model, gradients, optimizer and
/// activations on backend `K`. On the CPU it runs on the threads of the
/// current rayon pool (the CLI sizes the global one with `--threads`); its
/// results do not depend on how many there are.
pub struct Trainer<K: Backend<f32> = Cpu> {
    pub(super) config: TrainConfig,
    pub(super) net: Net<f32, K>,
    pub(super) vocab: CharVocab,
    pub(super) data: Prepared,
    pub(super) fingerprint: u64,
    /// Iteration, target, optimizer, smoothed loss, random generator.
    pub(super) course: Course<K>,
    /// Word order of the current epoch (word lists only).
    pub(super) order: EpochOrder,
    /// The batch's shards (fixed by the batch size and the model; run on
    /// the current rayon pool's threads); the first holds the summed
    /// gradients.
    pub(super) shards: Vec<Shard<K>>,
    /// The processes that share each batch (one, unless set with
    /// [`Trainer::set_group`]).
    pub(super) group: Group,
    // Buffers reused every step.
    inputs: Vec<u32>,
    targets: Vec<u32>,
    batch: WordBatch,
}

impl Trainer {
    /// A fresh run of `total_iters` iterations on `data`, on the CPU.
    pub fn new(config: TrainConfig, data: TrainData, total_iters: u64) -> Result<Self> {
        Trainer::new_on(Cpu, config, data, total_iters)
    }
}

impl<K: Backend<f32>> Trainer<K> {
    /// An error, before anything is allocated, where training `model`
    /// with `config` on `data` (its shards, activations and optimizer
    /// state) would not fit in memory.
    fn check_memory(config: &TrainConfig, model: &NetConfig, data: &TrainData) -> Result<()> {
        let g = config.cell.rows(config.hidden);
        let shards = shard::shard_rows(config.batch, g, config.hidden).len();
        let (t, b) = (data.steps(config.seq_len), config.batch);
        net_training(model, t, b, shards, config.optimizer.moments()).check(data.advice())
    }

    /// A fresh run of `total_iters` iterations on `data`, on `backend`.
    pub fn new_on(
        backend: K,
        config: TrainConfig,
        data: TrainData,
        total_iters: u64,
    ) -> Result<Self> {
        config.validate()?;
        let vocab = data.vocab()?;
        let model = Trainer::<K>::net_config(&config, vocab.len());
        Trainer::<K>::check_memory(&config, &model, &data)?;
        let mut net = Net::new_on(backend, model, config.init, config.seed)?;
        if let Some(v) = config.forget_bias {
            net.set_forget_bias(v);
        }
        Self::assemble(config, data, vocab, net, total_iters)
    }

    /// A run of `total_iters` iterations on `data` that goes on from a
    /// model trained before (or loaded): `net` with its vocabulary `vocab`,
    /// an optimizer started afresh. `config`'s model settings (cell, hidden
    /// size, layers, embedding) must be `net`'s (its dropout is
    /// `config`'s), and `data` may use only `vocab`'s characters.
    pub fn from_model(
        config: TrainConfig,
        data: TrainData,
        (net, vocab): (Net<f32, K>, CharVocab),
        total_iters: u64,
    ) -> Result<Self> {
        config.validate()?;
        let model = Trainer::<K>::net_config(&config, vocab.len());
        let same = NetConfig {
            dropout: model.dropout,
            ..net.config().clone()
        };
        if same != model {
            return Err(Error::Config(format!(
                "the model to go on from is a {} and these settings describe a {}: train it with its own settings",
                describe(net.config()),
                describe(&model)
            )));
        }
        Trainer::<K>::check_memory(&config, &model, &data)?;
        let net = if net.config().dropout == model.dropout {
            net
        } else {
            Net::from_params_on(net.backend().clone(), model, net.params_to_host())?
        };
        Self::assemble(config, data, vocab, net, total_iters)
    }

    /// The model and its vocabulary, ending the run.
    pub fn into_model(self) -> (Net<f32, K>, CharVocab) {
        (self.net, self.vocab)
    }

    /// The network `config` trains for a vocabulary of `vocab_len`.
    pub(super) fn net_config(config: &TrainConfig, vocab_len: usize) -> NetConfig {
        NetConfig {
            layers: config.layers,
            embed: config.embed,
            dropout: config.dropout,
            ..NetConfig::char_lm(config.cell, vocab_len, config.hidden)
        }
    }

    /// A run at iteration 0 of `total` with `net` (fresh or loaded).
    pub(super) fn assemble(
        config: TrainConfig,
        data: TrainData,
        vocab: CharVocab,
        net: Net<f32, K>,
        total: u64,
    ) -> Result<Self> {
        if config.precision != Precision::F32 && !K::READS_HOST {
            return Err(Error::Device(format!(
                "--precision {} runs on the CPU: leave out --device, or train in f32 there",
                config.precision
            )));
        }
        let (t, b) = (config.seq_len, config.batch);
        let prepared = Prepared::new(&data, &vocab, config.val_frac, t, b, config.seed)?;
        let n = net.layout().len();
        let optimizer = Optimizer::new_on(net.backend().clone(), config.optimizer, config.lr, n)?;
        let cadence = Cadence {
            eval_every: config.eval_every,
            log_every: config.log_every,
        };
        let update = StepSettings {
            lr: config.lr,
            schedule: config.schedule,
            warmup: config.warmup,
            clip: config.clip,
            advice: " or clip gradients (--clip 5 or --clip-norm 1); the last checkpoint is left as it was",
            uniform: Some((vocab.len() as f64).ln()),
        };
        Ok(Trainer {
            fingerprint: data.fingerprint(),
            data: prepared,
            course: Course::new(optimizer, (update, cadence), config.seed, 0.999, total),
            order: EpochOrder::default(),
            shards: shard::shards_for(&net, b),
            group: Group::single(),
            inputs: vec![0; t * b],
            targets: vec![0; t * b],
            batch: WordBatch::default(),
            config,
            net,
            vocab,
        })
    }

    /// The model being trained.
    pub fn model(&self) -> &Net<f32, K> {
        &self.net
    }

    /// Its vocabulary.
    pub fn vocab(&self) -> &CharVocab {
        &self.vocab
    }

    /// The run's settings.
    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    /// Iterations done.
    pub fn iter(&self) -> u64 {
        self.course.iter
    }

    /// Iterations planned (`u64::MAX` for a run that trains for a time:
    /// see [`Trainer::time_budget`]).
    pub fn total_iters(&self) -> u64 {
        self.course.total
    }

    /// Plan `total` iterations in all (to train a resumed run further);
    /// a time budget, if any, no longer applies.
    pub fn set_total_iters(&mut self, total: u64) {
        self.course.budget = None;
        self.course.total = total;
    }

    /// Train for `limit` of wall-clock time instead of an iteration
    /// count: [`Trainer::run`] goes on until the time is spent, then
    /// evaluates and saves, and the schedule (with any warm-up) follows
    /// the time. A run that has a budget (resumed) keeps what it spent.
    pub fn set_time_budget(&mut self, limit: std::time::Duration) -> Result<()> {
        let budget = match &self.course.budget {
            Some(b) => super::Budget::resumed(super::Budget::new(limit)?.seconds(), b.spent())?,
            None => super::Budget::new(limit)?,
        };
        self.course.set_budget(budget);
        Ok(())
    }

    /// Train together with the other processes of `group` (see
    /// [`super::distributed`]): this one runs its share of every batch's
    /// shards, and the results are those of one process. Only rank 0
    /// validates ([`Trainer::validate`] is `None` elsewhere). With a time
    /// budget every rank reads rank 0's clock, taken once an iteration, so
    /// they set the same rates and stop at the same iteration. Refused for
    /// more ranks than the batch has shards, and off the CPU.
    pub fn set_group(&mut self, group: Group) -> Result<()> {
        group.check_backend::<K>()?;
        group.owned(self.shards.len())?;
        self.group = group;
        Ok(())
    }

    /// The processes sharing each batch.
    pub fn group(&self) -> &Group {
        &self.group
    }

    /// The run's time budget, if it trains for a time.
    pub fn time_budget(&self) -> Option<&super::Budget> {
        self.course.budget.as_ref()
    }

    /// The learning rate of the next iteration (the schedule and warm-up
    /// applied).
    pub fn learning_rate(&self) -> f64 {
        self.course.rate()
    }

    /// Smoothed training loss, nats/char (see [`super::SmoothLoss`]).
    pub fn smooth_loss(&self) -> f64 {
        self.course.smooth.value()
    }

    /// Iterations in one pass over the training data.
    pub fn iters_per_epoch(&self) -> Result<u64> {
        self.data
            .iters_per_epoch(self.config.seq_len, self.config.batch)
    }

    /// One training iteration; returns the batch's mean loss (nats/char) and
    /// the number of characters it covered.
    pub fn step(&mut self) -> Result<(f64, usize)> {
        let chars = self.record()?;
        Ok((self.course.settle_last()?, chars))
    }

    /// One training iteration, its loss left on the backend for the course
    /// to settle; returns the characters it covered. Its products run in
    /// the run's precision (the validation's in f32).
    fn record(&mut self) -> Result<usize> {
        with_precision(self.config.precision, || self.record_in_precision())
    }

    /// [`Trainer::record`], in whatever precision is set.
    fn record_in_precision(&mut self) -> Result<usize> {
        let (t, b) = (self.config.seq_len, self.config.batch);
        let iter = self.course.iter;
        let chars = match &self.data {
            Prepared::Corpus { train, .. } => {
                let streams = CharStreams::new(train, t, b, "training text")?;
                let w = (iter % streams.windows() as u64) as usize;
                if w == 0 {
                    // A new pass starts from a zero state.
                    let k = self.net.backend();
                    for s in &mut self.shards {
                        k.fill(K::view_mut(&mut s.carry), 0.0);
                    }
                }
                streams.window(w, &mut self.inputs, &mut self.targets);
                let work = Work::Corpus {
                    t,
                    b,
                    inputs: &self.inputs,
                    targets: &self.targets,
                };
                shard::step(
                    &mut self.shards,
                    (&self.net, &self.group),
                    &work,
                    &mut self.course.rng,
                )?
            }
            Prepared::Words { train, .. } => {
                let indices = self.order.batch(train.len(), b, iter, &mut self.course.rng);
                let picked: Vec<_> = indices.iter().map(|&i| &train[i as usize]).collect();
                let work = Work::Words(&picked);
                shard::step(
                    &mut self.shards,
                    (&self.net, &self.group),
                    &work,
                    &mut self.course.rng,
                )?
            }
        };
        // Over several ranks, every rank's clock reads rank 0's time, taken
        // here: each then sets the same rate and stops at the same
        // iteration.
        if let Some(b) = &mut self.course.budget
            && self.group.size() > 1
        {
            b.pin(self.group.root_value(b.clock())?);
        }
        // The loss, the clip's verdict and the update stay on the backend
        // until the course reads them back, together.
        let shard::Shard { grads, scalars, .. } = &mut self.shards[0];
        let params = K::view_mut(&mut self.net.params);
        self.course
            .record(chars, params, K::view_mut(grads), scalars)?;
        Ok(chars)
    }

    /// Mean loss (nats/char) over the validation split, or `None` without
    /// one (and on every rank of a group but rank 0).
    pub fn validate(&mut self) -> Result<Option<f64>> {
        if !self.data.has_validation() || !self.group.is_root() {
            return Ok(None);
        }
        let (t, b) = (self.config.seq_len, self.config.batch);
        let (sum, count) = match &self.data {
            Prepared::Corpus { val, .. } => {
                let b = b.min(val.len() / (t + 1)).max(1);
                shard::corpus_loss(&mut self.shards, &self.net, val, t, b)?
            }
            Prepared::Words { val, .. } => {
                // In the first shard's workspace: no memory of its own.
                let ws = &mut self.shards[0].ws;
                words_loss(&self.net, val, b, ws, &mut self.batch)?
            }
        };
        Ok(Some(sum / count.max(1) as f64))
    }

    /// Train until the planned number of iterations, validating every
    /// `eval_every`, logging every `log_every`, and saving to `out` at each
    /// validation and at the end.
    pub fn run(
        &mut self,
        out: Option<&RunDir>,
        log: Option<&mut LogWriter>,
        on_event: &mut dyn FnMut(Event<'_>),
    ) -> Result<Summary> {
        self.run_until(out, log, &mut watching(on_event))
    }

    /// [`Trainer::run`], with an `on_event` that may stop the run early
    /// (see [`Flow`]; the summary says it stopped).
    pub fn run_until(
        &mut self,
        out: Option<&RunDir>,
        log: Option<&mut LogWriter>,
        on_event: &mut dyn FnMut(Event<'_>) -> Flow,
    ) -> Result<Summary> {
        let out = out.map(|dir| Saver {
            dir,
            save: Trainer::<K>::save,
        });
        let (summary, _) = fit(self, out, log, &mut |event, _| on_event(event))?;
        Ok(summary)
    }
}

impl<K: Backend<f32>> Fit for Trainer<K> {
    const MEASURES_LOSS: bool = true;

    type Device = K;

    fn course(&self) -> &Course<K> {
        &self.course
    }

    fn course_mut(&mut self) -> &mut Course<K> {
        &mut self.course
    }

    fn record_step(&mut self) -> Result<usize> {
        self.record()
    }

    fn evaluate(&mut self) -> Result<Option<f64>> {
        self.validate()
    }
}

/// A model's shape in words: "2-layer lstm, hidden 128, embedding 16, 65 tokens".
fn describe(c: &NetConfig) -> String {
    let embed = c
        .embed
        .map(|e| format!(", embedding {e}"))
        .unwrap_or_default();
    format!(
        "{}-layer {}, hidden {}{embed}, {} tokens",
        c.layers,
        c.cell.name(),
        c.hidden_size,
        c.input_size
    )
}
