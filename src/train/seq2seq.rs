//! Training a sequence-to-sequence model: shuffled batches of pairs,
//! teacher forcing (with a ratio: batches without it feed the model its own
//! greedy outputs), periodic exact-match accuracy on held-out pairs, logging
//! and checkpoints.

use std::path::Path;

use rand::RngExt;
use serde::{Deserialize, Serialize};

use super::course::{Course, StepSettings, step_scalars};
use super::data::fingerprint;
use super::distributed::Group;
use super::epoch::EpochOrder;
use super::log::{LogLine, LogWriter};
use super::run_dir::RunDir;
use super::run_loop::{Cadence, Event, Fit, Flow, Saver, Summary, fit};
use super::state::{Progress, SavedState, save_run};
use crate::backend::{Backend, Cpu, ViewMut};
use crate::check;
use crate::checkpoint::{TensorData, load_seq2seq, seq2seq_contents};
use crate::data::pairs::{Pair, PairBuffers, PairVocab, longest_steps};
use crate::data::vocab::{END, START};
use crate::decode::{DecodeOptions, translate};
use crate::error::{Error, Result};
use crate::model::Init;
use crate::model::memory::seq2seq_training;
use crate::model::seq2seq::{GreedyWorkspace, PairBatch, Seq2Seq, Seq2SeqConfig, Seq2SeqWorkspace};
use crate::optim::{Clip, Optimizer, OptimizerKind, Schedule};

/// The flags that shrink a sequence-to-sequence run, for a memory error.
const ADVICE: &str = "lower --hidden, --layers or --batch, or use shorter pairs (--lengths)";

/// Everything that decides a sequence-to-sequence run besides the data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Seq2SeqTrainConfig {
    /// Pairs per batch.
    pub batch: usize,
    /// The optimizer.
    pub optimizer: OptimizerKind,
    /// Learning rate.
    pub lr: f64,
    /// Gradient clipping.
    pub clip: Clip,
    /// How the learning rate changes over the run.
    pub schedule: Schedule,
    /// Probability that a batch is trained with teacher forcing.
    pub teacher_forcing: f64,
    /// Measure held-out accuracy (and save) every this many iterations; 0:
    /// only at the end.
    pub eval_every: u64,
    /// Log every this many iterations.
    pub log_every: u64,
    /// Longest output when decoding.
    pub max_len: usize,
    /// Seed of the init, the batch order and teacher forcing.
    pub seed: u64,
}

impl Default for Seq2SeqTrainConfig {
    fn default() -> Self {
        Seq2SeqTrainConfig {
            batch: 32,
            optimizer: OptimizerKind::Adam {
                beta1: 0.9,
                beta2: 0.999,
            },
            lr: 1e-3,
            clip: Clip::GlobalNorm(5.0),
            schedule: Schedule::Cosine {
                floor: Self::COSINE_FLOOR,
            },
            teacher_forcing: 1.0,
            eval_every: 500,
            log_every: 100,
            max_len: 40,
            seed: 42,
        }
    }
}

impl Seq2SeqTrainConfig {
    /// Where a cosine schedule ends, as a fraction of the rate.
    pub const COSINE_FLOOR: f64 = 0.05;

    /// Reject settings (these and the model's sizes) that cannot train; the
    /// message names the flag and its valid range.
    pub fn validate(&self, model: &Seq2SeqConfig) -> Result<()> {
        for (flag, v) in [
            ("--hidden", model.hidden),
            ("--embed", model.embed),
            ("--layers", model.layers),
            ("--batch", self.batch),
            ("the longest decoded output", self.max_len),
        ] {
            check::at_least_one(flag, v)?;
        }
        check::at_least_one("--log-every", self.log_every)?;
        check::probability("--teacher-forcing", self.teacher_forcing)?;
        check::optimization(&self.optimizer, self.lr, &self.clip, &self.schedule)
    }
}

