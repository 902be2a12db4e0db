//! `recur.layers`: recurrent layers on their own (PyTorch's `nn.RNN`,
//! `nn.LSTM`, `nn.GRU`), in float64, with numpy in and out: `forward(x,
//! h0)` gives the outputs and final states, `backward(d_out)` the gradient
//! of every parameter, of the input and of the initial state, so a student
//! can check their own numpy code against recur's, value by value.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};
use recur::backend::Activation;
use recur::cell::CellKind;
use recur::model::{Recurrent, StackConfig};

use crate::arrays::{floats, from_named, named, to_array};
use crate::errors::OrPy;

/// The prefix of the stack's tensor names, which PyTorch's layer names
/// do not have.
const PREFIX: &str = "rnn.";

/// Recurrent layers: the base of `recur.layers.RNN`, `LSTM` and `GRU`.
#[pyclass(module = "recur.layers", name = "Recurrent", subclass)]
pub struct Layers {
    inner: Recurrent<f64>,
    /// (T, B) of the last forward.
    dims: Option<(usize, usize)>,
}

impl Layers {
    fn shape(&self) -> &StackConfig {
        self.inner.config()
    }

    /// `h: (L·D, B, H)`'s shape for batch `b`.
    fn state_shape(&self, b: usize) -> Vec<usize> {
        let c = self.shape();
        vec![c.layers * c.directions(), b, c.hidden_size]
    }

    fn is_lstm(&self) -> bool {
        self.shape().cell.has_cell_state()
    }

    /// An initial state (or its gradient) from Python: an array `(L·D, B,
    /// H)`, or for the LSTM a tuple `(h, c)` of two; flat, h then c.
    fn state_in(&self, state: &Bound<'_, PyAny>, b: usize, what: &str) -> PyResult<Vec<f64>> {
        let shape = self.state_shape(b);
        let dims: Vec<Option<usize>> = shape.iter().map(|&n| Some(n)).collect();
        let expected = format!(
            "(num_layers*num_directions={}, B={b}, hidden_size={})",
            shape[0], shape[2]
        );
        if self.is_lstm() {
            let pair = state
                .cast::<PyTuple>()
                .ok()
                .filter(|t| t.len() == 2)
                .ok_or_else(|| {
                    PyValueError::new_err(format!(
                        "{what} of an LSTM is a tuple (h, c) of two arrays of shape {expected}"
                    ))
                })?;
            let (mut h, _) = floats(
                &pair.get_item(0)?,
                &format!("{what}[0] (h)"),
                &dims,
                &expected,
            )?;
            let (c, _) = floats(
                &pair.get_item(1)?,
                &format!("{what}[1] (c)"),
                &dims,
                &expected,
            )?;
            h.extend(c);
            Ok(h)
        } else {
            Ok(floats(state, what, &dims, &expected)?.0)
        }
    }

    /// A flat state as Python sees it: an array, or `(h, c)` for the LSTM.
    fn state_out<'py>(
        &self,
        py: Python<'py>,
        flat: Vec<f64>,
        b: usize,
    ) -> PyResult<Bound<'py, PyAny>> {
        let shape = self.state_shape(b);
        if self.is_lstm() {
            let half = flat.len() / 2;
            let (h, c) = flat.split_at(half);
            let h = to_array(py, &shape, h.to_vec())?;
            let c = to_array(py, &shape, c.to_vec())?;
            Ok(PyTuple::new(py, [h, c])?.into_any())
        } else {
            Ok(to_array(py, &shape, flat)?.into_any())
        }
    }
}

#[pymethods]
impl Layers {
    /// `cell` is "rnn", "lstm" or "gru"; `nonlinearity` "tanh" or "relu"
    /// (the vanilla RNN's). Weights and biases start from PyTorch's
    /// `U(-1/√H, 1/√H)`, drawn with `seed`.
    #[new]
    #[pyo3(signature = (cell, input_size, hidden_size, num_layers=1, bidirectional=false, nonlinearity="tanh", seed=0))]
    fn new(
        cell: &str,
        input_size: usize,
        hidden_size: usize,
        num_layers: usize,
        bidirectional: bool,
        nonlinearity: &str,
        seed: u64,
    ) -> PyResult<Self> {
        let cell = match cell.parse::<CellKind>().or_py()? {
            CellKind::Rnn(_) => CellKind::Rnn(
                nonlinearity
                    .parse::<Activation>()
                    .map_err(PyValueError::new_err)?,
            ),
            other => other,
        };
        let config = StackConfig {
            cell,
            input_size,
            embed: None,
            hidden_size,
            layers: num_layers,
            bidirectional,
            dropout: 0.0,
        };
        Ok(Layers {
            inner: Recurrent::new(config, seed).or_py()?,
            dims: None,
        })
    }

