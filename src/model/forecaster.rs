//! The forecaster: a recurrent network with a linear head that reads
//! `lookback` steps of a (normalized) multivariate series and writes the
//! next `horizon` values of the target columns, with the normalization that
//! maps it to and from the original units.
//!
//! ```text
//! x: (L, B, F)  normalized features, L = lookback, time-major
//! y: (B, K)     K = targets × horizon, row h·targets + k is step h of target k
//!               (many-to-many: (L, B, K), the forecast is the last step's)
//! ```
//!
//! Training (the windows, the batches, the test metrics beside naive
//! baselines) lives above this layer, in `train::forecast`; this module is
//! what a checkpoint holds and what forecasting needs.

use serde::{Deserialize, Serialize};

use super::{Batch, Net, NetConfig, Readout};
use crate::backend::{Backend, Cpu, View};
use crate::cell::{CellKind, SeqInput};
use crate::check;
use crate::data::series::Normalizer;
use crate::error::{Error, Result};
use crate::optim::{Clip, OptimizerKind, Schedule};

/// The loss a forecaster trains on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RegressionLoss {
    /// Mean squared error.
    Mse,
    /// Mean absolute error.
    Mae,
}

/// A forecasting run's settings: the network's and its training's (saved
/// together in a forecaster's checkpoint).
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

/// The optimizer every forecaster trains with.
pub(crate) const ADAM: OptimizerKind = OptimizerKind::Adam {
    beta1: 0.9,
    beta2: 0.999,
};

/// The gradient clipping every forecaster trains with.
pub(crate) const CLIP: Clip = Clip::GlobalNorm(5.0);

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

    /// The network: `inputs` features in, `outputs` values out.
    pub(crate) fn net_config(&self, inputs: usize, outputs: usize) -> NetConfig {
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

/// A trained forecaster with what it needs to forecast in original units,
/// its network on backend `K` (the CPU unless said otherwise).
///
/// A GRU reads 10 steps of a sine of period 20 and predicts the next:
///
/// ```
/// use std::f64::consts::TAU;
/// use recur::cell::CellKind;
/// use recur::model::{ForecastConfig, Forecaster, RegressionLoss};
/// let sine: Vec<f64> = (0..300).map(|t| (t as f64 * TAU / 20.0).sin()).collect();
/// let config = ForecastConfig {
///     cell: CellKind::Gru,
///     hidden: 8,
///     layers: 1,
///     lookback: 10,
///     horizon: 1,
///     stride: 1,
///     batch: 16,
///     lr: 1e-2,
///     iters: 200,
///     loss: RegressionLoss::Mse,
///     val_frac: 0.1,
///     test_frac: 0.2,
///     season: 0,
///     seed: 0,
///     every_step: false,
///     bidirectional: false,
/// };
/// // The series is its own feature: the model reads its past.
/// let columns = [sine];
/// let (model, report) = Forecaster::train(config, &columns, &columns)?;
/// // Better than repeating the last value (measured: 0.00002 against 0.049).
/// assert!(report.mse < report.last_value.0 / 4.0);
/// // Three steps ahead, each prediction fed back as history.
/// let ahead = model.predict(&columns, &columns, 3)?;
/// for (k, step) in ahead.iter().enumerate() {
///     assert!((step[0] - ((300 + k) as f64 * TAU / 20.0).sin()).abs() < 0.05);
/// }
/// # Ok::<(), recur::Error>(())
/// ```
pub struct Forecaster<K: Backend<f32> = Cpu> {
    /// The network.
    pub net: Net<f32, K>,
    /// Normalization of the features (fitted on the training part).
    pub features: Normalizer,
    /// Normalization of the targets (fitted on the training part).
    pub targets: Normalizer,
    /// The run's settings.
    pub config: ForecastConfig,
}

impl<K: Backend<f32>> Forecaster<K> {
    /// The same forecaster on the CPU: its weights copied to the host (what
    /// a checkpoint is written from, so that the file is the same whatever
    /// device trained it).
    pub fn to_cpu(&self) -> Forecaster {
        Forecaster {
            net: self.net.cast(),
            features: self.features.clone(),
            targets: self.targets.clone(),
            config: self.config.clone(),
        }
    }

    /// The same forecaster on `backend` (its weights through the host).
    pub fn to_backend<B: Backend<f32>>(&self, backend: B) -> Result<Forecaster<B>> {
        let net = &self.net;
        Ok(Forecaster {
            net: Net::from_params_on(backend, net.config().clone(), net.params_to_host())?,
            features: self.features.clone(),
            targets: self.targets.clone(),
            config: self.config.clone(),
        })
    }

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
        let mut last = vec![0.0; c.horizon * nt];
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
            // Many-to-many outputs are (L, 1, K): the forecast is the last
            // step's, the one thing brought back to the host.
            let o = ws.outputs();
            self.net
                .backend()
                .download(o.sub(o.len() - last.len()..o.len()), &mut last);
            self.net.backend().check()?;
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
