//! Data-parallel training over several processes (MPI ranks), each with
//! its own threads: `mpirun -np N recur train ...` with the `mpi` feature.
//!
//! The design is the threads' (see `shard.rs`) taken across processes. A
//! batch is split into shards by its size and the model alone; rank `r` of
//! `N` runs a contiguous run of those shards ([`Group::owned`]), and after
//! every backward pass the ranks gather every shard's gradients, summed
//! loss, target count and carried state (`Group::share` in `exchange.rs`, one
//! `MPI_Allgatherv` of floats and one of counts). Every rank then sums the
//! gradients in shard order, exactly as one process does, and applies the
//! same update. So the parameters stay identical on every rank, and the
//! loss curve, the checkpoints and the samples are bit for bit those of
//! one process with any number of ranks and threads (on machines that pick
//! the same SIMD kernels). A gather moves each shard's gradients rather
//! than an allreduce's one running sum: more bytes (about S/2 times an
//! allreduce's for S shards) for results that do not depend on the rank
//! count, which a floating-point allreduce cannot promise. With
//! [`Exchange::Allreduce`] the ranks sum instead: each its own shards in
//! order, then across ranks (`MPI_Allreduce`), for one gradient's bytes
//! per rank and results that depend on the rank count by rounding.
//!
//! Every rank holds every shard's state after each step, so a run saved
//! with one rank count resumes with any other. Rank 0 alone validates,
//! logs and writes the run folder; the others wait for it at the next
//! exchange.
//!
//! Without the `mpi` feature, [`Group::single`] is all there is: one
//! process, nothing exchanged, and the trainer runs the same code.

mod exchange;
#[cfg(feature = "mpi")]
mod launch;
#[cfg(feature = "mpi")]
mod overlap;
#[cfg(feature = "mpi")]
mod transport;

use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};

#[cfg(feature = "mpi")]
pub use launch::Session;

/// The environment variables by which MPI launchers (OpenMPI's `mpirun`,
/// MPICH's Hydra, PMIx) tell a process how many ranks its job has.
const SIZE_VARS: [&str; 3] = ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"];

/// The number of processes of the MPI job this process was started in
/// (from its launcher's environment), or `None` outside one.
pub fn launched_ranks() -> Option<usize> {
    SIZE_VARS
        .iter()
        .find_map(|v| std::env::var(v).ok()?.trim().parse().ok())
}

/// How the ranks combine their gradients after each backward pass.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Exchange {
    /// Every shard's gradients to every rank (`MPI_Allgatherv`); each rank
    /// sums them in shard order, as one process does: results bit for bit
    /// those of one process with any rank count. Each rank receives every
    /// shard's gradients: bytes grow with the shards (and so with the
    /// ranks, at a batch that grows with them).
    #[default]
    Gather,
    /// Each rank sums its own shards' (weighted) gradients in shard order,
    /// then the ranks sum those (`MPI_Allreduce`): one gradient's bytes
    /// per rank (twice, in a ring) whatever the shard count. Results
    /// depend on the rank count by rounding (the sums associate
    /// differently), and repeat bit for bit for a given count.
    Allreduce,
}

impl std::str::FromStr for Exchange {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "gather" => Ok(Exchange::Gather),
            "allreduce" => Ok(Exchange::Allreduce),
            other => Err(Error::Config(format!(
                "unknown exchange {other:?}: use gather (results identical to one process) or allreduce (fewer bytes, results within rounding)"
            ))),
        }
    }
}

/// Whether a language model's exchange runs beside its backward pass:
/// the output layer's and each upper layer's gradients sent while the
/// layers below still run (see `overlap.rs`). The results are the same
/// either way.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Overlap {
    /// Beside it for a large model (one whose threads share each product
    /// rather than the batch: see `shard.rs`), after it for a small one.
    /// Measured on 2 cores over shared memory (README), the overlap sped a
    /// 2x512 LSTM up a little and slowed char-rnn's 2x128 down by more:
    /// keeping the exchange moving while every core computes costs a small
    /// model more than the exchange it hides.
    #[default]
    Auto,
    /// Beside it, whatever the model.
    On,
    /// After it.
    Off,
}

