//! [`Net`]: recurrent layers (vanilla RNN, LSTM or GRU; stacked; uni- or
//! bidirectional; one-hot, embedded or dense input) and a linear output
//! layer, with forward and backward over `(T, B, ·)` blocks.
//!
//! Parameters live in one flat buffer under PyTorch's names, so that an
//! `nn.Embedding` named `embedding`, an `nn.RNN`/`nn.LSTM`/`nn.GRU` named
//! `rnn` and an `nn.Linear` named `fc` load them:
//!
//! | tensor | shape |
//! |---|---|
//! | `embedding.weight` (with an embedding) | `(I, D)` |
//! | `rnn.weight_ih_l{k}[_reverse]` | `(G·H, I or D or dirs·H)` |
//! | `rnn.weight_hh_l{k}[_reverse]` | `(G·H, H)` |
//! | `rnn.bias_ih_l{k}[_reverse]` | `(G·H)` |
//! | `rnn.bias_hh_l{k}[_reverse]` (LSTM, GRU) | `(G·H)` |
//! | `fc.weight`, `fc.bias` | `(V, dirs·H)`, `(V)` |
//!
//! The vanilla RNN keeps one bias (see [`crate::cell::rnn`]); checkpoints add
//! PyTorch's zero `bias_hh`.

use std::ops::Range;

use rand::SeedableRng;
use rand::distr::{Distribution, Uniform};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

use super::config::{Init, NetConfig, Readout};
use super::params::{ParamLayout, split_mut};
use super::stack::{Batch, Stack, StackWorkspace};
use crate::backend::Cpu;
use crate::cell::SeqInput;
use crate::error::{Error, Result};
use crate::layer::linear;
use crate::layer::loss::{Target, loss_and_grad};
use crate::tensor::Scalar;

/// A recurrent network with a linear output layer (see the module docs).
#[derive(Clone, Debug)]
pub struct Net<S = f32> {
    config: NetConfig,
    layout: ParamLayout,
    stack: Stack,
    fc_w: Range<usize>,
    fc_b: Range<usize>,
    /// Every parameter in one flat buffer, in [`Net::layout`] order.
    pub params: Vec<S>,
}

/// min-char-rnn's model: one vanilla RNN layer and a linear output, built
/// from an [`crate::RnnConfig`].
///
/// ```
/// use recur::{compute_loss, CharVocab, Init, RnnConfig, SeqInput, Target, VanillaRnn};
/// // min-char-rnn's classic: learn "hello" — input h,e,l,l → target e,l,l,o.
/// let vocab = CharVocab::from_text("helo").unwrap();
/// let x = vocab.encode("hell").unwrap();
/// let y = vocab.encode("ello").unwrap();
/// let mut rnn = VanillaRnn::<f64>::new(RnnConfig::char_lm(vocab.len(), 16), Init::Uniform, 1).unwrap();
/// let (mut ws, mut grads) = (rnn.workspace(), rnn.zero_grads());
/// let mut losses = Vec::new();
/// for _ in 0..200 {
///     grads.fill(0.0);
///     // Forward over T=4 steps of B=1 sequence, cross-entropy, backward through time.
///     let loss = rnn
///         .loss_and_grad(SeqInput::Tokens(&x), None, 4, 1, Target::Classes(&y), &mut ws, &mut grads)
///         .unwrap();
///     losses.push(loss);
///     for (p, g) in rnn.params.iter_mut().zip(&grads) {
///         *p -= 0.5 * g; // plain gradient descent
///     }
/// }
/// assert!(losses[0] > 1.0 && losses[199] < 0.05); // from ln 4 ≈ 1.39 to near zero
///
/// // The prediction: the most likely next character at every step.
/// rnn.forward(SeqInput::Tokens(&x), None, 4, 1, &mut ws).unwrap();
/// let v = vocab.len();
/// let predicted: Vec<u32> = ws
///     .outputs()
///     .chunks(v)
///     .map(|row| (0..v).max_by(|&i, &j| row[i].total_cmp(&row[j])).unwrap() as u32)
///     .collect();
/// assert_eq!(vocab.decode(&predicted), "ello");
/// assert!(compute_loss(ws.outputs(), v, Target::Classes(&y)).unwrap() < 0.05);
/// ```
pub type VanillaRnn<S = f32> = Net<S>;

