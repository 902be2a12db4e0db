//! What every `fit` reads the same way: how long to train (`iters` or
//! `epochs`) and where to save the run (`out`, `overwrite`); where a model
//! file is; and the error of a model used before it was fitted.

use std::path::{Path, PathBuf};

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use recur::train::{RunDir, RunMode, model_path};

use crate::errors::OrPy;

/// How long a fit runs.
#[derive(Clone, Copy, Debug)]
pub enum Length {
    /// This many iterations.
    Iters(u64),
    /// This many passes over the training data.
    Epochs(u64),
    /// The trainer's default.
    Default,
}

/// What `iters` and `epochs` ask for: one or neither, each at least 1.
pub fn length(iters: Option<u64>, epochs: Option<u64>) -> PyResult<Length> {
    match (iters, epochs) {
        (Some(_), Some(_)) => Err(PyValueError::new_err("give iters or epochs, not both")),
        (Some(0), _) | (_, Some(0)) => {
            Err(PyValueError::new_err("iters and epochs must be at least 1"))
        }
        (Some(n), None) => Ok(Length::Iters(n)),
        (None, Some(e)) => Ok(Length::Epochs(e)),
        (None, None) => Ok(Length::Default),
    }
}

/// The run folder `out` (a new one, or one replaced with `overwrite`), if
/// given.
pub fn run_dir(out: Option<&Path>, overwrite: bool) -> PyResult<Option<RunDir>> {
    let mode = if overwrite {
        RunMode::Overwrite
    } else {
        RunMode::New
    };
    out.map(|p| RunDir::open(p, mode, "out="))
        .transpose()
        .or_py()
}

/// The fitted model in `model`, or an error saying to train it first
/// (with `fit`, the calls that do it) or to load one.
pub fn fitted<'a, T>(model: &'a Option<T>, fit: &str) -> PyResult<&'a T> {
    model.as_ref().ok_or_else(|| {
        PyValueError::new_err(format!(
            "the model has not been trained yet: call {fit} first, or recur.load(path)"
        ))
    })
}

/// The model file `path` names: the file itself, or a run folder's
/// `model.safetensors`.
pub fn model_file(path: &Path) -> PathBuf {
    if path.is_dir() {
        model_path(path)
    } else {
        path.to_path_buf()
    }
}