impl std::str::FromStr for Overlap {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "auto" => Ok(Overlap::Auto),
            "on" => Ok(Overlap::On),
            "off" => Ok(Overlap::Off),
            other => Err(Error::Config(format!(
                "unknown overlap {other:?}: use auto (beside the backward for a large model), on or off"
            ))),
        }
    }
}

/// The processes (ranks) that train one model together, as seen by one
/// of them. [`Group::single`] is a run of its own.
pub struct Group {
    rank: usize,
    size: usize,
    /// How gradients are combined (see [`Exchange`]).
    #[cfg_attr(not(feature = "mpi"), allow(dead_code))] // read by the exchange alone
    exchange: Exchange,
    /// Whether a language model's exchange runs beside its backward pass.
    overlap: Overlap,
    /// Nanoseconds spent in exchanges so far (see [`Group::exchange_seconds`]).
    exchanging: AtomicU64,
    /// Nanoseconds of backward beside exchanges (see [`Group::beside_seconds`]).
    beside: AtomicU64,
    #[cfg(feature = "mpi")]
    comm: Option<mpi::topology::SimpleCommunicator>,
}

impl Default for Group {
    fn default() -> Self {
        Group::single()
    }
}

impl std::fmt::Debug for Group {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Group {{ rank: {}, size: {} }}", self.rank, self.size)
    }
}

impl Group {
    /// One process training alone: rank 0 of 1.
    pub fn single() -> Self {
        Group {
            rank: 0,
            size: 1,
            exchange: Exchange::Gather,
            overlap: Overlap::Auto,
            exchanging: AtomicU64::new(0),
            beside: AtomicU64::new(0),
            #[cfg(feature = "mpi")]
            comm: None,
        }
    }

    /// The same group, combining gradients by `exchange`.
    pub fn with_exchange(self, exchange: Exchange) -> Self {
        Group { exchange, ..self }
    }

    /// The same group, a language model's exchange running beside its
    /// backward pass or after it as `overlap` says.
    pub fn with_overlap(self, overlap: Overlap) -> Self {
        Group { overlap, ..self }
    }

    /// Whether a language model of shape `model` exchanges beside its
    /// backward pass: with several ranks, as [`Overlap`] says.
    pub fn overlaps(&self, model: &crate::model::NetConfig) -> bool {
        let large = crate::train::shard::is_large_model(
            model.cell.rows(model.hidden_size),
            model.hidden_size,
        );
        self.size > 1
            && match self.overlap {
                Overlap::Auto => large,
                Overlap::On => true,
                Overlap::Off => false,
            }
    }

    /// The communicator to exchange on beside the backward pass of
    /// `model`: where it [`Group::overlaps`], and this thread is not one
    /// of the rayon pool's (the shards run there while this thread
    /// exchanges, which a pool thread could not wait for).
    #[cfg(feature = "mpi")]
    fn overlapping(
        &self,
        model: &crate::model::NetConfig,
    ) -> Option<&mpi::topology::SimpleCommunicator> {
        let on = self.overlaps(model) && rayon::current_thread_index().is_none();
        self.comm.as_ref().filter(|_| on)
    }

    /// Add `spent` to [`Group::exchange_seconds`].
    #[cfg(feature = "mpi")]
    fn add_exchange_time(&self, spent: std::time::Duration) {
        add_nanos(&self.exchanging, spent);
    }

    /// Add `spent` to [`Group::beside_seconds`].
    #[cfg(feature = "mpi")]
    fn add_beside_time(&self, spent: std::time::Duration) {
        add_nanos(&self.beside, spent);
    }

    /// This process's rank, from 0.
    pub fn rank(&self) -> usize {
        self.rank
    }

    /// With the overlap, seconds of the bottom layer's backward passes
    /// during which the layers above were being exchanged: the time the
    /// overlap had to hide their exchange in (0 without it).
    pub fn beside_seconds(&self) -> f64 {
        self.beside.load(Ordering::Relaxed) as f64 * 1e-9
    }

    /// The number of ranks.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Whether this is rank 0, the one that validates, logs and saves.
    pub fn is_root(&self) -> bool {
        self.rank == 0
    }

