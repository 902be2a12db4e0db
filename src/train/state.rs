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
//!    order, iteration, target, random generator position, smoothed loss).
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

use super::data::fingerprint;
use super::log::SmoothLoss;
use super::shard;
use super::{TrainConfig, TrainData, Trainer};
use crate::checkpoint::{self, Contents, Loaded, TensorData};
use crate::error::{Error, Result};
use crate::optim::Optimizer;

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
pub(crate) struct Progress<'a> {
    pub iter: u64,
    pub total: u64,
    pub optimizer: &'a Optimizer<f32>,
    pub smooth: SmoothLoss,
    pub rng: &'a ChaCha8Rng,
    pub fingerprint: u64,
    pub config_json: String,
    pub run_id: String,
}

/// Save a run into `dir`: `model` (a model file's contents) as
/// `model.safetensors`, then the state file: the same contents with the
/// progress, the optimizer's moments and the trainer's own `extra`
/// tensors.
pub(crate) fn save_run<'a>(
    dir: &Path,
    model: Contents<'a>,
    p: &'a Progress<'a>,
    extra: Vec<(&str, Vec<usize>, TensorData<'a>)>,
) -> Result<()> {
    let mut state = model.with_meta(&[("iter", p.iter.to_string()), ("run", p.run_id.clone())]);
    state.write(&model_path(dir))?;
    let (smooth_raw, smooth_steps) = p.smooth.raw();
    state = state.with_meta(&[
        ("total_iters", p.total.to_string()),
        ("optimizer_steps", p.optimizer.steps().to_string()),
        ("smooth_loss_raw", format!("{smooth_raw:?}")),
        ("smooth_loss_steps", smooth_steps.to_string()),
        ("rng_word_pos", p.rng.get_word_pos().to_string()),
        ("data_fingerprint", format!("{:016x}", p.fingerprint)),
        ("train_config", p.config_json.clone()),
    ]);
    for (k, m) in p.optimizer.moments().iter().enumerate() {
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

    /// Restore the optimizer (`n` parameters), smoothed loss and random
    /// generator (seeded with `seed`, then moved to the saved position).
    pub fn restore(
        &self,
        optimizer: &mut Optimizer<f32>,
        n: usize,
        smooth: &mut SmoothLoss,
        rng: &mut ChaCha8Rng,
        seed: u64,
    ) -> Result<()> {
        let moments = (0..optimizer.moments().len())
            .map(|k| self.file.f32(&format!("optimizer.moment{k}"), &[n]))
            .collect::<Result<Vec<_>>>()?;
        optimizer.restore(parse(&self.file, "recur.optimizer_steps")?, moments)?;
        smooth.restore(
            parse(&self.file, "recur.smooth_loss_raw")?,
            parse(&self.file, "recur.smooth_loss_steps")?,
        );
        *rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_word_pos(parse(&self.file, "recur.rng_word_pos")?);
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

impl Trainer {
    /// Save the run into `dir`: `model.safetensors` and
    /// `state.safetensors` (see the module's documentation).
    pub fn save(&self, dir: &Path) -> Result<()> {
        let progress = Progress {
            iter: self.iter,
            total: self.total,
            optimizer: &self.optimizer,
            smooth: self.smooth,
            rng: &self.rng,
            fingerprint: self.fingerprint,
            config_json: serde_json::to_string(&self.config).expect("config serializes"),
            run_id: self.run_id(),
        };
        let carry = shard::joined_carry(&self.shards, self.config.hidden);
        let extra = vec![
            ("carry", vec![carry.len()], TensorData::F32(&carry)),
            (
                "order",
                vec![self.order.len()],
                TensorData::U32(&self.order),
            ),
        ];
        let model = checkpoint::model_contents(&self.net, &self.vocab);
        save_run(dir, model, &progress, extra)
    }

    /// The run's id: a hash of its settings and data, written into its
    /// checkpoint files and log lines.
    pub fn run_id(&self) -> String {
        run_id(
            &serde_json::to_string(&self.config).expect("config serializes"),
            self.fingerprint,
        )
    }

    /// Continue the run saved in `dir` on the same `data`, towards its
    /// saved target (raise it with [`Trainer::set_total_iters`]). The
    /// result is bit-for-bit the run that was never interrupted.
    pub fn resume(dir: &Path, data: TrainData) -> Result<Self> {
        let state = SavedState::open(dir)?;
        let config: TrainConfig = state.config()?;
        shard::refuse_thread_dependent_run(&state)?;
        state.check_data(data.fingerprint(), "--corpus/--words")?;
        let ckpt = checkpoint::load_model(state.file.path())?;
        let vocab = data.vocab()?;
        if ckpt.vocab != vocab || *ckpt.net.config() != Trainer::net_config(&config, vocab.len()) {
            return Err(Error::Checkpoint(format!(
                "{}: the model in the state file does not match the run's saved settings; the file was edited or mixed up",
                state.file.path().display()
            )));
        }
        let mut t = Trainer::assemble(config, data, ckpt.vocab, ckpt.net, state.total)?;
        state.check_run(&t.run_id())?;
        let n = t.net.params.len();
        state.restore(
            &mut t.optimizer,
            n,
            &mut t.smooth,
            &mut t.rng,
            t.config.seed,
        )?;
        let n_carry: usize = t.shards.iter().map(|s| s.carry.len()).sum();
        let carry = state.file.f32("carry", &[n_carry])?;
        shard::split_carry(&mut t.shards, &carry, t.config.hidden);
        let order_len = match &t.data {
            super::Prepared::Words { train, .. } if state.iter > 0 => train.len(),
            _ => 0,
        };
        t.order = state.file.u32("order", &[order_len])?;
        t.iter = state.iter;
        Ok(t)
    }
}
