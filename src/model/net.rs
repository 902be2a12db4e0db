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
//! | `rnn.weight_hh_l{k}[_reverse]` (not minGRU, minLSTM) | `(G·H, H)` |
//! | `rnn.bias_ih_l{k}[_reverse]` | `(G·H)` |
//! | `rnn.bias_hh_l{k}[_reverse]` (LSTM, GRU) | `(G·H)` |
//! | `fc.weight`, `fc.bias` | `(V, dirs·H)`, `(V)` |
//!
//! The vanilla RNN keeps one bias (see [`crate::cell::rnn`]); checkpoints add
//! PyTorch's zero `bias_hh`. minGRU and minLSTM ([`crate::cell::mingru`],
//! [`crate::cell::minlstm`]) have one weight and one bias per layer and
//! direction, and no PyTorch layer to load them.

use std::ops::Range;

use rand::SeedableRng;
use rand::distr::{Distribution, Uniform};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

use super::config::{Init, NetConfig, Readout};
use super::params::{ParamLayout, split_mut};
use super::stack::{Batch, Stack, StackWorkspace};
use crate::backend::{Backend, Cpu, View, ViewMut, slot, slot_mut};
use crate::cell::SeqInput;
use crate::error::{Error, Result};
use crate::layer::linear;
use crate::layer::loss::{Target, loss_and_grad_on, loss_and_grad_to};
use crate::tensor::Scalar;

/// What [`Net::loss_and_grad_reporting`] reports as it goes; `R` is a
/// view of the backend's buffer.
#[derive(Debug)]
pub enum Progress<R> {
    /// The loss is known, over this many targets (what divides the summed
    /// loss into the mean); the backward starts.
    Counted(usize),
    /// The gradients of one of [`Net::grad_segments`] (in their order)
    /// are final: its range and a view of their values.
    Final(Range<usize>, R),
}

