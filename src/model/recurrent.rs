//! [`Recurrent`]: recurrent layers on their own, as PyTorch's `nn.RNN`,
//! `nn.LSTM` and `nn.GRU` are: dense input in, every step's outputs and
//! the final state out, and a backward that gives the gradient of every
//! parameter, of the input and of the initial state. For checking one's
//! own implementation (a numpy notebook's) against recur's, value by value.
//!
//! ```
//! use recur::cell::CellKind;
//! use recur::model::{Recurrent, StackConfig};
//! let config = StackConfig {
//!     cell: CellKind::Lstm,
//!     input_size: 3,
//!     embed: None,
//!     hidden_size: 4,
//!     layers: 1,
//!     bidirectional: false,
//!     dropout: 0.0,
//! };
//! let mut lstm = Recurrent::<f64>::new(config, 0).unwrap();
//! let (t, b) = (5, 2);
//! let x = vec![0.1; t * b * 3];
//! let (outputs, state) = lstm.forward(&x, t, b, None).unwrap();
//! assert_eq!((outputs.len(), state.len()), (t * b * 4, 2 * b * 4)); // h_n, then c_n
//! let g = lstm.backward(&vec![1.0; t * b * 4], None).unwrap();
//! assert_eq!(g.input.len(), x.len());
//! ```

use super::net::init_params;
use super::params::ParamLayout;
use super::stack::{Batch, Stack, StackConfig, StackWorkspace};
use crate::backend::Cpu;
use crate::cell::SeqInput;
use crate::error::{Error, Result};
use crate::model::Init;
use crate::tensor::Scalar;

/// Recurrent layers with their own parameters, on the CPU (see the
/// module's docs). Parameters are named as in PyTorch's `state_dict`
/// (`weight_ih_l0`, `weight_hh_l0`, `bias_ih_l0`, `bias_hh_l0`, `_reverse`
/// for the backward direction), after the prefix `rnn.`.
///
/// A bidirectional GRU's gradient, by backpropagation through time and by
/// central differences:
///
/// ```
/// use recur::cell::CellKind;
/// use recur::model::{Recurrent, StackConfig};
/// let config = StackConfig {
///     cell: CellKind::Gru,
///     input_size: 2,
///     embed: None,
///     hidden_size: 3,
///     layers: 1,
///     bidirectional: true,
///     dropout: 0.0,
/// };
/// let mut gru = Recurrent::<f64>::new(config, 1)?;
/// assert_eq!(gru.layout().specs()[0].name, "rnn.weight_ih_l0");
/// let (t, b) = (4, 1);
/// let x: Vec<f64> = (0..t * b * 2).map(|k| (k as f64 * 0.7).sin()).collect();
/// // L = Σ outputs; the outputs are (T, B, 2H): both directions' states.
/// let n = gru.forward(&x, t, b, None)?.0.len();
/// assert_eq!(n, t * b * 2 * 3);
/// let g = gru.backward(&vec![1.0; n], None)?;
/// // dL/d(the first weight), numerically: (L(w + ε) - L(w - ε)) / 2ε.
/// let (w, eps) = (gru.params[0], 1e-6);
/// let mut loss_at = |w: f64| {
///     gru.params[0] = w;
///     gru.forward(&x, t, b, None).map(|(out, _)| out.iter().sum::<f64>())
/// };
/// let numeric = (loss_at(w + eps)? - loss_at(w - eps)?) / (2.0 * eps);
/// assert!((g.params[0] - numeric).abs() < 1e-8);
/// # Ok::<(), recur::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Recurrent<S: Scalar = f64> {
    stack: Stack,
    layout: ParamLayout,
    /// The parameters, flat, in [`Recurrent::layout`] order.
    pub params: Vec<S>,
    ws: StackWorkspace<S, Cpu>,
    /// The last forward's input `(T, B, I)`, for the backward.
    x: Vec<S>,
}

/// What [`Recurrent::backward`] gives.
#[derive(Clone, Debug, PartialEq)]
pub struct RecurrentGrads<S> {
    /// `dL/d(parameters)`, flat, in [`Recurrent::layout`] order.
    pub params: Vec<S>,
    /// `dL/dx`: `(T, B, I)`.
    pub input: Vec<S>,
    /// `dL/d(initial state)`, in the state's layout (see
    /// [`Recurrent::forward`]).
    pub state: Vec<S>,
}

