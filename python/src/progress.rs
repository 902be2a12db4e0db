//! A training run seen from Python: the run goes on with the GIL released
//! while this watcher, called at every event on the training thread, takes
//! the GIL briefly to check for Ctrl-C (at most every 50 ms), to report
//! progress, and to hand each log line to a callback; any of these may stop
//! the run (after the iteration under way, the last checkpoint kept). Every
//! trainer's fit uses it: the language model's, the sequence-to-sequence
//! model's and the forecaster's, each with its own log records.

use std::time::{Duration, Instant};

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use recur::train::{Event, Flow, LogLine};

use crate::errors::OrPy;

/// How a log line, with the held-out measure logged on it (if any),
/// becomes the dict Python sees.
pub type ToRecord = for<'py> fn(Python<'py>, &LogLine, Option<f64>) -> PyResult<Bound<'py, PyDict>>;

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
    /// Makes the records of log lines.
    to_record: ToRecord,
    /// The log lines so far, each with its measure.
    history: Vec<(LogLine, Option<f64>)>,
    /// What stopped the run from Python: Ctrl-C, or a callback's exception.
    error: Option<PyErr>,
    last: Instant,
}

impl Watch {
    /// A watcher calling `callback` with each log record (made by
    /// `to_record`) and `on_step` with the progress, showing a tqdm bar of
    /// `total` iterations if `progress` (with a warning instead where tqdm
    /// is not installed).
    pub fn new(
        py: Python<'_>,
        (callback, on_step): (Option<Py<PyAny>>, Option<Py<PyAny>>),
        to_record: ToRecord,
        progress: bool,
        (total, done): (u64, u64),
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
            to_record,
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

    /// The end of a run that `ran` (its result): the bar closed, then the
    /// run's error, or what Python raised during it (Ctrl-C, a callback's
    /// exception), or the list of its log records.
    pub fn end<'py, T>(
        mut self,
        py: Python<'py>,
        ran: recur::Result<T>,
    ) -> PyResult<Bound<'py, PyList>> {
        self.finish(py)?;
        ran.or_py()?;
        if let Some(e) = self.error {
            return Err(e);
        }
        let records = self
            .history
            .iter()
            .map(|(line, measure)| (self.to_record)(py, line, *measure))
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, records)
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

    /// See one event of the run, with the held-out measure on a line
    /// logged at a measurement; stop the run where Python raised.
    pub fn see(&mut self, event: Event<'_>, measure: Option<f64>) -> Flow {
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
                self.history.push((line.clone(), measure));
                match &self.callback {
                    Some(f) => Python::attach(|py| {
                        let record = (self.to_record)(py, line, measure)?;
                        f.call1(py, (record,)).map(drop)
                    }),
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
pub fn record<'py>(
    py: Python<'py>,
    line: &LogLine,
    _: Option<f64>,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("iter", line.iter)?;
    d.set_item("train_loss", line.train_loss)?;
    d.set_item("smooth_loss", line.smooth_loss)?;
    d.set_item("val_loss", line.val_loss)?;
    d.set_item("chars_per_sec", line.chars_per_sec)?;
    d.set_item("elapsed_s", line.elapsed_s)?;
    Ok(d)
}

/// A sequence-to-sequence log line as a dict: the keys of [`record`] with
/// `accuracy` (the held-out exact-match rate, `None` on lines without a
/// measurement) in place of `val_loss`.
pub fn accuracy_record<'py>(
    py: Python<'py>,
    line: &LogLine,
    accuracy: Option<f64>,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("iter", line.iter)?;
    d.set_item("train_loss", line.train_loss)?;
    d.set_item("smooth_loss", line.smooth_loss)?;
    d.set_item("accuracy", accuracy)?;
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
    // A run that trains for a time has no count to show.
    kwargs.set_item("total", (total != u64::MAX).then_some(total))?;
    kwargs.set_item("initial", done)?;
    kwargs.set_item("unit", "it")?;
    let bar = tqdm.getattr("tqdm")?.call((), Some(&kwargs))?;
    Ok(Some(bar.unbind()))
}
