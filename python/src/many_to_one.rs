//! `recur.ManyToOne`: the classroom's many-to-one RNN (a sequence of
//! vectors in, one output from the last state), in float64 with numpy in
//! and out: forward, loss, gradients, training, prediction.

use numpy::ndarray::Array1;
use numpy::{IntoPyArray, PyArray1, PyArrayDyn, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use recur::backend::{Activation, Cpu};
use recur::cell::{CellKind, SeqInput};
use recur::model::{Init, Net, NetConfig, NetWorkspace, Readout};
use recur::optim::{Clip, Optimizer, OptimizerKind};
use recur::{IGNORE, Target};

use crate::arrays::{floats, from_named, named, to_array};
use crate::errors::OrPy;

/// What the output is trained to be.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Loss {
    /// Class scores: softmax cross-entropy against class ids.
    CrossEntropy,
    /// Values: mean squared error.
    Mse,
}

/// Targets from Python: class ids `(B,)` or values `(B, output_size)`.
enum Targets {
    Classes(Vec<u32>),
    Values(Vec<f64>),
}

impl Targets {
    fn target(&self) -> Target<'_, f64> {
        match self {
            Targets::Classes(c) => Target::Classes(c),
            Targets::Values(v) => Target::Values(v),
        }
    }

    /// Rows `rows` of these targets, in that order.
    fn pick(&self, rows: &[usize], width: usize) -> Targets {
        match self {
            Targets::Classes(c) => Targets::Classes(rows.iter().map(|&r| c[r]).collect()),
            Targets::Values(v) => Targets::Values(
                rows.iter()
                    .flat_map(|&r| v[r * width..(r + 1) * width].iter().copied())
                    .collect(),
            ),
        }
    }
}

/// A many-to-one recurrent network: `layers` of a vanilla RNN, LSTM or GRU
/// over input vectors, and a linear output from the last layer's final
/// state.
#[pyclass(module = "recur", name = "ManyToOne")]
pub struct ManyToOne {
    net: Net<f64>,
    loss: Loss,
    seed: u64,
}

impl ManyToOne {
    fn config(&self) -> &NetConfig {
        self.net.config()
    }

    /// `x: (T, B, input_size)` from Python: the values and (T, B).
    fn input(&self, x: &Bound<'_, PyAny>) -> PyResult<(Vec<f64>, usize, usize)> {
        let i = self.config().input_size;
        let expected = format!("(T, B, input_size={i})");
        let (values, shape) = floats(x, "x", &[None, None, Some(i)], &expected)?;
        if shape[0] == 0 || shape[1] == 0 {
            return Err(PyValueError::new_err(format!(
                "x has shape {shape:?}: it needs at least one step and one sequence"
            )));
        }
        Ok((values, shape[0], shape[1]))
    }

    /// Targets for `b` sequences: class ids (integers in `0..output_size`)
    /// with the cross-entropy loss, values `(B, output_size)` with MSE.
    fn targets(&self, y: &Bound<'_, PyAny>, b: usize) -> PyResult<Targets> {
        let o = self.config().output_size;
        match self.loss {
            Loss::CrossEntropy => {
                let ids = y.extract::<PyReadonlyArrayDyn<'_, i64>>().map_err(|_| {
                    PyTypeError::new_err(format!(
                        "the targets of a classifier are an integer numpy array of class ids, shape (B={b},)"
                    ))
                })?;
                if ids.shape() != [b] {
                    return Err(PyValueError::new_err(format!(
                        "the targets have shape {:?}; expected (B={b},), one class id per sequence",
                        ids.shape()
                    )));
                }
                let ids = ids.as_array();
                if let Some(bad) = ids.iter().find(|&&c| c < 0 || c as usize >= o) {
                    return Err(PyValueError::new_err(format!(
                        "class id {bad} is outside 0..{o} (output_size={o})"
                    )));
                }
                Ok(Targets::Classes(ids.iter().map(|&c| c as u32).collect()))
            }
            Loss::Mse => {
                let expected = format!("(B={b}, output_size={o})");
                let (v, _) = floats(y, "the targets", &[Some(b), Some(o)], &expected)?;
                Ok(Targets::Values(v))
            }
        }
    }

    /// Forward, loss and the gradients of every parameter and of the input.
    fn loss_and_grads(
        &self,
        x: &[f64],
        (t, b): (usize, usize),
        y: &Targets,
        ws: &mut NetWorkspace<f64, Cpu>,
    ) -> recur::Result<(f64, Vec<f64>)> {
        let mut grads = self.net.zero_grads();
        let loss =
            self.net
                .loss_and_grad(SeqInput::Dense(x), None, t, b, y.target(), ws, &mut grads)?;
        Ok((loss, grads))
    }
}

