//! Saving a forecasting run into its folder and resuming it exactly (the
//! files are described in [`super::state`]): `model.safetensors` is the
//! forecaster `forecast predict` reads; the state file adds the progress
//! and the shuffled order of the training windows (`order`, and the next
//! one to take, `order_pos`). Both are written from the host, so they are
//! the same files whatever device trained the run, and a run saved on one
//! device resumes on the other.

use std::path::Path;

use super::forecast::{ForecastConfig, ForecastTrainer};
use super::state::{Progress, SavedState, save_run};
use crate::backend::{Backend, Cpu};
use crate::checkpoint::{TensorData, forecaster_contents, load_forecaster};
use crate::error::{Error, Result};
use crate::model::{Forecaster, Net};

/// The flags that give a forecasting run its series, for a resume on other
/// data.
const SERIES_FLAGS: &str =
    "series (--synthetic/--length/--seed, or --csv with --target/--features)";

impl ForecastTrainer {
    /// Continue the run saved in `dir` on the same series, on the CPU,
    /// towards its saved target (raise it with
    /// [`ForecastTrainer::set_total_iters`]). The result is bit-for-bit
    /// the run that was never interrupted, where it was saved on the CPU.
    pub fn resume(dir: &Path, features: &[Vec<f64>], targets: &[Vec<f64>]) -> Result<Self> {
        ForecastTrainer::resume_on(Cpu, dir, features, targets)
    }
}

impl<K: Backend<f32>> ForecastTrainer<K> {
    /// Save the run into `dir`: `model.safetensors` (the forecaster, with
    /// the column names of [`ForecastTrainer::set_columns`]) and
    /// `state.safetensors` (see the `train::state` module).
    pub fn save(&self, dir: &Path) -> Result<()> {
        let progress = Progress::new(
            &self.course,
            self.fingerprint,
            serde_json::to_string(&self.config).expect("config serializes"),
            self.run_id(),
        );
        let order = self
            .order
            .iter()
            .map(|&i| u32::try_from(i))
            .collect::<std::result::Result<Vec<u32>, _>>()
            .map_err(|_| Error::Config("too many training windows to save the run".into()))?;
        let pos = [u32::try_from(self.pos).unwrap_or(u32::MAX)];
        // The file is the same from any backend: the weights on the host.
        let on_host = Forecaster {
            net: self.net.cast(),
            features: self.norms.0.clone(),
            targets: self.norms.1.clone(),
            config: self.config.clone(),
        };
        let model = forecaster_contents(&on_host, &self.columns.0, &self.columns.1);
        let extra = vec![
            ("order", vec![order.len()], TensorData::U32(&order)),
            ("order_pos", vec![1], TensorData::U32(&pos)),
        ];
        save_run(dir, model, &progress, extra)
    }

