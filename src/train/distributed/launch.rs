//! Starting MPI in a process that `mpirun` (or another MPI launcher)
//! started, and ending the whole job when one rank fails.

use mpi::Threading;
use mpi::environment::Universe;
use mpi::topology::Communicator;

use super::Group;
use crate::error::{Error, Result};

/// MPI, started for this process; finalized when dropped (which every
/// rank must reach: a rank that fails calls [`Session::abort`] instead).
pub struct Session {
    universe: Universe,
}

impl Session {
    /// Start MPI if this process was started by an MPI launcher (see
    /// [`super::launched_ranks`]); `None` for a process started on its
    /// own. Only the calling thread calls MPI (the other threads compute).
    pub fn start() -> Result<Option<Session>> {
        if super::launched_ranks().is_none() {
            return Ok(None);
        }
        let (universe, _) = mpi::initialize_with_threading(Threading::Funneled)
            .ok_or_else(|| Error::Config("MPI was started already in this process".into()))?;
        Ok(Some(Session { universe }))
    }

    /// The group of all the job's ranks (`MPI_COMM_WORLD`).
    pub fn group(&self) -> Group {
        let world = self.universe.world();
        Group {
            rank: world.rank() as usize,
            size: world.size() as usize,
            comm: Some(world),
            ..Group::single()
        }
    }

    /// End every rank of the job with exit status `code` (`MPI_Abort`):
    /// what a rank that failed does, so that none waits for it forever.
    pub fn abort(&self, code: i32) -> ! {
        self.universe.world().abort(code)
    }
}
