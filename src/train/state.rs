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

/// The weights file inside a run folder.
pub fn model_path(dir: &Path) -> PathBuf {
    dir.join("model.safetensors")
}

/// The resume-state file inside a run folder.
pub fn state_path(dir: &Path) -> PathBuf {
    dir.join("state.safetensors")
}

impl Trainer {
    /// Write `model.safetensors` and `state.safetensors` into `dir`
    /// (atomically each; the state last, so a state file always has its
    /// model file).
    pub fn save(&self, dir: &Path) -> Result<()> {
        let iter = self.iter.to_string();
        checkpoint::save_model(
            &model_path(dir),
            &self.net,
            &self.vocab,
            &[("iter", iter.clone())],
        )?;
        let mut meta = BTreeMap::new();
        let mut put = |k: &str, v: String| {
            meta.insert(format!("recur.{k}"), v);
        };
        put("format", checkpoint::FORMAT.into());
        put("iter", iter);
        put("total_iters", self.total.to_string());
        put("optimizer_steps", self.optimizer.steps().to_string());
        put("smooth_loss", format!("{:?}", self.smooth_loss));
        put("rng_word_pos", self.rng.get_word_pos().to_string());
        put("data_fingerprint", format!("{:016x}", self.fingerprint));
        put(
            "train_config",
            serde_json::to_string(&self.config).expect("config serializes"),
        );
        let n = self.net.params.len();
        let names: Vec<String> = (0..self.optimizer.moments().len())
            .map(|k| format!("optimizer.moment{k}"))
            .collect();
        let mut tensors: Vec<(&str, Vec<usize>, TensorData<'_>)> = names
            .iter()
            .zip(self.optimizer.moments())
            .map(|(name, m)| (name.as_str(), vec![n], TensorData::F32(m)))
            .collect();
        // The shards' carried states, in shard order.
        let carry: Vec<f32> = self
            .shards
            .iter()
            .flat_map(|s| s.carry.iter().copied())
            .collect();
        tensors.push(("carry", vec![carry.len()], TensorData::F32(&carry)));
        tensors.push((
            "order",
            vec![self.order.len()],
            TensorData::U32(&self.order),
        ));
        write_safetensors(&state_path(dir), &tensors, &meta)
    }

    /// Continue the run saved in `dir` on the same `data`, up to
    /// `total_iters` iterations in all. The result is bit-for-bit the run
    /// that was never interrupted.
    pub fn resume(dir: &Path, data: TrainData, total_iters: u64) -> Result<Self> {
        let sp = state_path(dir);
        if !sp.exists() {
            return Err(Error::Checkpoint(format!(
                "--resume: no saved run in {} (missing {}); train without --resume first, or point --out at the run folder",
                dir.display(),
                sp.display()
            )));
        }
        let ckpt = checkpoint::load_model(&model_path(dir))?;
        let state = Loaded::open(&sp)?;
        let config: TrainConfig = state.meta_json("recur.train_config")?;
        let iter: u64 = parse(&state, "recur.iter")?;
        let model_iter: u64 = parse(&ckpt.file, "recur.iter")?;
        if iter != model_iter {
            return Err(Error::Checkpoint(format!(
                "{}: model (iteration {model_iter}) and state (iteration {iter}) come from different saves; the run folder is inconsistent",
                dir.display()
            )));
        }
        let fingerprint = format!("{:016x}", data.fingerprint());
        if state.meta("recur.data_fingerprint")? != fingerprint {
            return Err(Error::Data(
                "--resume: the training data differs from the data this run started on; pass the same --corpus/--words".into(),
            ));
        }
        if ckpt.vocab != data.vocab()? || ckpt.net.config().hidden_size != config.hidden {
            return Err(Error::Checkpoint(format!(
                "{}: the model does not match the saved run settings",
                dir.display()
            )));
        }
        let mut t = Trainer::assemble(config, data, ckpt.vocab, ckpt.net, total_iters)?;
        let n = t.net.params.len();
        let moments = (0..t.optimizer.moments().len())
            .map(|k| state.f32(&format!("optimizer.moment{k}"), &[n]))
            .collect::<Result<Vec<_>>>()?;
        t.optimizer
            .restore(parse(&state, "recur.optimizer_steps")?, moments)?;
        let n_carry: usize = t.shards.iter().map(|s| s.carry.len()).sum();
        let carry = state.f32("carry", &[n_carry])?;
        let mut rest = &carry[..];
        for s in &mut t.shards {
            let (mine, more) = rest.split_at(s.carry.len());
            s.carry.copy_from_slice(mine);
            rest = more;
        }
        let order_len = match &t.data {
            super::Prepared::Words { train, .. } if iter > 0 => train.len(),
            _ => 0,
        };
        t.order = state.u32("order", &[order_len])?;
        t.smooth_loss = parse(&state, "recur.smooth_loss")?;
        t.rng = ChaCha8Rng::seed_from_u64(t.config.seed);
        t.rng.set_word_pos(parse(&state, "recur.rng_word_pos")?);
        t.iter = iter;
        Ok(t)
    }
}

fn parse<T: std::str::FromStr>(file: &Loaded, key: &str) -> Result<T> {
    file.meta(key)?.parse().map_err(|_| {
        Error::Checkpoint(format!(
            "{}: metadata '{key}' is not a valid number",
            file.path().display()
        ))
    })
}
