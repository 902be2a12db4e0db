//! Data parallelism on the CPU: the batch's rows (streams or words) are
//! split into shards (on a backend with its own memory, a GPU, the whole
//! batch is one shard), each shard runs forward and backward with its own
//! workspace and gradient buffer, and the gradients are summed in shard
//! order, weighted by the characters each shard covered.
//!
//! The split depends on the batch size and the model alone (see
//! [`shard_rows`]), never on the number of threads: the shards run on the
//! threads of the current rayon pool, however many there are (a single
//! shard runs on the calling thread and its large products use the pool),
//! and the sums come out the same. So the same command and seed give the same
//! checkpoint bytes with any `--threads` (on one machine: another CPU may
//! pick other SIMD kernels).

use std::ops::Range;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::Deserialize;

use super::distributed::Group;
use super::state::SavedState;
use crate::backend::{Backend, Cpu, View, ViewMut};
use crate::cell::SeqInput;
use crate::data::{CharStreams, WordBatch};
use crate::error::{Error, Result};
use crate::layer::loss::Target;
use crate::model::{Batch, Net, NetWorkspace, Progress};
use crate::tensor::PARALLEL_MIN_MACS;

/// The most rows (streams or words) one shard of a small model takes.
/// Products of a small model are too small to split over threads, so its
/// threads share the batch: B = 50 gives four shards (12, 13, 12 and 13
/// rows), enough for one to four threads. Thinner shards would let more
/// threads share a batch but cost every machine speed.
pub(crate) const SMALL_MODEL_ROWS: usize = 16;

/// The most rows one shard of a large model takes. A model is large when
/// its product with the recurrent weights at each step, over
/// [`SMALL_MODEL_ROWS`] rows, is big enough to be split over threads by
/// itself ([`PARALLEL_MIN_MACS`]): its threads share each product rather
/// than the batch, and its products run far slower when thinner than about
/// 50 rows (a 2x512 LSTM trained about 30% slower on one thread in shards
/// of 16 rows than of 64).
pub(crate) const LARGE_MODEL_ROWS: usize = 64;

/// The rows of each shard of a batch of `b` for a model with `g` input
/// projection rows (see [`crate::cell::Cell::rows`]) of hidden size `h`:
/// contiguous ranges covering `0..b`, sizes
/// differing by at most 1, each at most [`SMALL_MODEL_ROWS`] or
/// [`LARGE_MODEL_ROWS`]. The batch and the model decide it, never the
/// number of threads.
pub(crate) fn shard_rows(b: usize, g: usize, h: usize) -> Vec<Range<usize>> {
    let most = match is_large_model(g, h) {
        true => LARGE_MODEL_ROWS,
        false => SMALL_MODEL_ROWS,
    };
    split_rows(b, b.div_ceil(most))
}

/// Whether a model with `g` input projection rows of hidden size `h` is
/// large: its product with the recurrent weights at each step, over
/// [`SMALL_MODEL_ROWS`] rows, is big enough to be split over threads by
/// itself ([`PARALLEL_MIN_MACS`]).
pub(crate) fn is_large_model(g: usize, h: usize) -> bool {
    SMALL_MODEL_ROWS.saturating_mul(g).saturating_mul(h) >= PARALLEL_MIN_MACS
}

/// `0..b` in `n` contiguous ranges (clamped to `1..=b`), sizes differing
/// by at most 1.
fn split_rows(b: usize, n: usize) -> Vec<Range<usize>> {
    let n = n.clamp(1, b.max(1));
    (0..n).map(|s| s * b / n..(s + 1) * b / n).collect()
}

/// One slice of the batch with everything its thread needs, its buffers
/// on backend `K`.
pub(crate) struct Shard<K: Backend<f32> = Cpu> {
    /// The batch rows (streams or words) it owns.
    pub rows: Range<usize>,
    pub ws: NetWorkspace<f32, K>,
    pub grads: K::Buf,
    /// The recurrent state of its streams, carried between corpus windows.
    pub carry: K::Buf,
    /// The same during validation (see [`corpus_loss`]), apart from the
    /// training state it must leave as it was.
    val_carry: K::Buf,
    /// The step's summed loss and, in the first shard, the clip's verdict
    /// (see [`crate::train`]'s `Course::step`), on the backend.
    pub scalars: K::Buf,
    inputs: Vec<u32>,
    targets: Vec<u32>,
    words: WordBatch,
    /// Dropout masks; reseeded every step from the trainer's generator.
    rng: ChaCha8Rng,
    /// The targets its last step covered.
    pub count: usize,
}

