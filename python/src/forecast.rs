//! `recur.Forecaster`: a recurrent network that reads `lookback` steps of
//! a series (numpy, pandas, or a built-in one) and forecasts the next
//! `horizon` values of its target columns; it reports its test error beside
//! naive baselines, forecasts further by feeding its predictions back, and
//! reads and writes the checkpoints of `recur forecast`.

use std::path::PathBuf;

use numpy::ndarray::Array2;
use numpy::{IntoPyArray, PyArray2};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use recur::cell::CellKind;
use recur::checkpoint::forecaster_contents;
use recur::data::series::Synthetic;
use recur::train::forecast::{
    ForecastConfig, ForecastReport, ForecastTrainer, Forecaster as Model, RegressionLoss,
};

use crate::errors::OrPy;
use crate::progress::{Watch, record};
use crate::runs::run_dir;
use crate::series::{Columns, columns, default_names, pick};

/// `features[f][t]` and `targets[k][t]`.
type Series = (Vec<Vec<f64>>, Vec<Vec<f64>>);

/// A trained forecaster with what Python needs beside it.
struct Fitted {
    model: Model,
    /// The names of its feature columns and of its target columns.
    features: Vec<String>,
    targets: Vec<String>,
    /// The last `lookback` rows of the series it was fitted on, to
    /// forecast from without data (none for a loaded checkpoint).
    recent: Option<Series>,
    /// Its test metrics beside the naive baselines' (after a fit).
    report: Option<ForecastReport>,
}

impl Fitted {
    /// The columns a series given to `predict` holds, in order: the
    /// features, then the targets that are not features.
    fn columns(&self) -> Vec<String> {
        let extra = self.targets.iter().filter(|t| !self.features.contains(t));
        self.features.iter().chain(extra).cloned().collect()
    }
}

/// A forecaster: a recurrent network (LSTM, GRU or vanilla RNN) that reads
/// the last `lookback` steps of every column of a series and predicts the
/// next `horizon` values of the target columns, in the series' own units
/// (it normalizes inside).
#[pyclass(module = "recur", name = "Forecaster")]
pub struct Forecaster {
    /// The network's and its training's settings (a fit sets the
    /// training's).
    config: ForecastConfig,
    /// The trained model, once fitted or loaded.
    fitted: Option<Fitted>,
}

impl Forecaster {
    /// The fitted model, or an error saying to fit first.
    fn fitted(&self) -> PyResult<&Fitted> {
        crate::runs::fitted(&self.fitted, "fit(data) or fit(synthetic=...)")
    }

    /// The model of a loaded checkpoint, with its column names.
    pub fn from_checkpoint(model: Model, features: Vec<String>, targets: Vec<String>) -> Self {
        Forecaster {
            config: model.config.clone(),
            fitted: Some(Fitted {
                model,
                features,
                targets,
                recent: None,
                report: None,
            }),
        }
    }
}

/// The last `n` rows of each column.
fn tail(cols: &[Vec<f64>], n: usize) -> Vec<Vec<f64>> {
    cols.iter()
        .map(|c| c[c.len().saturating_sub(n)..].to_vec())
        .collect()
}

/// The report as a dict.
fn report_dict<'py>(py: Python<'py>, r: &ForecastReport) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("windows", r.windows)?;
    d.set_item("mse", r.mse)?;
    d.set_item("mae", r.mae)?;
    d.set_item("last_value_mse", r.last_value.0)?;
    d.set_item("last_value_mae", r.last_value.1)?;
    d.set_item("seasonal_mse", r.seasonal.map(|s| s.0))?;
    d.set_item("seasonal_mae", r.seasonal.map(|s| s.1))?;
    d.set_item("val_mse", r.val_mse)?;
    Ok(d)
}

