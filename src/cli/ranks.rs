//! The MPI job a `recur train` process may be one rank of (`mpirun -np N
//! recur train ...`, with the `mpi` feature): start MPI, quiet every rank
//! but 0, and end the whole job when a rank fails.

use std::process::ExitCode;

use recur::Result;
use recur::train::distributed::Group;
#[cfg(not(feature = "mpi"))]
use recur::{Error, train::distributed::launched_ranks};

/// This process's place in its MPI job (alone, without one).
pub struct Ranks {
    #[cfg(feature = "mpi")]
    session: Option<recur::train::distributed::Session>,
    /// A copy of the original stderr on a quieted rank, for its errors.
    #[cfg(feature = "mpi")]
    stderr: Option<std::fs::File>,
}

impl Ranks {
    /// Join the MPI job this process was started in, if any; ranks other
    /// than 0 then print nothing but their errors. Without the `mpi`
    /// feature, an error for a process started as one of several ranks
    /// (each would train the whole model and write the same folder).
    pub fn start() -> Result<Ranks> {
        #[cfg(feature = "mpi")]
        {
            let session = recur::train::distributed::Session::start()?;
            let rank = session.as_ref().map_or(0, |s| s.group().rank());
            let stderr = if rank > 0 { quiet() } else { None };
            Ok(Ranks { session, stderr })
        }
        #[cfg(not(feature = "mpi"))]
        match launched_ranks() {
            Some(n) if n > 1 => Err(Error::Config(format!(
                "this process is one of {n} MPI ranks, but this recur was built without MPI: build it with `cargo build --release --features mpi`, or run it without mpirun"
            ))),
            _ => Ok(Ranks {}),
        }
    }

    /// The group of the job's ranks (this process alone without a job).
    pub fn group(&self) -> Group {
        #[cfg(feature = "mpi")]
        if let Some(s) = &self.session {
            return s.group();
        }
        Group::single()
    }

    /// `result`, or, where a rank of a job of several failed: its error
    /// printed (by every rank, even a quiet one) and every rank stopped
    /// (MPI_Abort), so that none waits for this one forever.
    pub fn end(self, result: Result<ExitCode>) -> Result<ExitCode> {
        #[cfg(feature = "mpi")]
        if let (Err(e), Some(s)) = (&result, &self.session) {
            let g = s.group();
            if g.size() > 1 {
                let line = format!(
                    "error: {e}\n(rank {} of {}: stopping every rank)\n",
                    g.rank(),
                    g.size()
                );
                write_stderr(self.stderr.as_ref(), &line);
                s.abort(1);
            }
        }
        result
    }
}

/// Send this process's stdout and stderr to /dev/null; a copy of stderr
/// to write errors to, if it could be made.
#[cfg(feature = "mpi")]
fn quiet() -> Option<std::fs::File> {
    use std::os::fd::{AsRawFd, FromRawFd};
    let null = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/null")
        .ok()?;
    // SAFETY: dup and dup2 on descriptors this process holds open; the
    // duplicate is owned by the File it becomes, nothing else closes it.
    unsafe {
        let copy = libc::dup(2);
        if copy < 0 {
            return None;
        }
        libc::dup2(null.as_raw_fd(), 1);
        libc::dup2(null.as_raw_fd(), 2);
        Some(std::fs::File::from_raw_fd(copy))
    }
}

/// `line` on the original stderr (`saved`, on a quieted rank) or stderr.
#[cfg(feature = "mpi")]
fn write_stderr(saved: Option<&std::fs::File>, line: &str) {
    use std::io::Write;
    let _ = match saved {
        Some(mut f) => f.write_all(line.as_bytes()),
        None => std::io::stderr().write_all(line.as_bytes()),
    };
}