impl<S: Scalar> Recurrent<S> {
    /// Layers of shape `config` (dense input: no embedding), every weight
    /// and bias drawn from PyTorch's `U(-1/√H, 1/√H)` with `seed`.
    pub fn new(config: StackConfig, seed: u64) -> Result<Self> {
        if config.embed.is_some() {
            return Err(Error::Config(
                "recurrent layers on their own take dense input: no embedding".into(),
            ));
        }
        config.validate()?;
        let mut layout = ParamLayout::new();
        let stack = Stack::push(&mut layout, "", config.clone());
        super::memory::check_params::<S>(layout.len())?;
        let mut params = vec![S::zero(); layout.len()];
        init_params(
            &mut params,
            &layout,
            &[],
            config.hidden_size,
            Init::Uniform,
            seed,
        );
        Ok(Recurrent {
            stack,
            layout,
            params,
            ws: StackWorkspace::default(),
            x: Vec::new(),
        })
    }

    /// The shape.
    pub fn config(&self) -> &StackConfig {
        self.stack.config()
    }

    /// Where each parameter tensor sits in [`Recurrent::params`].
    pub fn layout(&self) -> &ParamLayout {
        &self.layout
    }

    /// Forward over `x: (T, B, I)` (time-major) from the initial state
    /// `h0` (zeros when `None`). The state is `h: (L·D, B, H)` (layer by
    /// layer, the backward direction after the forward one, as PyTorch's
    /// `h_n`), followed for the LSTM by `c` in the same layout. Returns the
    /// outputs `(T, B, D·H)` and the final state.
    pub fn forward(
        &mut self,
        x: &[S],
        t: usize,
        b: usize,
        h0: Option<&[S]>,
    ) -> Result<(&[S], &[S])> {
        let c = self.stack.config();
        if t == 0 || b == 0 {
            return Err(Error::Shape(format!(
                "T={t} steps of B={b} sequences: give at least one step and one sequence"
            )));
        }
        let want = t.checked_mul(b).and_then(|n| n.checked_mul(c.input_size));
        if want != Some(x.len()) {
            return Err(Error::Shape(format!(
                "the input holds {} values; T={t} steps of B={b} sequences of {} features need {}",
                x.len(),
                c.input_size,
                want.map_or("more than fit in memory".into(), |n| n.to_string())
            )));
        }
        let batch = Batch {
            state: h0,
            ..Batch::new(SeqInput::Dense(x), t, b)
        };
        self.stack
            .forward(&Cpu, &self.params, &batch, &mut self.ws, None)?;
        self.x.clear();
        self.x.extend_from_slice(x);
        Ok((self.ws.outputs(), self.ws.final_state()))
    }

