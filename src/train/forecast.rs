//! Training a forecaster: windows of a (normalized) multivariate series in,
//! the next `horizon` values of the target columns out, through a
//! many-to-one recurrent network with a linear head; metrics on the held-out
//! end of the series in the original units, beside naive baselines.
//!
//! The forecaster itself (its settings, prediction, checks) is
//! [`crate::model::forecaster`]; its names are re-exported here, where
//! they used to live. The trainer runs on any backend; saving a run into
//! its folder and resuming it (on either device) are in `forecast_state.rs`.

use rand::seq::SliceRandom;
use serde::Serialize;

use super::course::{Course, StepSettings, step_scalars};
use super::data::fingerprint;
use super::distributed::Group;
use super::log::LogWriter;
use super::run_dir::RunDir;
use super::run_loop::{Cadence, Event, Fit, Flow, Saver, Summary, fit, watching};
use super::state::run_id;
use crate::backend::{Backend, Cpu, View, ViewMut};
use crate::cell::SeqInput;
use crate::check;
use crate::data::series::{Normalizer, Split, Windows, windows, windows_every_step};
use crate::error::{Error, Result};
use crate::layer::loss::Target;
use crate::model::forecaster::{ADAM, CLIP};
use crate::model::memory::net_training;
use crate::model::{Batch, Init, Net, NetConfig, NetWorkspace};
use crate::optim::{Optimizer, Schedule};

pub use crate::model::forecaster::{
    ForecastConfig, Forecaster, MAX_STEPS, RegressionLoss, check_parts,
};

impl ForecastConfig {
    /// [`ForecastConfig::validate`], then check the settings against the
    /// series `features[f][t]` / `targets[k][t]` (columns of one length):
    /// enough steps for training windows and one test window, a season no
    /// longer than the history before the first test forecast, and memory
    /// for the run within the limit ([`crate::memory`]). Returns the
    /// chronological split. Cheap: call it before preparing a run.
    pub fn validate_for(&self, features: &[Vec<f64>], targets: &[Vec<f64>]) -> Result<Split> {
        self.validate()?;
        let len = targets.first().map_or(0, Vec::len);
        if targets.is_empty() || features.iter().chain(targets).any(|c| c.len() != len) {
            return Err(Error::Data(
                "give at least one target, and feature and target columns of one length".into(),
            ));
        }
        let split = Split::new(len, self.val_frac, self.test_frac)?;
        if split.train < self.lookback + self.horizon + self.batch {
            return Err(Error::Data(format!(
                "the training part has {} steps, too few for windows of lookback {} + horizon {}; use a longer series or smaller windows",
                split.train, self.lookback, self.horizon
            )));
        }
        // The test windows start `lookback` steps before the test part.
        if split.val.saturating_sub(self.lookback) + self.lookback + self.horizon > len {
            return Err(Error::Data(
                "the test part is too short for one window; raise --test-frac".into(),
            ));
        }
        // The first test forecast is made after the validation part: a
        // seasonal baseline needs a full season of history before it.
        if self.season > split.val {
            return Err(Error::Config(format!(
                "--season {} is longer than the {} steps of history before the first test forecast; give a shorter --season (or 0 for no seasonal baseline) or a longer series",
                self.season, split.val
            )));
        }
        let model = self.net_config(features.len(), targets.len() * self.horizon);
        check_memory(self, &model, split.train, len)?;
        Ok(split)
    }
}

/// Test metrics in the original units, with the naive baselines'.
#[derive(Clone, Debug, Serialize)]
pub struct ForecastReport {
    /// Test windows.
    pub windows: usize,
    /// The network's mean squared error.
    pub mse: f64,
    /// The network's mean absolute error.
    pub mae: f64,
    /// Repeating the last observed value: MSE, MAE.
    pub last_value: (f64, f64),
    /// Repeating the value one season earlier: MSE, MAE (with a season).
    pub seasonal: Option<(f64, f64)>,
    /// Validation MSE (normalized units) at the end of training.
    pub val_mse: f64,
}

