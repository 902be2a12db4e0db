//! Training a forecaster: windows of a (normalized) multivariate series in,
//! the next `horizon` values of the target columns out, through a
//! many-to-one recurrent network with a linear head; metrics on the held-out
//! end of the series in the original units, beside naive baselines.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::cell::{CellKind, SeqInput};
use crate::check;
use crate::data::series::{Normalizer, Split, Windows, windows, windows_every_step};
use crate::error::{Error, Result};
use crate::layer::loss::Target;
use crate::model::memory::net_training;
use crate::model::{Batch, Init, Net, NetConfig, NetWorkspace, Readout};
use crate::optim::{Clip, Optimizer, OptimizerKind, Schedule};

/// The loss a forecaster trains on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RegressionLoss {
    /// Mean squared error.
    Mse,
    /// Mean absolute error.
    Mae,
}

/// A forecasting run's settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ForecastConfig {
    /// The recurrent cell.
    pub cell: CellKind,
    /// Hidden size.
    pub hidden: usize,
    /// Layers.
    pub layers: usize,
    /// Steps of history each forecast reads.
    pub lookback: usize,
    /// Steps predicted at once.
    pub horizon: usize,
    /// Steps between consecutive training windows.
    pub stride: usize,
    /// Windows per batch.
    pub batch: usize,
    /// Adam's learning rate.
    pub lr: f64,
    /// Training iterations.
    pub iters: u64,
    /// The loss.
    pub loss: RegressionLoss,
    /// Fraction of the series (at the end, before the test part) for validation.
    pub val_frac: f64,
    /// Fraction of the series at the end for the test metrics.
    pub test_frac: f64,
    /// Season length of the seasonal-naive baseline (0: none).
    pub season: usize,
    /// Seed of the init and the batch order.
    pub seed: u64,
    /// Train on a prediction at every step of the window (many-to-many)
    /// instead of at its end only; forecasts read the last step.
    #[serde(default)]
    pub every_step: bool,
    /// Read each window both ways (many-to-one only).
    #[serde(default)]
    pub bidirectional: bool,
}

/// The most steps [`Forecaster::predict`] forecasts in one call.
pub const MAX_STEPS: usize = 100_000;

impl ForecastConfig {
    /// Reject settings that cannot train; the message names the flag and
    /// its valid range. (The season is checked against the series in
    /// [`Forecaster::train`].)
    pub fn validate(&self) -> Result<()> {
        for (flag, v) in [
            ("--hidden", self.hidden),
            ("--layers", self.layers),
            ("--lookback", self.lookback),
            ("--horizon", self.horizon),
            ("--stride", self.stride),
            ("--batch", self.batch),
        ] {
            check::at_least_one(flag, v)?;
        }
        check::at_least_one("--iters", self.iters)?;
        check::fraction("--val-frac", self.val_frac)?;
        check::fraction("--test-frac", self.test_frac)?;
        if self.val_frac + self.test_frac >= 1.0 {
            return Err(Error::Config(format!(
                "--val-frac {} and --test-frac {} leave nothing for training; their sum must be below 1",
                self.val_frac, self.test_frac
            )));
        }
        if self.every_step && self.bidirectional {
            return Err(Error::Config(
                "a prediction at every step cannot read the window backwards; drop --bidirectional"
                    .into(),
            ));
        }
        check::optimization(&ADAM, self.lr, &CLIP, &Schedule::Constant)
    }
}

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

    /// The network: `inputs` features in, `outputs` values out.
    fn net_config(&self, inputs: usize, outputs: usize) -> NetConfig {
        NetConfig {
            input_size: inputs,
            output_size: outputs,
            layers: self.layers,
            readout: if self.every_step {
                Readout::ManyToMany
            } else {
                Readout::ManyToOne
            },
            bidirectional: self.bidirectional,
            ..NetConfig::char_lm(self.cell, inputs, self.hidden)
        }
    }
}

/// The optimizer every forecaster trains with.
const ADAM: OptimizerKind = OptimizerKind::Adam {
    beta1: 0.9,
    beta2: 0.999,
};
/// The gradient clipping every forecaster trains with.
const CLIP: Clip = Clip::GlobalNorm(5.0);

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