/// A sequence-to-sequence run in progress.
pub struct Seq2SeqTrainer<K: Backend<f32> = Cpu> {
    config: Seq2SeqTrainConfig,
    model: Seq2Seq<f32, K>,
    vocab: PairVocab,
    train: Vec<Pair>,
    test: Vec<Pair>,
    /// Iteration, target, optimizer, smoothed loss, random generator.
    course: Course<K>,
    order: EpochOrder,
    buf: PairBuffers,
    ws: Seq2SeqWorkspace<f32, K>,
    /// Buffers of the model's own greedy choices (without teacher forcing).
    greedy: GreedyWorkspace<f32, K>,
    grads: K::Buf,
    /// The step's summed loss and the clip's verdict, on the backend.
    scalars: K::Buf,
    /// The processes sharing each batch (see [`Seq2SeqTrainer::set_group`]).
    group: Group,
}

impl Seq2SeqTrainer {
    /// A fresh run of `total` iterations on the CPU (see
    /// [`Seq2SeqTrainer::new_on`]).
    pub fn new(
        model: Seq2SeqConfig,
        config: Seq2SeqTrainConfig,
        train: Vec<Pair>,
        test: Vec<Pair>,
        total: u64,
    ) -> Result<Self> {
        Seq2SeqTrainer::new_on(Cpu, model, config, train, test, total)
    }

    /// Continue the run saved in `dir` on the CPU (see
    /// [`Seq2SeqTrainer::resume_on`]).
    pub fn resume(dir: &Path, train: Vec<Pair>, test: Vec<Pair>) -> Result<Self> {
        Seq2SeqTrainer::resume_on(Cpu, dir, train, test)
    }

    /// The model and training settings of the run saved in `dir`.
    pub fn saved_settings(dir: &Path) -> Result<(Seq2SeqConfig, Seq2SeqTrainConfig)> {
        let state = SavedState::open(dir)?;
        Ok((state.file.meta_json("recur.config")?, state.config()?))
    }
}

impl<K: Backend<f32>> Seq2SeqTrainer<K> {
    /// A fresh run of `total` iterations on `train`, measured on `test`,
    /// on `backend`.
    pub fn new_on(
        backend: K,
        model: Seq2SeqConfig,
        config: Seq2SeqTrainConfig,
        train: Vec<Pair>,
        test: Vec<Pair>,
        total: u64,
    ) -> Result<Self> {
        config.validate(&model)?;
        if train.is_empty() {
            return Err(Error::Data("no training pairs".into()));
        }
        let all: Vec<Pair> = train.iter().chain(&test).cloned().collect();
        let vocab = PairVocab::from_pairs(&all)?;
        let model = Seq2SeqConfig {
            src_vocab: vocab.src.len(),
            tgt_vocab: vocab.tgt.len(),
            ..model
        };
        let ((s, t), moments) = (longest_steps(&all), config.optimizer.moments());
        seq2seq_training(&model, s, t, config.batch, moments).check(ADVICE)?;
        let model = Seq2Seq::new_on(backend, model, Init::Uniform, config.seed)?;
        Seq2SeqTrainer::assemble(config, (model, vocab), train, test, total)
    }

    /// A run of `total` iterations on `train`, measured on `test`, that
    /// goes on from a model trained before (or loaded) with its
    /// vocabularies, an optimizer started afresh. The pairs may use only
    /// the vocabularies' characters.
    pub fn from_model(
        (model, vocab): (Seq2Seq<f32, K>, PairVocab),
        config: Seq2SeqTrainConfig,
        train: Vec<Pair>,
        test: Vec<Pair>,
        total: u64,
    ) -> Result<Self> {
        config.validate(model.config())?;
        if train.is_empty() {
            return Err(Error::Data("no training pairs".into()));
        }
        for p in train.iter().chain(&test) {
            let unknown = |side: &str, e: Error| {
                Error::Data(format!(
                    "the pair {:?} → {:?}: {e} (the model's {side} vocabulary); train a new model for new characters",
                    p.source, p.target
                ))
            };
            vocab
                .src
                .encode(&p.source)
                .map_err(|e| unknown("source", e))?;
            if p.target.contains([START, END]) {
                return Err(Error::Data(
                    "targets may not contain the control characters U+0002 / U+0003".into(),
                ));
            }
            vocab
                .tgt
                .encode(&p.target)
                .map_err(|e| unknown("target", e))?;
        }
        let ((s0, t0), (s1, t1)) = (longest_steps(&train), longest_steps(&test));
        let (s, t) = (s0.max(s1), t0.max(t1));
        let moments = config.optimizer.moments();
        seq2seq_training(model.config(), s, t, config.batch, moments).check(ADVICE)?;
        Seq2SeqTrainer::assemble(config, (model, vocab), train, test, total)
    }