/// Refuse a run whose windows and training need more memory than the
/// limit ([`crate::memory`]): every window is cut out ahead, `lookback`
/// rows of features each (and a target per step with `every_step`).
fn check_memory(c: &ForecastConfig, model: &NetConfig, train: usize, len: usize) -> Result<()> {
    let windows = (train / c.stride + len) as f64;
    let steps = if c.every_step { c.lookback as f64 } else { 1.0 };
    let per_window = c.lookback as f64 * model.input_size as f64 + steps * model.output_size as f64;
    let need = net_training(model, c.lookback, c.batch, 1, 2);
    need.add("windows", windows * per_window)
        .check("lower --lookback, --hidden, --layers or --batch, or use a shorter series")
}

/// Time-major `(L, B, F)` inputs and targets of windows `idx`: `(B, K)`, or
/// `(L, B, K)` when the windows hold a target at every step.
fn gather(
    w: &Windows,
    idx: &[usize],
    l: usize,
    f: usize,
    k: usize,
    x: &mut Vec<f32>,
    y: &mut Vec<f32>,
) {
    x.clear();
    y.clear();
    for t in 0..l {
        for &i in idx {
            x.extend_from_slice(&w.x[(i * l + t) * f..(i * l + t + 1) * f]);
        }
    }
    let steps = if w.n > 0 { w.y.len() / (w.n * k) } else { 1 };
    for t in 0..steps {
        for &i in idx {
            y.extend_from_slice(&w.y[(i * steps + t) * k..(i * steps + t + 1) * k]);
        }
    }
}

/// A forecasting run in progress: shuffled batches of training windows
/// through the shared loop, the validation MSE (normalized units) as its
/// held-out measure, and the test metrics at the end ([`ForecastTrainer::finish`]).
/// Its network, gradients, optimizer and activations live on backend `K`
/// (the CPU unless made with [`ForecastTrainer::new_on`]); the windows stay
/// on the host and each batch goes to the device as it is taken.
///
/// ```
/// use recur::cell::CellKind;
/// use recur::train::forecast::{ForecastConfig, ForecastTrainer, RegressionLoss};
/// let wave: Vec<f64> = (0..400).map(|t| (t as f64 * 0.2).sin()).collect();
/// let config = ForecastConfig {
///     cell: CellKind::Gru, hidden: 8, layers: 1, lookback: 16, horizon: 1, stride: 1,
///     batch: 16, lr: 3e-3, iters: 50, loss: RegressionLoss::Mse, val_frac: 0.1,
///     test_frac: 0.2, season: 0, seed: 1, every_step: false, bidirectional: false,
/// };
/// let series = [wave];
/// let mut trainer = ForecastTrainer::new(config, &series, &series).unwrap();
/// trainer.set_cadence(10, 10).unwrap();
/// let summary = trainer.run(None, &mut |_| {}).unwrap();
/// assert_eq!(summary.iters, 50);
/// let (forecaster, report) = trainer.finish().unwrap();
/// assert!(report.mse.is_finite() && report.val_mse == summary.val_loss.unwrap());
/// assert_eq!(forecaster.predict(&series, &series, 3).unwrap().len(), 3);
/// ```
pub struct ForecastTrainer<K: Backend<f32> = Cpu> {
    pub(super) config: ForecastConfig,
    pub(super) net: Net<f32, K>,
    /// Normalization of the features and of the targets, fitted on the
    /// training part.
    pub(super) norms: (Normalizer, Normalizer),
    /// The names of the feature and target columns, for the saved model.
    pub(super) columns: (Vec<String>, Vec<String>),
    /// The target columns in original units (for the test metrics).
    truth: Vec<Vec<f64>>,
    split: Split,
    /// Training windows (stride `stride`), validation and test windows
    /// (stride 1; each part's first window reads `lookback` rows before it).
    train_w: Windows,
    val_w: Windows,
    test_w: Windows,
    pub(super) fingerprint: u64,
    /// Iteration, target, optimizer, smoothed loss, random generator.
    pub(super) course: Course<K>,
    /// Training windows in the current shuffled order, and the next to take.
    pub(super) order: Vec<usize>,
    pub(super) pos: usize,
    /// The last validation MSE and the iteration it was measured at.
    validated: Option<(u64, Option<f64>)>,
    // Buffers reused every step.
    ws: NetWorkspace<f32, K>,
    grads: K::Buf,
    /// The step's summed loss and the clip's verdict, on the backend.
    scalars: K::Buf,
    x: Vec<f32>,
    y: Vec<f32>,
    /// The processes sharing each batch (see [`ForecastTrainer::set_group`]).
    group: Group,
}

