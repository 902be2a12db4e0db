//! `recur._recur`: recur's Rust core as a Python extension module. The
//! Python package `recur` (python/recur/) re-exports it and adds what is
//! easier in Python (progress bars, pandas).

use std::path::PathBuf;

use pyo3::prelude::*;

mod arrays;
mod errors;
mod forecast;
mod layers;
mod lm;
mod loading;
mod many_to_one;
mod progress;
mod runs;
mod seq2seq;
mod series;
mod state;
mod words;

/// Open a model file written by the CLI or by `save` (or a run folder
/// holding one): a `CharRNN` (`recur train`), a `Seq2Seq` (`recur seq2seq
/// train`) or a `Forecaster` (`recur forecast train`), by the kind the
/// file says it holds.
#[pyfunction]
fn load(py: Python<'_>, path: PathBuf) -> PyResult<Py<PyAny>> {
    loading::load(py, &path)
}

/// The built-in corpus the CLI trains on by default: Cicero's *De
/// finibus*, book I, in Latin (about 70,000 characters; nothing to
/// download).
#[pyfunction]
fn corpus() -> &'static str {
    lipsum::LIBER_PRIMUS
}

/// The native half of the `recur` package.
#[pymodule]
fn _recur(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<lm::CharRnn>()?;
    m.add_class::<seq2seq::Seq2Seq>()?;
    m.add_class::<forecast::Forecaster>()?;
    m.add_class::<layers::Layers>()?;
    m.add_class::<many_to_one::ManyToOne>()?;
    m.add_class::<words::WordSample>()?;
    m.add_function(wrap_pyfunction!(load, m)?)?;
    m.add_function(wrap_pyfunction!(corpus, m)?)?;
    errors::register(m)?;
    Ok(())
}