/// Fill `params` as `init` says; `embedding` marks the embedding table.
pub(crate) fn init_params<S: Scalar>(
    params: &mut [S],
    layout: &ParamLayout,
    embedding: &[Range<usize>],
    hidden: usize,
    init: Init,
    seed: u64,
) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let bound = 1.0 / (hidden as f64).sqrt();
    let uniform = Uniform::new_inclusive(-bound, bound).expect("finite bound");
    for spec in layout.specs() {
        let is_bias = spec.shape.len() == 1;
        let is_embedding = embedding.iter().any(|e| e.start == spec.offset);
        for p in &mut params[spec.range()] {
            let v = match (init, is_bias, is_embedding) {
                (Init::Classic, true, _) => 0.0,
                (Init::Classic, false, _) => {
                    0.01 * Distribution::<f64>::sample(&StandardNormal, &mut rng)
                }
                (Init::Uniform, _, true) => Distribution::<f64>::sample(&StandardNormal, &mut rng),
                (Init::Uniform, _, false) => uniform.sample(&mut rng),
            };
            *p = S::of(v);
        }
    }
}

impl<S: Scalar> Net<S> {
    /// A freshly initialized model; the same `seed` gives the same weights.
    pub fn new(config: impl Into<NetConfig>, init: Init, seed: u64) -> Result<Self> {
        let mut net = Self::zeros(config)?;
        let emb: Vec<_> = net.stack.embedding().into_iter().collect();
        init_params(
            &mut net.params,
            &net.layout,
            &emb,
            net.config.hidden_size,
            init,
            seed,
        );
        Ok(net)
    }

    /// A model with every parameter zero (to be filled, e.g. from a file).
    pub fn zeros(config: impl Into<NetConfig>) -> Result<Self> {
        let mut net = Self::shell(config.into())?;
        super::memory::check_params::<S>(net.layout.len())?;
        net.params = vec![S::zero(); net.layout.len()];
        Ok(net)
    }

    /// The layout a model of `config` has (names, shapes, offsets), built
    /// without allocating its parameters: what a loader checks a file
    /// against before it allocates anything.
    pub fn layout_of(config: impl Into<NetConfig>) -> Result<ParamLayout> {
        Ok(Self::shell(config.into())?.layout)
    }

    /// The model's structure with no parameters yet; refused if its sizes
    /// are invalid or its parameter count overflows.
    fn shell(config: NetConfig) -> Result<Self> {
        config.validate()?;
        super::memory::param_count(config.param_count())?;
        let mut layout = ParamLayout::new();
        let stack = Stack::push(&mut layout, "", config.stack());
        let fc_w = layout.push(
            "fc.weight",
            &[config.output_size, config.stack().output_size()],
        );
        let fc_b = layout.push("fc.bias", &[config.output_size]);
        Ok(Net {
            config,
            layout,
            stack,
            fc_w,
            fc_b,
            params: Vec::new(),
        })
    }

    /// A model from an existing flat parameter buffer.
    pub fn from_params(config: impl Into<NetConfig>, params: Vec<S>) -> Result<Self> {
        let mut net = Self::zeros(config)?;
        if params.len() != net.params.len() {
            return Err(Error::Shape(format!(
                "{} parameters given, the configuration needs {}",
                params.len(),
                net.params.len()
            )));
        }
        net.params = params;
        Ok(net)
    }

    /// The same model in another precision (f32 ↔ f64).
    pub fn cast<T: Scalar>(&self) -> Net<T> {
        Net {
            config: self.config.clone(),
            layout: self.layout.clone(),
            stack: self.stack.clone(),
            fc_w: self.fc_w.clone(),
            fc_b: self.fc_b.clone(),
            params: self.params.iter().map(|p| T::of(p.f64())).collect(),
        }
    }

    /// Set every LSTM forget-gate bias to `value` (char-rnn starts at 1).
    pub fn set_forget_bias(&mut self, value: f64) {
        self.stack.set_forget_bias(&mut self.params, value);
    }

    /// The model's shape.
    pub fn config(&self) -> &NetConfig {
        &self.config
    }

    /// Names, shapes and offsets of the tensors in [`Net::params`].
    pub fn layout(&self) -> &ParamLayout {
        &self.layout
    }

    /// The tensor called `name` (e.g. `rnn.weight_hh_l0`, i.e. `Whh`).
    pub fn param(&self, name: &str) -> Option<&[S]> {
        self.layout.get(name).map(|s| &self.params[s.range()])
    }

    /// A zeroed gradient buffer with the layout of [`Net::params`].
    pub fn zero_grads(&self) -> Vec<S> {
        vec![S::zero(); self.params.len()]
    }

    /// An empty workspace; it grows to the largest block it sees, once.
    pub fn workspace(&self) -> NetWorkspace<S> {
        NetWorkspace::default()
    }

