//! A run folder (`--out`): where a training run keeps its checkpoint, held
//! by one process at a time.
//!
//! - **Locked.** Opening a folder takes an advisory lock on `DIR/.lock`
//!   (`flock`, released by the kernel when the process ends, even by
//!   `kill -9`); a second run into the same folder is refused with the
//!   holder's process id.
//! - **Never overwritten by accident.** A new run refuses a folder that
//!   already holds a run unless asked to overwrite it; a resumed run needs
//!   one.
//! - **Clean.** Temporary files left by a process that was killed while
//!   saving (`.NAME.tmp-PID`) are removed when the folder is opened.
//!
//! What a save writes, and why a crash cannot break it, is described in
//! [`super::state`].

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// How a run uses its folder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunMode {
    /// A new run: the folder must not hold one already.
    New,
    /// A new run replacing whatever run the folder holds (`--overwrite`).
    Overwrite,
    /// Continue the run the folder holds (`--resume`).
    Resume,
}

/// An open, locked run folder. The lock is held until this is dropped.
#[derive(Debug)]
pub struct RunDir {
    path: PathBuf,
    _lock: File,
}

/// The name of the lock file inside a run folder.
const LOCK: &str = ".lock";

impl RunDir {
    /// Open (creating it if needed) and lock the run folder `path` for a
    /// run in `mode`, after checking that the mode fits what the folder
    /// holds. `flag` names the folder's command-line flag in messages.
    pub fn open(path: &Path, mode: RunMode, flag: &str) -> Result<Self> {
        if path.exists() && !path.is_dir() {
            return Err(Error::Config(format!(
                "{flag} {} is a file; give a folder for the run (it holds model.safetensors and state.safetensors)",
                path.display()
            )));
        }
        if mode == RunMode::Resume && !super::state::state_path(path).exists() {
            return Err(Error::Checkpoint(format!(
                "--resume: no saved run in {} (no state.safetensors there); train without --resume first, or point {flag} at the run folder",
                path.display()
            )));
        }
        std::fs::create_dir_all(path).map_err(|e| Error::io(path, e))?;
        let lock = lock(path, flag)?;
        let dir = RunDir {
            path: path.to_path_buf(),
            _lock: lock,
        };
        dir.remove_stale_temporaries()?;
        let model = super::state::model_path(path);
        let state = super::state::state_path(path);
        let holds_run = model.exists() || state.exists();
        match mode {
            RunMode::New if holds_run => Err(Error::Config(format!(
                "{} already holds a trained model; continue that run with --resume, replace it with --overwrite, or choose another {flag}",
                path.display()
            ))),
            RunMode::Overwrite => {
                // The state first: a folder with a model but no state is
                // never taken for a resumable run.
                for file in [&state, &model] {
                    match std::fs::remove_file(file) {
                        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                            return Err(Error::io(file, e));
                        }
                        _ => {}
                    }
                }
                Ok(dir)
            }
            _ => Ok(dir),
        }
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Delete `.NAME.tmp-PID` files: saves that a killed process never
    /// finished. Safe because this process holds the folder's lock.
    fn remove_stale_temporaries(&self) -> Result<()> {
        let entries = std::fs::read_dir(&self.path).map_err(|e| Error::io(&self.path, e))?;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if is_temporary(&name) {
                let p = entry.path();
                std::fs::remove_file(&p).map_err(|e| Error::io(&p, e))?;
            }
        }
        Ok(())
    }
}

/// Whether `name` is a temporary file of [`crate::checkpoint::write_atomic`].
fn is_temporary(name: &str) -> bool {
    name.starts_with('.')
        && name
            .rsplit_once(".tmp-")
            .is_some_and(|(_, pid)| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
}

/// Take the folder's lock without waiting, and write our process id into
/// the lock file for the message another process would show.
fn lock(dir: &Path, flag: &str) -> Result<File> {
    let path = dir.join(LOCK);
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| Error::io(&path, e))?;
    // SAFETY: flock on a file descriptor this function owns.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        let err = std::io::Error::last_os_error();
        if err.kind() != std::io::ErrorKind::WouldBlock {
            return Err(Error::io(&path, err));
        }
        let mut holder = String::new();
        let _ = file.read_to_string(&mut holder);
        let holder = match holder.trim() {
            "" => "another process".to_string(),
            pid => format!("another recur process (pid {pid})"),
        };
        return Err(Error::Config(format!(
            "{} is in use by {holder}; wait for it to finish, stop it, or choose another {flag}",
            dir.display()
        )));
    }
    let pid = std::process::id().to_string();
    let written = file
        .set_len(0)
        .and_then(|_| file.rewind())
        .and_then(|_| file.write_all(pid.as_bytes()));
    written.map_err(|e| Error::io(&path, e))?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_names() {
        assert!(is_temporary(".model.safetensors.tmp-1234"));
        assert!(is_temporary(".state.safetensors.tmp-7"));
        assert!(!is_temporary("model.safetensors"));
        assert!(!is_temporary(".model.safetensors.tmp-"));
        assert!(!is_temporary("notes.tmp-12"));
        assert!(!is_temporary(".lock"));
    }

    #[test]
    fn a_second_open_is_refused_while_the_first_is_held() {
        let dir = std::env::temp_dir().join(format!("recur-rundir-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let first = RunDir::open(&dir, RunMode::New, "--out").unwrap();
        std::fs::write(dir.join(".model.safetensors.tmp-99999999"), b"half").unwrap();
        let err = RunDir::open(&dir, RunMode::New, "--out").unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("in use") && msg.contains(&std::process::id().to_string()),
            "{msg}"
        );
        drop(first);
        let _again = RunDir::open(&dir, RunMode::New, "--out").unwrap();
        assert!(!dir.join(".model.safetensors.tmp-99999999").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