    /// Backward through the last forward from `d_out = dL/d(outputs)`
    /// `(T, B, D·H)` and, optionally, `d_state = dL/d(final state)` (the
    /// state's layout).
    pub fn backward(&mut self, d_out: &[S], d_state: Option<&[S]>) -> Result<RecurrentGrads<S>> {
        let (t, b) = self.ws.dims();
        if self.x.is_empty() {
            return Err(Error::Config(
                "backward needs a forward first: call forward(x) and then backward(d_out)".into(),
            ));
        }
        let c = self.stack.config();
        let (out_len, state_len) = (t * b * c.output_size(), c.state_len(b));
        if d_out.len() != out_len {
            return Err(Error::Shape(format!(
                "the output gradient holds {} values; the outputs (T={t}, B={b}, {}) hold {out_len}",
                d_out.len(),
                c.output_size()
            )));
        }
        if let Some(d) = d_state
            && d.len() != state_len
        {
            return Err(Error::Shape(format!(
                "the final-state gradient holds {} values; the state holds {state_len}",
                d.len()
            )));
        }
        let (_, grad) = self.ws.outputs_and_grad();
        grad.copy_from_slice(d_out);
        let mut params = vec![S::zero(); self.params.len()];
        let x = SeqInput::Dense(&self.x);
        self.stack
            .backward(&Cpu, &self.params, &mut params, x, &mut self.ws, d_state)?;
        Ok(RecurrentGrads {
            params,
            input: self.ws.input_grad().to_vec(),
            state: self.ws.initial_state_grad().to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Activation;
    use crate::cell::CellKind;

    /// `L = Σ w_o · outputs + Σ w_s · final state` with fixed weights, so
    /// that every output and state value matters.
    fn loss(r: &mut Recurrent<f64>, x: &[f64], t: usize, b: usize, h0: &[f64]) -> f64 {
        let (outs, state) = r.forward(x, t, b, Some(h0)).unwrap();
        let w = |i: usize| ((i * 37 % 11) as f64 - 5.0) / 7.0;
        outs.iter().enumerate().map(|(i, v)| w(i) * v).sum::<f64>()
            + state
                .iter()
                .enumerate()
                .map(|(i, v)| w(i + 3) * v)
                .sum::<f64>()
    }

    /// Every gradient the backward gives (parameters, input, initial
    /// state) matches central differences of the loss, for each cell, two
    /// layers, both directions. The loss reads the final state: for the
    /// sLSTM that includes its stabilizer `m`, whose gradient is zero for
    /// a loss on `h` alone. The sLSTM also starts from a fresh state (`n =
    /// 0`, where `m' = ĩ`), whose own gradient is not checked there: the
    /// rule makes the loss jump at `n = 0`.
    #[test]
    fn gradients_match_finite_differences() {
        let cells = [
            (CellKind::Rnn(Activation::Tanh), false),
            (CellKind::Rnn(Activation::Relu), false),
            (CellKind::Lstm, false),
            (CellKind::Gru, false),
            (CellKind::MinGru, false),
            (CellKind::MinLstm, false),
            (CellKind::Slstm, false),
            (CellKind::Slstm, true),
            (CellKind::Mlstm, false),
        ];
        for (cell, fresh) in cells {
            let config = StackConfig {
                cell,
                input_size: 3,
                embed: None,
                hidden_size: 4,
                layers: 2,
                bidirectional: true,
                dropout: 0.0,
            };
            let (t, b) = (4, 2);
            let mut r = Recurrent::<f64>::new(config.clone(), 7).unwrap();
            let x: Vec<f64> = (0..t * b * 3)
                .map(|i| ((i * 13 % 7) as f64 - 3.0) / 4.0)
                .collect();
            let mut h0: Vec<f64> = (0..config.state_len(b))
                .map(|i| ((i * 5 % 9) as f64 - 4.0) / 9.0)
                .collect();
            config.make_reachable(b, &mut h0);
            if fresh {
                let positive = config.positive_state(b);
                // c = n = 0: the state a sequence starts from.
                let per = positive.len();
                h0[positive.start - per..positive.end].fill(0.0);
            }
            let (outs, state) = r.forward(&x, t, b, Some(&h0)).unwrap();
            let w = |i: usize| ((i * 37 % 11) as f64 - 5.0) / 7.0;
            let d_out: Vec<f64> = (0..outs.len()).map(w).collect();
            let d_state: Vec<f64> = (0..state.len()).map(|i| w(i + 3)).collect();
            let g = r.backward(&d_out, Some(&d_state)).unwrap();
            let eps = 1e-6;
            let check = |what: &str, analytic: &[f64], numeric: &dyn Fn(usize) -> f64| {
                for (i, &a) in analytic.iter().enumerate() {
                    let n = numeric(i);
                    assert!(
                        (a - n).abs() <= 1e-6 * (1.0 + n.abs()),
                        "{cell}: {what}[{i}]: {a} vs {n}"
                    );
                }
            };
            let base = r.clone();
            // Off the sLSTM's heads' blocks are no parameters: their
            // gradient is 0.
            let mut fixed = vec![1.0; g.params.len()];
            base.layout().keep_structure(&mut fixed);
            check("params", &g.params, &|i| {
                if fixed[i] == 0.0 {
                    return 0.0;
                }
                let mut m = base.clone();
                m.params[i] += eps;
                let up = loss(&mut m, &x, t, b, &h0);
                m.params[i] -= 2.0 * eps;
                (up - loss(&mut m, &x, t, b, &h0)) / (2.0 * eps)
            });
            check("input", &g.input, &|i| {
                let (mut m, mut xs) = (base.clone(), x.clone());
                xs[i] += eps;
                let up = loss(&mut m, &xs, t, b, &h0);
                xs[i] -= 2.0 * eps;
                (up - loss(&mut m, &xs, t, b, &h0)) / (2.0 * eps)
            });
            if fresh {
                continue;
            }
            check("state", &g.state, &|i| {
                let (mut m, mut s) = (base.clone(), h0.clone());
                s[i] += eps;
                let up = loss(&mut m, &x, t, b, &s);
                s[i] -= 2.0 * eps;
                (up - loss(&mut m, &x, t, b, &s)) / (2.0 * eps)
            });
        }
    }

    #[test]
    fn bad_shapes_are_errors() {
        let config = StackConfig {
            cell: CellKind::Gru,
            input_size: 3,
            embed: None,
            hidden_size: 4,
            layers: 1,
            bidirectional: false,
            dropout: 0.0,
        };
        let mut r = Recurrent::<f64>::new(config, 0).unwrap();
        assert!(
            r.backward(&[0.0; 8], None)
                .unwrap_err()
                .to_string()
                .contains("forward first")
        );
        let e = r.forward(&[0.0; 5], 2, 1, None).unwrap_err().to_string();
        assert!(e.contains("need 6"), "{e}");
        r.forward(&[0.0; 6], 2, 1, None).unwrap();
        let e = r.backward(&[0.0; 7], None).unwrap_err().to_string();
        assert!(e.contains("hold 8"), "{e}");
        let e = r
            .backward(&[0.0; 8], Some(&[0.0; 3]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("state holds 4"), "{e}");
        let e = r
            .forward(&[0.0; 6], 2, 1, Some(&[0.0; 3]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("state"), "{e}");
    }
}
