//! The JSON-lines training log: one object per logged step.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, Result};

/// One line of the log.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct LogLine {
    /// Iterations done.
    pub iter: u64,
    /// Mean training loss (nats/char) over the batches since the previous line.
    pub train_loss: f64,
    /// Exponentially smoothed training loss (nats/char, min-char-rnn's 0.999 decay).
    pub smooth_loss: f64,
    /// Validation loss (nats/char), on lines where it was computed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub val_loss: Option<f64>,
    /// Training characters per second since the previous line.
    pub chars_per_sec: f64,
    /// Seconds since this run started.
    pub elapsed_s: f64,
}

/// Appends [`LogLine`]s to a file.
pub struct LogWriter {
    path: PathBuf,
    file: std::fs::File,
}

impl LogWriter {
    /// Open `path` for appending (a resumed run continues its log).
    pub fn append(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| Error::io(path, e))?;
        Ok(LogWriter {
            path: path.to_path_buf(),
            file,
        })
    }

    /// Write one line.
    pub fn write(&mut self, line: &LogLine) -> Result<()> {
        let mut s = serde_json::to_string(line).map_err(|e| Error::Config(e.to_string()))?;
        s.push('\n');
        self.file
            .write_all(s.as_bytes())
            .map_err(|e| Error::io(&self.path, e))
    }
}
