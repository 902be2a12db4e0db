//! Data parallelism on the CPU: the batch's rows (streams or words) are
//! split into shards, each shard runs forward and backward on its own
//! thread with its own workspace, and the gradients are summed, weighted by
//! the characters each shard covered. The split and the summation order are
//! fixed, so a run is reproducible for a given number of shards.

use std::ops::Range;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::cell::SeqInput;
use crate::data::WordBatch;
use crate::error::Result;
use crate::layer::loss::Target;
use crate::model::{Batch, Net, NetWorkspace};

/// One slice of the batch with everything its thread needs.
pub(crate) struct Shard {
    /// The batch rows (streams or words) it owns.
    pub rows: Range<usize>,
    pub ws: NetWorkspace<f32>,
    pub grads: Vec<f32>,
    /// The recurrent state of its streams, carried between corpus windows.
    pub carry: Vec<f32>,
    inputs: Vec<u32>,
    targets: Vec<u32>,
    words: WordBatch,
    /// Dropout masks; reseeded every step from the trainer's generator.
    rng: ChaCha8Rng,
    loss: f64,
    count: usize,
}

/// `n` shards over `b` rows: contiguous ranges, sizes differing by at most 1.
pub(crate) fn shards_for(net: &Net<f32>, b: usize, n: usize) -> Vec<Shard> {
    let n = n.clamp(1, b);
    (0..n)
        .map(|s| {
            let rows = s * b / n..(s + 1) * b / n;
            Shard {
                carry: vec![0.0; net.config().state_len(rows.len())],
                rows,
                ws: net.workspace(),
                grads: net.zero_grads(),
                inputs: Vec::new(),
                targets: Vec::new(),
                words: WordBatch::default(),
                rng: ChaCha8Rng::seed_from_u64(0),
                loss: 0.0,
                count: 0,
            }
        })
        .collect()
}

impl Shard {
    /// Forward and backward on this shard's columns of a corpus window
    /// (`inputs, targets: (T, B)` time-major), from its carried state.
    fn corpus_step(
        &mut self,
        net: &Net<f32>,
        t: usize,
        b: usize,
        inputs: &[u32],
        targets: &[u32],
    ) -> Result<()> {
        let r = self.rows.clone();
        self.inputs.clear();
        self.targets.clear();
        for s in 0..t {
            self.inputs
                .extend_from_slice(&inputs[s * b + r.start..s * b + r.end]);
            self.targets
                .extend_from_slice(&targets[s * b + r.start..s * b + r.end]);
        }
        self.grads.fill(0.0);
        let batch = Batch {
            state: Some(&self.carry),
            ..Batch::new(SeqInput::Tokens(&self.inputs), t, r.len())
        };
        let target = Target::Classes(&self.targets);
        self.loss = net.loss_and_grad_batch(
            &batch,
            target,
            &mut self.ws,
            &mut self.grads,
            Some(&mut self.rng),
        )?;
        self.carry.copy_from_slice(self.ws.final_state());
        self.count = t * r.len();
        Ok(())
    }

    /// Forward and backward on this shard's words of `picked`.
    fn words_step(&mut self, net: &Net<f32>, picked: &[&(Vec<u32>, Vec<u32>)]) -> Result<()> {
        let mine = &picked[self.rows.start.min(picked.len())..self.rows.end.min(picked.len())];
        self.grads.fill(0.0);
        self.words.fill(mine);
        (self.loss, self.count) = (0.0, 0);
        if mine.is_empty() {
            return Ok(()); // the epoch's last batch can be short
        }
        let wb = &self.words;
        let batch = Batch {
            lengths: Some(&wb.lengths),
            ..Batch::new(SeqInput::Tokens(&wb.inputs), wb.t, wb.b)
        };
        self.loss = net.loss_and_grad_batch(
            &batch,
            Target::Classes(&wb.targets),
            &mut self.ws,
            &mut self.grads,
            Some(&mut self.rng),
        )?;
        self.count = wb.target_count();
        Ok(())
    }
}

/// What one training step reads.
pub(crate) enum Work<'a> {
    /// A corpus window `(T, B)`.
    Corpus {
        t: usize,
        b: usize,
        inputs: &'a [u32],
        targets: &'a [u32],
    },
    /// The words of this step.
    Words(&'a [&'a (Vec<u32>, Vec<u32>)]),
}

/// Run every shard on `work` (in parallel when there are several), then sum
/// the gradients into the first shard's buffer, weighted by the characters
/// each covered. Returns the mean loss and the characters covered.
pub(crate) fn step(
    shards: &mut [Shard],
    net: &Net<f32>,
    work: &Work<'_>,
    rng: &mut ChaCha8Rng,
) -> Result<(f64, usize)> {
    for s in shards.iter_mut() {
        s.rng = ChaCha8Rng::seed_from_u64(rng.next_u64());
    }
    let run = |s: &mut Shard| match work {
        Work::Corpus {
            t,
            b,
            inputs,
            targets,
        } => s.corpus_step(net, *t, *b, inputs, targets),
        Work::Words(picked) => s.words_step(net, picked),
    };
    match shards {
        [one] => run(one)?,
        _ => shards
            .par_iter_mut()
            .map(run)
            .collect::<Result<Vec<()>>>()
            .map(drop)?,
    }
    let total: usize = shards.iter().map(|s| s.count).sum();
    let loss = shards.iter().map(|s| s.loss * s.count as f64).sum::<f64>() / total.max(1) as f64;
    if let [first, rest @ ..] = shards
        && !rest.is_empty()
    {
        let w0 = first.count as f32 / total.max(1) as f32;
        first.grads.iter_mut().for_each(|g| *g *= w0);
        for s in rest.iter() {
            let w = s.count as f32 / total.max(1) as f32;
            for (g, &o) in first.grads.iter_mut().zip(&s.grads) {
                *g += w * o;
            }
        }
    }
    Ok((loss, total))
}
