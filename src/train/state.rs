//! Saving a run and resuming it exactly: the weights go to
//! `model.safetensors` (loadable by PyTorch), everything else a resumed run
//! needs to `state.safetensors`. Both carry the iteration, so a pair from
//! different saves is detected.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::{TrainConfig, TrainData, Trainer};
use crate::checkpoint::{self, Loaded, TensorData, write_safetensors};
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

/// What every trainer saves besides its model and its own buffers.
pub(crate) struct Progress<'a> {
    pub iter: u64,
    pub total: u64,
    pub optimizer: &'a Optimizer<f32>,
    pub smooth_loss: f64,
    pub rng: &'a ChaCha8Rng,
    pub fingerprint: u64,
    pub config_json: String,
}

/// Write `state.safetensors`: the progress, the optimizer's moments
/// (`n` values each) and the trainer's own `extra` tensors.
pub(crate) fn write_state(
    dir: &Path,
    p: &Progress<'_>,
    n: usize,
    extra: Vec<(&str, Vec<usize>, TensorData<'_>)>,
) -> Result<()> {
    let mut meta = BTreeMap::new();
    let mut put = |k: &str, v: String| {
        meta.insert(format!("recur.{k}"), v);
    };
    put("format", checkpoint::FORMAT.into());
    put("iter", p.iter.to_string());
    put("total_iters", p.total.to_string());
    put("optimizer_steps", p.optimizer.steps().to_string());
    put("smooth_loss", format!("{:?}", p.smooth_loss));
    put("rng_word_pos", p.rng.get_word_pos().to_string());
    put("data_fingerprint", format!("{:016x}", p.fingerprint));
    put("train_config", p.config_json.clone());
    let names: Vec<String> = (0..p.optimizer.moments().len())
        .map(|k| format!("optimizer.moment{k}"))
        .collect();
    let mut tensors: Vec<(&str, Vec<usize>, TensorData<'_>)> = names
        .iter()
        .zip(p.optimizer.moments())
        .map(|(name, m)| (name.as_str(), vec![n], TensorData::F32(m)))
        .collect();
    tensors.extend(extra);
    write_safetensors(&state_path(dir), &tensors, &meta)
}

/// A saved run's state file, checked against its model file.
pub(crate) struct SavedState {
    pub file: Loaded,
    pub iter: u64,
}

impl SavedState {
    /// Open `dir`'s state; `model_iter` is the iteration its model file
    /// records (they must agree).
    pub fn open(dir: &Path, model_iter: u64) -> Result<Self> {
        let sp = state_path(dir);
        let file = Loaded::open(&sp)?;
        let iter: u64 = parse(&file, "recur.iter")?;
        if iter != model_iter {
            return Err(Error::Checkpoint(format!(
                "{}: model (iteration {model_iter}) and state (iteration {iter}) come from different saves; the run folder is inconsistent",
                dir.display()
            )));
        }
        Ok(SavedState { file, iter })
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

    /// Restore the optimizer (`n` parameters), smoothed loss and random
    /// generator (seeded with `seed`, then moved to the saved position).
    pub fn restore(
        &self,
        optimizer: &mut Optimizer<f32>,
        n: usize,
        smooth_loss: &mut f64,
        rng: &mut ChaCha8Rng,
        seed: u64,
    ) -> Result<()> {
        let moments = (0..optimizer.moments().len())
            .map(|k| self.file.f32(&format!("optimizer.moment{k}"), &[n]))
            .collect::<Result<Vec<_>>>()?;
        optimizer.restore(parse(&self.file, "recur.optimizer_steps")?, moments)?;
        *smooth_loss = parse(&self.file, "recur.smooth_loss")?;
        *rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_word_pos(parse(&self.file, "recur.rng_word_pos")?);
        Ok(())
    }
}

/// The error for `--resume` without a saved run in `dir`.
pub(crate) fn require_saved_run(dir: &Path) -> Result<()> {
    let sp = state_path(dir);
    if sp.exists() {
        return Ok(());
    }
    Err(Error::Checkpoint(format!(
        "--resume: no saved run in {} (missing {}); train without --resume first, or point --out at the run folder",
        dir.display(),
        sp.display()
    )))
}

impl Trainer {
    /// Write `model.safetensors` and `state.safetensors` into `dir`
    /// (atomically each; the state last, so a state file always has its
    /// model file).
    pub fn save(&self, dir: &Path) -> Result<()> {
        checkpoint::save_model(
            &model_path(dir),
            &self.net,
            &self.vocab,
            &[("iter", self.iter.to_string())],
        )?;
        let progress = Progress {
            iter: self.iter,
            total: self.total,
            optimizer: &self.optimizer,
            smooth_loss: self.smooth_loss,
            rng: &self.rng,
            fingerprint: self.fingerprint,
            config_json: serde_json::to_string(&self.config).expect("config serializes"),
        };
        // The shards' carried states, in shard order.
        let carry: Vec<f32> = self
            .shards
            .iter()
            .flat_map(|s| s.carry.iter().copied())
            .collect();
        let extra = vec![
            ("carry", vec![carry.len()], TensorData::F32(&carry)),
            (
                "order",
                vec![self.order.len()],
                TensorData::U32(&self.order),
            ),
        ];
        write_state(dir, &progress, self.net.params.len(), extra)
    }

    /// Continue the run saved in `dir` on the same `data`, up to
    /// `total_iters` iterations in all. The result is bit-for-bit the run
    /// that was never interrupted.
    pub fn resume(dir: &Path, data: TrainData, total_iters: u64) -> Result<Self> {
        require_saved_run(dir)?;
        let ckpt = checkpoint::load_model(&model_path(dir))?;
        let state = SavedState::open(dir, parse(&ckpt.file, "recur.iter")?)?;
        let config: TrainConfig = state.config()?;
        state.check_data(data.fingerprint(), "--corpus/--words")?;
        if ckpt.vocab != data.vocab()? || ckpt.net.config().hidden_size != config.hidden {
            return Err(Error::Checkpoint(format!(
                "{}: the model does not match the saved run settings",
                dir.display()
            )));
        }
        let mut t = Trainer::assemble(config, data, ckpt.vocab, ckpt.net, total_iters)?;
        let n = t.net.params.len();
        state.restore(
            &mut t.optimizer,
            n,
            &mut t.smooth_loss,
            &mut t.rng,
            t.config.seed,
        )?;
        let n_carry: usize = t.shards.iter().map(|s| s.carry.len()).sum();
        let carry = state.file.f32("carry", &[n_carry])?;
        let mut rest = &carry[..];
        for s in &mut t.shards {
            let (mine, more) = rest.split_at(s.carry.len());
            s.carry.copy_from_slice(mine);
            rest = more;
        }
        let order_len = match &t.data {
            super::Prepared::Words { train, .. } if state.iter > 0 => train.len(),
            _ => 0,
        };
        t.order = state.file.u32("order", &[order_len])?;
        t.iter = state.iter;
        Ok(t)
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