/// The shards of a batch of `b` rows: split over the host's threads (see
/// [`shard_rows`]) on the CPU, one on a backend with its own memory.
pub(crate) fn shards_for<K: Backend<f32>>(net: &Net<f32, K>, b: usize) -> Vec<Shard<K>> {
    let c = net.config();
    let rows = if K::READS_HOST {
        shard_rows(b, c.cell.rows(c.hidden_size), c.hidden_size)
    } else {
        split_rows(b, 1)
    };
    rows.into_iter()
        .map(|rows| {
            let mut carry = K::Buf::default();
            net.backend().resize(&mut carry, c.state_len(rows.len()));
            Shard {
                carry,
                val_carry: K::Buf::default(),
                scalars: super::course::step_scalars(net.backend(), 2),
                rows,
                ws: net.workspace(),
                grads: net.zero_grads(),
                inputs: Vec::new(),
                targets: Vec::new(),
                words: WordBatch::default(),
                rng: ChaCha8Rng::seed_from_u64(0),
                count: 0,
            }
        })
        .collect()
}

impl<K: Backend<f32>> Shard<K> {
    /// Forward and backward of `work` on this shard's rows, telling
    /// `report` how it goes (see [`Net::loss_and_grad_reporting`]).
    fn run(&mut self, net: &Net<f32, K>, work: &Work<'_>, report: Report<'_, K>) -> Result<()> {
        match work {
            Work::Corpus {
                t,
                b,
                inputs,
                targets,
            } => self.corpus_step(net, (*t, *b), (inputs, targets), report),
            Work::Words(picked) => self.words_step(net, picked, report),
        }
    }

    /// Forward and backward on this shard's columns of a corpus window
    /// (`inputs, targets: (T, B)` time-major), from its carried state.
    fn corpus_step(
        &mut self,
        net: &Net<f32, K>,
        (t, b): (usize, usize),
        (inputs, targets): (&[u32], &[u32]),
        report: Report<'_, K>,
    ) -> Result<()> {
        let r = self.rows.clone();
        self.take_columns(&r, t, b, inputs, targets);
        let k = net.backend();
        k.fill(K::view_mut(&mut self.grads), 0.0);
        let batch = Batch::new(SeqInput::Tokens(&self.inputs), t, r.len());
        self.count = net.loss_and_grad_reporting(
            &batch,
            Some(K::view(&self.carry)),
            Target::Classes(&self.targets),
            &mut self.ws,
            K::view_mut(&mut self.grads),
            Some(&mut self.rng),
            K::view_mut(&mut self.scalars).sub(0..1),
            report,
        )?;
        k.copy(self.ws.final_state(), K::view_mut(&mut self.carry));
        Ok(())
    }

    /// Columns `rows` of a corpus window (`inputs, targets: (T, B)`
    /// time-major) into this shard's `(T, rows)` buffers.
    fn take_columns(
        &mut self,
        rows: &Range<usize>,
        t: usize,
        b: usize,
        inputs: &[u32],
        targets: &[u32],
    ) {
        self.inputs.clear();
        self.targets.clear();
        for s in 0..t {
            let cols = s * b + rows.start..s * b + rows.end;
            self.inputs.extend_from_slice(&inputs[cols.clone()]);
            self.targets.extend_from_slice(&targets[cols]);
        }
    }

    /// Summed loss of columns `rows` of a corpus window, forward only, from
    /// the validation state, which it then carries on.
    fn window_loss(
        &mut self,
        net: &Net<f32, K>,
        rows: &Range<usize>,
        t: usize,
        b: usize,
        inputs: &[u32],
        targets: &[u32],
    ) -> Result<f64> {
        self.take_columns(rows, t, b, inputs, targets);
        let batch = Batch::new(SeqInput::Tokens(&self.inputs), t, rows.len());
        let target = Target::Classes(&self.targets);
        let mean = net.loss_from(&batch, Some(K::view(&self.val_carry)), target, &mut self.ws)?;
        let k = net.backend();
        k.copy(self.ws.final_state(), K::view_mut(&mut self.val_carry));
        Ok(mean * (t * rows.len()) as f64)
    }