impl ForecastTrainer {
    /// A fresh run on `features[f][t]` to predict `targets[k][t]`, of
    /// `config.iters` iterations, evaluated only at the end and logged
    /// every 100 iterations (see [`ForecastTrainer::set_cadence`]), on the
    /// CPU.
    pub fn new(
        config: ForecastConfig,
        features: &[Vec<f64>],
        targets: &[Vec<f64>],
    ) -> Result<Self> {
        ForecastTrainer::new_on(Cpu, config, features, targets)
    }
}

impl<K: Backend<f32>> ForecastTrainer<K> {
    /// [`ForecastTrainer::new`] on `backend`: the same initial weights,
    /// drawn on the host and placed there.
    pub fn new_on(
        backend: K,
        config: ForecastConfig,
        features: &[Vec<f64>],
        targets: &[Vec<f64>],
    ) -> Result<Self> {
        let c = &config;
        let split = c.validate_for(features, targets)?;
        let norms = (
            Normalizer::fit(features, split.train),
            Normalizer::fit(targets, split.train),
        );
        let norm = |cols: &[Vec<f64>], n: &Normalizer| -> Vec<Vec<f64>> {
            cols.iter()
                .enumerate()
                .map(|(i, col)| col.iter().map(|&v| n.forward(i, v)).collect())
                .collect()
        };
        let (fz, tz) = (norm(features, &norms.0), norm(targets, &norms.1));
        let (l, h) = (c.lookback, c.horizon);
        let train_w = match c.every_step {
            true => windows_every_step(&fz, &tz, 0, split.train, l, h, c.stride),
            false => windows(&fz, &tz, 0, split.train, l, h, c.stride),
        };
        let val_w = windows(&fz, &tz, split.train.saturating_sub(l), split.val, l, h, 1);
        let test_w = windows(&fz, &tz, split.val.saturating_sub(l), split.len, l, h, 1);
        let model = c.net_config(features.len(), targets.len() * h);
        let net = Net::new_on(backend.clone(), model, Init::Uniform, c.seed)?;
        let optimizer = Optimizer::new_on(backend, ADAM, c.lr, net.layout().len())?;
        // Evaluated only at the end, a log line every 100 iterations.
        let cadence = Cadence {
            eval_every: 0,
            log_every: 100,
        };
        let update = StepSettings {
            lr: c.lr,
            schedule: Schedule::Constant,
            warmup: 0,
            clip: CLIP,
            advice: "",
            uniform: None,
        };
        // The series' fingerprint: of each column's, one column in memory at a time.
        let columns: Vec<[u8; 8]> = features
            .iter()
            .chain(targets)
            .map(|col| {
                let bytes: Vec<u8> = col.iter().flat_map(|v| v.to_le_bytes()).collect();
                fingerprint([bytes.as_slice()]).to_le_bytes()
            })
            .collect();
        Ok(ForecastTrainer {
            course: Course::new(optimizer, (update, cadence), c.seed, 0.99, c.iters),
            order: (0..train_w.n).collect(),
            pos: train_w.n,
            validated: None,
            ws: net.workspace(),
            grads: net.zero_grads(),
            scalars: step_scalars(net.backend(), 2),
            group: Group::single(),
            x: Vec::new(),
            y: Vec::new(),
            fingerprint: fingerprint(columns.iter().map(|h| h.as_slice())),
            columns: (
                (0..features.len()).map(|i| format!("feature{i}")).collect(),
                (0..targets.len()).map(|i| format!("target{i}")).collect(),
            ),
            truth: targets.to_vec(),
            norms,
            split,
            train_w,
            val_w,
            test_w,
            net,
            config,
        })
    }

