//! `recur.load`: open any model file the CLI or `save` wrote, as the
//! class of its kind (read from the file's `recur.model` metadata).

use std::path::Path;

use pyo3::exceptions::PyFileNotFoundError;
use pyo3::prelude::*;
use recur::checkpoint::{Loaded, load_forecaster_from, load_model_from, load_seq2seq_from};

use crate::errors::OrPy;
use crate::forecast::Forecaster;
use crate::lm::CharRnn;
use crate::seq2seq::Seq2Seq;

/// The model in `path` (a `.safetensors` file, or a run folder holding
/// `model.safetensors`): a `Seq2Seq`, a `Forecaster` or a `CharRNN`.
pub fn load(py: Python<'_>, path: &Path) -> PyResult<Py<PyAny>> {
    let file = crate::runs::model_file(path);
    let loaded = match Loaded::open(&file) {
        // Python's kind for a missing file, with the CLI's message.
        Err(e) if !file.exists() => return Err(PyFileNotFoundError::new_err(e.to_string())),
        loaded => loaded.or_py()?,
    };
    let kind = loaded.meta("recur.model").ok().map(str::to_string);
    let model = match kind.as_deref() {
        Some("seq2seq") => {
            let (model, vocab) = py.detach(|| load_seq2seq_from(loaded)).or_py()?;
            Py::new(py, Seq2Seq::from_checkpoint(model, vocab))?.into_any()
        }
        Some("forecast") => {
            let (model, features, targets) = py.detach(|| load_forecaster_from(loaded)).or_py()?;
            Py::new(py, Forecaster::from_checkpoint(model, features, targets))?.into_any()
        }
        // A language model; anything else is refused with the CLI's message.
        _ => {
            let ckpt = py.detach(|| load_model_from(loaded)).or_py()?;
            Py::new(py, CharRnn::from_checkpoint(ckpt.net, ckpt.vocab))?.into_any()
        }
    };
    Ok(model)
}
