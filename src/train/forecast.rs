//! Training a forecaster: windows of a (normalized) multivariate series in,
//! the next `horizon` values of the target columns out, through a
//! many-to-one recurrent network with a linear head; metrics on the held-out
//! end of the series in the original units, beside naive baselines.
//!
//! The forecaster itself (its settings, prediction, checks) is
//! [`crate::model::forecaster`]; its names are re-exported here, where
//! they used to live.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::cell::SeqInput;
use crate::data::series::{Normalizer, Split, Windows, windows, windows_every_step};
use crate::error::{Error, Result};
use crate::layer::loss::Target;
use crate::model::forecaster::{ADAM, CLIP};
use crate::model::memory::net_training;
use crate::model::{Batch, Init, Net, NetConfig, NetWorkspace};
use crate::optim::Optimizer;

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