    /// Measure the validation MSE every `eval_every` iterations (0: only
    /// at the end) and log every `log_every` (at least 1). Neither changes
    /// the result.
    pub fn set_cadence(&mut self, eval_every: u64, log_every: u64) -> Result<()> {
        check::at_least_one("--log-every", log_every)?;
        self.course.cadence = Cadence {
            eval_every,
            log_every,
        };
        Ok(())
    }

    /// Name the feature and target columns (`feature0`, `target0`, ...
    /// unless named) for the model a save writes: `forecast predict` reads
    /// a CSV's columns by these names.
    pub fn set_columns(&mut self, features: Vec<String>, targets: Vec<String>) -> Result<()> {
        let (nf, nt) = (self.columns.0.len(), self.columns.1.len());
        if features.len() != nf || targets.len() != nt {
            return Err(Error::Config(format!(
                "{} feature and {} target names given for a run on {nf} features and {nt} targets",
                features.len(),
                targets.len()
            )));
        }
        self.columns = (features, targets);
        Ok(())
    }

    /// The run's id: a hash of its settings and series, for the log
    /// ([`LogWriter::open`]) and its saved files.
    pub fn run_id(&self) -> String {
        let settings = serde_json::to_string(&self.config).expect("config serializes");
        run_id(&settings, self.fingerprint)
    }

    /// The network being trained.
    pub fn model(&self) -> &Net<f32, K> {
        &self.net
    }

    /// The run's settings.
    pub fn config(&self) -> &ForecastConfig {
        &self.config
    }

    /// Iterations done.
    pub fn iter(&self) -> u64 {
        self.course.iter
    }

    /// Iterations planned (`config.iters`, or the saved target of a
    /// resumed run).
    pub fn total_iters(&self) -> u64 {
        self.course.total
    }

    /// Plan `total` iterations in all (to train a resumed run further).
    pub fn set_total_iters(&mut self, total: u64) {
        self.course.total = total;
    }

    /// One iteration on the next batch of training windows (reshuffled
    /// when fewer than a batch are left); returns its loss (normalized
    /// units, the configured loss).
    pub fn step(&mut self) -> Result<f64> {
        self.record()?;
        self.course.settle_last()
    }

    /// One iteration, its loss left on the backend for the course to
    /// settle; returns the series steps it read (windows × lookback).
    fn record(&mut self) -> Result<usize> {
        let c = &self.config;
        let (l, nf, nk) = (c.lookback, self.n_features(), self.n_outputs());
        if self.pos + c.batch > self.order.len() {
            self.order.shuffle(&mut self.course.rng);
            self.pos = 0;
        }
        let idx = &self.order[self.pos..(self.pos + c.batch).min(self.order.len())];
        self.pos += idx.len();
        let read = idx.len() * l;
        // Every rank takes the whole batch in order and runs its part.
        let idx = &idx[self.group.part(idx.len())?];
        gather(&self.train_w, idx, l, nf, nk, &mut self.x, &mut self.y);
        self.net.backend().fill(K::view_mut(&mut self.grads), 0.0);
        let target = match c.loss {
            RegressionLoss::Mse => Target::Values(&self.y),
            RegressionLoss::Mae => Target::AbsValues(&self.y),
        };
        let count = self.net.loss_and_grad_to(
            &Batch::new(SeqInput::Dense(&self.x), l, idx.len()),
            None,
            target,
            &mut self.ws,
            K::view_mut(&mut self.grads),
            None,
            K::view_mut(&mut self.scalars).sub(0..1),
        )?;
        let (grads, loss) = (K::view_mut(&mut self.grads), K::view_mut(&mut self.scalars));
        let count = self.group.sum_parts::<K>(grads, loss.sub(0..1), count)?;
        // Loss and clip verdict stay on the backend until the course
        // settles them.
        let params = K::view_mut(&mut self.net.params);
        let grads = K::view_mut(&mut self.grads);
        self.course
            .record(count, params, grads, &mut self.scalars)?;
        Ok(read)
    }

