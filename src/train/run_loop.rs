//! The training loop every trainer runs: iterate to the planned count,
//! evaluate every `eval_every` iterations (and at the end), write a log
//! line every `log_every` (and at each evaluation), save the run at each
//! evaluation, and report progress as it goes.
//!
//! A trainer brings what is its own through [`Fit`]: one iteration on its
//! data and model, and its held-out measure.
//!
//! A run with a time budget (see [`super::Budget`]) ends at the first
//! iteration that finds the budget spent, and evaluates, logs and saves
//! there.
//!
//! The losses are read back (settled, see [`Course::settle`]) only where a
//! line is logged, at an evaluation, or when the course holds as many
//! unsettled iterations as it may: on a device the host records iteration
//! after iteration without waiting, and logging less often means fewer
//! round trips. Progress events in between carry the smoothed loss as of
//! the last settled iteration.

use std::ops::ControlFlow;
use std::path::Path;
use std::time::Instant;

use super::budget::format_duration;
use super::course::Course;
use super::log::{LogLine, LogWriter};
use super::run_dir::RunDir;
use crate::backend::Backend;
use crate::error::{Error, Result};

/// Something that happened during a run, for progress displays.
#[derive(Clone, Debug)]
pub enum Event<'a> {
    /// An iteration finished.
    Step {
        /// Iterations done.
        iter: u64,
        /// Iterations planned (with a time budget, an estimate of where
        /// it ends, revised as the run goes).
        total: u64,
        /// Smoothed training loss, nats/char.
        smooth_loss: f64,
        /// Training characters per second in this run so far (target
        /// tokens for a sequence-to-sequence model, series steps read for
        /// a forecaster).
        chars_per_sec: f64,
    },
    /// A log line was produced (also written to the log file, if any).
    Logged(&'a LogLine),
    /// A checkpoint was written.
    Saved(&'a Path),
}

/// The result of a run.
#[derive(Clone, Debug)]
pub struct Summary {
    /// Iterations done in total.
    pub iters: u64,
    /// Smoothed training loss at the end, nats/char.
    pub smooth_loss: f64,
    /// Last validation loss, nats/char, if there is a validation split.
    pub val_loss: Option<f64>,
    /// Training characters per second over this run.
    pub chars_per_sec: f64,
    /// Wall time of this run.
    pub elapsed_s: f64,
    /// The run was stopped by its caller before the planned iterations
    /// (see [`Flow`]).
    pub stopped: bool,
}

/// What a run's event callback answers: go on, or stop the run once the
/// iteration under way is done (its loss read and checked, its log line
/// and save, if due, written). Nothing is saved at the stop: the last
/// save stays as it was.
pub type Flow = ControlFlow<()>;

/// An event callback that never stops the run, from one that only
/// watches it (what each trainer's `run` gives its `run_until`).
pub(crate) fn watching<'a>(
    on_event: &'a mut dyn FnMut(Event<'_>),
) -> impl FnMut(Event<'_>) -> Flow + 'a {
    move |event| {
        on_event(event);
        Flow::Continue(())
    }
}

/// How often a run evaluates and logs.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Cadence {
    /// Evaluate (and save) every this many iterations; 0: only at the end.
    pub eval_every: u64,
    /// Log every this many iterations (at least 1).
    pub log_every: u64,
}

/// A trainer the loop can drive: what differs between trainers.
pub(crate) trait Fit {
    /// Whether [`Fit::evaluate`] measures a held-out loss, logged as
    /// `val_loss`; otherwise (an accuracy) the measure only goes to the
    /// caller.
    const MEASURES_LOSS: bool;

    /// Where the trainer's model and optimizer live.
    type Device: Backend<f32>;

    /// The run's progress (with its cadence).
    fn course(&self) -> &Course<Self::Device>;

    /// The run's progress, to settle.
    fn course_mut(&mut self) -> &mut Course<Self::Device>;

    /// One iteration, recorded in the course but not yet settled (see
    /// [`Course::settle`]): the characters (target tokens, series steps)
    /// it covered.
    fn record_step(&mut self) -> Result<usize>;

    /// The held-out measure, or `None` without held-out data.
    fn evaluate(&mut self) -> Result<Option<f64>>;
}

/// A run folder and the function that saves a trainer of type `F` into it.
pub(crate) struct Saver<'a, F> {
    /// The folder.
    pub dir: &'a RunDir,
    /// Writes the run into a folder.
    pub save: fn(&F, &Path) -> Result<()>,
}

