//! A training run seen from Python: the run goes on with the GIL released
//! while this watcher, called at every event on the training thread, takes
//! the GIL briefly to check for Ctrl-C (at most every 50 ms), to report
//! progress, and to hand each log line to a callback; any of these may stop
//! the run (after the iteration under way, the last checkpoint kept).

use std::time::{Duration, Instant};

use pyo3::prelude::*;
use pyo3::types::PyDict;
use recur::train::{Event, Flow, LogLine};

/// How often a running fit looks for Ctrl-C and reports progress.
const EVERY: Duration = Duration::from_millis(50);

/// The watcher of one run (see the module's docs).
pub struct Watch {
    /// Called with each log record (a dict), if given.
    callback: Option<Py<PyAny>>,
    /// Called with `(iter, total, smooth_loss)` as the run goes, if given.
    on_step: Option<Py<PyAny>>,
    /// A tqdm bar, where asked for and tqdm is installed.
    bar: Option<Py<PyAny>>,
    /// Iterations the bar shows.
    shown: u64,
    /// The log lines so far.
    pub history: Vec<LogLine>,
    /// What stopped the run from Python: Ctrl-C, or a callback's exception.
    pub error: Option<PyErr>,
    last: Instant,
}

impl Watch {
    /// A watcher calling `callback` with each log record and `on_step` with
    /// the progress, showing a tqdm bar of `total` iterations if
    /// `progress` (with a warning instead where tqdm is not installed).
    pub fn new(
        py: Python<'_>,
        (callback, on_step): (Option<Py<PyAny>>, Option<Py<PyAny>>),
        progress: bool,
        total: u64,
        done: u64,
    ) -> PyResult<Self> {
        let bar = if progress {
            bar(py, total, done)?
        } else {
            None
        };
        Ok(Watch {
            callback,
            on_step,
            bar,
            shown: done,
            history: Vec::new(),
            error: None,
            last: Instant::now(),
        })
    }

    /// Close the bar, if any.
    pub fn finish(&mut self, py: Python<'_>) -> PyResult<()> {
        if let Some(bar) = self.bar.take() {
            bar.call_method0(py, "close")?;
        }
        Ok(())
    }

    /// Move the bar to `iter` with the smoothed loss.
    fn show(&mut self, py: Python<'_>, iter: u64, smooth_loss: f64) -> PyResult<()> {
        if let Some(bar) = &self.bar {
            let loss = format!("{smooth_loss:.4}");
            bar.call_method1(py, "set_postfix_str", (format!("loss {loss}"), false))?;
            bar.call_method1(py, "update", (iter.saturating_sub(self.shown),))?;
            self.shown = iter;
        }
        Ok(())
    }

    /// See one event of the run; stop it where Python raised.
    pub fn see(&mut self, event: Event<'_>) -> Flow {
        let outcome = match event {
            Event::Step {
                iter,
                total,
                smooth_loss,
                ..
            } if iter == total || self.last.elapsed() >= EVERY => {
                self.last = Instant::now();
                Python::attach(|py| {
                    py.check_signals()?;
                    self.show(py, iter, smooth_loss)?;
                    if let Some(f) = &self.on_step {
                        f.call1(py, (iter, total, smooth_loss))?;
                    }
                    Ok(())
                })
            }
            Event::Logged(line) => {
                self.history.push(line.clone());
                match &self.callback {
                    Some(f) => Python::attach(|py| f.call1(py, (record(py, line)?,)).map(drop)),
                    None => Ok(()),
                }
            }
            _ => Ok(()),
        };
        match outcome {
            Ok(()) => Flow::Continue(()),
            Err(e) => {
                self.error = Some(e);
                Flow::Break(())
            }
        }
    }
}

/// A log line as the dict Python sees (the keys of the CLI's JSON log;
/// `val_loss` is `None` on lines without a validation).
pub fn record<'py>(py: Python<'py>, line: &LogLine) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("iter", line.iter)?;
    d.set_item("train_loss", line.train_loss)?;
    d.set_item("smooth_loss", line.smooth_loss)?;
    d.set_item("val_loss", line.val_loss)?;
    d.set_item("chars_per_sec", line.chars_per_sec)?;
    d.set_item("elapsed_s", line.elapsed_s)?;
    Ok(d)
}

/// A tqdm bar (`tqdm.auto`: a widget in a notebook) at `done` of `total`
/// iterations, or `None` with a warning where tqdm is not installed.
fn bar(py: Python<'_>, total: u64, done: u64) -> PyResult<Option<Py<PyAny>>> {
    let Ok(tqdm) = py.import("tqdm.auto") else {
        let warnings = py.import("warnings")?;
        warnings.call_method1(
            "warn",
            ("progress=True shows a bar with tqdm, which is not installed (pip install tqdm); training without one",),
        )?;
        return Ok(None);
    };
    let kwargs = PyDict::new(py);
    kwargs.set_item("total", total)?;
    kwargs.set_item("initial", done)?;
    kwargs.set_item("unit", "it")?;
    let bar = tqdm.getattr("tqdm")?.call((), Some(&kwargs))?;
    Ok(Some(bar.unbind()))
}
