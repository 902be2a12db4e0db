//! Saving a run and resuming it exactly.
//!
//! A save writes two files into the run folder, each atomically (a
//! temporary file, synced, then renamed over the old one):
//!
//! 1. `model.safetensors`: the weights under PyTorch names with the model's
//!    configuration and vocabulary: what `sample`, `eval`, `viz` and
//!    PyTorch read.
//! 2. `state.safetensors`: the same weights and metadata, plus everything a
//!    resumed run needs (optimizer moments, carried hidden state, word
//!    order, iteration, target, random generator position, smoothed loss,
//!    and a time budget with what it has spent).
//!
//! A resume reads the state file alone, so every save is committed by one
//! rename. Killed before that rename, the previous save stands (the model
//! file may be one save ahead, and the resumed run reproduces it bit for
//! bit); killed after it, the new one does. Both files carry the iteration
//! and a run id (a hash of the run's settings and data), so a model file
//! from another run next to this run's state is caught before it would be
//! overwritten.

use std::path::{Path, PathBuf};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::budget::Budget;
use super::course::Course;
use super::data::fingerprint;
use crate::backend::{Backend, Cpu};
use crate::checkpoint::{Contents, Loaded, TensorData};
use crate::error::{Error, Result};

/// The weights file inside a run folder.
pub fn model_path(dir: &Path) -> PathBuf {
    dir.join("model.safetensors")
}

/// The resume-state file inside a run folder.
pub fn state_path(dir: &Path) -> PathBuf {
    dir.join("state.safetensors")
}

/// The id of a run: settings (as JSON) and data decide it, so a model file
/// and a state file from the same run agree, and two runs with the same
/// settings on the same data (which give the same bytes) share it.
pub(crate) fn run_id(config_json: &str, data_fingerprint: u64) -> String {
    let h = fingerprint([config_json.as_bytes(), &data_fingerprint.to_le_bytes()]);
    format!("{h:016x}")
}

/// What every trainer saves besides its model and its own buffers.
pub(crate) struct Progress<'a, K: Backend<f32> = Cpu> {
    /// The run's course: iteration, target, optimizer, smoothed loss,
    /// random generator.
    pub course: &'a Course<K>,
    /// The data's fingerprint.
    pub fingerprint: u64,
    /// The trainer's settings as JSON.
    pub config_json: String,
    /// The run's id (see [`run_id`]).
    pub run_id: String,
    /// The optimizer's moments, copied to the host.
    moments: Vec<Vec<f32>>,
}

impl<'a, K: Backend<f32>> Progress<'a, K> {
    /// The progress of `course` in a run with these settings and data.
    pub fn new(
        course: &'a Course<K>,
        fingerprint: u64,
        config_json: String,
        run_id: String,
    ) -> Self {
        assert!(
            !course.unsettled(),
            "a run is saved only where its iterations are settled"
        );
        let k = course.optimizer.backend();
        let moments = course
            .optimizer
            .moments()
            .iter()
            .map(|m| {
                let mut host = vec![0.0; K::buf_len(m)];
                k.download(K::view(m), &mut host);
                host
            })
            .collect();
        Progress {
            course,
            fingerprint,
            config_json,
            run_id,
            moments,
        }
    }
}

/// Save a run into `dir`: `model` (a model file's contents) as
/// `model.safetensors`, then the state file: the same contents with the
/// progress, the optimizer's moments and the trainer's own `extra`
/// tensors.
pub(crate) fn save_run<'a, K: Backend<f32>>(
    dir: &Path,
    model: Contents<'a>,
    p: &'a Progress<'a, K>,
    extra: Vec<(&str, Vec<usize>, TensorData<'a>)>,
) -> Result<()> {
    let c = p.course;
    let mut state = model.with_meta(&[("iter", c.iter.to_string()), ("run", p.run_id.clone())]);
    state.write(&model_path(dir))?;
    let (smooth_raw, smooth_steps) = c.smooth.raw();
    state = state.with_meta(&[
        ("total_iters", c.total.to_string()),
        ("optimizer_steps", c.optimizer.steps().to_string()),
        ("smooth_loss_raw", format!("{smooth_raw:?}")),
        ("smooth_loss_steps", smooth_steps.to_string()),
        ("rng_word_pos", c.rng.get_word_pos().to_string()),
        ("data_fingerprint", format!("{:016x}", p.fingerprint)),
        ("train_config", p.config_json.clone()),
    ]);
    if let Some(b) = &c.budget {
        state = state.with_meta(&[
            ("time_budget_s", format!("{:?}", b.seconds())),
            ("time_spent_s", format!("{:?}", b.spent())),
        ]);
    }
    for (k, m) in p.moments.iter().enumerate() {
        let name = format!("optimizer.moment{k}");
        state
            .tensors
            .push((name, vec![m.len()], TensorData::F32(m)));
    }
    for (name, shape, data) in extra {
        state.tensors.push((name.to_string(), shape, data));
    }
    state.write(&state_path(dir))
}