/// A recurrent network with a linear output layer (see the module docs),
/// on backend `K` (the CPU unless said otherwise).
///
/// An LSTM reads `T = 6` numbers (dense input, `I = 1`) and answers their
/// mean: many-to-one regression, trained by Adam on one batch of `B = 16`:
///
/// ```
/// use recur::prelude::*;
/// let config = NetConfig {
///     input_size: 1,
///     output_size: 1,
///     readout: Readout::ManyToOne,
///     ..NetConfig::char_lm(CellKind::Lstm, 1, 8)
/// };
/// let mut net = Net::<f32>::new(config, Init::Uniform, 0)?;
/// assert_eq!(net.layout().specs()[0].name, "rnn.weight_ih_l0"); // PyTorch's names
/// let (t, b) = (6, 16);
/// let x: Vec<f32> = (0..t * b).map(|k| ((k * 7919) % 13) as f32 / 6.0 - 1.0).collect();
/// // Time-major: x[s * b + j] is step s of sequence j.
/// let mean: Vec<f32> = (0..b)
///     .map(|j| (0..t).map(|s| x[s * b + j]).sum::<f32>() / t as f32)
///     .collect();
/// let adam = OptimizerKind::Adam { beta1: 0.9, beta2: 0.999 };
/// let mut opt = Optimizer::new(adam, 0.02, net.params.len())?;
/// let (mut ws, mut grads) = (net.workspace(), net.zero_grads());
/// let mut losses = Vec::new();
/// for _ in 0..300 {
///     grads.fill(0.0);
///     let x = SeqInput::Dense(&x);
///     losses.push(net.loss_and_grad(x, None, t, b, Target::Values(&mean), &mut ws, &mut grads)?);
///     opt.step(&mut net.params, &grads);
/// }
/// assert!(losses[299] < losses[0] / 20.0); // measured: 0.073 to 0.00001
/// # Ok::<(), recur::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Net<S: Scalar = f32, K: Backend<S> = Cpu> {
    config: NetConfig,
    layout: ParamLayout,
    stack: Stack,
    fc_w: Range<usize>,
    fc_b: Range<usize>,
    backend: K,
    /// Every parameter in one flat buffer, in [`Net::layout`] order, where
    /// the backend keeps it (a `Vec<S>` on the CPU).
    pub params: K::Buf,
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
        for (i, p) in params[spec.range()].iter_mut().enumerate() {
            let v = match (init, is_bias, is_embedding) {
                _ if spec.structural_zero(i) => 0.0,
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

impl<S: Scalar> Net<S, Cpu> {
    /// A freshly initialized model on the CPU; the same `seed` gives the
    /// same weights.
    pub fn new(config: impl Into<NetConfig>, init: Init, seed: u64) -> Result<Self> {
        Self::new_on(Cpu, config, init, seed)
    }

    /// A model with every parameter zero (to be filled, e.g. from a file).
    pub fn zeros(config: impl Into<NetConfig>) -> Result<Self> {
        Self::zeros_on(Cpu, config)
    }

    /// A model from an existing flat parameter buffer.
    pub fn from_params(config: impl Into<NetConfig>, params: Vec<S>) -> Result<Self> {
        Self::from_params_on(Cpu, config, params)
    }

    /// The layout a model of `config` has (names, shapes, offsets), built
    /// without allocating its parameters: what a loader checks a file
    /// against before it allocates anything.
    pub fn layout_of(config: impl Into<NetConfig>) -> Result<ParamLayout> {
        Ok(Self::shell(Cpu, config.into())?.layout)
    }
}

impl<S: Scalar, K: Backend<S>> Net<S, K> {
    /// [`Net::new`] on `backend`: the weights are drawn on the host, then
    /// placed on the backend.
    pub fn new_on(backend: K, config: impl Into<NetConfig>, init: Init, seed: u64) -> Result<Self> {
        let mut net = Self::shell(backend, config.into())?;
        super::memory::check_params::<S>(net.layout.len())?;
        let mut host = vec![S::zero(); net.layout.len()];
        let emb: Vec<_> = net.stack.embedding().into_iter().collect();
        init_params(
            &mut host,
            &net.layout,
            &emb,
            net.config.hidden_size,
            init,
            seed,
        );
        net.params = net.backend.upload(&host);
        Ok(net)
    }

    /// [`Net::zeros`] on `backend`.
    pub fn zeros_on(backend: K, config: impl Into<NetConfig>) -> Result<Self> {
        let mut net = Self::shell(backend, config.into())?;
        super::memory::check_params::<S>(net.layout.len())?;
        net.backend.resize(&mut net.params, net.layout.len());
        Ok(net)
    }

    /// The model's structure with no parameters yet; refused if its sizes
    /// are invalid or its parameter count overflows.
    fn shell(backend: K, config: NetConfig) -> Result<Self> {
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
            backend,
            params: K::Buf::default(),
        })
    }

    /// [`Net::from_params`] on `backend`: `params` come from the host.
    pub fn from_params_on(
        backend: K,
        config: impl Into<NetConfig>,
        params: Vec<S>,
    ) -> Result<Self> {
        let mut net = Self::shell(backend, config.into())?;
        super::memory::check_params::<S>(net.layout.len())?;
        if params.len() != net.layout.len() {
            return Err(Error::Shape(format!(
                "{} parameters given, the configuration needs {}",
                params.len(),
                net.layout.len()
            )));
        }
        net.params = net.backend.upload(&params);
        Ok(net)
    }

    /// The parameters copied to the host, in [`Net::layout`] order.
    pub fn params_to_host(&self) -> Vec<S> {
        let mut host = vec![S::zero(); self.layout.len()];
        self.backend.download(K::view(&self.params), &mut host);
        host
    }

    /// The same model in another precision (f32 ↔ f64), on the CPU.
    pub fn cast<T: Scalar>(&self) -> Net<T> {
        Net {
            config: self.config.clone(),
            layout: self.layout.clone(),
            stack: self.stack.clone(),
            fc_w: self.fc_w.clone(),
            fc_b: self.fc_b.clone(),
            backend: Cpu,
            params: self
                .params_to_host()
                .iter()
                .map(|p| T::of(p.f64()))
                .collect(),
        }
    }

    /// The backend the model runs on.
    pub fn backend(&self) -> &K {
        &self.backend
    }

    /// Set every forget-gate bias (LSTM, minLSTM, sLSTM) to `value`
    /// (char-rnn starts its LSTM at 1).
    pub fn set_forget_bias(&mut self, value: f64) {
        let params = K::view_mut(&mut self.params);
        self.stack.set_forget_bias(&self.backend, params, value);
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
    pub fn param(&self, name: &str) -> Option<K::Ref<'_>> {
        self.layout
            .get(name)
            .map(|s| K::view(&self.params).sub(s.range()))
    }

    /// A zeroed gradient buffer with the layout of [`Net::params`].
    pub fn zero_grads(&self) -> K::Buf {
        let mut g = K::Buf::default();
        self.backend.resize(&mut g, self.layout.len());
        g
    }

    /// An empty workspace; it grows to the largest block it sees, once.
    pub fn workspace(&self) -> NetWorkspace<S, K> {
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
        ws: &mut NetWorkspace<S, K>,
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
        ws: &mut NetWorkspace<S, K>,
        dropout: Option<&mut ChaCha8Rng>,
    ) -> Result<()> {
        let (k, params) = (&self.backend, K::view(&self.params));
        self.stack
            .forward(k, params, batch, &mut ws.stack, dropout)?;
        self.read_out(batch, ws);
        Ok(())
    }

    /// [`Net::forward_batch`] from an initial state in the backend's
    /// buffers (`None`: zeros; `batch.state` is not read): a state carried
    /// from block to block never leaves the device.
    pub fn forward_from(
        &self,
        batch: &Batch<'_, S>,
        state0: Option<K::Ref<'_>>,
        ws: &mut NetWorkspace<S, K>,
        dropout: Option<&mut ChaCha8Rng>,
    ) -> Result<()> {
        let (k, params) = (&self.backend, K::view(&self.params));
        self.stack
            .forward_from(k, params, batch, state0, &mut ws.stack, dropout)?;
        self.read_out(batch, ws);
        Ok(())
    }

    /// [`Net::forward_from`] over token input given on the backend as
    /// one-hot rows `onehot: (T, B, V)` (see [`Stack::forward_one_hot`]):
    /// a sample's next step, whose token never leaves the device.
    pub fn forward_one_hot(
        &self,
        onehot: K::Ref<'_>,
        (t, b): (usize, usize),
        state0: Option<K::Ref<'_>>,
        ws: &mut NetWorkspace<S, K>,
    ) -> Result<()> {
        let (k, params) = (&self.backend, K::view(&self.params));
        self.stack
            .forward_one_hot(k, params, onehot, (t, b), state0, &mut ws.stack)?;
        self.read_out(&Batch::new(SeqInput::Tokens(&[]), t, b), ws);
        Ok(())
    }

    /// The output layer over the stack's outputs (many-to-many) or final
    /// states (many-to-one) of the block just run: `ws.ys`.
    fn read_out(&self, batch: &Batch<'_, S>, ws: &mut NetWorkspace<S, K>) {
        let (k, params) = (&self.backend, K::view(&self.params));
        let c = &self.config;
        let (b, h, dirs) = (batch.b, c.hidden_size, c.directions());
        let rows = match c.readout {
            Readout::ManyToMany => batch.t * b,
            Readout::ManyToOne => b,
        };
        k.resize(&mut ws.ys, rows * c.output_size);
        k.resize(&mut ws.dys, rows * c.output_size);
        // The output layer reads the last layer's outputs (T·B, dirs·H), or
        // its final states of both directions (B, dirs·H).
        let NetWorkspace {
            stack, feats, ys, ..
        } = ws;
        let readout = match c.readout {
            Readout::ManyToMany => stack.outputs(),
            Readout::ManyToOne => {
                k.resize(feats, b * dirs * h);
                let first = (c.layers - 1) * dirs;
                let state = stack.final_state();
                for d in 0..dirs {
                    let dst = K::view_mut(feats);
                    let len = dst.len();
                    let fin = slot(state, b * h, first + d);
                    k.copy_block(b, h, (fin, h), (dst.sub(d * h..len), dirs * h), false);
                }
                K::view(feats)
            }
        };
        linear::forward(
            k,
            readout,
            params.sub(self.fc_w.clone()),
            params.sub(self.fc_b.clone()),
            K::view_mut(ys),
        );
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
        ws: &mut NetWorkspace<S, K>,
        grads: K::Mut<'_>,
        dstate: Option<&[S]>,
    ) -> Result<()> {
        self.backward_reporting(x, ws, grads, dstate, &mut |_, _| {})
    }

    /// The parameter ranges [`Net::backward_reporting`] finishes, in the
    /// order it finishes them: the output layer, then each recurrent layer
    /// from the top down (the bottom one with the embedding). They cover
    /// the parameters, and each ends where the one before it starts.
    pub fn grad_segments(&self) -> Vec<Range<usize>> {
        let mut end = self.layout.len();
        std::iter::once(self.fc_w.start)
            .chain(self.stack.layer_starts())
            .map(|start| {
                let r = start..end;
                end = start;
                r
            })
            .collect()
    }

    /// [`Net::backward`], calling `done(range, grads[range])` as the
    /// gradients of each of [`Net::grad_segments`] become final, in that
    /// order: the output layer's first, so that a caller can send them on
    /// (to other processes) while the layers below are still running.
    pub fn backward_reporting(
        &self,
        x: SeqInput<'_, S>,
        ws: &mut NetWorkspace<S, K>,
        grads: K::Mut<'_>,
        dstate: Option<&[S]>,
        done: &mut dyn FnMut(Range<usize>, K::Ref<'_>),
    ) -> Result<()> {
        if grads.len() != self.layout.len() {
            return Err(Error::Shape(format!(
                "{} gradients for {} parameters",
                grads.len(),
                self.layout.len()
            )));
        }
        let (k, params) = (&self.backend, K::view(&self.params));
        let c = &self.config;
        let (h, dirs) = (c.hidden_size, c.directions());
        let (_, b) = ws.stack.dims();
        // Output layer: dWhy, dby, and dL/d(features).
        let (rest, mut fc) = grads.split(self.fc_w.start);
        let [gw, gb] = split_mut(K::reborrow(&mut fc), [self.fc_w.len(), self.fc_b.len()]);
        let w = params.sub(self.fc_w.clone());
        let NetWorkspace {
            stack,
            feats,
            dfeats,
            dys,
            dstate: dstate_buf,
            staging,
            ..
        } = ws;
        match c.readout {
            Readout::ManyToMany => {
                let (outs, dout) = stack.outputs_and_grad();
                linear::backward(k, outs, w, K::view(dys), gw, gb, Some(dout));
            }
            Readout::ManyToOne => {
                k.resize(dfeats, b * dirs * h);
                let dx = Some(K::view_mut(dfeats));
                linear::backward(k, K::view(feats), w, K::view(dys), gw, gb, dx);
                k.fill(stack.output_grad(), S::zero());
            }
        }
        done(self.fc_w.start..self.layout.len(), fc.into_ref());
        // Gradient into the final state: from the read-out and the caller.
        let dstate = match (c.readout, dstate) {
            (Readout::ManyToMany, d) => d.map(|d| k.host_view(d, staging)),
            (Readout::ManyToOne, d) => {
                k.resize(dstate_buf, c.state_len(b));
                match d {
                    Some(d) => k.copy(k.host_view(d, staging), K::view_mut(dstate_buf)),
                    None => k.fill(K::view_mut(dstate_buf), S::zero()),
                }
                let first = (c.layers - 1) * dirs;
                for d in 0..dirs {
                    let blk = slot_mut(K::view_mut(dstate_buf), b * h, first + d);
                    let src = K::view(dfeats);
                    let len = src.len();
                    k.copy_block(b, h, (src.sub(d * h..len), dirs * h), (blk, h), true);
                }
                Some(K::view(dstate_buf))
            }
        };
        let mut end = self.fc_w.start;
        let mut layer_done = |start: usize, g: K::Ref<'_>| {
            done(start..end, g.sub(start..end));
            end = start;
        };
        self.stack
            .backward_reporting(k, params, rest, x, stack, dstate, &mut layer_done)
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
        ws: &mut NetWorkspace<S, K>,
        grads: K::Mut<'_>,
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
        ws: &mut NetWorkspace<S, K>,
        grads: K::Mut<'_>,
        dropout: Option<&mut ChaCha8Rng>,
    ) -> Result<f64> {
        self.forward_batch(batch, ws, dropout)?;
        let loss = self.ws_loss(target, ws)?;
        self.backward(batch.x, ws, grads, None)?;
        Ok(loss)
    }

    /// [`Net::loss_and_grad_batch`] from an initial state in the backend's
    /// buffers (see [`Net::forward_from`]), leaving the summed loss in
    /// `loss[0]` on the backend (no round trip: a trainer reads it with the step's
    /// other scalars); returns the count that divides it into the mean
    /// (see [`crate::layer::loss::loss_and_grad_to`]).
    #[allow(clippy::too_many_arguments)]
    pub fn loss_and_grad_to(
        &self,
        batch: &Batch<'_, S>,
        state0: Option<K::Ref<'_>>,
        target: Target<'_, S>,
        ws: &mut NetWorkspace<S, K>,
        grads: K::Mut<'_>,
        dropout: Option<&mut ChaCha8Rng>,
        loss: K::Mut<'_>,
    ) -> Result<usize> {
        let no_report = &mut |_: Progress<K::Ref<'_>>| {};
        self.loss_and_grad_reporting(batch, state0, target, ws, grads, dropout, loss, no_report)
    }

    /// [`Net::loss_and_grad_to`], calling `report` as it goes: with the
    /// target count once the loss is known, then with each of
    /// [`Net::grad_segments`] as the backward finishes it (see
    /// [`Net::backward_reporting`]).
    #[allow(clippy::too_many_arguments)]
    pub fn loss_and_grad_reporting(
        &self,
        batch: &Batch<'_, S>,
        state0: Option<K::Ref<'_>>,
        target: Target<'_, S>,
        ws: &mut NetWorkspace<S, K>,
        grads: K::Mut<'_>,
        dropout: Option<&mut ChaCha8Rng>,
        loss: K::Mut<'_>,
        report: &mut dyn FnMut(Progress<K::Ref<'_>>),
    ) -> Result<usize> {
        self.forward_from(batch, state0, ws, dropout)?;
        let v = self.config.output_size;
        let NetWorkspace {
            ys, dys, staging, ..
        } = ws;
        let (ys, dys) = (K::view(ys), K::view_mut(dys));
        let count = loss_and_grad_to(&self.backend, ys, v, target, dys, staging, loss)?;
        report(Progress::Counted(count));
        self.backward_reporting(batch.x, ws, grads, None, &mut |r, g| {
            report(Progress::Final(r, g))
        })?;
        Ok(count)
    }

    /// Forward and loss only, from an initial state in the backend's
    /// buffers (see [`Net::forward_from`]).
    pub fn loss_from(
        &self,
        batch: &Batch<'_, S>,
        state0: Option<K::Ref<'_>>,
        target: Target<'_, S>,
        ws: &mut NetWorkspace<S, K>,
    ) -> Result<f64> {
        self.forward_from(batch, state0, ws, None)?;
        self.ws_loss(target, ws)
    }

    /// Forward and loss only (evaluation).
    pub fn loss(
        &self,
        x: SeqInput<'_, S>,
        h0: Option<&[S]>,
        t: usize,
        b: usize,
        target: Target<'_, S>,
        ws: &mut NetWorkspace<S, K>,
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
        ws: &mut NetWorkspace<S, K>,
    ) -> Result<f64> {
        self.forward_batch(batch, ws, None)?;
        self.ws_loss(target, ws)
    }

    /// The loss of the outputs in `ws` against `target`, with its gradient
    /// into `ws.output_grad()`.
    fn ws_loss(&self, target: Target<'_, S>, ws: &mut NetWorkspace<S, K>) -> Result<f64> {
        let v = self.config.output_size;
        let NetWorkspace {
            ys, dys, staging, ..
        } = ws;
        loss_and_grad_on(
            &self.backend,
            K::view(ys),
            v,
            target,
            K::view_mut(dys),
            staging,
        )
    }
}

/// Activations and gradients of one block, allocated once and reused:
/// the stack's (see [`StackWorkspace`]), the read-out features and their
/// gradient `(B, dirs·H)` (many-to-one), the outputs `ys` and their gradient
/// `dys` `(R, V)` with `R = T·B` or `B`.
#[derive(Clone, Debug)]
#[derive_where::derive_where(Default)]
pub struct NetWorkspace<S: Scalar, K: Backend<S> = Cpu> {
    stack: StackWorkspace<S, K>,
    feats: K::Buf,
    dfeats: K::Buf,
    ys: K::Buf,
    dys: K::Buf,
    dstate: K::Buf,
    /// Host targets and state gradients a backend cannot read in place.
    staging: K::Buf,
}

impl<S: Scalar, K: Backend<S>> NetWorkspace<S, K> {
    /// The outputs `y` of the last forward: `(T, B, V)` or `(B, V)`.
    pub fn outputs(&self) -> K::Ref<'_> {
        K::view(&self.ys)
    }

    /// `dL/dy`, filled by the loss; write into it to backpropagate your own.
    pub fn output_grad(&mut self) -> K::Mut<'_> {
        K::view_mut(&mut self.dys)
    }

    /// The state after the block (see [`NetConfig::state_len`]).
    pub fn final_state(&self) -> K::Ref<'_> {
        self.stack.final_state()
    }

    /// Layer `l`'s outputs `(T, B, dirs·H)` (empty past the last layer).
    pub fn layer_outputs(&self, l: usize) -> K::Ref<'_> {
        self.stack.layer_outputs(l)
    }

    /// The last layer's outputs `(T, B, dirs·H)`.
    pub fn last_layer_outputs(&self) -> K::Ref<'_> {
        self.stack.outputs()
    }

    /// `dL/d(initial state)` after a backward.
    pub fn initial_state_grad(&self) -> K::Ref<'_> {
        self.stack.initial_state_grad()
    }

    /// `dL/dx: (T, B, I)` after a backward with dense input.
    pub fn input_grad(&self) -> K::Ref<'_> {
        self.stack.input_grad()
    }
}
