//! Training: the language-model [`Trainer`], the sequence-to-sequence
//! trainer ([`seq2seq`]) and the forecaster's ([`forecast`]), all driven by
//! one loop (batches to a target, evaluation, logging, divergence checks,
//! checkpoint cadence) with exact resume.
//!
//! ```no_run
//! use recur::train::{TrainConfig, TrainData, Trainer};
//! let text = std::fs::read_to_string("input.txt").unwrap();
//! let mut trainer = Trainer::new(TrainConfig::default(), TrainData::Corpus(text), 2_000).unwrap();
//! trainer.run(None, None, &mut |_| {}).unwrap();
//! ```
//!
//! The parts:
//!
//! - `run_loop.rs`: the loop itself, and the [`Event`]s and [`Summary`] it
//!   reports; a trainer plugs in one iteration and its held-out measure.
//! - `budget.rs`: a run that trains for a time (`--time 30m`) instead of
//!   an iteration count.
//! - `course.rs`: what every trainer carries between iterations (count,
//!   optimizer, smoothed loss, random generator) and the update that ends
//!   an iteration, refusing a run that diverged.
//! - [`distributed`]: data parallelism over several processes (MPI ranks,
//!   with the `mpi` feature), one process being the case without it.
//! - `epoch.rs`: shuffled epochs over separate examples (words, pairs).
//! - `state.rs`, `run_dir.rs`, `log.rs`: the run folder, what a save
//!   writes into it, and the JSON-lines log.
//! - `lm.rs` (with `config.rs`, `data.rs`, `shard.rs`, `lm_state.rs`,
//!   `evaluate.rs`), `seq2seq.rs`, `forecast.rs` (with `forecast_state.rs`):
//!   the three trainers.

mod budget;
mod config;
mod course;
mod data;
pub mod distributed;
mod epoch;
mod evaluate;
pub mod forecast;
mod forecast_state;
mod lm;
mod lm_state;
mod log;
mod run_dir;
mod run_loop;
pub mod seq2seq;
mod shard;
mod state;

pub use budget::{Budget, MAX_BUDGET, format_duration, parse_duration};
pub use config::TrainConfig;
pub use course::DEFER_MAX;
pub use data::TrainData;
pub use evaluate::{corpus_loss, evaluate_text, evaluate_words};
pub use lm::Trainer;
pub use log::{LogLine, LogWriter, SmoothLoss};
pub use run_dir::{RunDir, RunMode};
pub use run_loop::{Event, Flow, Summary};
pub use state::{model_path, state_path};
