//! What the ranks exchange. After each backward pass of a language model
//! ([`Group::share`]): every shard's target count, and with the gather
//! every shard's gradients, summed loss and carried state, packed per
//! shard in shard order (`grads (P) | loss (1) | carry (state_len(rows))`)
//! so that one gather of floats and one of counts gives every rank the
//! whole batch's; with the allreduce the carried states alone are
//! gathered, and each rank's weighted sum of its shards is summed across
//! ranks. A trainer that splits a batch by rows sums its parts
//! ([`Group::sum_parts`]); a time budget reads rank 0's clock
//! ([`Group::root_value`]).

use std::ops::Range;

#[cfg(feature = "mpi")]
use super::Exchange;
use super::Group;
use crate::backend::{Backend, View, ViewMut};
use crate::error::Result;
use crate::model::Net;
use crate::train::shard::{RunShard, Shard, each_shard};

impl Group {
    /// After this rank's shards (`mine`) ran a step: make the batch's
    /// results known on every rank. With [`Exchange::Gather`], every other
    /// shard's gradients, summed loss (`scalars[0]`), target count and
    /// carried state become those its owner computed, and `false` is
    /// returned: the caller sums the shards. With [`Exchange::Allreduce`],
    /// the first shard's gradients become the whole batch's, each shard
    /// weighted by its share of the targets, its loss the batch's summed
    /// loss (the others' zero), every count and carried state its owner's,
    /// and `true` is returned: the sum is done. Nothing to do for a single
    /// process (`false`).
    pub(crate) fn share<K: Backend<f32>>(
        &self,
        k: &K,
        shards: &mut [Shard<K>],
        mine: Range<usize>,
    ) -> Result<bool> {
        #[cfg(feature = "mpi")]
        if let Some(comm) = &self.comm {
            return self.timed(|| {
                let mut counts = vec![0u64; shards.len()];
                let own: Vec<u64> = shards[mine.clone()]
                    .iter()
                    .map(|s| s.count as u64)
                    .collect();
                let per_rank = self.per_rank(shards, |_| 1);
                super::transport::all_gather(comm, &own, &per_rank, &mut counts)?;
                let summed = match self.exchange {
                    Exchange::Gather => {
                        let all = self.gather_parts(comm, k, shards, mine.clone(), GRADS)?;
                        unpack(shards, mine, &all, &counts, GRADS)?;
                        false
                    }
                    Exchange::Allreduce => {
                        let carries = self.gather_parts(comm, k, shards, mine.clone(), CARRY)?;
                        let partial = weighted_sum(k, shards, mine.clone(), &counts);
                        let mut total = vec![0.0f32; partial.len()];
                        super::transport::all_reduce_sum(comm, &partial, &mut total)?;
                        set_summed(shards, mine, &total, &carries, &counts)?;
                        true
                    }
                };
                Ok(summed)
            });
        }
        let _ = (k, shards, mine);
        Ok(false)
    }

    /// After each rank ran its part of a batch (see [`Group::part`]): its
    /// `grads`, those of its part's mean loss over `count` targets, and
    /// its summed loss `loss[0]` become the whole batch's on every rank
    /// (`Σ_r count_r/total · grads_r` and `Σ_r loss_r`, by
    /// `MPI_Allreduce`: within rounding of one process running the batch
    /// at once, the same for a given rank count). Returns the batch's
    /// target count; nothing changes for a single process.
    pub(crate) fn sum_parts<K: Backend<f32>>(
        &self,
        grads: K::Mut<'_>,
        loss: K::Mut<'_>,
        count: usize,
    ) -> Result<usize> {
        #[cfg(feature = "mpi")]
        if let Some(comm) = &self.comm {
            return self.timed(|| {
                let mut counts = vec![0u64; self.size];
                super::transport::all_gather(
                    comm,
                    &[count as u64],
                    &vec![1; self.size],
                    &mut counts,
                )?;
                let total = counts.iter().sum::<u64>();
                let (grads, loss) = (host::<K>(grads)?, host::<K>(loss)?);
                let w = count as f32 / total.max(1) as f32;
                let mut mine: Vec<f32> = grads.iter().map(|&g| g * w).collect();
                mine.push(loss[0]);
                let mut sum = vec![0.0f32; mine.len()];
                super::transport::all_reduce_sum(comm, &mine, &mut sum)?;
                grads.copy_from_slice(&sum[..grads.len()]);
                loss[0] = sum[grads.len()];
                Ok(total as usize)
            });
        }
        let _ = (grads, loss);
        Ok(count)
    }

