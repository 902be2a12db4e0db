//! Printing results to standard output when the reader may stop early
//! (`recur forecast predict ... | head`).

use std::io::{self, Write};
use std::path::Path;

use recur::{Error, Result};

/// Write to standard output with `write`. When the reader has gone (a
/// closed pipe), stop quietly and succeed: the rest was not wanted. The
/// process is not killed by SIGPIPE meanwhile, so whatever the command does
/// after printing still happens.
pub fn print_with(write: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> Result<()> {
    set_sigpipe(libc::SIG_IGN);
    let mut out = io::BufWriter::new(io::stdout().lock());
    let done = write(&mut out).and_then(|()| out.flush());
    drop(out);
    set_sigpipe(libc::SIG_DFL);
    match done {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Error::io(Path::new("standard output"), e)),
        Ok(()) => Ok(()),
    }
}

/// Set SIGPIPE's disposition (ignored: a write to a closed pipe fails with
/// EPIPE instead of ending the process).
fn set_sigpipe(disposition: libc::sighandler_t) {
    #[cfg(unix)]
    // SAFETY: setting a signal's disposition to ignore or default is sound
    // at any time; no handler code is involved.
    unsafe {
        libc::signal(libc::SIGPIPE, disposition);
    }
}
