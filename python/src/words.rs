//! `CharRNN.sample_words`' result: whole words from a word-list model,
//! each marked as new or as one of the training list's.

use pyo3::exceptions::PyIndexError;
use pyo3::prelude::*;
use pyo3::types::PyList;
use recur::sample::novelty;

/// Words sampled from a word-list model: a sequence of str (`len`,
/// indexing, iteration), with `new` (whether each word is missing from the
/// training list) and `new_fraction`, where the list is known.
#[pyclass(module = "recur", name = "WordSample", sequence)]
pub struct WordSample {
    words: Vec<String>,
    is_new: Option<Vec<bool>>,
}

impl WordSample {
    /// `words`, compared with the `training` list where there is one.
    pub fn from_words(words: Vec<String>, training: Option<&[String]>) -> Self {
        let is_new = training.map(|t| novelty(&words, t).is_new);
        WordSample { words, is_new }
    }
}

#[pymethods]
impl WordSample {
    /// The words, in the order drawn.
    #[getter]
    fn words(&self) -> Vec<String> {
        self.words.clone()
    }

    /// For each word, whether the training list lacks it (None where the
    /// list is unknown: a loaded model sampled without `training=`).
    #[getter(new)]
    fn is_new(&self) -> Option<Vec<bool>> {
        self.is_new.clone()
    }

    /// The fraction of the words that are new (None where the training
    /// list is unknown).
    #[getter]
    fn new_fraction(&self) -> Option<f64> {
        let flags = self.is_new.as_ref()?;
        let new = flags.iter().filter(|&&n| n).count();
        Some(new as f64 / flags.len().max(1) as f64)
    }

    fn __len__(&self) -> usize {
        self.words.len()
    }

    fn __getitem__(&self, i: isize) -> PyResult<String> {
        let n = self.words.len() as isize;
        let at = if i < 0 { i + n } else { i };
        if !(0..n).contains(&at) {
            return Err(PyIndexError::new_err(format!("word {i} of {n}")));
        }
        Ok(self.words[at as usize].clone())
    }

    fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        PyList::new(py, &self.words)?.call_method0("__iter__")
    }

    /// One word a line, new ones marked, and the fraction.
    fn __repr__(&self) -> String {
        let mut lines: Vec<String> = match &self.is_new {
            Some(flags) => self
                .words
                .iter()
                .zip(flags)
                .map(|(w, &n)| if n { format!("{w}  (new)") } else { w.clone() })
                .collect(),
            None => self.words.clone(),
        };
        if let Some(f) = self.new_fraction() {
            lines.push(format!("{:.0}% new", 100.0 * f));
        }
        lines.join("\n")
    }
}