    /// Rank 0's `value` on every rank (`MPI_Bcast`); `value` itself for
    /// a single process.
    pub(crate) fn root_value(&self, value: f64) -> Result<f64> {
        #[cfg(feature = "mpi")]
        if let Some(comm) = &self.comm {
            return self.timed(|| super::transport::broadcast_from_root(comm, value));
        }
        Ok(value)
    }

    /// Run this rank's shards (`mine`: its share of them) with `run` on
    /// the current rayon pool's threads, then make the batch's results
    /// known on every rank as [`Group::share`] does, and return what it
    /// returns. With [`Group::overlaps`], the exchange runs beside the
    /// backward passes (see `overlap.rs`), else after them.
    pub(crate) fn run_and_share<K: Backend<f32>>(
        &self,
        net: &Net<f32, K>,
        shards: &mut [Shard<K>],
        mine: Range<usize>,
        run: impl RunShard<K>,
    ) -> Result<bool> {
        #[cfg(feature = "mpi")]
        if let Some(comm) = self.overlapping(net.config()) {
            return super::overlap::run_and_share(self, comm, net, shards, mine, run);
        }
        each_shard(&mut shards[mine.clone()], |_, s| run(s, &mut |_| {}))?;
        self.share(net.backend(), shards, mine)
    }

    /// `exchange()`, its time added to [`Group::exchange_seconds`].
    #[cfg(feature = "mpi")]
    fn timed<T>(&self, exchange: impl FnOnce() -> Result<T>) -> Result<T> {
        let start = std::time::Instant::now();
        let out = exchange();
        self.add_exchange_time(start.elapsed());
        out
    }

    /// Every shard's parts from `from` on (see [`packet_len`]), from
    /// every rank, one shard's after another.
    #[cfg(feature = "mpi")]
    pub(super) fn gather_parts<K: Backend<f32>>(
        &self,
        comm: &mpi::topology::SimpleCommunicator,
        k: &K,
        shards: &[Shard<K>],
        mine: Range<usize>,
        from: usize,
    ) -> Result<Vec<f32>> {
        let len = |s: &Shard<K>| packet_len(s, from);
        let mut all = vec![0.0f32; shards.iter().map(len).sum()];
        let sent = pack(k, &shards[mine], from);
        super::transport::all_gather(comm, &sent, &self.per_rank(shards, len), &mut all)?;
        Ok(all)
    }

    /// `len` summed over each rank's shards, in rank order.
    #[cfg(feature = "mpi")]
    pub(super) fn per_rank<T>(&self, shards: &[T], len: impl Fn(&T) -> usize) -> Vec<usize> {
        (0..self.size)
            .map(|r| {
                shards[self.owned_by(r, shards.len())]
                    .iter()
                    .map(&len)
                    .sum()
            })
            .collect()
    }

    /// The shards rank `r` owns (see [`Group::owned`]).
    #[cfg(feature = "mpi")]
    pub(super) fn owned_by(&self, r: usize, shards: usize) -> Range<usize> {
        r * shards / self.size..(r + 1) * shards / self.size
    }
}

/// `sum += w·g` (`sum = g·w` for the `first`): one shard's part of a
/// weighted sum, the arithmetic of `shard.rs`'s `sum_grads`.
pub(super) fn accumulate(sum: &mut [f32], g: &[f32], w: f32, first: bool) {
    if first {
        sum.iter_mut().zip(g).for_each(|(x, &o)| *x = o * w);
    } else {
        sum.iter_mut().zip(g).for_each(|(x, &o)| *x += w * o);
    }
}

/// The sum over `mine`, in shard order, of each shard's gradients weighted
/// by its share of all the shards' targets (`counts`), as one process sums
/// them (see `shard.rs`'s `sum_grads`), with the shards' summed losses
/// after it: `P + 1` values.
#[cfg_attr(not(feature = "mpi"), allow(dead_code))] // without MPI: the unit tests
fn weighted_sum<K: Backend<f32>>(
    k: &K,
    shards: &[Shard<K>],
    mine: Range<usize>,
    counts: &[u64],
) -> Vec<f32> {
    let total = counts.iter().sum::<u64>().max(1) as f32;
    let p = K::buf_len(&shards[0].grads);
    let (mut sum, mut g, mut loss) = (vec![0.0f32; p + 1], vec![0.0f32; p], [0.0f32]);
    for (j, i) in mine.enumerate() {
        let w = counts[i] as f32 / total;
        k.download(K::view(&shards[i].grads), &mut g);
        k.download(K::view(&shards[i].scalars).sub(0..1), &mut loss);
        let (grads, l) = sum.split_at_mut(p);
        accumulate(grads, &g, w, j == 0);
        l[0] = if j == 0 { loss[0] } else { l[0] + loss[0] };
    }
    sum
}