/// A trained forecaster with what it needs to forecast in original units.
pub struct Forecaster {
    /// The network.
    pub net: Net<f32>,
    /// Normalization of the features (fitted on the training part).
    pub features: Normalizer,
    /// Normalization of the targets (fitted on the training part).
    pub targets: Normalizer,
    /// The run's settings.
    pub config: ForecastConfig,
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

impl Forecaster {
    /// Train on `features[f][t]` to predict `targets[k][t]`.
    pub fn train(
        config: ForecastConfig,
        features: &[Vec<f64>],
        targets: &[Vec<f64>],
    ) -> Result<(Self, ForecastReport)> {
        let c = &config;
        let split = c.validate_for(features, targets)?;
        let len = split.len;
        let fnorm = Normalizer::fit(features, split.train);
        let tnorm = Normalizer::fit(targets, split.train);
        let norm = |cols: &[Vec<f64>], n: &Normalizer| -> Vec<Vec<f64>> {
            cols.iter()
                .enumerate()
                .map(|(i, col)| col.iter().map(|&v| n.forward(i, v)).collect())
                .collect()
        };
        let (fz, tz) = (norm(features, &fnorm), norm(targets, &tnorm));
        let (nf, nk) = (features.len(), targets.len() * c.horizon);
        let back = c.lookback;
        let model = c.net_config(nf, nk);
        let train_w = match c.every_step {
            true => windows_every_step(&fz, &tz, 0, split.train, c.lookback, c.horizon, c.stride),
            false => windows(&fz, &tz, 0, split.train, c.lookback, c.horizon, c.stride),
        };
        let val_w = windows(
            &fz,
            &tz,
            split.train.saturating_sub(back),
            split.val,
            c.lookback,
            c.horizon,
            1,
        );
        let test_w = windows(
            &fz,
            &tz,
            split.val.saturating_sub(back),
            len,
            c.lookback,
            c.horizon,
            1,
        );
        let mut net = Net::<f32>::new(model, Init::Uniform, c.seed)?;
        let mut opt = Optimizer::new(ADAM, c.lr, net.params.len())?;
        let (mut ws, mut grads) = (net.workspace(), net.zero_grads());
        let mut rng = ChaCha8Rng::seed_from_u64(c.seed);
        let mut order: Vec<usize> = (0..train_w.n).collect();
        let (mut x, mut y) = (Vec::new(), Vec::new());
        let mut pos = order.len();
        for _ in 0..c.iters {
            if pos + c.batch > order.len() {
                order.shuffle(&mut rng);
                pos = 0;
            }
            let idx = &order[pos..(pos + c.batch).min(order.len())];
            pos += idx.len();
            gather(&train_w, idx, c.lookback, nf, nk, &mut x, &mut y);
            grads.fill(0.0);
            let target = match c.loss {
                RegressionLoss::Mse => Target::Values(&y),
                RegressionLoss::Mae => Target::AbsValues(&y),
            };
            let loss = net.loss_and_grad_batch(
                &Batch::new(SeqInput::Dense(&x), c.lookback, idx.len()),
                target,
                &mut ws,
                &mut grads,
                None,
            )?;
            if !loss.is_finite() || !CLIP.apply(&mut grads) {
                return Err(Error::Diverged(
                    "forecast training diverged; lower --lr".into(),
                ));
            }
            opt.step(&mut net.params, &grads);
        }
        let val_mse = predict_windows(&net, &val_w, c.lookback, nf, nk, &mut ws)?
            .iter()
            .zip(&val_w.y)
            .map(|(p, t)| ((p - t) as f64).powi(2))
            .sum::<f64>()
            / val_w.y.len().max(1) as f64;
        // Test metrics in the original units, beside the baselines.
        let pred = predict_windows(&net, &test_w, c.lookback, nf, nk, &mut ws)?;
        let first = split.val.saturating_sub(back);
        let (mut m, mut last, mut seas) = ([0.0f64; 2], [0.0f64; 2], [0.0f64; 2]);
        let mut count = 0usize;
        for w in 0..test_w.n {
            let start = first + w; // window start (stride 1)
            let end = start + c.lookback; // first predicted step
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
        let report = ForecastReport {
            windows: test_w.n,
            mse: m[0] / n,
            mae: m[1] / n,
            last_value: (last[0] / n, last[1] / n),
            seasonal: (c.season > 0).then(|| (seas[0] / n, seas[1] / n)),
            val_mse,
        };
        Ok((
            Forecaster {
                net,
                features: fnorm,
                targets: tnorm,
                config,
            },
            report,
        ))
    }
}

impl Forecaster {
    /// Check that the parts fit together for `n_features` feature and
    /// `n_targets` target columns (see [`check_parts`]).
    pub fn check(&self, n_features: usize, n_targets: usize) -> Result<()> {
        check_parts(
            &self.config,
            self.net.config(),
            (&self.features, &self.targets),
            n_features,
            n_targets,
        )
    }

    /// The row a forecast starts from: `from` if given, else the end of a
    /// series of `len` rows. It needs `lookback` rows of history before it
    /// and must lie within the series (`--from` is refused otherwise).
    pub fn start_row(&self, from: Option<usize>, len: usize) -> Result<usize> {
        let lookback = self.config.lookback;
        if len < lookback {
            return Err(Error::Data(format!(
                "the series has {len} rows, fewer than the {lookback} rows of history (--lookback) this model reads"
            )));
        }
        let from = from.unwrap_or(len);
        if !(lookback..=len).contains(&from) {
            return Err(Error::Config(format!(
                "--from {from} is outside the series: give a row between {lookback} (the model's lookback) and {len} (the end of the series)"
            )));
        }
        Ok(from)
    }

