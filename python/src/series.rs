//! A series from Python, as columns: a float32 or float64 numpy array
//! `(T,)` or `(T, F)`, or a pandas DataFrame or Series (read by its column
//! names; pandas is never imported here: an object can only be a
//! DataFrame if the user's code imported pandas already).

use pyo3::exceptions::{PyIndexError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};

use crate::arrays::floats;

/// The shape a series has, for messages.
const EXPECTED: &str = "(T,) or (T, F): T time steps of F columns";

/// The columns of a series, `values[f][t]`, with their names where the
/// data has them (a DataFrame's, or names given).
pub struct Columns {
    /// `values[f][t]`.
    pub values: Vec<Vec<f64>>,
    /// Each column's name, or `None` for an unnamed numpy array.
    pub names: Option<Vec<String>>,
}

/// The columns of `data` (named `what` in errors); `names` names those of
/// a numpy array (a DataFrame's are its own). Every value must be finite.
pub fn columns(
    data: &Bound<'_, PyAny>,
    what: &str,
    names: Option<Vec<String>>,
) -> PyResult<Columns> {
    let (array, own) = match pandas(data)? {
        Some((array, own)) => (array, Some(own)),
        None => (data.clone(), None),
    };
    let ndim = array
        .getattr("ndim")
        .and_then(|n| n.extract::<usize>())
        .unwrap_or(1);
    let dims: &[Option<usize>] = if ndim == 1 { &[None] } else { &[None, None] };
    let (values, shape) = floats(&array, what, dims, EXPECTED)?;
    let (t, f) = (shape[0], shape.get(1).copied().unwrap_or(1));
    if f == 0 {
        return Err(PyValueError::new_err(format!(
            "{what} has no columns; expected {EXPECTED}"
        )));
    }
    let names = match (own, names) {
        (Some(_), Some(_)) => {
            return Err(PyValueError::new_err(
                "columns= names the columns of a numpy array; a DataFrame's are its own",
            ));
        }
        (own, given) => own.or(given),
    };
    if let Some(n) = &names {
        if n.len() != f {
            return Err(PyValueError::new_err(format!(
                "{} column names given for the {f} columns of {what}",
                n.len()
            )));
        }
        if let Some(dup) = n.iter().enumerate().find(|(i, a)| n[..*i].contains(a)) {
            return Err(PyValueError::new_err(format!(
                "the column name '{}' appears twice; columns need distinct names",
                dup.1
            )));
        }
    }
    let values: Vec<Vec<f64>> = (0..f)
        .map(|c| (0..t).map(|r| values[r * f + c]).collect())
        .collect();
    for (c, col) in values.iter().enumerate() {
        if let Some(r) = col.iter().position(|v| !v.is_finite()) {
            let name = names
                .as_ref()
                .map(|n| format!(" ('{}')", n[c]))
                .unwrap_or_default();
            return Err(PyValueError::new_err(format!(
                "{what} has {} at row {r}, column {c}{name}; fill or drop missing values first (e.g. DataFrame.ffill() or .dropna())",
                col[r]
            )));
        }
    }
    Ok(Columns { values, names })
}

/// The names `x0`, `x1`, ... of `n` unnamed columns.
pub fn default_names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("x{i}")).collect()
}

/// A pandas DataFrame's (or Series') values as a float64 array, and its
/// column names; `None` for anything else.
fn pandas<'py>(data: &Bound<'py, PyAny>) -> PyResult<Option<(Bound<'py, PyAny>, Vec<String>)>> {
    let py = data.py();
    let modules = py.import("sys")?.getattr("modules")?;
    let Ok(pd) = modules.get_item("pandas") else {
        return Ok(None);
    };
    let (frame, series) = (pd.getattr("DataFrame")?, pd.getattr("Series")?);
    let names: Vec<String> = if data.is_instance(&frame)? {
        data.getattr("columns")?
            .try_iter()?
            .map(|c| c.and_then(|c| Ok(c.str()?.to_string())))
            .collect::<PyResult<_>>()?
    } else if data.is_instance(&series)? {
        let name = data.getattr("name")?;
        match name.is_none() {
            true => default_names(1),
            false => vec![name.str()?.to_string()],
        }
    } else {
        return Ok(None);
    };
    let kwargs = PyDict::new(py);
    kwargs.set_item("dtype", "float64")?;
    let array = data
        .call_method("to_numpy", (), Some(&kwargs))
        .map_err(|e| {
            PyTypeError::new_err(format!(
                "the DataFrame's columns must hold numbers ({}); keep a time column as the index, drop or convert the others",
                e.value(py)
            ))
        })?;
    Ok(Some((array, names)))
}

/// The indices among `names` of the columns `wanted` (None: all; an int
/// or a str, or a list of them: positions, negative from the end, or
/// names).
pub fn pick(wanted: Option<&Bound<'_, PyAny>>, names: &[String]) -> PyResult<Vec<usize>> {
    let Some(wanted) = wanted else {
        return Ok((0..names.len()).collect());
    };
    let items: Vec<Bound<'_, PyAny>> =
        if wanted.is_instance_of::<PyString>() || wanted.extract::<i64>().is_ok() {
            vec![wanted.clone()]
        } else {
            wanted.try_iter()?.collect::<PyResult<_>>()?
        };
    if items.is_empty() {
        return Err(PyValueError::new_err(
            "targets is empty: name at least one column",
        ));
    }
    let n = names.len() as i64;
    let mut picked = Vec::with_capacity(items.len());
    for item in items {
        let at = if let Ok(i) = item.extract::<i64>() {
            let at = if i < 0 { n + i } else { i };
            if !(0..n).contains(&at) {
                return Err(PyIndexError::new_err(format!(
                    "column {i} is out of range: the data has {n} column(s)"
                )));
            }
            at as usize
        } else if let Ok(name) = item.extract::<String>() {
            names.iter().position(|c| *c == name).ok_or_else(|| {
                PyValueError::new_err(format!(
                    "no column '{name}': the columns are {}",
                    names.join(", ")
                ))
            })?
        } else {
            return Err(PyTypeError::new_err(format!(
                "targets holds column positions (int) or names (str), not {}",
                item.get_type().name()?
            )));
        };
        if picked.contains(&at) {
            return Err(PyValueError::new_err(format!(
                "column '{}' is named twice in targets",
                names[at]
            )));
        }
        picked.push(at);
    }
    Ok(picked)
}
