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
use crate::state::{Part, StateLayout};

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

    /// An initial state (or, with `grad`, a final state's gradient) from
    /// Python: an array `(L·D, B, H)`, or a tuple of the state's parts
    /// (the LSTM's `(h, c)`, the sLSTM's `(h, c, n, m)`, the mLSTM's `(h,
    /// C, n, m)`; see [`StateLayout`]), as the model's flat buffer.
    fn state_in(
        &self,
        state: &Bound<'_, PyAny>,
        b: usize,
        what: &str,
        grad: bool,
    ) -> PyResult<Vec<f64>> {
        let layout = StateLayout::of(self.shape(), b);
        let dims = |part: &Part| part.shape.iter().map(|&n| Some(n)).collect::<Vec<_>>();
        let mut parts = Vec::new();
        if let [part] = &layout.parts[..] {
            parts = floats(state, what, &dims(part), &part.described())?.0;
        } else {
            let cell = self.shape().cell.title();
            let names: Vec<&str> = layout.parts.iter().map(|p| p.name).collect();
            let shapes: Vec<String> = layout.parts.iter().map(Part::described).collect();
            let tuple = state
                .cast::<PyTuple>()
                .ok()
                .filter(|t| t.len() == names.len())
                .ok_or_else(|| {
                    PyValueError::new_err(format!(
                        "{what} of an {cell} is a tuple ({}) of {} arrays of shapes {}",
                        names.join(", "),
                        names.len(),
                        shapes.join(", ")
                    ))
                })?;
            for (k, part) in layout.parts.iter().enumerate() {
                let item = tuple.get_item(k)?;
                let what = format!("{what}[{k}] ({})", part.name);
                parts.extend(floats(&item, &what, &dims(part), &shapes[k])?.0);
            }
        }
        Ok(if grad {
            layout.grad_from_parts(&parts)
        } else {
            layout.state_from_parts(&parts)
        })
    }

    /// A flat state (or its gradient) as its parts' names and arrays (see
    /// [`StateLayout`]).
    fn state_arrays<'py>(
        &self,
        py: Python<'py>,
        flat: &[f64],
        b: usize,
    ) -> PyResult<Vec<(&'static str, Bound<'py, PyAny>)>> {
        let layout = StateLayout::of(self.shape(), b);
        let mut values = layout.to_parts(flat).into_iter();
        layout
            .parts
            .iter()
            .map(|part| {
                let values = values.by_ref().take(part.len()).collect();
                Ok((part.name, to_array(py, &part.shape, values)?.into_any()))
            })
            .collect()
    }

    /// A flat state as Python sees it: an array, or a tuple of its parts
    /// (`(h, c)` for the LSTM, `(h, c, n, m)` for the sLSTM, `(h, C, n, m)`
    /// for the mLSTM).
    fn state_out<'py>(
        &self,
        py: Python<'py>,
        flat: Vec<f64>,
        b: usize,
    ) -> PyResult<Bound<'py, PyAny>> {
        let mut arrays: Vec<_> = self
            .state_arrays(py, &flat, b)?
            .into_iter()
            .map(|(_, a)| a)
            .collect();
        match arrays.len() {
            1 => Ok(arrays.remove(0)),
            _ => Ok(PyTuple::new(py, arrays)?.into_any()),
        }
    }
}

#[pymethods]
impl Layers {
    /// `cell` is "rnn", "lstm", "gru", "mingru", "minlstm", "slstm" or
    /// "mlstm"; `nonlinearity` "tanh" or "relu" (the vanilla RNN's).
    /// Weights and biases start from PyTorch's `U(-1/√H, 1/√H)`, drawn
    /// with `seed`.
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
    /// num_directions, B, hidden_size)`; a tuple `(h0, c0)` for the LSTM,
    /// `(h0, c0, n0, m0)` for the sLSTM, `(h0, C0, n0, m0)` for the mLSTM
    /// with `C0 (L·D, B, 4, d, d)`, `n0 (L·D, B, 4, d)`, `m0 (L·D, B, 4)`;
    /// zeros when None). Returns `(output, h_n)`: `output (T, B,
    /// num_directions * hidden_size)` and the final state in the same
    /// form, float64.
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
        let state = h0.map(|s| self.state_in(s, b, "h0", false)).transpose()?;
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
    /// (the output's shape) and, optionally, `d_hn = dL/d(h_n)` in the
    /// final state's form (`(d_hn, d_cn)` for the LSTM). Returns a dict of
    /// float64 arrays: the gradient of every parameter under PyTorch's
    /// names (`weight_ih_l0`, ...), of the input (`"input"`, `(T, B,
    /// input_size)`) and of each part of the initial state (`"h0"`, and
    /// `"c0"` for the LSTM; `"c0"`, `"n0"`, `"m0"` for the sLSTM; `"C0"`,
    /// `"n0"`, `"m0"` for the mLSTM).
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
        let d_state = d_hn
            .map(|s| self.state_in(s, b, "d_hn", true))
            .transpose()?;
        let g = self.inner.backward(&d_out, d_state.as_deref()).or_py()?;
        let d = named(py, self.inner.layout(), &g.params, PREFIX)?;
        let i = self.shape().input_size;
        d.set_item("input", to_array(py, &[t, b, i], g.input)?)?;
        for (name, part) in self.state_arrays(py, &g.state, b)? {
            d.set_item(format!("{name}0"), part)?;
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