    /// Forecast `steps` values of each target after the last `lookback`
    /// rows of `features` / `targets` (original units), `horizon` at a time;
    /// past the horizon, predictions are fed back as history, which needs
    /// the features to be the targets. Returns `[step][target]`.
    pub fn predict(
        &self,
        features: &[Vec<f64>],
        targets: &[Vec<f64>],
        steps: usize,
    ) -> Result<Vec<Vec<f64>>> {
        let c = &self.config;
        let (nf, nt) = (features.len(), targets.len());
        self.check(nf, nt)?;
        check::between("--steps", steps, 1, MAX_STEPS)?;
        let len = targets.first().map_or(0, Vec::len);
        if features.iter().chain(targets).any(|col| col.len() != len) {
            return Err(Error::Data(
                "every feature and target column must have the same number of rows".into(),
            ));
        }
        if len < c.lookback {
            return Err(Error::Data(format!(
                "forecasting needs at least --lookback = {} rows of history, got {len}",
                c.lookback
            )));
        }
        if steps > c.horizon && features != targets {
            return Err(Error::Config(format!(
                "forecasting {steps} steps rolls past the horizon {} by feeding predictions back, which needs the features to be the targets",
                c.horizon
            )));
        }
        let mut hist: Vec<Vec<f64>> = features
            .iter()
            .map(|col| col[len - c.lookback..].to_vec())
            .collect();
        let mut ws = self.net.workspace();
        let mut out = Vec::with_capacity(steps);
        // Each pass forecasts `horizon` (>= 1) steps: a bounded loop.
        for _ in 0..steps.div_ceil(c.horizon) {
            // (L, 1, F) normalized input.
            let x: Vec<f32> = (0..c.lookback)
                .flat_map(|t| hist.iter().enumerate().map(move |(f, col)| (f, col[t])))
                .map(|(f, v)| self.features.forward(f, v) as f32)
                .collect();
            self.net.forward_batch(
                &Batch::new(SeqInput::Dense(&x), c.lookback, 1),
                &mut ws,
                None,
            )?;
            // Many-to-many outputs are (L, 1, K): the forecast is the last step's.
            let o = ws.outputs();
            let last = &o[o.len() - c.horizon * nt..];
            for h in 0..c.horizon.min(steps - out.len()) {
                let row: Vec<f64> = (0..nt)
                    .map(|k| self.targets.inverse(k, last[h * nt + k] as f64))
                    .collect();
                if nf == nt {
                    for (col, &v) in hist.iter_mut().zip(&row) {
                        col.remove(0);
                        col.push(v);
                    }
                }
                out.push(row);
            }
        }
        Ok(out)
    }
}

/// Check that a forecaster's parts fit together for `n_features` feature
/// and `n_targets` target columns: valid settings, a network reading dense
/// input of the features and writing `horizon` values of every target, and
/// finite normalization statistics (`norms`: features', targets') for each
/// column. Needs no network weights, so a checkpoint is checked before
/// anything is allocated; one edited by hand is refused here instead of
/// hanging (a horizon of 0) or panicking later.
pub fn check_parts(
    settings: &ForecastConfig,
    net: &NetConfig,
    norms: (&Normalizer, &Normalizer),
    n_features: usize,
    n_targets: usize,
) -> Result<()> {
    settings.validate()?;
    let outputs = n_targets.checked_mul(settings.horizon);
    if net.input_size != n_features || Some(net.output_size) != outputs || net.embed.is_some() {
        return Err(Error::Config(format!(
            "the network reads {} and writes {} values but there are {n_features} features and {n_targets} targets × horizon {}",
            net.input_size, net.output_size, settings.horizon
        )));
    }
    if !norms.0.fits(n_features) || !norms.1.fits(n_targets) {
        return Err(Error::Config(
            "its normalization statistics do not fit its columns".into(),
        ));
    }
    Ok(())
}

/// The step whose value the seasonal-naive baseline repeats for step
/// `end + h`, forecast from history `[0, end)`: the latest observed step in
/// the same phase of the season (`season` or a multiple of it earlier), so
/// that a horizon past one season never reads the future. Needs
/// `end >= season`.
fn seasonal_index(end: usize, h: usize, season: usize) -> usize {
    end + h - season * (h / season + 1)
}

/// The network's normalized predictions `(N, K)` for every window.
fn predict_windows(
    net: &Net<f32>,
    w: &Windows,
    l: usize,
    f: usize,
    k: usize,
    ws: &mut NetWorkspace<f32>,
) -> Result<Vec<f32>> {
    let mut out = Vec::with_capacity(w.n * k);
    let (mut x, mut y) = (Vec::new(), Vec::new());
    let all: Vec<usize> = (0..w.n).collect();
    for idx in all.chunks(256) {
        gather(w, idx, l, f, k, &mut x, &mut y);
        net.forward_batch(&Batch::new(SeqInput::Dense(&x), l, idx.len()), ws, None)?;
        // Many-to-many outputs are (L, B, K): the forecast is the last step's.
        let o = ws.outputs();
        out.extend_from_slice(&o[o.len() - idx.len() * k..]);
    }
    Ok(out)
}
