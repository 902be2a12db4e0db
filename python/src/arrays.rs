//! numpy arrays in: float32 or float64 of an expected shape, anything else
//! an error that names what was expected.

use numpy::ndarray::ArrayD;
use numpy::{IntoPyArray, PyArrayDyn, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;

/// The values of `array` (named `what` in errors) as f64, row-major, and
/// its shape, which must have `dims.len()` axes, each of the given size
/// where one is given. `expected` describes the shape for the message,
/// e.g. "(T, B, input_size=3)".
pub fn floats(
    array: &Bound<'_, PyAny>,
    what: &str,
    dims: &[Option<usize>],
    expected: &str,
) -> PyResult<(Vec<f64>, Vec<usize>)> {
    let (values, shape) = if let Ok(a) = array.extract::<PyReadonlyArrayDyn<'_, f64>>() {
        (
            a.as_array().iter().copied().collect::<Vec<f64>>(),
            a.shape().to_vec(),
        )
    } else if let Ok(a) = array.extract::<PyReadonlyArrayDyn<'_, f32>>() {
        let values = a.as_array().iter().map(|&v| v as f64).collect();
        (values, a.shape().to_vec())
    } else {
        let kind = match array.getattr("dtype") {
            Ok(dtype) => format!("an array of {}", dtype.str()?),
            Err(_) => format!("a {}", array.get_type().name()?),
        };
        return Err(PyTypeError::new_err(format!(
            "{what} must be a float32 or float64 numpy array of shape {expected}, not {kind}"
        )));
    };
    let fits = shape.len() == dims.len()
        && shape
            .iter()
            .zip(dims)
            .all(|(&n, d)| d.is_none_or(|d| d == n));
    if !fits {
        return Err(PyValueError::new_err(format!(
            "{what} has shape {shape:?}; expected {expected}"
        )));
    }
    Ok((values, shape))
}

/// `values` as a float64 array of `shape`.
pub fn to_array<'py>(
    py: Python<'py>,
    shape: &[usize],
    values: Vec<f64>,
) -> PyResult<Bound<'py, PyArrayDyn<f64>>> {
    let a = ArrayD::from_shape_vec(shape.to_vec(), values)
        .map_err(|e| PyValueError::new_err(e.to_string()))?;
    Ok(a.into_pyarray(py))
}