    /// A run at iteration 0 of `total` with `model` (fresh or trained).
    fn assemble(
        config: Seq2SeqTrainConfig,
        (model, vocab): (Seq2Seq<f32, K>, PairVocab),
        train: Vec<Pair>,
        test: Vec<Pair>,
        total: u64,
    ) -> Result<Self> {
        let n = model.layout().len();
        let backend = model.backend().clone();
        let optimizer = Optimizer::new_on(backend, config.optimizer, config.lr, n)?;
        let cadence = Cadence {
            eval_every: config.eval_every,
            log_every: config.log_every,
        };
        let update = StepSettings {
            lr: config.lr,
            schedule: config.schedule,
            warmup: 0,
            clip: config.clip,
            advice: " or clip gradients harder (--clip-norm 1); the last checkpoint is left as it was",
            uniform: None,
        };
        Ok(Seq2SeqTrainer {
            grads: model.zero_grads(),
            scalars: step_scalars(model.backend(), 2),
            group: Group::single(),
            ws: model.workspace(),
            greedy: GreedyWorkspace::default(),
            course: Course::new(optimizer, (update, cadence), config.seed, 0.99, total),
            order: EpochOrder::default(),
            buf: PairBuffers::default(),
            config,
            model,
            vocab,
            train,
            test,
        })
    }

    /// The model and its vocabularies, ending the run.
    pub fn into_model(self) -> (Seq2Seq<f32, K>, PairVocab) {
        (self.model, self.vocab)
    }

    /// The run's settings.
    pub fn config(&self) -> &Seq2SeqTrainConfig {
        &self.config
    }

    /// The training and held-out pairs.
    pub fn data(&self) -> (&[Pair], &[Pair]) {
        (&self.train, &self.test)
    }

    /// The model.
    pub fn model(&self) -> &Seq2Seq<f32, K> {
        &self.model
    }

    /// Its vocabularies.
    pub fn vocab(&self) -> &PairVocab {
        &self.vocab
    }

    /// Iterations in one pass over the training pairs.
    pub fn iters_per_epoch(&self) -> u64 {
        self.train.len().div_ceil(self.config.batch) as u64
    }

    /// One iteration; returns the batch's loss (nats per target token).
    pub fn step(&mut self) -> Result<f64> {
        self.record()?;
        self.course.settle_last()
    }

    /// One iteration, its loss left on the backend for the course to
    /// settle; returns the target tokens it covered.
    fn record(&mut self) -> Result<usize> {
        let (n, b, iter) = (self.train.len(), self.config.batch, self.course.iter);
        let indices = self.order.batch(n, b, iter, &mut self.course.rng);
        // Every rank draws the whole batch (and the teacher-forcing coin)
        // and runs its part of the pairs.
        let part = self.group.part(indices.len())?;
        // The whole batch's target tokens (each target and its end), for
        // the pace a run reports, whatever part this rank runs.
        let tokens = indices
            .iter()
            .map(|&i| self.train[i as usize].target.chars().count() + 1)
            .sum();
        let picked: Vec<&Pair> = indices[part]
            .iter()
            .map(|&i| &self.train[i as usize])
            .collect();
        self.buf.fill(&picked, &self.vocab)?;
        if self.course.rng.random::<f64>() >= self.config.teacher_forcing {
            self.feed_own_outputs()?;
        }
        let buf = &self.buf;
        let batch = pair_batch(buf);
        let k = self.model.backend();
        k.fill(K::view_mut(&mut self.grads), 0.0);
        let (grads, loss) = (K::view_mut(&mut self.grads), K::view_mut(&mut self.scalars));
        let count = self.model.loss_and_grad_to(
            &batch,
            &buf.tgt_out,
            &mut self.ws,
            grads,
            loss.sub(0..1),
        )?;
        let (grads, loss) = (K::view_mut(&mut self.grads), K::view_mut(&mut self.scalars));
        let count = self.group.sum_parts::<K>(grads, loss.sub(0..1), count)?;
        // Loss and clip verdict stay on the backend until the course
        // settles them.
        let params = K::view_mut(&mut self.model.params);
        let grads = K::view_mut(&mut self.grads);
        self.course
            .record(count, params, grads, &mut self.scalars)?;
        Ok(tokens)
    }