/// A saved run's state file, checked against the model file beside it.
pub(crate) struct SavedState {
    pub file: Loaded,
    pub iter: u64,
    pub total: u64,
}

impl SavedState {
    /// Open `dir`'s state (the model inside it is loaded from the same
    /// file by the trainer).
    pub fn open(dir: &Path) -> Result<Self> {
        let sp = state_path(dir);
        let file = Loaded::open(&sp)?;
        if file.meta("recur.model").is_err() {
            return Err(Error::Checkpoint(format!(
                "{}: this run was saved by an older recur whose state files cannot be resumed by this version; its model.safetensors still samples and evaluates, or start a new run with --overwrite",
                dir.display()
            )));
        }
        let id = file.meta("recur.run")?.to_string();
        let mp = model_path(dir);
        if mp.exists() {
            let model = Loaded::open(&mp)?;
            let model_id = model.meta("recur.run").unwrap_or("none");
            if model_id != id {
                return Err(Error::Checkpoint(format!(
                    "{}: belongs to another run (run id {model_id}) than this folder's state.safetensors (run {id}); resuming would overwrite it: move it elsewhere, or put this run's model back",
                    mp.display()
                )));
            }
        }
        Ok(SavedState {
            iter: parse(&file, "recur.iter")?,
            total: parse(&file, "recur.total_iters")?,
            file,
        })
    }

    /// The run's settings.
    pub fn config<T: serde::de::DeserializeOwned>(&self) -> Result<T> {
        self.file.meta_json("recur.train_config")
    }

    /// An error unless the data's fingerprint is the saved one.
    pub fn check_data(&self, fingerprint: u64, flags: &str) -> Result<()> {
        if self.file.meta("recur.data_fingerprint")? != format!("{fingerprint:016x}") {
            return Err(Error::Data(format!(
                "--resume: the training data differs from the data this run started on; pass the same {flags}"
            )));
        }
        Ok(())
    }

    /// An error unless `id`, the id of the run rebuilt from the saved
    /// settings and the data, is the saved one.
    pub fn check_run(&self, id: &str) -> Result<()> {
        if self.file.meta("recur.run")? != id {
            return Err(Error::Checkpoint(format!(
                "{}: the saved settings do not give the saved run id; the state file was edited or mixed up with another run's",
                self.file.path().display()
            )));
        }
        Ok(())
    }

    /// Restore the saved course into `course` (of a model with `n`
    /// parameters): the iteration, the optimizer, the smoothed loss, the
    /// random generator (seeded with `seed`, then moved to the saved
    /// position) and the time budget with what it has spent. The target is
    /// the trainer's to set.
    pub fn restore<K: Backend<f32>>(
        &self,
        course: &mut Course<K>,
        n: usize,
        seed: u64,
    ) -> Result<()> {
        let moments = (0..course.optimizer.moments().len())
            .map(|k| self.file.f32(&format!("optimizer.moment{k}"), &[n]))
            .collect::<Result<Vec<_>>>()?;
        let steps = parse(&self.file, "recur.optimizer_steps")?;
        course.optimizer.restore(steps, moments)?;
        course.smooth.restore(
            parse(&self.file, "recur.smooth_loss_raw")?,
            parse(&self.file, "recur.smooth_loss_steps")?,
        );
        course.rng = ChaCha8Rng::seed_from_u64(seed);
        course
            .rng
            .set_word_pos(parse(&self.file, "recur.rng_word_pos")?);
        course.iter = self.iter;
        if self.file.meta("recur.time_budget_s").is_ok() {
            course.set_budget(Budget::resumed(
                parse(&self.file, "recur.time_budget_s")?,
                parse(&self.file, "recur.time_spent_s")?,
            )?);
        }
        Ok(())
    }
}

pub(crate) fn parse<T: std::str::FromStr>(file: &Loaded, key: &str) -> Result<T> {
    file.meta(key)?.parse().map_err(|_| {
        Error::Checkpoint(format!(
            "{}: metadata '{key}' is not a valid number",
            file.path().display()
        ))
    })
}