/// After an allreduce: the batch's gradients and summed loss (`total`, as
/// [`weighted_sum`] lays them out) into the first shard, the other shards'
/// losses zero, and every shard outside `mine` given its owner's carried
/// state (from `carries`, all shards' in order) and target count.
#[cfg_attr(not(feature = "mpi"), allow(dead_code))] // without MPI: the unit tests
pub(super) fn set_summed<K: Backend<f32>>(
    shards: &mut [Shard<K>],
    mine: Range<usize>,
    total: &[f32],
    carries: &[f32],
    counts: &[u64],
) -> Result<()> {
    let (grads, loss) = total.split_at(total.len() - 1);
    let mut rest = carries;
    for (i, s) in shards.iter_mut().enumerate() {
        let (carry, more) = rest.split_at(K::buf_len(&s.carry));
        rest = more;
        let first = i == 0;
        if first {
            host::<K>(K::view_mut(&mut s.grads))?.copy_from_slice(grads);
        }
        host::<K>(K::view_mut(&mut s.scalars).sub(0..1))?[0] = if first { loss[0] } else { 0.0 };
        if !mine.contains(&i) {
            host::<K>(K::view_mut(&mut s.carry))?.copy_from_slice(carry);
            s.count = counts[i] as usize;
        }
    }
    Ok(())
}

/// Where a shard's packet starts: its gradients, then its summed loss,
/// then its carried state ([`packet_len`]).
#[cfg_attr(not(feature = "mpi"), allow(dead_code))] // without MPI: the unit tests
pub(super) const GRADS: usize = 0;
/// A packet from the summed loss on.
pub(super) const LOSS: usize = 1;
/// A packet of the carried state alone.
#[cfg_attr(not(feature = "mpi"), allow(dead_code))] // without MPI: the unit tests
pub(super) const CARRY: usize = 2;

/// The parts of shard `s` (its gradients, summed loss and carried state)
/// from part `from` on ([`GRADS`], [`LOSS`] or [`CARRY`]).
fn parts<K: Backend<f32>>(s: &Shard<K>, from: usize) -> impl Iterator<Item = K::Ref<'_>> {
    [
        K::view(&s.grads),
        K::view(&s.scalars).sub(0..1),
        K::view(&s.carry),
    ]
    .into_iter()
    .skip(from)
}

/// The floats one shard sends from part `from` on (see [`parts`]).
#[cfg_attr(not(feature = "mpi"), allow(dead_code))] // without MPI: the unit test
fn packet_len<K: Backend<f32>>(s: &Shard<K>, from: usize) -> usize {
    parts(s, from).map(|v| v.len()).sum()
}

/// The packets of `shards` from part `from` on, one after another.
#[cfg_attr(not(feature = "mpi"), allow(dead_code))] // without MPI: the unit tests
fn pack<K: Backend<f32>>(k: &K, shards: &[Shard<K>], from: usize) -> Vec<f32> {
    let mut out = vec![0.0; shards.iter().map(|s| packet_len(s, from)).sum()];
    let mut at = 0;
    for buf in shards.iter().flat_map(|s| parts(s, from)) {
        let n = buf.len();
        k.download(buf, &mut out[at..at + n]);
        at += n;
    }
    out
}

/// Set every shard outside `mine` from the packets from part `from` on of
/// all shards (`all`) and their target counts.
#[cfg_attr(not(feature = "mpi"), allow(dead_code))] // without MPI: the unit test
pub(super) fn unpack<K: Backend<f32>>(
    shards: &mut [Shard<K>],
    mine: Range<usize>,
    all: &[f32],
    counts: &[u64],
    from: usize,
) -> Result<()> {
    let mut rest = all;
    for (i, s) in shards.iter_mut().enumerate() {
        let (mut packet, more) = rest.split_at(packet_len(s, from));
        rest = more;
        if mine.contains(&i) {
            continue;
        }
        let bufs = [&mut s.grads, &mut s.scalars, &mut s.carry];
        for (part, buf) in bufs.into_iter().enumerate().skip(from) {
            let view = match part {
                LOSS => K::view_mut(buf).sub(0..1),
                _ => K::view_mut(buf),
            };
            let dst = host::<K>(view)?;
            let (values, after) = packet.split_at(dst.len());
            dst.copy_from_slice(values);
            packet = after;
        }
        s.count = counts[i] as usize;
    }
    Ok(())
}