    /// Forward over `x` (tokens `(T, B)` or dense `(T, B, I)`) from the
    /// state `h0` (zeros when `None`); see [`Net::forward_batch`].
    pub fn forward(
        &self,
        x: SeqInput<'_, S>,
        h0: Option<&[S]>,
        t: usize,
        b: usize,
        ws: &mut NetWorkspace<S>,
    ) -> Result<()> {
        self.forward_batch(
            &Batch {
                state: h0,
                ..Batch::new(x, t, b)
            },
            ws,
            None,
        )
    }

    /// Forward over a block. With `dropout` (a random generator) dropout is
    /// applied between layers, as in training; without, it is off.
    ///
    /// Afterwards `ws.outputs()` holds `y` (`(T, B, V)` or `(B, V)`) and
    /// `ws.final_state()` the state after the block.
    pub fn forward_batch(
        &self,
        batch: &Batch<'_, S>,
        ws: &mut NetWorkspace<S>,
        dropout: Option<&mut ChaCha8Rng>,
    ) -> Result<()> {
        self.stack
            .forward(&Cpu, &self.params, batch, &mut ws.stack, dropout)?;
        let c = &self.config;
        let (b, h, dirs) = (batch.b, c.hidden_size, c.directions());
        let rows = match c.readout {
            Readout::ManyToMany => batch.t * b,
            Readout::ManyToOne => b,
        };
        ws.ys.resize(rows * c.output_size, S::zero());
        ws.dys.resize(rows * c.output_size, S::zero());
        // The output layer reads the last layer's outputs (T·B, dirs·H), or
        // its final states of both directions (B, dirs·H).
        let readout: &[S] = match c.readout {
            Readout::ManyToMany => ws.stack.outputs(),
            Readout::ManyToOne => {
                ws.feats.resize(b * dirs * h, S::zero());
                let first = (c.layers - 1) * dirs;
                let state = ws.stack.final_state();
                for d in 0..dirs {
                    let fin = &state[(first + d) * b * h..(first + d + 1) * b * h];
                    for (dst, src) in ws.feats.chunks_exact_mut(dirs * h).zip(fin.chunks_exact(h)) {
                        dst[d * h..(d + 1) * h].copy_from_slice(src);
                    }
                }
                &ws.feats
            }
        };
        linear::forward(
            &Cpu,
            readout,
            &self.params[self.fc_w.clone()],
            &self.params[self.fc_b.clone()],
            &mut ws.ys,
        );
        Ok(())
    }

    /// Backward through the block of the last forward, from the output
    /// gradient in `ws.output_grad()` (which [`Net::loss_and_grad`] fills, or
    /// the caller does) and an optional gradient into the final state.
    /// Accumulates into `grads`; afterwards `ws.initial_state_grad()` holds
    /// `dL/d(initial state)` and, for dense input, `ws.input_grad()` holds
    /// `dL/dx`.
    pub fn backward(
        &self,
        x: SeqInput<'_, S>,
        ws: &mut NetWorkspace<S>,
        grads: &mut [S],
        dstate: Option<&[S]>,
    ) -> Result<()> {
        if grads.len() != self.params.len() {
            return Err(Error::Shape(format!(
                "{} gradients for {} parameters",
                grads.len(),
                self.params.len()
            )));
        }
        let c = &self.config;
        let (h, dirs) = (c.hidden_size, c.directions());
        let (_, b) = ws.stack.dims();
        // Output layer: dWhy, dby, and dL/d(features).
        let [gw, gb] = split_mut(
            &mut grads[self.fc_w.start..self.fc_b.end],
            [self.fc_w.len(), self.fc_b.len()],
        );
        let w = &self.params[self.fc_w.clone()];
        match c.readout {
            Readout::ManyToMany => {
                let (outs, dout) = ws.stack.outputs_and_grad();
                linear::backward(&Cpu, outs, w, &ws.dys, gw, gb, Some(dout));
            }
            Readout::ManyToOne => {
                ws.dfeats.resize(b * dirs * h, S::zero());
                linear::backward(&Cpu, &ws.feats, w, &ws.dys, gw, gb, Some(&mut ws.dfeats));
                ws.stack.output_grad().fill(S::zero());
            }
        }
        // Gradient into the final state: from the read-out and the caller.
        let dstate = match (c.readout, dstate) {
            (Readout::ManyToMany, d) => d,
            (Readout::ManyToOne, d) => {
                ws.dstate.clear();
                match d {
                    Some(d) => ws.dstate.extend_from_slice(d),
                    None => ws.dstate.resize(c.state_len(b), S::zero()),
                }
                let first = (c.layers - 1) * dirs;
                for d in 0..dirs {
                    let blk = &mut ws.dstate[(first + d) * b * h..(first + d + 1) * b * h];
                    for (dst, row) in blk
                        .chunks_exact_mut(h)
                        .zip(ws.dfeats.chunks_exact(dirs * h))
                    {
                        for (o, &v) in dst.iter_mut().zip(&row[d * h..(d + 1) * h]) {
                            *o += v;
                        }
                    }
                }
                Some(&ws.dstate[..])
            }
        };
        self.stack
            .backward(&Cpu, &self.params, grads, x, &mut ws.stack, dstate)
    }