    /// Run over `x`: a float32 or float64 array `(T, B, input_size)`
    /// (time-major, as PyTorch's default), from `h0` (`(num_layers *
    /// num_directions, B, hidden_size)`; a tuple `(h0, c0)` for the LSTM;
    /// zeros when None). Returns `(output, h_n)`: `output (T, B,
    /// num_directions * hidden_size)` and the final state (`(h_n, c_n)` for
    /// the LSTM), float64.
    #[pyo3(signature = (x, h0=None))]
    fn forward<'py>(
        &mut self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        h0: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let i = self.shape().input_size;
        let expected = format!("(T, B, input_size={i})");
        let (values, shape) = floats(x, "x", &[None, None, Some(i)], &expected)?;
        let (t, b) = (shape[0], shape[1]);
        let state = h0.map(|s| self.state_in(s, b, "h0")).transpose()?;
        let (outs, fin) = self
            .inner
            .forward(&values, t, b, state.as_deref())
            .or_py()?;
        let (outs, fin) = (outs.to_vec(), fin.to_vec());
        self.dims = Some((t, b));
        let width = self.shape().output_size();
        let outs = to_array(py, &[t, b, width], outs)?;
        let fin = self.state_out(py, fin, b)?;
        PyTuple::new(py, [outs.into_any(), fin])
    }

    /// Backward through the last forward from `d_output = dL/d(output)`
    /// (the output's shape) and, optionally, `d_hn = dL/d(h_n)` (`(d_hn,
    /// d_cn)` for the LSTM). Returns a dict of float64 arrays: the gradient
    /// of every parameter under PyTorch's names (`weight_ih_l0`, ...), of
    /// the input (`"input"`, `(T, B, input_size)`) and of the initial
    /// state (`"h0"`, and `"c0"` for the LSTM).
    #[pyo3(signature = (d_output, d_hn=None))]
    fn backward<'py>(
        &mut self,
        py: Python<'py>,
        d_output: &Bound<'py, PyAny>,
        d_hn: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let (t, b) = self.dims.ok_or_else(|| {
            PyValueError::new_err(
                "backward needs a forward first: call forward(x), then backward(d_output)",
            )
        })?;
        let width = self.shape().output_size();
        let expected = format!("(T={t}, B={b}, {width}), the output's");
        let dims = [Some(t), Some(b), Some(width)];
        let (d_out, _) = floats(d_output, "d_output", &dims, &expected)?;
        let d_state = d_hn.map(|s| self.state_in(s, b, "d_hn")).transpose()?;
        let g = self.inner.backward(&d_out, d_state.as_deref()).or_py()?;
        let d = named(py, self.inner.layout(), &g.params, PREFIX)?;
        let i = self.shape().input_size;
        d.set_item("input", to_array(py, &[t, b, i], g.input)?)?;
        let shape = self.state_shape(b);
        if self.is_lstm() {
            let (h, c) = g.state.split_at(g.state.len() / 2);
            d.set_item("h0", to_array(py, &shape, h.to_vec())?)?;
            d.set_item("c0", to_array(py, &shape, c.to_vec())?)?;
        } else {
            d.set_item("h0", to_array(py, &shape, g.state)?)?;
        }
        Ok(d)
    }

    /// The parameters as a dict of float64 arrays under PyTorch's names
    /// (copies).
    fn parameters<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        named(py, self.inner.layout(), &self.inner.params, PREFIX)
    }

    /// Set the parameters from a dict like `parameters()` (e.g. your own
    /// numpy weights, or a PyTorch layer's `state_dict()` as numpy): every
    /// name must be there with its shape, and nothing else.
    fn load_state_dict(&mut self, state: &Bound<'_, PyDict>) -> PyResult<()> {
        self.inner.params = from_named(state, self.inner.layout(), PREFIX)?;
        Ok(())
    }

    /// The shape: a dict with `cell`, `input_size`, `hidden_size`,
    /// `num_layers`, `bidirectional`.
    #[getter]
    fn config<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let c = self.shape();
        let d = PyDict::new(py);
        d.set_item("cell", c.cell.name())?;
        d.set_item("input_size", c.input_size)?;
        d.set_item("hidden_size", c.hidden_size)?;
        d.set_item("num_layers", c.layers)?;
        d.set_item("bidirectional", c.bidirectional)?;
        Ok(d)
    }

    fn __repr__(&self) -> String {
        let c = self.shape();
        format!(
            "{}(input_size={}, hidden_size={}, num_layers={}, bidirectional={})",
            c.cell.name().to_uppercase(),
            c.input_size,
            c.hidden_size,
            c.layers,
            if c.bidirectional { "True" } else { "False" }
        )
    }
}
