//! The training loop: batches, validation, logging, divergence checks and
//! checkpoint cadence, with exact resume.
//!
//! ```no_run
//! use recur::train::{TrainConfig, TrainData, Trainer};
//! let text = std::fs::read_to_string("input.txt").unwrap();
//! let mut trainer = Trainer::new(TrainConfig::default(), TrainData::Corpus(text), 2_000).unwrap();
//! trainer.run(None, None, &mut |_| {}).unwrap();
//! ```

mod data;
pub mod forecast;
mod log;
mod run_dir;
pub mod seq2seq;
mod shard;
mod state;

pub use data::TrainData;
pub use log::{LogLine, LogWriter, SmoothLoss};
pub use run_dir::{RunDir, RunMode};
pub use state::{model_path, state_path};

use std::path::Path;
use std::time::Instant;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::backend::Activation;
use crate::cell::{CellKind, SeqInput};
use crate::check;
use crate::data::{CharStreams, CharVocab, WordBatch};
use crate::error::{Error, Result};
use crate::layer::loss::Target;
use crate::model::memory::net_training;
use crate::model::{Batch, Init, Net, NetConfig, NetWorkspace};
use crate::optim::{Clip, Optimizer, OptimizerKind, Schedule};
use data::{Prepared, word_batch};
use shard::{Shard, Work};

/// Everything that decides a training run besides the data and its length.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// The recurrent cell (the vanilla RNN with its nonlinearity).
    pub cell: CellKind,
    /// Hidden size H.
    pub hidden: usize,
    /// Stacked layers.
    pub layers: usize,
    /// A learned embedding of this size instead of one-hot input.
    pub embed: Option<usize>,
    /// Dropout between layers.
    pub dropout: f64,
    /// Start every LSTM forget-gate bias at this value (char-rnn: 1).
    pub forget_bias: Option<f64>,
    /// Weight initialization.
    pub init: Init,
    /// T: characters per training window.
    pub seq_len: usize,
    /// B: parallel streams (or words) per batch.
    pub batch: usize,
    /// The optimizer.
    pub optimizer: OptimizerKind,
    /// Learning rate.
    pub lr: f64,
    /// Gradient clipping.
    pub clip: Clip,
    /// Fraction of the data held out for validation.
    pub val_frac: f64,
    /// Validate (and save) every this many iterations; 0 = only at the end.
    pub eval_every: u64,
    /// Write a log line every this many iterations.
    pub log_every: u64,
    /// Seed of every random choice (init, word order).
    pub seed: u64,
}

impl Default for TrainConfig {
    /// min-char-rnn's configuration: H=100, T=25, B=1, Adagrad 0.1, clip 5,
    /// `randn · 0.01` init.
    fn default() -> Self {
        TrainConfig {
            cell: CellKind::Rnn(Activation::Tanh),
            hidden: 100,
            layers: 1,
            embed: None,
            dropout: 0.0,
            forget_bias: None,
            init: Init::Classic,
            seq_len: 25,
            batch: 1,
            optimizer: OptimizerKind::Adagrad,
            lr: 0.1,
            clip: Clip::Elementwise(5.0),
            val_frac: 0.05,
            eval_every: 1000,
            log_every: 100,
            seed: 42,
        }
    }
}

impl TrainConfig {
    /// Reject settings that cannot train; the message names the flag and
    /// its valid range.
    pub fn validate(&self) -> Result<()> {
        for (flag, v) in [
            ("--hidden", self.hidden),
            ("--layers", self.layers),
            ("--seq-len", self.seq_len),
            ("--batch", self.batch),
        ] {
            check::at_least_one(flag, v)?;
        }
        if let Some(e) = self.embed {
            check::at_least_one("--embed", e)?;
        }
        if let Some(b) = self.forget_bias {
            check::finite("--forget-bias", b)?;
        }
        check::fraction("--dropout", self.dropout)?;
        check::fraction("--val-frac", self.val_frac)?;
        check::at_least_one("--log-every", self.log_every)?;
        check::optimization(&self.optimizer, self.lr, &self.clip, &Schedule::Constant)
    }
}

