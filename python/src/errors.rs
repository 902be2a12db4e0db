//! recur's errors as Python exceptions of the kind a Python user expects,
//! with the CLI's messages.

use pyo3::exceptions::{
    PyFileExistsError, PyFileNotFoundError, PyIsADirectoryError, PyNotADirectoryError, PyOSError,
    PyPermissionError, PyValueError,
};
use pyo3::prelude::*;
use pyo3::{PyErr, create_exception};

create_exception!(
    recur,
    CheckpointError,
    pyo3::exceptions::PyValueError,
    "A checkpoint file that is not a recur model of the kind asked for, or is damaged."
);
create_exception!(
    recur,
    TrainingDiverged,
    pyo3::exceptions::PyArithmeticError,
    "Training blew up (a non-finite or exploding loss or gradient); the message says what to change."
);
create_exception!(
    recur,
    DeviceError,
    pyo3::exceptions::PyRuntimeError,
    "The compute device could not do what was asked."
);

/// The Python exception for `e`: an `OSError` subclass for file errors
/// (`FileNotFoundError`, `PermissionError`, ...), `ValueError` for bad
/// settings, data, vocabularies and shapes, [`CheckpointError`] (a
/// `ValueError`), [`TrainingDiverged`] (an `ArithmeticError`) and
/// [`DeviceError`] (a `RuntimeError`).
pub fn to_py(e: recur::Error) -> PyErr {
    let message = e.to_string();
    match e {
        recur::Error::Io { source, .. } => {
            use std::io::ErrorKind::*;
            match source.kind() {
                NotFound => PyFileNotFoundError::new_err(message),
                PermissionDenied => PyPermissionError::new_err(message),
                AlreadyExists => PyFileExistsError::new_err(message),
                IsADirectory => PyIsADirectoryError::new_err(message),
                NotADirectory => PyNotADirectoryError::new_err(message),
                _ => PyOSError::new_err(message),
            }
        }
        recur::Error::Checkpoint(_) => CheckpointError::new_err(message),
        recur::Error::Diverged(_) => TrainingDiverged::new_err(message),
        recur::Error::Device(_) => DeviceError::new_err(message),
        _ => PyValueError::new_err(message),
    }
}

/// `?` for recur's results in functions that return Python's.
pub trait OrPy<T> {
    /// The value, or `e` as a Python exception (see [`to_py`]).
    fn or_py(self) -> PyResult<T>;
}

impl<T> OrPy<T> for recur::Result<T> {
    fn or_py(self) -> PyResult<T> {
        self.map_err(to_py)
    }
}

/// Register the exception classes in module `m`.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("CheckpointError", py.get_type::<CheckpointError>())?;
    m.add("TrainingDiverged", py.get_type::<TrainingDiverged>())?;
    m.add("DeviceError", py.get_type::<DeviceError>())?;
    Ok(())
}