#[pymethods]
impl ManyToOne {
    /// `input_size` features per step, `hidden_size` units, `output_size`
    /// outputs: class scores (`loss="cross_entropy"`, targets are class
    /// ids) or values (`loss="mse"`). `model` "rnn" (with `activation`
    /// "tanh" or "relu"), "lstm" or "gru"; weights from PyTorch's
    /// `U(-1/√H, 1/√H)` drawn with `seed`.
    #[new]
    #[pyo3(signature = (input_size, hidden_size, output_size, model="rnn", layers=1, loss="cross_entropy", activation="tanh", seed=0))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        input_size: usize,
        hidden_size: usize,
        output_size: usize,
        model: &str,
        layers: usize,
        loss: &str,
        activation: &str,
        seed: u64,
    ) -> PyResult<Self> {
        let cell = match model.parse::<CellKind>().or_py()? {
            CellKind::Rnn(_) => CellKind::Rnn(
                activation
                    .parse::<Activation>()
                    .map_err(PyValueError::new_err)?,
            ),
            other => other,
        };
        let loss = match loss {
            "cross_entropy" => Loss::CrossEntropy,
            "mse" => Loss::Mse,
            other => {
                return Err(PyValueError::new_err(format!(
                    "unknown loss '{other}': use \"cross_entropy\" (class ids) or \"mse\" (values)"
                )));
            }
        };
        let config = NetConfig {
            cell,
            input_size,
            embed: None,
            hidden_size,
            layers,
            bidirectional: false,
            dropout: 0.0,
            output_size,
            readout: Readout::ManyToOne,
        };
        let net = Net::new(config, Init::Uniform, seed).or_py()?;
        Ok(ManyToOne { net, loss, seed })
    }

    /// The outputs `(B, output_size)` (class scores before the softmax, or
    /// values) for `x: (T, B, input_size)`.
    fn forward<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyArrayDyn<f64>>> {
        let (values, t, b) = self.input(x)?;
        let mut ws = self.net.workspace();
        self.net
            .forward(SeqInput::Dense(&values), None, t, b, &mut ws)
            .or_py()?;
        to_array(py, &[b, self.config().output_size], ws.outputs().to_vec())
    }

    /// The mean loss over the `B` sequences of `x` against `y` (class ids
    /// `(B,)`, or values `(B, output_size)` with "mse").
    fn compute_loss(&self, x: &Bound<'_, PyAny>, y: &Bound<'_, PyAny>) -> PyResult<f64> {
        let (values, t, b) = self.input(x)?;
        let y = self.targets(y, b)?;
        let mut ws = self.net.workspace();
        Ok(self.loss_and_grads(&values, (t, b), &y, &mut ws).or_py()?.0)
    }

    /// The gradients of `compute_loss(x, y)`: a dict of float64 arrays,
    /// every parameter under PyTorch's names (`rnn.weight_ih_l0`, ...,
    /// `fc.weight`, `fc.bias`) and `"input"` `(T, B, input_size)`.
    fn gradients<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        y: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let (values, t, b) = self.input(x)?;
        let y = self.targets(y, b)?;
        let mut ws = self.net.workspace();
        let (_, grads) = self.loss_and_grads(&values, (t, b), &y, &mut ws).or_py()?;
        let d = named(py, self.net.layout(), &grads, "")?;
        let i = self.config().input_size;
        d.set_item("input", to_array(py, &[t, b, i], ws.input_grad().to_vec())?)?;
        Ok(d)
    }

    /// Train on the `N` sequences of `x: (T, N, input_size)` with targets
    /// `y` for `epochs` passes, `batch` sequences per update in an order
    /// shuffled every epoch (seeded), with `optimizer` ("adam", "sgd",
    /// "rmsprop", "adagrad") at `lr`, every gradient clipped to ±`clip`
    /// (None: no clipping). Returns each epoch's mean loss.
    #[pyo3(signature = (x, y, epochs=100, batch=32, optimizer="adam", lr=0.01, clip=Some(5.0)))]
    #[allow(clippy::too_many_arguments)]
    fn fit(
        &mut self,
        py: Python<'_>,
        x: &Bound<'_, PyAny>,
        y: &Bound<'_, PyAny>,
        epochs: usize,
        batch: usize,
        optimizer: &str,
        lr: f64,
        clip: Option<f64>,
    ) -> PyResult<Vec<f64>> {
        let (values, t, n) = self.input(x)?;
        let y = self.targets(y, n)?;
        recur::check::at_least_one("batch", batch).or_py()?;
        let kind = OptimizerKind::from_name(optimizer, 0.0).or_py()?;
        let mut opt = Optimizer::<f64>::new_on(Cpu, kind, lr, self.net.params.len()).or_py()?;
        let clip = clip.map_or(Clip::None, Clip::Elementwise);
        let (i, o) = (self.config().input_size, self.config().output_size);
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        let mut order: Vec<usize> = (0..n).collect();
        let mut losses = Vec::with_capacity(epochs);
        let mut ws = self.net.workspace();
        for epoch in 1..=epochs {
            order.shuffle(&mut rng);
            let mean = py.detach(|| -> recur::Result<f64> {
                let mut sum = 0.0;
                for rows in order.chunks(batch) {
                    let xs = gather_sequences(&values, (t, n, i), rows);
                    let ys = y.pick(rows, o);
                    let (loss, grads) = self.loss_and_grads(&xs, (t, rows.len()), &ys, &mut ws)?;
                    let mut grads = grads;
                    if !clip.apply(&mut grads) {
                        return Err(recur::Error::Diverged(format!(
                            "training diverged in epoch {epoch}: a gradient is not finite; lower the learning rate (now {lr})"
                        )));
                    }
                    opt.step(&mut self.net.params, &grads);
                    sum += loss * rows.len() as f64;
                }
                Ok(sum / n as f64)
            });
            losses.push(mean.or_py()?);
            py.check_signals()?;
        }
        Ok(losses)
    }

    /// The prediction for each sequence of `x`: class ids `(B,)` (int64)
    /// for a classifier, values `(B, output_size)` otherwise.
    fn predict<'py>(&self, py: Python<'py>, x: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let out = self.forward(py, x)?;
        if self.loss == Loss::Mse {
            return Ok(out.into_any());
        }
        let (values, _, b) = self.input(x)?;
        let mut ws = self.net.workspace();
        let batch = recur::model::Batch::new(
            SeqInput::Dense(&values),
            values.len() / b / self.config().input_size,
            b,
        );
        let ids = self.net.predict(&batch, &mut ws).or_py()?;
        let ids: Array1<i64> = ids
            .iter()
            .map(|&c| if c == IGNORE { -1 } else { c as i64 })
            .collect();
        let a: Bound<'py, PyArray1<i64>> = ids.into_pyarray(py);
        Ok(a.into_any())
    }

    /// The parameters as a dict of float64 arrays under PyTorch's names.
    fn parameters<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        named(py, self.net.layout(), &self.net.params, "")
    }

    /// Set every parameter from a dict like `parameters()`.
    fn load_state_dict(&mut self, state: &Bound<'_, PyDict>) -> PyResult<()> {
        self.net.params = from_named(state, self.net.layout(), "")?;
        Ok(())
    }
}

/// Sequences `rows` of a time-major `(T, N, I)` buffer, as `(T, rows, I)`.
fn gather_sequences(x: &[f64], (t, n, i): (usize, usize, usize), rows: &[usize]) -> Vec<f64> {
    let mut out = Vec::with_capacity(t * rows.len() * i);
    for step in 0..t {
        for &r in rows {
            let at = (step * n + r) * i;
            out.extend_from_slice(&x[at..at + i]);
        }
    }
    out
}