    /// Forward, loss against `target`, backward: returns the loss and
    /// accumulates the gradients of every parameter into `grads`.
    #[allow(clippy::too_many_arguments)]
    pub fn loss_and_grad(
        &self,
        x: SeqInput<'_, S>,
        h0: Option<&[S]>,
        t: usize,
        b: usize,
        target: Target<'_, S>,
        ws: &mut NetWorkspace<S>,
        grads: &mut [S],
    ) -> Result<f64> {
        self.loss_and_grad_batch(
            &Batch {
                state: h0,
                ..Batch::new(x, t, b)
            },
            target,
            ws,
            grads,
            None,
        )
    }

    /// [`Net::loss_and_grad`] for a [`Batch`], with dropout when given a
    /// random generator.
    pub fn loss_and_grad_batch(
        &self,
        batch: &Batch<'_, S>,
        target: Target<'_, S>,
        ws: &mut NetWorkspace<S>,
        grads: &mut [S],
        dropout: Option<&mut ChaCha8Rng>,
    ) -> Result<f64> {
        self.forward_batch(batch, ws, dropout)?;
        let loss = loss_and_grad(&ws.ys, self.config.output_size, target, &mut ws.dys)?;
        self.backward(batch.x, ws, grads, None)?;
        Ok(loss)
    }

    /// Forward and loss only (evaluation).
    pub fn loss(
        &self,
        x: SeqInput<'_, S>,
        h0: Option<&[S]>,
        t: usize,
        b: usize,
        target: Target<'_, S>,
        ws: &mut NetWorkspace<S>,
    ) -> Result<f64> {
        self.loss_batch(
            &Batch {
                state: h0,
                ..Batch::new(x, t, b)
            },
            target,
            ws,
        )
    }

    /// [`Net::loss`] for a [`Batch`].
    pub fn loss_batch(
        &self,
        batch: &Batch<'_, S>,
        target: Target<'_, S>,
        ws: &mut NetWorkspace<S>,
    ) -> Result<f64> {
        self.forward_batch(batch, ws, None)?;
        loss_and_grad(&ws.ys, self.config.output_size, target, &mut ws.dys)
    }
}

/// Activations and gradients of one block, allocated once and reused:
/// the stack's (see [`StackWorkspace`]), the read-out features and their
/// gradient `(B, dirs·H)` (many-to-one), the outputs `ys` and their gradient
/// `dys` `(R, V)` with `R = T·B` or `B`.
#[derive(Clone, Debug, Default)]
pub struct NetWorkspace<S: Scalar> {
    stack: StackWorkspace<S>,
    feats: Vec<S>,
    dfeats: Vec<S>,
    ys: Vec<S>,
    dys: Vec<S>,
    dstate: Vec<S>,
}

impl<S: Scalar> NetWorkspace<S> {
    /// The outputs `y` of the last forward: `(T, B, V)` or `(B, V)`.
    pub fn outputs(&self) -> &[S] {
        &self.ys
    }

    /// `dL/dy`, filled by the loss; write into it to backpropagate your own.
    pub fn output_grad(&mut self) -> &mut [S] {
        &mut self.dys
    }

    /// The state after the block (see [`NetConfig::state_len`]).
    pub fn final_state(&self) -> &[S] {
        self.stack.final_state()
    }

    /// Layer `l`'s outputs `(T, B, dirs·H)` (empty past the last layer).
    pub fn layer_outputs(&self, l: usize) -> &[S] {
        self.stack.layer_outputs(l)
    }

    /// The last layer's outputs `(T, B, dirs·H)`.
    pub fn last_layer_outputs(&self) -> &[S] {
        self.stack.outputs()
    }

    /// `dL/d(initial state)` after a backward.
    pub fn initial_state_grad(&self) -> &[S] {
        self.stack.initial_state_grad()
    }

    /// `dL/dx: (T, B, I)` after a backward with dense input.
    pub fn input_grad(&self) -> &[S] {
        self.stack.input_grad()
    }
}
