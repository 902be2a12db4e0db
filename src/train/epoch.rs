//! Shuffled epochs: the order in which a trainer visits separate examples
//! (words, pairs), drawn afresh at the start of every pass.

use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use super::state::SavedState;
use crate::error::Result;

/// The current epoch's order of `n` examples, `b` per batch: iteration
/// `iter` takes batch `k = iter mod ⌈n/b⌉`, examples `order[k·b .. k·b+b]`
/// (the last batch of an epoch may be shorter).
#[derive(Clone, Debug, Default)]
pub(crate) struct EpochOrder(Vec<u32>);

impl EpochOrder {
    /// The examples of iteration `iter`. The order is shuffled with `rng`
    /// at each epoch's first batch, and before the first batch of a run.
    pub fn batch(&mut self, n: usize, b: usize, iter: u64, rng: &mut ChaCha8Rng) -> &[u32] {
        let k = (iter % n.div_ceil(b) as u64) as usize;
        if k == 0 || self.0.len() != n {
            self.0 = (0..n as u32).collect();
            self.0.shuffle(rng);
        }
        &self.0[k * b..(k * b + b).min(n)]
    }

    /// The order, to save (empty before a run's first batch).
    pub fn as_slice(&self) -> &[u32] {
        &self.0
    }

    /// The order saved in `state` (named `order`), of a run over `n`
    /// examples.
    pub fn load(state: &SavedState, n: usize) -> Result<Self> {
        let len = if state.iter > 0 { n } else { 0 };
        Ok(EpochOrder(state.file.u32("order", &[len])?))
    }
}
