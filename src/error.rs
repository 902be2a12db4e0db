//! The library's error type: every message says what was wrong and what to
//! do about it, on one line.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

/// Everything that can go wrong in recur, as a value.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("{}: {source}", one_line(&path.display().to_string()))]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A setting is out of range (hidden size 0, negative learning rate, ...).
    #[error("{}", one_line(.0))]
    Config(String),
    /// The training or evaluation data is unusable.
    #[error("{}", one_line(.0))]
    Data(String),
    /// Text contains characters the model's vocabulary does not have.
    #[error("{}", one_line(.0))]
    Vocab(String),
    /// A checkpoint is missing, truncated, corrupt or does not fit.
    #[error("{}", one_line(.0))]
    Checkpoint(String),
    /// Buffers passed to a model have the wrong size.
    #[error("shape mismatch: {}", one_line(.0))]
    Shape(String),
    /// Training diverged (NaN or exploding loss).
    #[error("{}", one_line(.0))]
    Diverged(String),
    /// The GPU (or the driver behind it) is missing or failed.
    #[error("{}", one_line(.0))]
    Device(String),
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

/// `message` with its control characters escaped (`\n` as `\\n`, ESC as
/// `\\u{1b}`): messages quote file contents (column names, cells,
/// metadata), and a quoted newline or terminal escape must not break the
/// one-line `error: ...` or drive the terminal.
fn one_line(message: &str) -> Cow<'_, str> {
    if !message.contains(char::is_control) {
        return Cow::Borrowed(message);
    }
    Cow::Owned(
        message
            .chars()
            .map(|c| {
                if c.is_control() {
                    c.escape_debug().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_quoting_file_contents_stay_on_one_line() {
        let e = Error::Data("no time column 'date'; the columns are a\nb\u{1b}[31m, c".into());
        assert_eq!(
            e.to_string(),
            "no time column 'date'; the columns are a\\nb\\u{1b}[31m, c"
        );
        let e = Error::io(Path::new("bad\nname"), std::io::Error::other("denied"));
        assert_eq!(e.to_string(), "bad\\nname: denied");
        assert_eq!(
            Error::Config("fine: é → ü".into()).to_string(),
            "fine: é → ü"
        );
    }
}
