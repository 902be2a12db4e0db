//! The library's error type: every message says what was wrong and what to
//! do about it.

use std::path::{Path, PathBuf};

/// Everything that can go wrong in recur, as a value.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A setting is out of range (hidden size 0, negative learning rate, ...).
    #[error("{0}")]
    Config(String),
    /// The training or evaluation data is unusable.
    #[error("{0}")]
    Data(String),
    /// Text contains characters the model's vocabulary does not have.
    #[error("{0}")]
    Vocab(String),
    /// A checkpoint is missing, truncated, corrupt or does not fit.
    #[error("{0}")]
    Checkpoint(String),
    /// Buffers passed to a model have the wrong size.
    #[error("shape mismatch: {0}")]
    Shape(String),
    /// Training diverged (NaN or exploding loss).
    #[error("{0}")]
    Diverged(String),
}

/// `Result` with [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// An I/O error on `path`.
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        Error::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
