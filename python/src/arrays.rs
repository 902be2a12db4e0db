//! numpy arrays in (float32 or float64 of an expected shape, anything else
//! an error that names what was expected) and out, and parameters as dicts
//! of arrays under their names.

use numpy::ndarray::ArrayD;
use numpy::{Element, IntoPyArray, PyArrayDyn, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::exceptions::{PyKeyError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use recur::Scalar;
use recur::model::ParamLayout;

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

/// `values` as an array of `shape`.
pub fn to_array<'py, S: Element>(
    py: Python<'py>,
    shape: &[usize],
    values: Vec<S>,
) -> PyResult<Bound<'py, PyArrayDyn<S>>> {
    let a = ArrayD::from_shape_vec(shape.to_vec(), values)
        .map_err(|e| PyValueError::new_err(e.to_string()))?;
    Ok(a.into_pyarray(py))
}

/// Each tensor of `layout`, cut from the flat buffer `flat`, as an array
/// of its shape under its name less `prefix`.
pub fn named<'py, S: Element + Copy>(
    py: Python<'py>,
    layout: &ParamLayout,
    flat: &[S],
    prefix: &str,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for spec in layout.specs() {
        let name = spec.name.strip_prefix(prefix).unwrap_or(&spec.name);
        d.set_item(
            name,
            to_array(py, &spec.shape, flat[spec.range()].to_vec())?,
        )?;
    }
    Ok(d)
}

/// Parameters in `layout`'s order from a dict like [`named`] gives (float32
/// or float64 arrays): every name there with its shape, and nothing else.
pub fn from_named<S: Scalar>(
    state: &Bound<'_, PyDict>,
    layout: &ParamLayout,
    prefix: &str,
) -> PyResult<Vec<S>> {
    let mut params = vec![S::zero(); layout.len()];
    let mut names = Vec::new();
    for spec in layout.specs() {
        let name = spec.name.strip_prefix(prefix).unwrap_or(&spec.name);
        let value = state.get_item(name)?.ok_or_else(|| {
            PyKeyError::new_err(format!(
                "the state has no '{name}' (shape {:?})",
                spec.shape
            ))
        })?;
        let dims: Vec<Option<usize>> = spec.shape.iter().map(|&n| Some(n)).collect();
        let (v, _) = floats(&value, name, &dims, &format!("{:?}", spec.shape))?;
        if let Some(wrong) = spec.off_block_value(&v) {
            return Err(PyValueError::new_err(format!(
                "'{name}' {wrong}: set those entries to 0"
            )));
        }
        for (p, x) in params[spec.range()].iter_mut().zip(v) {
            *p = S::of(x);
        }
        names.push(name.to_string());
    }
    let extra: Vec<String> = state
        .keys()
        .iter()
        .map(|k| k.str().map(|s| s.to_string()))
        .collect::<PyResult<Vec<_>>>()?
        .into_iter()
        .filter(|k| !names.contains(k))
        .collect();
    if !extra.is_empty() {
        return Err(PyKeyError::new_err(format!(
            "the state has names the model does not: {extra:?}"
        )));
    }
    Ok(params)
}