/// Something that happened during [`Trainer::run`], for progress displays.
#[derive(Clone, Debug)]
pub enum Event<'a> {
    /// An iteration finished.
    Step {
        /// Iterations done.
        iter: u64,
        /// Iterations planned.
        total: u64,
        /// Smoothed training loss, nats/char.
        smooth_loss: f64,
        /// Training characters per second in this run so far.
        chars_per_sec: f64,
    },
    /// A log line was produced (also written to the log file, if any).
    Logged(&'a LogLine),
    /// A checkpoint was written.
    Saved(&'a Path),
}

/// The result of a run.
#[derive(Clone, Debug)]
pub struct Summary {
    /// Iterations done in total.
    pub iters: u64,
    /// Smoothed training loss at the end, nats/char.
    pub smooth_loss: f64,
    /// Last validation loss, nats/char, if there is a validation split.
    pub val_loss: Option<f64>,
    /// Training characters per second over this run.
    pub chars_per_sec: f64,
    /// Wall time of this run.
    pub elapsed_s: f64,
}

/// A training run in progress. It runs on the threads of the current
/// rayon pool (the CLI sizes the global one with `--threads`); its results
/// do not depend on how many there are.
pub struct Trainer {
    config: TrainConfig,
    net: Net<f32>,
    vocab: CharVocab,
    optimizer: Optimizer<f32>,
    data: Prepared,
    fingerprint: u64,
    iter: u64,
    total: u64,
    smooth: SmoothLoss,
    /// Word order of the current epoch (word lists only).
    order: Vec<u32>,
    rng: ChaCha8Rng,
    /// The batch's shards (fixed by the batch size and the model; run on
    /// the current rayon pool's threads); the first holds the summed
    /// gradients.
    shards: Vec<Shard>,
    // Buffers reused every step.
    ws: NetWorkspace<f32>,
    inputs: Vec<u32>,
    targets: Vec<u32>,
    batch: WordBatch,
}

impl Trainer {
    /// A fresh run of `total_iters` iterations on `data`.
    pub fn new(config: TrainConfig, data: TrainData, total_iters: u64) -> Result<Self> {
        config.validate()?;
        let vocab = data.vocab()?;
        let model = Trainer::net_config(&config, vocab.len());
        let n = shard::shard_rows(config.batch, config.cell.gates(), config.hidden).len();
        let (t, b) = (data.steps(config.seq_len), config.batch);
        net_training(&model, t, b, n, config.optimizer.moments()).check(data.advice())?;
        let mut net = Net::new(model, config.init, config.seed)?;
        if let Some(v) = config.forget_bias {
            net.set_forget_bias(v);
        }
        Self::assemble(config, data, vocab, net, total_iters)
    }

    /// The network `config` trains for a vocabulary of `vocab_len`.
    fn net_config(config: &TrainConfig, vocab_len: usize) -> NetConfig {
        NetConfig {
            layers: config.layers,
            embed: config.embed,
            dropout: config.dropout,
            ..NetConfig::char_lm(config.cell, vocab_len, config.hidden)
        }
    }

    fn assemble(
        config: TrainConfig,
        data: TrainData,
        vocab: CharVocab,
        net: Net<f32>,
        total: u64,
    ) -> Result<Self> {
        let (t, b) = (config.seq_len, config.batch);
        let prepared = Prepared::new(&data, &vocab, config.val_frac, t, b, config.seed)?;
        let optimizer = Optimizer::new(config.optimizer, config.lr, net.params.len())?;
        Ok(Trainer {
            fingerprint: data.fingerprint(),
            data: prepared,
            iter: 0,
            total,
            smooth: SmoothLoss::new(0.999),
            order: Vec::new(),
            rng: ChaCha8Rng::seed_from_u64(config.seed),
            shards: shard::shards_for(&net, b),
            ws: net.workspace(),
            inputs: vec![0; t * b],
            targets: vec![0; t * b],
            batch: WordBatch::default(),
            config,
            net,
            vocab,
            optimizer,
        })
    }

    /// The model being trained.
    pub fn model(&self) -> &Net<f32> {
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
        self.iter
    }

    /// Iterations planned.
    pub fn total_iters(&self) -> u64 {
        self.total
    }

    /// Plan `total` iterations in all (to train a resumed run further).
    pub fn set_total_iters(&mut self, total: u64) {
        self.total = total;
    }

    /// Smoothed training loss, nats/char (see [`SmoothLoss`]).
    pub fn smooth_loss(&self) -> f64 {
        self.smooth.value()
    }

    /// Iterations in one pass over the training data.
    pub fn iters_per_epoch(&self) -> Result<u64> {
        self.data
            .iters_per_epoch(self.config.seq_len, self.config.batch)
    }

    /// One training iteration; returns the batch's mean loss (nats/char) and
    /// the number of characters it covered.
    pub fn step(&mut self) -> Result<(f64, usize)> {
        let (t, b) = (self.config.seq_len, self.config.batch);
        let (loss, chars) = match &self.data {
            Prepared::Corpus { train, .. } => {
                let streams = CharStreams::new(train, t, b, "training text")?;
                let w = (self.iter % streams.windows() as u64) as usize;
                if w == 0 {
                    // A new pass starts from a zero state.
                    self.shards.iter_mut().for_each(|s| s.carry.fill(0.0));
                }
                streams.window(w, &mut self.inputs, &mut self.targets);
                let work = Work::Corpus {
                    t,
                    b,
                    inputs: &self.inputs,
                    targets: &self.targets,
                };
                shard::step(&mut self.shards, &self.net, &work, &mut self.rng)?
            }
            Prepared::Words { train, .. } => {
                let per_epoch = train.len().div_ceil(b) as u64;
                let k = (self.iter % per_epoch) as usize;
                if k == 0 || self.order.len() != train.len() {
                    self.order = (0..train.len() as u32).collect();
                    self.order.shuffle(&mut self.rng);
                }
                let picked: Vec<_> = self
                    .order
                    .iter()
                    .skip(k * b)
                    .take(b)
                    .map(|&i| &train[i as usize])
                    .collect();
                shard::step(
                    &mut self.shards,
                    &self.net,
                    &Work::Words(&picked),
                    &mut self.rng,
                )?
            }
        };
        self.check_divergence(loss)?;
        let grads = &mut self.shards[0].grads;
        if !self.config.clip.apply(grads) {
            return Err(self.diverged("a gradient is not finite"));
        }
        self.optimizer.step(&mut self.net.params, grads);
        self.iter += 1;
        self.smooth.add(loss);
        Ok((loss, chars))
    }

    fn diverged(&self, what: &str) -> Error {
        Error::Diverged(format!(
            "training diverged at iteration {}: {what}. Lower the learning rate (now --lr {}) or clip gradients (--clip 5 or --clip-norm 1); the last checkpoint is left as it was",
            self.iter + 1,
            self.config.lr
        ))
    }

    /// NaN, or far worse than guessing uniformly (ln V): the run has blown up.
    fn check_divergence(&self, loss: f64) -> Result<()> {
        let limit = 3.0 * (self.vocab.len() as f64).ln() + 3.0;
        if !loss.is_finite() {
            Err(self.diverged(&format!("the loss is {loss}")))
        } else if loss > limit {
            Err(self.diverged(&format!(
                "the loss exploded to {loss:.2} nats/char (uniform guessing gives {:.2})",
                (self.vocab.len() as f64).ln()
            )))
        } else {
            Ok(())
        }
    }

    /// Mean loss (nats/char) over the validation split, or `None` without one.
    pub fn validate(&mut self) -> Result<Option<f64>> {
        if !self.data.has_validation() {
            return Ok(None);
        }
        let (t, b) = (self.config.seq_len, self.config.batch);
        let net = &self.net;
        let (sum, count) = match &self.data {
            Prepared::Corpus { val, .. } => {
                let b = b.min(val.len() / (t + 1)).max(1);
                corpus_loss(net, val, t, b, &mut self.ws)?
            }
            Prepared::Words { val, .. } => {
                let order: Vec<u32> = (0..val.len() as u32).collect();
                let (mut sum, mut count) = (0.0, 0);
                for k in 0..val.len().div_ceil(b) {
                    word_batch(val, &order, k, b, &mut self.batch);
                    let wb = &self.batch;
                    let n = wb.target_count();
                    let loss = net.loss_batch(
                        &word_input(wb),
                        Target::Classes(&wb.targets),
                        &mut self.ws,
                    )?;
                    sum += loss * n as f64;
                    count += n;
                }
                (sum, count)
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
        mut log: Option<&mut LogWriter>,
        on_event: &mut dyn FnMut(Event<'_>),
    ) -> Result<Summary> {
        let start = Instant::now();
        let (mut window_loss, mut window_batches, mut window_chars) = (0.0, 0u64, 0usize);
        let mut window_start = Instant::now();
        let (mut run_chars, mut val_loss) = (0usize, None);
        finished_check(self.iter, self.total)?;
        while self.iter < self.total {
            let (loss, chars) = self.step()?;
            window_loss += loss;
            window_batches += 1;
            window_chars += chars;
            run_chars += chars;
            let elapsed = start.elapsed().as_secs_f64();
            on_event(Event::Step {
                iter: self.iter,
                total: self.total,
                smooth_loss: self.smooth.value(),
                chars_per_sec: run_chars as f64 / elapsed.max(1e-9),
            });
            let last = self.iter == self.total;
            let eval = last
                || (self.config.eval_every > 0 && self.iter.is_multiple_of(self.config.eval_every));
            if eval {
                val_loss = self.validate()?;
            }
            if eval || self.iter.is_multiple_of(self.config.log_every) {
                let line = LogLine {
                    iter: self.iter,
                    train_loss: window_loss / window_batches as f64,
                    smooth_loss: self.smooth.value(),
                    val_loss: if eval { val_loss } else { None },
                    chars_per_sec: window_chars as f64
                        / window_start.elapsed().as_secs_f64().max(1e-9),
                    elapsed_s: start.elapsed().as_secs_f64(),
                };
                if let Some(log) = log.as_deref_mut() {
                    log.write(&line)?;
                }
                on_event(Event::Logged(&line));
                (window_loss, window_batches, window_chars) = (0.0, 0, 0);
                window_start = Instant::now();
            }
            if eval && let Some(dir) = out {
                self.save(dir.path())?;
                on_event(Event::Saved(dir.path()));
            }
        }
        let elapsed_s = start.elapsed().as_secs_f64();
        Ok(Summary {
            iters: self.iter,
            smooth_loss: self.smooth.value(),
            val_loss,
            chars_per_sec: run_chars as f64 / elapsed_s.max(1e-9),
            elapsed_s,
        })
    }
}

/// An error unless a run that has done `iter` of `total` iterations has
/// some left.
pub(crate) fn finished_check(iter: u64, total: u64) -> Result<()> {
    if iter >= total {
        return Err(Error::Config(format!(
            "the run is finished: it has done {iter} of {total} iterations; ask for more (--iters N with N above {iter}) to train it further"
        )));
    }
    Ok(())
}

/// Summed loss and character count of `net` over `tokens`, read as `b`
/// streams of `t`-character windows with the state carried across windows.
pub fn corpus_loss(
    net: &Net<f32>,
    tokens: &[u32],
    t: usize,
    b: usize,
    ws: &mut NetWorkspace<f32>,
) -> Result<(f64, usize)> {
    let streams = CharStreams::new(tokens, t, b, "text")?;
    let (mut inputs, mut targets) = (vec![0; t * b], vec![0; t * b]);
    let mut state = vec![0.0; net.config().state_len(b)];
    let mut sum = 0.0;
    for w in 0..streams.windows() {
        streams.window(w, &mut inputs, &mut targets);
        sum += net.loss(
            SeqInput::Tokens(&inputs),
            Some(&state),
            t,
            b,
            Target::Classes(&targets),
            ws,
        )? * (t * b) as f64;
        state.copy_from_slice(ws.final_state());
    }
    Ok((sum, streams.windows() * t * b))
}

/// Mean loss (nats/char) of a language model over `text`, every character
/// after the first predicted from all before it (batch 1, state carried
/// across chunks of 256 characters).
pub fn evaluate_text(net: &Net<f32>, vocab: &CharVocab, text: &str) -> Result<f64> {
    let tokens = vocab.encode(text)?;
    if tokens.len() < 2 {
        return Err(Error::Data(
            "the text needs at least two characters to evaluate".into(),
        ));
    }
    let mut ws = net.workspace();
    let mut state = vec![0.0; net.config().state_len(1)];
    let mut sum = 0.0;
    let n = tokens.len() - 1;
    for start in (0..n).step_by(256) {
        let len = 256.min(n - start);
        let (x, y) = (
            &tokens[start..start + len],
            &tokens[start + 1..start + 1 + len],
        );
        sum += net.loss(
            SeqInput::Tokens(x),
            Some(&state),
            len,
            1,
            Target::Classes(y),
            &mut ws,
        )? * len as f64;
        state.copy_from_slice(ws.final_state());
    }
    Ok(sum / n as f64)
}

/// Mean loss (nats/char, the end marker included) of a word model over
/// `words`, each word its own sequence after the start marker, 32 words
/// per batch.
pub fn evaluate_words<S: AsRef<str>>(
    net: &Net<f32>,
    vocab: &CharVocab,
    words: &[S],
) -> Result<f64> {
    let seqs = crate::data::prepare_sequences(words, vocab)?;
    let order: Vec<u32> = (0..seqs.len() as u32).collect();
    let (mut ws, mut batch) = (net.workspace(), WordBatch::default());
    let (mut sum, mut count) = (0.0, 0);
    for k in 0..seqs.len().div_ceil(32) {
        word_batch(&seqs, &order, k, 32, &mut batch);
        let n = batch.target_count();
        sum += net.loss_batch(
            &word_input(&batch),
            Target::Classes(&batch.targets),
            &mut ws,
        )? * n as f64;
        count += n;
    }
    Ok(sum / count.max(1) as f64)
}

/// A padded batch of words as network input.
fn word_input(wb: &WordBatch) -> Batch<'_, f32> {
    Batch {
        lengths: Some(&wb.lengths),
        ..Batch::new(SeqInput::Tokens(&wb.inputs), wb.t, wb.b)
    }
}