#[pymethods]
impl Forecaster {
    /// A model not yet trained (the defaults are `recur forecast
    /// train`'s): `model` "lstm", "gru" or "rnn", `hidden` units per layer,
    /// `layers` stacked, `lookback` steps of history per forecast,
    /// `horizon` steps forecast at once, `every_step` to train on a
    /// prediction at every step of each window (many-to-many) instead of at
    /// its end, `bidirectional` to read each window both ways (not with
    /// `every_step`), `seed` the initial weights, the batch order and a
    /// built-in series' noise.
    #[new]
    #[pyo3(signature = (model="lstm", hidden=32, layers=1, lookback=32, horizon=1, every_step=false, bidirectional=false, seed=42))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        model: &str,
        hidden: usize,
        layers: usize,
        lookback: usize,
        horizon: usize,
        every_step: bool,
        bidirectional: bool,
        seed: u64,
    ) -> PyResult<Self> {
        let cell: CellKind = model.parse().or_py()?;
        let config = ForecastConfig {
            cell,
            hidden,
            layers,
            lookback,
            horizon,
            stride: 1,
            batch: 32,
            lr: 3e-3,
            iters: 2000,
            loss: RegressionLoss::Mse,
            val_frac: 0.1,
            test_frac: 0.2,
            season: 0,
            seed,
            every_step,
            bidirectional,
        };
        // Settings that cannot train are refused now, not at fit.
        config.validate().or_py()?;
        Ok(Forecaster {
            config,
            fitted: None,
        })
    }

    /// Train a new model on `data`: a float32 or float64 numpy array
    /// `(T,)` or `(T, F)` (T time steps of F columns, named by `columns`,
    /// default "x0", "x1", ...), or a pandas DataFrame or Series (its
    /// column names kept; its index, a time column, stays out of the
    /// math); or on a built-in series, `synthetic="noisy-sine"`,
    /// "sines-trend" or "mackey-glass" of `length` steps (drawn with the
    /// model's seed, as `recur forecast train --synthetic`). Every column is
    /// read; `targets` (positions or names; default: all) are forecast.
    ///
    /// The series is cut in time: training, then `val_frac` for
    /// validation, then `test_frac` for the test metrics (see `report`).
    /// Runs `iters` iterations of `batch` windows (every `stride` steps)
    /// with Adam at `lr` on the `loss` ("mse" or "mae"), measuring the
    /// validation MSE (normalized units, the records' `val_loss`) every
    /// `eval_every` iterations (0: only at the end) and logging every
    /// `log_every`. `season` adds a seasonal-naive baseline of that period
    /// to the report. With `out` (a folder) the run is saved there at each
    /// validation, `model.safetensors` being what `recur forecast predict
    /// --checkpoint` reads (`overwrite=True` replaces a run already
    /// there).
    ///
    /// `progress=True` shows a tqdm bar (where tqdm is installed);
    /// `callback(record)` receives each log record as it is written;
    /// `on_step(iter, total, smooth_loss)` the progress (at most every 50
    /// ms). Ctrl-C stops the run within a second, keeps the model trained
    /// so far and the last save, and raises KeyboardInterrupt. Returns the
    /// log records: dicts with `iter`, `train_loss`, `smooth_loss`,
    /// `val_loss` (None where not validated), `chars_per_sec` (series
    /// steps read) and `elapsed_s`.
    #[pyo3(signature = (data=None, *, targets=None, columns=None, synthetic=None, length=4000, iters=2000, batch=32, lr=3e-3, stride=1, loss="mse", val_frac=0.1, test_frac=0.2, season=0, eval_every=0, log_every=100, out=None, overwrite=false, progress=false, callback=None, on_step=None))]
    #[allow(clippy::too_many_arguments)]
    fn fit<'py>(
        &mut self,
        py: Python<'py>,
        data: Option<&Bound<'py, PyAny>>,
        targets: Option<&Bound<'py, PyAny>>,
        columns: Option<Vec<String>>,
        synthetic: Option<&str>,
        length: usize,
        iters: u64,
        batch: usize,
        lr: f64,
        stride: usize,
        loss: &str,
        val_frac: f64,
        test_frac: f64,
        season: usize,
        eval_every: u64,
        log_every: u64,
        out: Option<PathBuf>,
        overwrite: bool,
        progress: bool,
        callback: Option<Py<PyAny>>,
        on_step: Option<Py<PyAny>>,
    ) -> PyResult<Bound<'py, PyList>> {
        let config = ForecastConfig {
            stride,
            batch,
            lr,
            iters,
            loss: match loss {
                "mse" => RegressionLoss::Mse,
                "mae" => RegressionLoss::Mae,
                other => {
                    return Err(PyValueError::new_err(format!(
                        "unknown loss '{other}': use \"mse\" or \"mae\""
                    )));
                }
            },
            val_frac,
            test_frac,
            season,
            ..self.config.clone()
        };
        let (series, names) = match (data, synthetic) {
            (Some(_), Some(_)) => {
                return Err(PyValueError::new_err("give data or synthetic=, not both"));
            }
            (None, None) => {
                return Err(PyValueError::new_err(
                    "give data (a numpy array (T,) or (T, F), or a DataFrame) or synthetic=\"noisy-sine\", \"sines-trend\" or \"mackey-glass\"",
                ));
            }
            (Some(data), None) => {
                let Columns { values, names } = crate::series::columns(data, "data", columns)?;
                let names = names.unwrap_or_else(|| default_names(values.len()));
                let picked = pick(targets, &names)?;
                let target_values = picked.iter().map(|&i| values[i].clone()).collect();
                let target_names = picked.iter().map(|&i| names[i].clone()).collect();
                ((values, target_values), (names, target_names))
            }
            (None, Some(name)) => {
                if targets.is_some() || columns.is_some() {
                    return Err(PyValueError::new_err(
                        "a built-in series has one column, named after it: targets= and columns= apply to data",
                    ));
                }
                let kind = Synthetic::from_name(name).or_py()?;
                recur::check::between("length", length, 1, recur::data::source::MAX_LENGTH)
                    .or_py()?;
                let values = py.detach(|| kind.generate(length, config.seed));
                let names = vec![name.to_string()];
                ((vec![values.clone()], vec![values]), (names.clone(), names))
            }
        };
        let (features, target_values) = &series;
        let mut trainer = py
            .detach(|| ForecastTrainer::new(config, features, target_values))
            .or_py()?;
        trainer.set_cadence(eval_every, log_every).or_py()?;
        trainer
            .set_columns(names.0.clone(), names.1.clone())
            .or_py()?;
        let dir = run_dir(out.as_deref(), overwrite)?;
        let at = (trainer.total_iters(), trainer.iter());
        let mut watch = Watch::new(py, (callback, on_step), record, progress, at)?;
        let ran = py.detach(|| trainer.run_until(dir.as_ref(), None, &mut |e| watch.see(e, None)));
        // The model trained so far stays, however the run ended.
        let finished = py.detach(|| trainer.finish());
        let records = watch.end(py, ran);
        let (model, report) = match finished {
            Ok(done) => done,
            // The run's own error (or Ctrl-C) first.
            Err(e) => return records.and(Err(crate::errors::to_py(e))),
        };
        let lookback = model.config.lookback;
        self.config = model.config.clone();
        self.fitted = Some(Fitted {
            model,
            features: names.0,
            targets: names.1,
            recent: Some((tail(features, lookback), tail(target_values, lookback))),
            report: Some(report),
        });
        records
    }

    /// Forecast `steps` values (default: the horizon) of every target
    /// after the end of `data` (default: the series the model was fitted
    /// on): a numpy array or DataFrame like fit's, holding at least
    /// `lookback` rows of the model's `columns` (a DataFrame's are found by
    /// name, an array's are taken in that order). Past the horizon,
    /// forecasts are fed back as history, which needs the targets to be
    /// every column. Returns a float64 array `(steps, K)`, one column per
    /// target, in the series' units: the numbers `recur forecast predict`
    /// prints for the same checkpoint and series.
    #[pyo3(signature = (steps=None, data=None))]
    fn predict<'py>(
        &self,
        py: Python<'py>,
        steps: Option<usize>,
        data: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyArray2<f64>>> {
        let fitted = self.fitted()?;
        let steps = steps.unwrap_or(fitted.model.config.horizon);
        let given;
        let (features, targets) = match data {
            Some(data) => {
                given = series_for(fitted, data)?;
                (&given.0, &given.1)
            }
            None => match &fitted.recent {
                Some((f, t)) => (f, t),
                None => {
                    return Err(PyValueError::new_err(format!(
                        "this model was loaded from a file, which holds no series to forecast from: give data= (at least its last {} rows of the columns {})",
                        fitted.model.config.lookback,
                        fitted.columns().join(", ")
                    )));
                }
            },
        };
        let forecast = py
            .detach(|| fitted.model.predict(features, targets, steps))
            .or_py()?;
        let k = fitted.targets.len();
        let values: Vec<f64> = forecast.into_iter().flatten().collect();
        let a = Array2::from_shape_vec((values.len() / k.max(1), k), values)
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        Ok(a.into_pyarray(py))
    }

    /// Write the model to `path` (a `.safetensors` file, or a folder,
    /// where it becomes `model.safetensors`): the file `recur forecast
    /// predict --checkpoint` reads, with the column names it reads a CSV
    /// file's columns by.
    fn save(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        let f = self.fitted()?;
        let file = crate::runs::model_file(&path);
        py.detach(|| forecaster_contents(&f.model, &f.features, &f.targets).write(&file))
            .or_py()
    }

    /// The test metrics of the last fit, in the series' units, beside the
    /// naive baselines' (None for a loaded model): a dict with `windows`
    /// (test windows), `mse`, `mae`, `last_value_mse`, `last_value_mae`
    /// (repeating the last observed value), `seasonal_mse`,
    /// `seasonal_mae` (repeating the last season; None without `season`)
    /// and `val_mse` (normalized units).
    #[getter]
    fn report<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        match self.fitted.as_ref().and_then(|f| f.report.as_ref()) {
            Some(r) => Ok(Some(report_dict(py, r)?)),
            None => Ok(None),
        }
    }

    /// The names of the columns the model reads.
    #[getter]
    fn features(&self) -> PyResult<Vec<String>> {
        Ok(self.fitted()?.features.clone())
    }

    /// The names of the columns it forecasts (the columns of `predict`'s
    /// result).
    #[getter]
    fn targets(&self) -> PyResult<Vec<String>> {
        Ok(self.fitted()?.targets.clone())
    }

    /// The columns a series given to `predict` holds, in order: the
    /// features, then any target that is not one.
    #[getter]
    fn columns(&self) -> PyResult<Vec<String>> {
        Ok(self.fitted()?.columns())
    }

    /// The model's settings: a dict with `model`, `hidden`, `layers`,
    /// `lookback`, `horizon`, `every_step`, `bidirectional`, and the last
    /// fit's (or the checkpoint's) `iters`, `batch`, `lr`, `stride`,
    /// `loss`, `val_frac`, `test_frac`, `season`, `seed`.
    #[getter]
    fn config<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let c = &self.config;
        let d = PyDict::new(py);
        d.set_item("model", c.cell.name())?;
        d.set_item("hidden", c.hidden)?;
        d.set_item("layers", c.layers)?;
        d.set_item("lookback", c.lookback)?;
        d.set_item("horizon", c.horizon)?;
        d.set_item("every_step", c.every_step)?;
        d.set_item("bidirectional", c.bidirectional)?;
        d.set_item("iters", c.iters)?;
        d.set_item("batch", c.batch)?;
        d.set_item("lr", c.lr)?;
        d.set_item("stride", c.stride)?;
        let loss = match c.loss {
            RegressionLoss::Mse => "mse",
            RegressionLoss::Mae => "mae",
        };
        d.set_item("loss", loss)?;
        d.set_item("val_frac", c.val_frac)?;
        d.set_item("test_frac", c.test_frac)?;
        d.set_item("season", c.season)?;
        d.set_item("seed", c.seed)?;
        Ok(d)
    }

    fn __repr__(&self) -> String {
        let c = &self.config;
        let state = match &self.fitted {
            Some(f) => format!(
                "trained, {} → {}",
                f.features.join(", "),
                f.targets.join(", ")
            ),
            None => "not trained".into(),
        };
        format!(
            "Forecaster(model={:?}, hidden={}, layers={}, lookback={}, horizon={}) <{state}>",
            c.cell.name(),
            c.hidden,
            c.layers,
            c.lookback,
            c.horizon
        )
    }
}

/// The feature and target columns of `data` for `fitted`'s `predict`: a
/// DataFrame's by name, an array's in the order of its `columns`.
fn series_for(fitted: &Fitted, data: &Bound<'_, PyAny>) -> PyResult<Series> {
    let wanted = fitted.columns();
    let Columns { values, names } = columns(data, "data", None)?;
    let at = |name: &String| -> PyResult<usize> {
        match &names {
            Some(names) => names.iter().position(|n| n == name).ok_or_else(|| {
                PyValueError::new_err(format!(
                    "data has no column '{name}'; the model reads {}",
                    wanted.join(", ")
                ))
            }),
            None => Ok(wanted.iter().position(|n| n == name).unwrap_or(0)),
        }
    };
    if names.is_none() && values.len() != wanted.len() {
        return Err(PyValueError::new_err(format!(
            "data has {} column(s); the model reads {} ({}): give an array (T, {}) with them in that order",
            values.len(),
            wanted.len(),
            wanted.join(", "),
            wanted.len()
        )));
    }
    let take = |cols: &[String]| -> PyResult<Vec<Vec<f64>>> {
        cols.iter().map(|c| Ok(values[at(c)?].clone())).collect()
    };
    Ok((take(&fitted.features)?, take(&fitted.targets)?))
}