    /// Forward and backward on this shard's words of `picked`.
    fn words_step(
        &mut self,
        net: &Net<f32, K>,
        picked: &[&(Vec<u32>, Vec<u32>)],
        report: Report<'_, K>,
    ) -> Result<()> {
        let mine = &picked[self.rows.start.min(picked.len())..self.rows.end.min(picked.len())];
        let k = net.backend();
        k.fill(K::view_mut(&mut self.grads), 0.0);
        k.fill(K::view_mut(&mut self.scalars).sub(0..1), 0.0);
        self.words.fill(mine);
        self.count = 0;
        if mine.is_empty() {
            // The epoch's last batch can be short: no targets, zero
            // gradients, reported as a step's would be.
            report(Progress::Counted(0));
            for r in net.grad_segments() {
                report(Progress::Final(r.clone(), K::view(&self.grads).sub(r)));
            }
            return Ok(());
        }
        let wb = &self.words;
        let batch = Batch {
            lengths: Some(&wb.lengths),
            ..Batch::new(SeqInput::Tokens(&wb.inputs), wb.t, wb.b)
        };
        self.count = net.loss_and_grad_reporting(
            &batch,
            None,
            Target::Classes(&wb.targets),
            &mut self.ws,
            K::view_mut(&mut self.grads),
            Some(&mut self.rng),
            K::view_mut(&mut self.scalars).sub(0..1),
            report,
        )?;
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

/// What a shard's step reports as it goes (see
/// [`Net::loss_and_grad_reporting`]): an exchange that overlaps the
/// backward listens; otherwise nothing does.
pub(crate) type Report<'r, K> = &'r mut dyn FnMut(Progress<<K as Backend<f32>>::Ref<'_>>);

/// A shard's step: [`Shard::run`] on one piece of work.
pub(crate) trait RunShard<K: Backend<f32>>:
    Fn(&mut Shard<K>, Report<'_, K>) -> Result<()> + Sync
{
}
impl<K: Backend<f32>, F: Fn(&mut Shard<K>, Report<'_, K>) -> Result<()> + Sync> RunShard<K> for F {}

/// `f(i, shard i)` for every shard, results in shard order: on this thread
/// when there is one shard (so that its large products may use the other
/// threads), else on the current rayon pool's threads.
pub(crate) fn each_shard<K: Backend<f32>, R: Send>(
    shards: &mut [Shard<K>],
    f: impl Fn(usize, &mut Shard<K>) -> Result<R> + Sync,
) -> Result<Vec<R>> {
    match shards {
        [one] => Ok(vec![f(0, one)?]),
        _ => shards
            .par_iter_mut()
            .enumerate()
            .map(|(i, s)| f(i, s))
            .collect(),
    }
}

/// Run this process's shards (`ranks`' share of them: all for a single
/// process) on `work` (on the current rayon pool's threads when there are
/// several), take the others' results from the other ranks, then sum the
/// gradients into the first shard's buffer, weighted by the characters
/// each covered, and the summed losses into its `scalars[0]`, on the
/// backend. Returns the characters covered.
pub(crate) fn step<K: Backend<f32>>(
    shards: &mut [Shard<K>],
    (net, ranks): (&Net<f32, K>, &Group),
    work: &Work<'_>,
    rng: &mut ChaCha8Rng,
) -> Result<usize> {
    // Every shard's seed, on every rank: the draws do not depend on who runs it.
    for s in shards.iter_mut() {
        s.rng = ChaCha8Rng::seed_from_u64(rng.next_u64());
    }
    let mine = ranks.owned(shards.len())?;
    let run = |s: &mut Shard<K>, report: Report<'_, K>| s.run(net, work, report);
    let summed = ranks.run_and_share(net, shards, mine, run)?;
    let total: usize = shards.iter().map(|s| s.count).sum();
    let k = net.backend();
    if let Some((first, rest)) = shards.split_first_mut() {
        for s in rest.iter() {
            let one = K::view(&s.scalars).sub(0..1);
            k.add(one, K::view_mut(&mut first.scalars).sub(0..1));
        }
    }
    if !summed {
        sum_grads(k, shards, total);
    }
    Ok(total)
}

/// Summed loss and character count of `net` over `tokens`, read as `b`
/// streams of `t`-character windows with the state carried across windows
/// (as [`crate::train::corpus_loss`] does), the streams split over the
/// shards as a training batch of `b` rows is: validation runs on the
/// threads training uses, in the shards' workspaces, and needs no memory
/// of its own beyond a state per shard. The training states are left as
/// they were. Losses are summed in shard order, so the figure does not
/// depend on the number of threads.
pub(crate) fn corpus_loss<K: Backend<f32>>(
    shards: &mut [Shard<K>],
    net: &Net<f32, K>,
    tokens: &[u32],
    t: usize,
    b: usize,
) -> Result<(f64, usize)> {
    let streams = CharStreams::new(tokens, t, b, "text")?;
    let (mut inputs, mut targets) = (vec![0; t * b], vec![0; t * b]);
    let rows = split_rows(b, shards.len());
    let shards = &mut shards[..rows.len()];
    let k = net.backend();
    for (s, r) in shards.iter_mut().zip(&rows) {
        k.resize(&mut s.val_carry, net.config().state_len(r.len()));
        k.fill(K::view_mut(&mut s.val_carry), 0.0);
    }
    let mut sum = 0.0;
    for w in 0..streams.windows() {
        streams.window(w, &mut inputs, &mut targets);
        let losses = each_shard(shards, |i, s| {
            s.window_loss(net, &rows[i], t, b, &inputs, &targets)
        })?;
        sum += losses.iter().sum::<f64>();
    }
    k.check()?;
    Ok((sum, streams.windows() * t * b))
}

/// Parameters per task when the gradients are summed in parallel.
const SUM_CHUNK: usize = 1 << 15;

/// Sum the shards' gradients into the first one's buffer, each weighted by
/// its share of the `total` characters. Every parameter is summed in shard
/// order; on the host the parameters are split over threads, which cannot
/// change a result.
pub(crate) fn sum_grads<K: Backend<f32>>(k: &K, shards: &mut [Shard<K>], total: usize) {
    let Some((first, rest)) = shards.split_first_mut() else {
        return;
    };
    if rest.is_empty() {
        return;
    }
    let total = total.max(1) as f32;
    let w0 = first.count as f32 / total;
    let Some(sum) = K::host_mut(K::view_mut(&mut first.grads)) else {
        // Elsewhere: scale each shard's gradients by its weight, then add.
        k.scale(K::view_mut(&mut first.grads), w0);
        for s in rest.iter_mut() {
            k.scale(K::view_mut(&mut s.grads), s.count as f32 / total);
            k.add(K::view(&s.grads), K::view_mut(&mut first.grads));
        }
        return;
    };
    let rest: Vec<(f32, &mut [f32])> = rest
        .iter_mut()
        .map(|s| {
            let w = s.count as f32 / total;
            (
                w,
                K::host_mut(K::view_mut(&mut s.grads)).expect("host memory"),
            )
        })
        .collect();
    sum.par_chunks_mut(SUM_CHUNK)
        .enumerate()
        .for_each(|(c, g)| {
            let at = c * SUM_CHUNK;
            g.iter_mut().for_each(|x| *x *= w0);
            for (w, o) in &rest {
                for (x, &o) in g.iter_mut().zip(&o[at..]) {
                    *x += w * o;
                }
            }
        });
}

/// The setting that runs saved while the split followed `--threads` have
/// in their saved settings (`shards`, the thread count); newer runs do not.
#[derive(Deserialize)]
struct ThreadDependentRun {
    #[serde(default)]
    shards: Option<usize>,
}

/// An error for a run saved while its results depended on `--threads`:
/// this version sums its gradients in another order, so it could not
/// continue the run exactly.
pub(crate) fn refuse_thread_dependent_run(state: &SavedState) -> Result<()> {
    match state.config::<ThreadDependentRun>()?.shards {
        Some(n) => Err(Error::Checkpoint(format!(
            "{}: this run was saved by an older recur whose results depended on --threads (it ran on {n}); this version cannot continue it exactly. Its model.safetensors still samples and evaluates, or start a new run with --overwrite",
            state.file.path().display()
        ))),
        None => Ok(()),
    }
}

/// The shards' carried states as one state of the whole batch, laid out as
/// a single shard's (`h (L·D, B, H)`, then `c` for the LSTM, with `h`
/// hidden values per row), on the host: what a save stores, whatever the
/// split and the backend.
pub(crate) fn joined_carry<K: Backend<f32>>(k: &K, shards: &[Shard<K>], h: usize) -> Vec<f32> {
    let ranges: Vec<Range<usize>> = shards.iter().map(|s| s.rows.clone()).collect();
    let mut split = Vec::new();
    for s in shards {
        let at = split.len();
        split.resize(at + K::buf_len(&s.carry), 0.0);
        k.download(K::view(&s.carry), &mut split[at..]);
    }
    relayout(&split, &ranges, &split_rows(batch_rows(&ranges), 1), h)
}

/// Set the shards' carried states from a state of the whole batch (see
/// [`joined_carry`]) holding as many values as theirs.
pub(crate) fn split_carry<K: Backend<f32>>(
    k: &K,
    shards: &mut [Shard<K>],
    saved: &[f32],
    h: usize,
) {
    let ranges: Vec<Range<usize>> = shards.iter().map(|s| s.rows.clone()).collect();
    let split = relayout(saved, &split_rows(batch_rows(&ranges), 1), &ranges, h);
    let mut rest = &split[..];
    for s in shards {
        let (mine, more) = rest.split_at(K::buf_len(&s.carry));
        s.carry = k.upload(mine);
        rest = more;
    }
}

fn batch_rows(ranges: &[Range<usize>]) -> usize {
    ranges.last().map_or(0, |r| r.end)
}

/// `state`, split by rows over `from` (each range's block `(planes, rows,
/// h)` after the one before), split over `to` instead.
fn relayout(state: &[f32], from: &[Range<usize>], to: &[Range<usize>], h: usize) -> Vec<f32> {
    let b = batch_rows(from);
    let planes = state.len().checked_div(b * h).unwrap_or(0);
    let mut out = vec![0.0; state.len()];
    for p in 0..planes {
        for i in 0..b {
            let (s, d) = (row_at(from, planes, h, p, i), row_at(to, planes, h, p, i));
            out[d..d + h].copy_from_slice(&state[s..s + h]);
        }
    }
    out
}

/// Where row `i` of plane `p` starts in a state split over `ranges`.
fn row_at(ranges: &[Range<usize>], planes: usize, h: usize, p: usize, i: usize) -> usize {
    let r = ranges
        .iter()
        .find(|r| r.contains(&i))
        .expect("the ranges cover every row");
    planes * h * r.start + (p * r.len() + i - r.start) * h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_split_follows_the_batch_and_the_model() {
        let sizes = |b, g, h| {
            let r = shard_rows(b, g * h, h);
            assert_eq!((r[0].start, r[r.len() - 1].end), (0, b));
            assert!(r.windows(2).all(|w| w[0].end == w[1].start));
            r.iter().map(|r| r.len()).collect::<Vec<_>>()
        };
        // A 128-unit LSTM: shards of up to 16 rows.
        assert_eq!(sizes(1, 4, 128), [1]);
        assert_eq!(sizes(16, 4, 128), [16]);
        assert_eq!(sizes(17, 4, 128), [8, 9]);
        assert_eq!(sizes(50, 4, 128), [12, 13, 12, 13]);
        // A 512-unit LSTM (and a 256-unit one): up to 64.
        assert_eq!(sizes(64, 4, 512), [64]);
        assert_eq!(sizes(100, 4, 256), [50, 50]);
        assert_eq!(sizes(50, 3, 256), [12, 13, 12, 13]);
        for b in 1..300 {
            for (g, h) in [(1, 100), (4, 512), (3, 1 << 40)] {
                let s = sizes(b, g, h);
                assert!(s.iter().all(|&n| (1..=LARGE_MODEL_ROWS).contains(&n)));
            }
        }
    }

    #[test]
    fn relayout_moves_rows_between_splits() {
        // 2 planes, 5 rows, h = 3: value = 100·plane + 10·row + unit.
        let (planes, b, h) = (2, 5, 3);
        let whole: Vec<f32> = (0..planes * b * h)
            .map(|j| (100 * (j / (b * h)) + 10 * (j / h % b) + j % h) as f32)
            .collect();
        let two = split_rows(b, 2); // rows 0..2 and 2..5
        let split = relayout(&whole, &split_rows(b, 1), &two, h);
        // The first shard's block: plane 0 rows 0, 1, then plane 1 rows 0, 1.
        assert_eq!(
            split[..12],
            [
                0., 1., 2., 10., 11., 12., 100., 101., 102., 110., 111., 112.
            ]
        );
        assert_eq!(relayout(&split, &two, &split_rows(b, 1), h), whole);
        let three = split_rows(b, 3);
        assert_eq!(
            relayout(
                &relayout(&split, &two, &three, h),
                &three,
                &split_rows(b, 1),
                h
            ),
            whole
        );
    }
}
