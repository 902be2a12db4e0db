//! The MPI calls the exchange needs: a gather to every rank of blocks
//! whose lengths differ by rank (`MPI_Allgatherv`), a sum over the ranks
//! delivered to every rank (`MPI_Allreduce`), and rank 0's clock to every
//! rank (`MPI_Bcast`).

use mpi::Count;
use mpi::collective::SystemOperation;
use mpi::datatype::{Equivalence, PartitionMut};
use mpi::topology::SimpleCommunicator;
use mpi::traits::{Communicator, CommunicatorCollectives, Root};

use crate::error::{Error, Result};

/// Gather every rank's `mine` into `all` on every rank, rank `r`'s block
/// (`per_rank[r]` values) after rank `r - 1`'s. MPI's default error
/// handler ends the whole job on a failed transfer, a dead rank included.
pub(super) fn all_gather<T: Equivalence + Copy>(
    comm: &SimpleCommunicator,
    mine: &[T],
    per_rank: &[usize],
    all: &mut [T],
) -> Result<()> {
    let counts = per_rank
        .iter()
        .map(|&n| count(n))
        .collect::<Result<Vec<Count>>>()?;
    let displs = per_rank
        .iter()
        .scan(0usize, |at, &n| {
            let d = *at;
            *at += n;
            Some(count(d))
        })
        .collect::<Result<Vec<Count>>>()?;
    let mut partition = PartitionMut::new(all, counts, displs);
    comm.all_gather_varcount_into(mine, &mut partition);
    Ok(())
}

/// The element-wise sum over the ranks of every rank's `mine` into `sum`
/// on every rank (the same length on every rank). As for [`all_gather`], a
/// failed transfer ends the whole job.
pub(super) fn all_reduce_sum(
    comm: &SimpleCommunicator,
    mine: &[f32],
    sum: &mut [f32],
) -> Result<()> {
    count(mine.len())?;
    comm.all_reduce_into(mine, sum, SystemOperation::sum());
    Ok(())
}

/// Rank 0's `value` on every rank (`MPI_Bcast`).
pub(super) fn broadcast_from_root(comm: &SimpleCommunicator, mut value: f64) -> Result<f64> {
    comm.process_at_rank(0).broadcast_into(&mut value);
    Ok(value)
}

/// `n` as an MPI count, or an error past what one message can carry.
fn count(n: usize) -> Result<Count> {
    Count::try_from(n).map_err(|_| {
        Error::Config(format!(
            "a gradient exchange of {n} values is more than one MPI message carries ({}): train a smaller model or use fewer shards per rank",
            Count::MAX
        ))
    })
}
