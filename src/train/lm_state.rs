//! Saving a language-model run into its folder and resuming it exactly
//! (the files are described in [`super::state`]).

use std::path::Path;

use super::data::{Prepared, TrainData};
use super::epoch::EpochOrder;
use super::lm::Trainer;
use super::shard;
use super::state::{Progress, SavedState, run_id, save_run};
use crate::backend::{Backend, Cpu};
use crate::checkpoint::{self, TensorData};
use crate::error::{Error, Result};
use crate::model::Net;

impl Trainer {
    /// Continue the run saved in `dir` on the same `data`, on the CPU,
    /// towards its saved target (raise it with [`Trainer::set_total_iters`]).
    /// The result is bit-for-bit the run that was never interrupted.
    pub fn resume(dir: &Path, data: TrainData) -> Result<Self> {
        Trainer::resume_on(Cpu, dir, data)
    }
}

impl<K: Backend<f32>> Trainer<K> {
    /// Save the run into `dir`: `model.safetensors` and
    /// `state.safetensors` (see the `train::state` module), with the
    /// hidden state carried across windows (`carry`) and the word order
    /// (`order`).
    pub fn save(&self, dir: &Path) -> Result<()> {
        let progress = Progress::new(
            &self.course,
            self.fingerprint,
            serde_json::to_string(&self.config).expect("config serializes"),
            self.run_id(),
        );
        let k = self.net.backend();
        let carry = shard::joined_carry(k, &self.shards, self.config.hidden);
        let order = self.order.as_slice();
        let extra = vec![
            ("carry", vec![carry.len()], TensorData::F32(&carry)),
            ("order", vec![order.len()], TensorData::U32(order)),
        ];
        // The file is the same from any backend: the weights on the host.
        let on_host = Net::from_params(self.net.config().clone(), self.net.params_to_host())?;
        let model = checkpoint::model_contents(&on_host, &self.vocab);
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

    /// [`Trainer::resume`] on `backend`: a run saved on any backend
    /// continues on this one (bit for bit where both are the same).
    pub fn resume_on(backend: K, dir: &Path, data: TrainData) -> Result<Self> {
        let state = SavedState::open(dir)?;
        let config: super::TrainConfig = state.config()?;
        shard::refuse_thread_dependent_run(&state)?;
        state.check_data(data.fingerprint(), "--corpus/--words")?;
        let ckpt = checkpoint::load_model(state.file.path())?;
        let vocab = data.vocab()?;
        if ckpt.vocab != vocab
            || *ckpt.net.config() != Trainer::<K>::net_config(&config, vocab.len())
        {
            return Err(Error::Checkpoint(format!(
                "{}: the model in the state file does not match the run's saved settings; the file was edited or mixed up",
                state.file.path().display()
            )));
        }
        let net = Net::from_params_on(backend, ckpt.net.config().clone(), ckpt.net.params)?;
        let mut t = Trainer::assemble(config, data, vocab, net, state.total)?;
        state.check_run(&t.run_id())?;
        state.restore(&mut t.course, t.net.layout().len(), t.config.seed)?;
        let n_carry: usize = t.shards.iter().map(|s| K::buf_len(&s.carry)).sum();
        let carry = state.file.f32("carry", &[n_carry])?;
        let k = t.net.backend().clone();
        shard::split_carry(&k, &mut t.shards, &carry, t.config.hidden);
        let words = match &t.data {
            Prepared::Words { train, .. } => train.len(),
            Prepared::Corpus { .. } => 0,
        };
        t.order = EpochOrder::load(&state, words)?;
        Ok(t)
    }
}