/// A buffer's values on the host, or an error on a backend with memory of
/// its own.
#[cfg_attr(not(feature = "mpi"), allow(dead_code))] // without MPI: the unit test
pub(super) fn host<'a, K: Backend<f32>>(m: K::Mut<'a>) -> Result<&'a mut [f32]> {
    K::host_mut(m).ok_or_else(super::cpu_only)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Cpu;
    use crate::cell::CellKind;
    use crate::model::{Init, Net, NetConfig};
    use crate::train::shard::shards_for;

    /// A small GRU's net and 3 shards of a batch of 40 (13-14 rows), each
    /// with distinct gradients, carried state, loss and count.
    fn shards() -> (Net<f32, Cpu>, Vec<Shard<Cpu>>) {
        let net = Net::<f32, Cpu>::new_on(
            Cpu,
            NetConfig::char_lm(CellKind::Gru, 5, 4),
            Init::Uniform,
            1,
        )
        .expect("a net");
        let mut shards = shards_for(&net, 40);
        assert_eq!(shards.len(), 3);
        for (i, s) in shards.iter_mut().enumerate() {
            let v = |j: usize| ((100 * i + j) as f32).sin();
            for (j, x) in s.grads.iter_mut().enumerate() {
                *x = v(j);
            }
            for (j, x) in s.carry.iter_mut().enumerate() {
                *x = -v(j);
            }
            s.scalars[0] = i as f32 + 0.5;
            s.count = 10 + i;
        }
        (net, shards)
    }

    #[test]
    fn unpacking_a_pack_of_all_shards_restores_every_other_shard() {
        let (net, shards) = shards();
        let all = pack(&Cpu, &shards, GRADS);
        let counts = [10, 11, 12];
        let mut other = shards_for(&net, 40);
        unpack(&mut other, 1..2, &all, &counts, GRADS).expect("on the host");
        for i in [0, 2] {
            assert_eq!(other[i].grads, shards[i].grads);
            assert_eq!(other[i].carry, shards[i].carry);
            assert_eq!(other[i].scalars[0], shards[i].scalars[0]);
            assert_eq!(other[i].count, 10 + i);
        }
        // The rank's own shard is left as it was.
        assert!(other[1].grads.iter().all(|&x| x == 0.0));
    }

    #[test]
    fn one_ranks_weighted_sum_is_the_single_process_sum_bit_for_bit() {
        // An allreduce over one rank must give what one process's
        // shard-order sum gives; over two, each rank's part of it.
        let (net, mut shards) = shards();
        let counts = [10, 11, 12];
        let all = weighted_sum(&Cpu, &shards, 0..3, &counts);
        let first = weighted_sum(&Cpu, &shards, 0..1, &counts);
        let rest = weighted_sum(&Cpu, &shards, 1..3, &counts);
        crate::train::shard::sum_grads(&Cpu, &mut shards, 33);
        let p = shards[0].grads.len();
        assert!(
            all[..p]
                .iter()
                .zip(&shards[0].grads)
                .all(|(a, b)| a.to_bits() == b.to_bits())
        );
        assert_eq!(all[p], 0.5 + 1.5 + 2.5);
        let two: Vec<f32> = first.iter().zip(&rest).map(|(a, b)| a + b).collect();
        let off = two
            .iter()
            .zip(&all)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(off < 1e-6, "{off}");
        // Set into the shards: the first holds the sum, the others a zero
        // loss and, outside this rank's, their owners' carries and counts.
        let carries = pack(&Cpu, &shards, CARRY);
        let mut other = shards_for(&net, 40);
        set_summed(&mut other, 1..2, &all, &carries, &counts).expect("on the host");
        assert!(other[0].grads.iter().zip(&all).all(|(a, b)| a == b));
        assert_eq!(other[0].scalars[0], all[p]);
        assert_eq!((other[1].scalars[0], other[2].scalars[0]), (0.0, 0.0));
        assert_eq!(other[2].carry, shards[2].carry);
        assert_eq!((other[0].count, other[2].count), (10, 12));
        assert!(
            other[1].carry.iter().all(|&x| x == 0.0),
            "this rank's own carry is kept"
        );
    }
}