/// Train `t` to its planned iterations, evaluating, logging into `log` and
/// saving with `out` at its cadence. `on_event` sees every event, with the
/// measure on a line logged at an evaluation, and may stop the run (see
/// [`Flow`]). Returns the summary and the last measure.
pub(crate) fn fit<F: Fit>(
    t: &mut F,
    out: Option<Saver<'_, F>>,
    log: Option<&mut LogWriter>,
    on_event: &mut dyn FnMut(Event<'_>, Option<f64>) -> Flow,
) -> Result<(Summary, Option<f64>)> {
    finished_check(t.course())?;
    let iter = t.course().iter;
    if let Some(b) = &mut t.course_mut().budget {
        b.start(iter);
    }
    let result = iterate(t, out, log, on_event);
    if let Some(b) = &mut t.course_mut().budget {
        b.stop();
    }
    result
}

/// [`fit`]'s loop, while the time budget's clock (if any) runs.
fn iterate<F: Fit>(
    t: &mut F,
    out: Option<Saver<'_, F>>,
    mut log: Option<&mut LogWriter>,
    on_event: &mut dyn FnMut(Event<'_>, Option<f64>) -> Flow,
) -> Result<(Summary, Option<f64>)> {
    let Cadence {
        eval_every,
        log_every,
    } = t.course().cadence;
    let start = Instant::now();
    let mut window = Window::new();
    let (mut run_chars, mut measure) = (0usize, None);
    let mut stopped = false;
    loop {
        let chars = t.record_step()?;
        window.chars += chars;
        run_chars += chars;
        // Decided once: a time budget may run out while this iteration
        // evaluates and saves.
        let done = t.course().finished();
        let (iter, total) = (t.course().iter, t.course().planned());
        let eval = done || (eval_every > 0 && iter.is_multiple_of(eval_every));
        let logs = eval || iter.is_multiple_of(log_every);
        if logs || t.course().due() {
            window.add(&t.course_mut().settle()?);
        }
        let elapsed = start.elapsed().as_secs_f64();
        let step = Event::Step {
            iter,
            total,
            smooth_loss: t.course().smooth.value(),
            chars_per_sec: run_chars as f64 / elapsed.max(1e-9),
        };
        stopped |= on_event(step, None).is_break();
        if eval {
            measure = t.evaluate()?;
        }
        if logs {
            let at_eval = if eval { measure } else { None };
            let val_loss = at_eval.filter(|_| F::MEASURES_LOSS);
            let line = window.line(iter, t.course().smooth.value(), val_loss, start);
            if let Some(log) = log.as_deref_mut() {
                log.write(&line)?;
            }
            stopped |= on_event(Event::Logged(&line), at_eval).is_break();
            window = Window::new();
        }
        if eval && let Some(out) = &out {
            (out.save)(t, out.dir.path())?;
            stopped |= on_event(Event::Saved(out.dir.path()), None).is_break();
        }
        if done || stopped {
            break;
        }
    }
    if t.course().unsettled() {
        window.add(&t.course_mut().settle()?);
    }
    let elapsed_s = start.elapsed().as_secs_f64();
    let summary = Summary {
        iters: t.course().iter,
        smooth_loss: t.course().smooth.value(),
        val_loss: measure.filter(|_| F::MEASURES_LOSS),
        chars_per_sec: run_chars as f64 / elapsed_s.max(1e-9),
        elapsed_s,
        stopped,
    };
    Ok((summary, measure))
}

/// The iterations since the last log line.
struct Window {
    loss: f64,
    batches: u64,
    chars: usize,
    start: Instant,
}

impl Window {
    fn new() -> Self {
        Window {
            loss: 0.0,
            batches: 0,
            chars: 0,
            start: Instant::now(),
        }
    }

    /// Settled iterations' losses.
    fn add(&mut self, losses: &[f64]) {
        self.loss += losses.iter().sum::<f64>();
        self.batches += losses.len() as u64;
    }

    /// The log line at iteration `iter` of a run that started at
    /// `run_start`.
    fn line(
        &self,
        iter: u64,
        smooth_loss: f64,
        val_loss: Option<f64>,
        run_start: Instant,
    ) -> LogLine {
        LogLine {
            iter,
            train_loss: self.loss / self.batches as f64,
            smooth_loss,
            val_loss,
            chars_per_sec: self.chars as f64 / self.start.elapsed().as_secs_f64().max(1e-9),
            elapsed_s: run_start.elapsed().as_secs_f64(),
        }
    }
}

/// An error unless the run has iterations (or time) left.
fn finished_check<K: Backend<f32>>(c: &Course<K>) -> Result<()> {
    if let Some(b) = &c.budget {
        if b.exhausted() {
            return Err(Error::Config(format!(
                "the run is finished: it has spent its time budget ({} of {}, {} iterations); ask for more (--time above {}) to train it further",
                format_duration(b.spent()),
                format_duration(b.seconds()),
                c.iter,
                format_duration(b.seconds())
            )));
        }
    } else if c.iter >= c.total {
        return Err(Error::Config(format!(
            "the run is finished: it has done {} of {} iterations; ask for more (--iters N with N above {}) to train it further",
            c.iter, c.total, c.iter
        )));
    }
    Ok(())
}