    /// Train together with the other processes of `group` (see
    /// [`super::distributed`]): every rank takes each batch of windows,
    /// runs its part ([`Group::part`]) and the ranks sum the gradients
    /// (`Group::sum_parts`): results within rounding of one process, the
    /// same for a given rank count. Refused for more ranks than a batch
    /// has windows, and off the CPU.
    pub fn set_group(&mut self, group: Group) -> Result<()> {
        group.check_backend::<K>()?;
        group.part(self.config.batch.min(self.order.len()))?;
        self.group = group;
        Ok(())
    }

    /// The mean squared error (normalized units) over the validation
    /// windows, or `None` without any.
    pub fn validate(&mut self) -> Result<Option<f64>> {
        let mse = if self.val_w.n == 0 {
            None
        } else {
            let (l, nf, nk) = (self.config.lookback, self.n_features(), self.n_outputs());
            let pred = predict_windows(&self.net, &self.val_w, l, nf, nk, &mut self.ws)?;
            Some(mse(&pred, &self.val_w.y))
        };
        self.validated = Some((self.course.iter, mse));
        Ok(mse)
    }

    /// Train to the planned iterations through the shared loop:
    /// logging into `log` (its lines' `val_loss` is the validation MSE)
    /// and reporting to `on_event`. Nothing is saved: the model file is
    /// written from [`ForecastTrainer::finish`]'s result, or the run into a
    /// folder with [`ForecastTrainer::run_in`] or [`ForecastTrainer::save`].
    pub fn run(
        &mut self,
        log: Option<&mut LogWriter>,
        on_event: &mut dyn FnMut(Event<'_>),
    ) -> Result<Summary> {
        self.run_until(None, log, &mut watching(on_event))
    }

    /// [`ForecastTrainer::run`], saving the run into `out` at each
    /// validation and at the end, so that [`ForecastTrainer::resume`]
    /// continues it.
    pub fn run_in(
        &mut self,
        out: &RunDir,
        log: Option<&mut LogWriter>,
        on_event: &mut dyn FnMut(Event<'_>),
    ) -> Result<Summary> {
        self.run_until(Some(out), log, &mut watching(on_event))
    }

    /// [`ForecastTrainer::run`] (with `out`: [`ForecastTrainer::run_in`]),
    /// with an `on_event` that may stop the run early (see [`Flow`]; the
    /// summary says it stopped; [`ForecastTrainer::finish`] then gives the
    /// forecaster as trained so far).
    pub fn run_until(
        &mut self,
        out: Option<&RunDir>,
        log: Option<&mut LogWriter>,
        on_event: &mut dyn FnMut(Event<'_>) -> Flow,
    ) -> Result<Summary> {
        let out = out.map(|dir| Saver {
            dir,
            save: ForecastTrainer::<K>::save,
        });
        let (summary, _) = fit(self, out, log, &mut |event, _| on_event(event))?;
        Ok(summary)
    }

    /// The trained forecaster (its network still on `K`; see
    /// [`Forecaster::to_cpu`]) and its metrics on the test part, in the
    /// original units, beside the naive baselines'.
    pub fn finish(mut self) -> Result<(Forecaster<K>, ForecastReport)> {
        let val_mse = match self.validated {
            Some((iter, mse)) if iter == self.course.iter => mse,
            _ => self.validate()?,
        };
        let report = self.test_report(val_mse.unwrap_or(0.0))?;
        let (features, targets) = self.norms;
        let forecaster = Forecaster {
            net: self.net,
            features,
            targets,
            config: self.config,
        };
        Ok((forecaster, report))
    }

    /// F: feature columns.
    fn n_features(&self) -> usize {
        self.net.config().input_size
    }

    /// K: values out, targets × horizon.
    fn n_outputs(&self) -> usize {
        self.net.config().output_size
    }

    /// The test metrics, with `val_mse`.
    fn test_report(&mut self, val_mse: f64) -> Result<ForecastReport> {
        let c = &self.config;
        let (l, nf, nk) = (c.lookback, self.n_features(), self.n_outputs());
        let pred = predict_windows(&self.net, &self.test_w, l, nf, nk, &mut self.ws)?;
        let (targets, tnorm) = (&self.truth, &self.norms.1);
        let first = self.split.val.saturating_sub(l);
        let (mut m, mut last, mut seas) = ([0.0f64; 2], [0.0f64; 2], [0.0f64; 2]);
        let mut count = 0usize;
        for w in 0..self.test_w.n {
            let start = first + w; // window start (stride 1)
            let end = start + l; // first predicted step
            for h in 0..c.horizon {
                for (k, col) in targets.iter().enumerate() {
                    let truth = col[end + h];
                    let p = tnorm.inverse(k, pred[w * nk + h * targets.len() + k] as f64);
                    let lv = col[end - 1];
                    m[0] += (p - truth).powi(2);
                    m[1] += (p - truth).abs();
                    last[0] += (lv - truth).powi(2);
                    last[1] += (lv - truth).abs();
                    if c.season > 0 {
                        let sv = col[seasonal_index(end, h, c.season)];
                        seas[0] += (sv - truth).powi(2);
                        seas[1] += (sv - truth).abs();
                    }
                    count += 1;
                }
            }
        }
        let n = count.max(1) as f64;
        Ok(ForecastReport {
            windows: self.test_w.n,
            mse: m[0] / n,
            mae: m[1] / n,
            last_value: (last[0] / n, last[1] / n),
            seasonal: (c.season > 0).then(|| (seas[0] / n, seas[1] / n)),
            val_mse,
        })
    }
}

impl<K: Backend<f32>> Fit for ForecastTrainer<K> {
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

impl Forecaster {
    /// Train on `features[f][t]` to predict `targets[k][t]` (a
    /// [`ForecastTrainer`] run to the end, without a log).
    pub fn train(
        config: ForecastConfig,
        features: &[Vec<f64>],
        targets: &[Vec<f64>],
    ) -> Result<(Self, ForecastReport)> {
        let mut trainer = ForecastTrainer::new(config, features, targets)?;
        trainer.run(None, &mut |_| {})?;
        trainer.finish()
    }
}

/// Mean squared difference of predictions and truths.
fn mse(pred: &[f32], truth: &[f32]) -> f64 {
    let sum: f64 = pred
        .iter()
        .zip(truth)
        .map(|(p, t)| ((p - t) as f64).powi(2))
        .sum();
    sum / truth.len().max(1) as f64
}

/// The step whose value the seasonal-naive baseline repeats for step
/// `end + h`, forecast from history `[0, end)`: the latest observed step in
/// the same phase of the season (`season` or a multiple of it earlier), so
/// that a horizon past one season never reads the future. Needs
/// `end >= season`.
fn seasonal_index(end: usize, h: usize, season: usize) -> usize {
    end + h - season * (h / season + 1)
}

/// The network's normalized predictions `(N, K)` for every window, brought
/// to the host.
fn predict_windows<B: Backend<f32>>(
    net: &Net<f32, B>,
    w: &Windows,
    l: usize,
    f: usize,
    k: usize,
    ws: &mut NetWorkspace<f32, B>,
) -> Result<Vec<f32>> {
    let mut out = vec![0.0; w.n * k];
    let (mut x, mut y) = (Vec::new(), Vec::new());
    let all: Vec<usize> = (0..w.n).collect();
    // Windows per forward pass.
    const CHUNK: usize = 256;
    for (c, idx) in all.chunks(CHUNK).enumerate() {
        gather(w, idx, l, f, k, &mut x, &mut y);
        net.forward_batch(&Batch::new(SeqInput::Dense(&x), l, idx.len()), ws, None)?;
        // Many-to-many outputs are (L, B, K): the forecast is the last
        // step's, the only rows copied to the host.
        let o = ws.outputs();
        let n = idx.len() * k;
        let at = c * CHUNK * k;
        net.backend()
            .download(o.sub(o.len() - n..o.len()), &mut out[at..at + n]);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cell::CellKind;

    /// A sine wave of 300 steps, and settings for a short run on it.
    fn wave() -> ([Vec<f64>; 1], ForecastConfig) {
        let wave = (0..300).map(|t| (t as f64 * 0.3).sin()).collect();
        let config = ForecastConfig {
            cell: CellKind::Lstm,
            hidden: 6,
            layers: 1,
            lookback: 12,
            horizon: 2,
            stride: 1,
            batch: 8,
            lr: 3e-3,
            iters: 30,
            loss: RegressionLoss::Mse,
            val_frac: 0.1,
            test_frac: 0.2,
            season: 0,
            seed: 3,
            every_step: false,
            bidirectional: false,
        };
        ([wave], config)
    }

    #[test]
    fn evaluating_and_logging_leave_the_forecaster_as_it_was() {
        let (series, config) = wave();
        let (plain, plain_report) = Forecaster::train(config.clone(), &series, &series).unwrap();
        let mut t = ForecastTrainer::new(config, &series, &series).unwrap();
        t.set_cadence(7, 3).unwrap();
        let (mut logged, mut measured) = (Vec::new(), 0);
        t.run(None, &mut |e| {
            if let Event::Logged(line) = e {
                logged.push(line.iter);
                measured += line.val_loss.is_some() as usize;
            }
        })
        .unwrap();
        assert_eq!(logged, [3, 6, 7, 9, 12, 14, 15, 18, 21, 24, 27, 28, 30]);
        assert_eq!(measured, 5);
        let (f, report) = t.finish().unwrap();
        assert_eq!(f.net.params, plain.net.params);
        assert_eq!(report.val_mse, plain_report.val_mse);
        assert_eq!(report.mse, plain_report.mse);
    }

    #[test]
    fn a_run_stopped_by_its_callback_still_gives_its_forecaster() {
        let (series, config) = wave();
        let mut t = ForecastTrainer::new(config, &series, &series).unwrap();
        t.set_cadence(0, 5).unwrap();
        let summary = t
            .run_until(None, None, &mut |e| match e {
                Event::Logged(line) if line.iter == 10 => Flow::Break(()),
                _ => Flow::Continue(()),
            })
            .unwrap();
        assert!(summary.stopped && summary.iters == 10);
        let (f, report) = t.finish().unwrap();
        assert!(report.mse.is_finite());
        assert_eq!(f.predict(&series, &series, 2).unwrap().len(), 2);
    }

    #[test]
    fn a_zero_log_cadence_is_refused_and_a_finished_run_says_so() {
        let (series, config) = wave();
        let mut t = ForecastTrainer::new(config, &series, &series).unwrap();
        assert!(t.set_cadence(0, 0).is_err());
        t.run(None, &mut |_| {}).unwrap();
        let again = t.run(None, &mut |_| {}).unwrap_err().to_string();
        assert!(again.contains("finished"), "{again}");
    }
}