    /// [`ForecastTrainer::resume`] on `backend`: a run saved on any
    /// backend continues on this one (bit for bit where both are the
    /// same).
    pub fn resume_on(
        backend: K,
        dir: &Path,
        features: &[Vec<f64>],
        targets: &[Vec<f64>],
    ) -> Result<Self> {
        let state = SavedState::open(dir)?;
        let config: ForecastConfig = state.config()?;
        let mut t = ForecastTrainer::new_on(backend.clone(), config, features, targets)?;
        state.check_data(t.fingerprint, SERIES_FLAGS)?;
        state.check_run(&t.run_id())?;
        // The normalization is fitted again on the (same) series: the
        // file's, through JSON, may differ in the last bit.
        let (saved, feature_names, target_names) = load_forecaster(state.file.path())?;
        if saved.config != t.config || saved.net.config() != t.net.config() {
            return Err(Error::Checkpoint(format!(
                "{}: the forecaster in the state file does not match the run's saved settings and series; the file was edited or mixed up",
                state.file.path().display()
            )));
        }
        t.set_columns(feature_names, target_names)?;
        let net_config = saved.net.config().clone();
        t.net = Net::from_params_on(backend, net_config, saved.net.params)?;
        state.restore(&mut t.course, t.net.layout().len(), t.config.seed)?;
        t.course.total = state.total;
        let n = t.order.len();
        let order = state.file.u32("order", &[n])?;
        let pos = state.file.u32("order_pos", &[1])?[0] as usize;
        let mut seen = vec![false; n];
        for &i in &order {
            match seen.get_mut(i as usize) {
                Some(s) if !*s => *s = true,
                _ => {
                    return Err(Error::Checkpoint(format!(
                        "{}: the saved order of the training windows is not an order of the {n} windows; the file was edited or mixed up",
                        state.file.path().display()
                    )));
                }
            }
        }
        if pos > n {
            return Err(Error::Checkpoint(format!(
                "{}: the saved position {pos} is past the {n} training windows; the file was edited or mixed up",
                state.file.path().display()
            )));
        }
        t.order = order.into_iter().map(|i| i as usize).collect();
        t.pos = pos;
        Ok(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cell::CellKind;
    use crate::checkpoint::load_forecaster;
    use crate::train::forecast::RegressionLoss;
    use crate::train::{RunDir, RunMode, model_path};

    /// A short run on two sine waves (one feature is another column).
    fn run() -> (Vec<Vec<f64>>, Vec<Vec<f64>>, ForecastConfig) {
        let a: Vec<f64> = (0..260).map(|t| (t as f64 * 0.3).sin()).collect();
        let b: Vec<f64> = (0..260).map(|t| (t as f64 * 0.11).cos()).collect();
        let config = ForecastConfig {
            cell: CellKind::Gru,
            hidden: 5,
            layers: 1,
            lookback: 10,
            horizon: 2,
            stride: 3,
            batch: 8,
            lr: 5e-3,
            iters: 16,
            loss: RegressionLoss::Mse,
            val_frac: 0.1,
            test_frac: 0.2,
            season: 0,
            seed: 9,
            every_step: false,
            bidirectional: false,
        };
        (vec![a.clone(), b], vec![a], config)
    }

    fn temp(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("recur-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn a_resumed_run_is_the_run_that_was_never_interrupted() {
        let (f, y, config) = run();
        let mut whole = ForecastTrainer::new(config.clone(), &f, &y).unwrap();
        whole.run(None, &mut |_| {}).unwrap();
        let (want, want_report) = whole.finish().unwrap();

        let path = temp("forecast-resume");
        let dir = RunDir::open(&path, RunMode::New, "--out").unwrap();
        let mut first = ForecastTrainer::new(config.clone(), &f, &y).unwrap();
        // Seven iterations: the windows' order is part-way through an epoch.
        first.set_total_iters(7);
        let names = vec!["a".to_string(), "b".to_string()];
        first.set_columns(names.clone(), vec!["a".into()]).unwrap();
        first.run_in(&dir, None, &mut |_| {}).unwrap();
        drop((first, dir));

        let mut rest = ForecastTrainer::resume(&path, &f, &y).unwrap();
        assert_eq!((rest.iter(), rest.total_iters()), (7, 7));
        rest.set_total_iters(config.iters);
        let dir = RunDir::open(&path, RunMode::Resume, "--out").unwrap();
        rest.run_in(&dir, None, &mut |_| {}).unwrap();
        let (got, got_report) = rest.finish().unwrap();
        assert_eq!(got.net.params, want.net.params);
        assert_eq!(got_report.mse, want_report.mse);

        // The model file is a forecaster with the columns' names.
        let (saved, features, targets) = load_forecaster(&model_path(&path)).unwrap();
        assert_eq!((features, targets), (names, vec!["a".to_string()]));
        assert_eq!(saved.net.params, want.net.params);
        drop(dir);
        let _ = std::fs::remove_dir_all(&path);
    }

    #[test]
    fn resuming_on_another_series_or_an_edited_order_is_refused() {
        let (f, y, config) = run();
        let path = temp("forecast-resume-refused");
        let dir = RunDir::open(&path, RunMode::New, "--out").unwrap();
        let mut t = ForecastTrainer::new(config, &f, &y).unwrap();
        t.set_total_iters(3);
        t.run_in(&dir, None, &mut |_| {}).unwrap();
        let mut other = y.clone();
        other[0][5] += 1.0;
        let err = ForecastTrainer::resume(&path, &other, &other)
            .err()
            .unwrap();
        assert!(err.to_string().contains("differs"), "{err}");
        // Two windows swapped for one repeated: refused, not a panic later.
        t.order[1] = t.order[0];
        t.save(&path).unwrap();
        let err = ForecastTrainer::resume(&path, &f, &y).err().unwrap();
        assert!(err.to_string().contains("order"), "{err}");
        assert!(t.set_columns(vec![], vec![]).is_err());
        drop(dir);
        let _ = std::fs::remove_dir_all(&path);
    }
}