    /// Replace the decoder inputs after START by the model's own greedy
    /// outputs (no teacher forcing for this batch; one round trip on a
    /// device). The inputs are data, so the backward is the usual one on
    /// them.
    fn feed_own_outputs(&mut self) -> Result<()> {
        let buf = &self.buf;
        let batch = pair_batch(buf);
        let fed = self.model.greedy_batch(&batch, &mut self.greedy)?;
        // Only positions inside each target are read by training.
        let b = self.buf.b;
        for (at, token) in fed.into_iter().enumerate().skip(b) {
            if at / b < self.buf.tgt_lengths[at % b] {
                self.buf.tgt_in[at] = token;
            }
        }
        Ok(())
    }

    /// Exact-match accuracy of greedy decoding on the held-out pairs.
    pub fn accuracy(&self) -> Result<Option<f64>> {
        if self.test.is_empty() {
            return Ok(None);
        }
        let opts = DecodeOptions {
            max_len: self.decode_limit(),
            ..Default::default()
        };
        let mut right = 0;
        for p in &self.test {
            if translate(&self.model, &self.vocab, &p.source, &opts)?.text == p.target {
                right += 1;
            }
        }
        Ok(Some(right as f64 / self.test.len() as f64))
    }

    /// The longest output decoded when measuring accuracy: the configured
    /// limit, or room for the longest held-out target and its end marker
    /// where that is longer (else a long target could never be matched).
    fn decode_limit(&self) -> usize {
        let longest = self.test.iter().map(|p| p.target.chars().count() + 1);
        longest.fold(self.config.max_len, usize::max)
    }

    fn fingerprint(&self) -> u64 {
        let pairs = self.train.iter().chain(&self.test);
        fingerprint(pairs.flat_map(|p| [p.source.as_bytes(), b"\t", p.target.as_bytes(), b"\n"]))
    }

    /// Save the run into `dir`: `model.safetensors` and
    /// `state.safetensors` (see the `train::state` module).
    pub fn save(&self, dir: &Path) -> Result<()> {
        let progress = Progress::new(
            &self.course,
            self.fingerprint(),
            serde_json::to_string(&self.config).expect("config serializes"),
            self.run_id(),
        );
        let order = self.order.as_slice();
        // The file is the same from any backend: the weights on the host.
        let on_host = self.model.to_cpu();
        save_run(
            dir,
            seq2seq_contents(&on_host, &self.vocab),
            &progress,
            vec![("order", vec![order.len()], TensorData::U32(order))],
        )
    }

    /// The run's id: a hash of its settings and data, written into its
    /// checkpoint files and log lines.
    pub fn run_id(&self) -> String {
        let settings = (&self.config, self.model.config());
        super::state::run_id(
            &serde_json::to_string(&settings).expect("settings serialize"),
            self.fingerprint(),
        )
    }

