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
    /// Exponentially smoothed training loss (nats/char): a moving average
    /// with min-char-rnn's 0.999 decay, bias-corrected (see [`SmoothLoss`]).
    pub smooth_loss: f64,
    /// Validation loss (nats/char), on lines where it was computed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub val_loss: Option<f64>,
    /// Training characters per second since the previous line.
    pub chars_per_sec: f64,
    /// Seconds since this run started.
    pub elapsed_s: f64,
}

/// Appends [`LogLine`]s to a file, each stamped with the run's id
/// (`"run"`), so that several runs can share one log.
pub struct LogWriter {
    path: PathBuf,
    file: std::fs::File,
    run: String,
}

impl LogWriter {
    /// Open `path` for a run `run` (its id) that goes on from iteration
    /// `iter` (0 for a new run). A run killed after logging but before
    /// saving left lines past its last checkpoint; those iterations run
    /// again, so the run's own lines past `iter` are dropped first (the
    /// file is rewritten atomically) and the log holds each iteration once.
    /// Other runs' lines are kept.
    pub fn open(path: &Path, run: &str, iter: u64) -> Result<Self> {
        if path.is_dir() {
            return Err(Error::Config(format!(
                "--log {} is a folder; give a file name for the JSON-lines log (e.g. {}/log.jsonl)",
                path.display(),
                path.display()
            )));
        }
        if path.is_file() {
            let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
            let kept: String = text
                .lines()
                .filter(|l| logged(l).is_none_or(|(r, i)| r != run || i <= iter))
                .flat_map(|l| [l, "\n"])
                .collect();
            if kept.len() != text.len() {
                crate::checkpoint::write_atomic(path, kept.as_bytes())?;
            }
        }
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
            run: run.to_string(),
        })
    }

    /// Write one line.
    pub fn write(&mut self, line: &LogLine) -> Result<()> {
        let mut value = serde_json::json!(line);
        value["run"] = self.run.clone().into();
        let mut s = value.to_string();
        s.push('\n');
        self.file
            .write_all(s.as_bytes())
            .map_err(|e| Error::io(&self.path, e))
    }
}

/// The run id and `iter` of a log line, if it is one.
fn logged(line: &str) -> Option<(String, u64)> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    Some((
        v.get("run")?.as_str()?.to_string(),
        v.get("iter")?.as_u64()?,
    ))
}

/// An exponential moving average of the training loss, bias-corrected as
/// Adam corrects its moments: after n losses the raw average
/// `m_n = d·m_{n-1} + (1-d)·loss_n` (with `m_0 = 0`) is divided by `1 - dⁿ`,
/// so the figure is a true weighted mean of the losses seen from the very
/// first step (min-char-rnn starts its average at ln V instead, and with
/// d = 0.999 it lags the real loss by thousands of iterations).
///
/// With d = 0.5, losses 4 then 2 give m = 0.5·(0.5·4) + 0.5·2 = 2, divided
/// by 1 - 0.25: 2.6667 (= (0.5·4 + 2) / 1.5, the weighted mean).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SmoothLoss {
    decay: f64,
    raw: f64,
    steps: u64,
}

impl SmoothLoss {
    /// No losses yet; `decay` is d in (0, 1).
    pub fn new(decay: f64) -> Self {
        SmoothLoss {
            decay,
            raw: 0.0,
            steps: 0,
        }
    }

    /// Add one loss.
    pub fn add(&mut self, loss: f64) {
        self.raw = self.decay * self.raw + (1.0 - self.decay) * loss;
        self.steps += 1;
    }

    /// The corrected average (NaN before the first loss).
    pub fn value(&self) -> f64 {
        self.raw / (1.0 - self.decay.powf(self.steps as f64))
    }

    /// The raw average and the number of losses, to save a run.
    pub fn raw(&self) -> (f64, u64) {
        (self.raw, self.steps)
    }

    /// Restore what [`SmoothLoss::raw`] gave.
    pub fn restore(&mut self, raw: f64, steps: u64) {
        (self.raw, self.steps) = (raw, steps);
    }
}

#[cfg(test)]
mod tests {
    use super::SmoothLoss;

    #[test]
    fn the_smoothed_loss_is_a_weighted_mean_from_the_first_step() {
        let mut s = SmoothLoss::new(0.5);
        s.add(4.0);
        assert_eq!(s.value(), 4.0);
        s.add(2.0);
        assert!((s.value() - 8.0 / 3.0).abs() < 1e-12);
        // With min-char-rnn's decay a constant loss reads as itself at once.
        let mut s = SmoothLoss::new(0.999);
        for _ in 0..10 {
            s.add(1.5);
        }
        assert!((s.value() - 1.5).abs() < 1e-9, "{}", s.value());
    }
}