    /// Seconds this rank has spent exchanging results with the others:
    /// moving the data and waiting for the slowest rank (0 for one process).
    /// With the overlap, the time the exchange took past the backward pass
    /// alone: from the start of the bottom layer's exchange to the end.
    pub fn exchange_seconds(&self) -> f64 {
        self.exchanging.load(Ordering::Relaxed) as f64 * 1e-9
    }

    /// An error for several ranks on backend `K` unless it computes in
    /// host memory (the exchanges read and write the host's).
    pub(crate) fn check_backend<K: crate::backend::Backend<f32>>(&self) -> Result<()> {
        if self.size > 1 && !K::READS_HOST {
            return Err(cpu_only());
        }
        Ok(())
    }

    /// The rows of a batch of `n` (sequence pairs, windows) this rank runs
    /// where a trainer splits a batch by rows rather than shards (see
    /// `Group::sum_parts`): a contiguous run, the counts differing by at
    /// most one. An error when there are more ranks than rows.
    pub fn part(&self, n: usize) -> Result<Range<usize>> {
        if self.size > n {
            return Err(Error::Config(format!(
                "{} ranks but a batch holds {n}: run at most {n} ranks, or raise --batch",
                self.size
            )));
        }
        Ok(self.rank * n / self.size..(self.rank + 1) * n / self.size)
    }

    /// The shards (of `shards`, in order) this rank runs: a contiguous
    /// run, the counts differing by at most one between ranks. An error
    /// when there are more ranks than shards (some would have no work).
    pub fn owned(&self, shards: usize) -> Result<Range<usize>> {
        if self.size > shards {
            return Err(Error::Config(format!(
                "{} ranks but the batch splits into {shards} shard{} (a shard has at most 16 rows, 64 for large models): run at most {shards} ranks, or raise --batch",
                self.size,
                if shards == 1 { "" } else { "s" }
            )));
        }
        Ok(self.rank * shards / self.size..(self.rank + 1) * shards / self.size)
    }
}

/// `spent` added to the nanoseconds in `total`.
#[cfg(feature = "mpi")]
fn add_nanos(total: &AtomicU64, spent: std::time::Duration) {
    let ns = spent.as_nanos().try_into().unwrap_or(u64::MAX);
    total.fetch_add(ns, Ordering::Relaxed);
}

/// The error for a group of several ranks off the CPU.
fn cpu_only() -> Error {
    Error::Device("training over several processes runs on the CPU only: leave out --device".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(rank: usize, size: usize) -> Group {
        let mut g = Group::single();
        (g.rank, g.size) = (rank, size);
        g
    }

    #[test]
    fn ranks_own_contiguous_runs_of_shards_covering_all() {
        for size in 1..=5 {
            for shards in size..=9 {
                let runs: Vec<_> = (0..size)
                    .map(|r| group(r, size).owned(shards).expect("enough shards"))
                    .collect();
                assert_eq!(runs[0].start, 0);
                assert_eq!(runs[size - 1].end, shards);
                assert!(runs.windows(2).all(|w| w[0].end == w[1].start));
                assert!(runs.iter().all(|r| !r.is_empty()));
            }
        }
        assert_eq!(group(1, 3).owned(4).ok(), Some(1..2));
    }

    #[test]
    fn auto_overlaps_a_large_models_exchange_alone() {
        use crate::cell::CellKind;
        use crate::model::NetConfig;
        let (small, large) = (
            NetConfig::char_lm(CellKind::Lstm, 65, 128),
            NetConfig::char_lm(CellKind::Lstm, 65, 512),
        );
        let two = group(0, 2);
        assert!(!two.overlaps(&small) && two.overlaps(&large));
        let on = group(1, 2).with_overlap(Overlap::On);
        assert!(on.overlaps(&small) && on.overlaps(&large));
        let off = group(1, 2).with_overlap(Overlap::Off);
        assert!(!off.overlaps(&small) && !off.overlaps(&large));
        // Alone, nothing to overlap.
        assert!(!group(0, 1).with_overlap(Overlap::On).overlaps(&large));
        assert!("sometimes".parse::<Overlap>().is_err());
    }

    #[test]
    fn more_ranks_than_shards_is_refused_with_advice() {
        let e = group(0, 3).owned(2).expect_err("too many ranks");
        assert!(e.to_string().contains("run at most 2 ranks"), "{e}");
    }
}