    /// Continue the run saved in `dir` on the same pairs (which must be the
    /// saved run's), with its saved settings and target (raise it with
    /// [`Seq2SeqTrainer::set_total_iters`]), on `backend`; bit-for-bit the
    /// run that was never interrupted where it ran on the same backend.
    pub fn resume_on(backend: K, dir: &Path, train: Vec<Pair>, test: Vec<Pair>) -> Result<Self> {
        let state = SavedState::open(dir)?;
        let config: Seq2SeqTrainConfig = state.config()?;
        let (saved_model, vocab) = load_seq2seq(state.file.path())?;
        let mut t = Seq2SeqTrainer::new_on(
            backend.clone(),
            saved_model.config().clone(),
            config,
            train,
            test,
            state.total,
        )?;
        state.check_data(t.fingerprint(), "--task/--pairs, sizes and --seed")?;
        if saved_model.config() != t.model.config() || vocab != t.vocab {
            return Err(Error::Checkpoint(format!(
                "{}: the model in the state file does not match the run's data; the file was edited or mixed up",
                state.file.path().display()
            )));
        }
        state.check_run(&t.run_id())?;
        let (config, params) = (saved_model.config().clone(), saved_model.params);
        t.model = Seq2Seq::from_params_on(backend, config, params)?;
        state.restore(&mut t.course, t.model.layout().len(), t.config.seed)?;
        t.order = EpochOrder::load(&state, t.train.len())?;
        Ok(t)
    }

    /// Iterations planned.
    pub fn total_iters(&self) -> u64 {
        self.course.total
    }

    /// Train together with the other processes of `group` (see
    /// [`super::distributed`]): every rank draws each batch, runs its part
    /// of the pairs ([`Group::part`]) and the ranks sum the gradients
    /// (`Group::sum_parts`): results within rounding of one process, the
    /// same for a given rank count. Only rank 0 measures accuracy.
    /// Refused for more ranks than a batch has pairs, and off the CPU.
    pub fn set_group(&mut self, group: Group) -> Result<()> {
        group.check_backend::<K>()?;
        // The last batch of an epoch holds what is left of the pairs.
        let (n, b) = (self.train.len(), self.config.batch.max(1));
        let smallest = if n % b == 0 { b.min(n) } else { n % b };
        if group.size() > smallest {
            return Err(Error::Config(format!(
                "{} ranks but the smallest batch holds {smallest} pairs ({n} training pairs in batches of {b}): run at most {smallest} ranks, or change --batch",
                group.size()
            )));
        }
        self.group = group;
        Ok(())
    }

    /// The processes sharing each batch.
    pub fn group(&self) -> &Group {
        &self.group
    }

    /// Plan `total` iterations in all (to train a resumed run further).
    pub fn set_total_iters(&mut self, total: u64) {
        self.course.total = total;
    }

    /// Iterations done.
    pub fn iter(&self) -> u64 {
        self.course.iter
    }

    /// Train to the planned iterations, measuring accuracy every
    /// `eval_every` (and at the end), logging, saving into `out` at each
    /// measurement. `on_line` sees each log line, with the accuracy on
    /// lines written at a measurement. Returns the last accuracy.
    pub fn run(
        &mut self,
        out: Option<&RunDir>,
        log: Option<&mut LogWriter>,
        on_line: &mut dyn FnMut(&LogLine, Option<f64>),
    ) -> Result<Option<f64>> {
        let (_, accuracy) = self.run_until(out, log, &mut |event, accuracy| {
            if let Event::Logged(line) = event {
                on_line(line, accuracy)
            }
            Flow::Continue(())
        })?;
        Ok(accuracy)
    }

    /// [`Seq2SeqTrainer::run`] reporting every event (with the accuracy on
    /// a line logged at a measurement) to `on_event`, which may stop the
    /// run early (see [`Flow`]; the summary says it stopped). Returns the
    /// summary and the last accuracy.
    pub fn run_until(
        &mut self,
        out: Option<&RunDir>,
        log: Option<&mut LogWriter>,
        on_event: &mut dyn FnMut(Event<'_>, Option<f64>) -> Flow,
    ) -> Result<(Summary, Option<f64>)> {
        let out = out.map(|dir| Saver {
            dir,
            save: Seq2SeqTrainer::save,
        });
        fit(self, out, log, on_event)
    }
}

impl<K: Backend<f32>> Fit for Seq2SeqTrainer<K> {
    const MEASURES_LOSS: bool = false;

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

    /// Rank 0 alone measures (see [`Seq2SeqTrainer::set_group`]).
    fn evaluate(&mut self) -> Result<Option<f64>> {
        if !self.group.is_root() {
            return Ok(None);
        }
        self.accuracy()
    }
}

/// The model's view of the batch in `buf`.
fn pair_batch(buf: &PairBuffers) -> PairBatch<'_> {
    PairBatch {
        b: buf.b,
        src: &buf.src,
        src_lengths: &buf.src_lengths,
        tgt_in: &buf.tgt_in,
        tgt_lengths: &buf.tgt_lengths,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cell::CellKind;
    use crate::data::tasks::{Task, split};

    /// A tiny run on the reverse task: its model, settings and pairs.
    fn tiny() -> (Seq2SeqConfig, Seq2SeqTrainConfig, Vec<Pair>, Vec<Pair>) {
        let model = Seq2SeqConfig {
            cell: CellKind::Gru,
            src_vocab: 1,
            tgt_vocab: 1,
            embed: 4,
            hidden: 8,
            layers: 1,
            bidirectional: false,
            attention: Some(crate::layer::attention::Score::LuongGeneral),
            attention_size: 8,
        };
        let config = Seq2SeqTrainConfig {
            batch: 4,
            eval_every: 3,
            log_every: 1,
            ..Seq2SeqTrainConfig::default()
        };
        let task = Task::Reverse { min: 2, max: 4 };
        let (train, test) = split(task, 40, 5, 1).unwrap();
        (model, config, train, test)
    }

    /// Held-out targets longer than the configured decoding limit can
    /// still be matched: the limit grows to the longest one.
    #[test]
    fn accuracy_decodes_as_far_as_the_longest_target() {
        let (model, config, train, _) = tiny();
        // 60 characters the training pairs hold.
        let long: String = train[0].target.chars().cycle().take(60).collect();
        let test = vec![train[1].clone(), Pair::new(train[0].source.clone(), long)];
        let t = Seq2SeqTrainer::new(model, config.clone(), train, test, 5).unwrap();
        assert!(config.max_len < 61);
        assert_eq!(t.decode_limit(), 61);
    }

    #[test]
    fn a_run_stops_when_its_callback_says_so() {
        let (model, config, train, test) = tiny();
        let mut t = Seq2SeqTrainer::new(model, config, train, test, 20).unwrap();
        let mut measured = Vec::new();
        let (summary, accuracy) = t
            .run_until(None, None, &mut |event, acc| {
                if let Event::Logged(line) = event {
                    measured.push((line.iter, acc.is_some()));
                    if line.iter == 6 {
                        return Flow::Break(());
                    }
                }
                Flow::Continue(())
            })
            .unwrap();
        assert!(summary.stopped);
        assert_eq!((summary.iters, t.iter()), (6, 6));
        assert!(accuracy.is_some());
        let at_eval: Vec<u64> = measured.iter().filter(|m| m.1).map(|m| m.0).collect();
        assert_eq!(at_eval, [3, 6]);
    }

    #[test]
    fn a_trained_model_goes_on_and_refuses_new_characters() {
        let (model, config, train, test) = tiny();
        let mut t =
            Seq2SeqTrainer::new(model, config.clone(), train.clone(), test.clone(), 5).unwrap();
        t.run(None, None, &mut |_, _| {}).unwrap();
        let trained = t.into_model();
        let params = trained.0.params.clone();
        let mut again =
            Seq2SeqTrainer::from_model(trained, config.clone(), train, test, 5).unwrap();
        assert_eq!(again.model().params, params);
        again.run(None, None, &mut |_, _| {}).unwrap();
        assert_ne!(again.model().params, params);
        let vocab = again.vocab().clone();
        let (model, _) = again.into_model();
        let new = vec![Pair::new("ab", "ba"), Pair::new("ab!", "!ba")];
        let e = Seq2SeqTrainer::from_model((model, vocab), config, new, Vec::new(), 5)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("source vocabulary") && e.contains('!'), "{e}");
    }
}
