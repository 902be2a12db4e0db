//! [`VanillaRnn`]: min-char-rnn's model, batched.
//!
//! ```text
//! h_t = act(Wxh x_t + Whh h_{t-1} + bh)      (act = tanh or relu)
//! y_t = Why h_t + by
//! ```
//!
//! Parameters keep PyTorch's names so that `nn.RNN` + `nn.Linear` load them:
//! `Wxh` is `rnn.weight_ih_l0 (H, I)`, `Whh` is `rnn.weight_hh_l0 (H, H)`,
//! `bh` is `rnn.bias_ih_l0 (H)` (PyTorch's second bias `rnn.bias_hh_l0` is
//! written as zeros in checkpoints, see [`crate::cell::rnn`]), `Why` is
//! `fc.weight (V, H)` and `by` is `fc.bias (V)`.

use std::ops::Range;

use rand::SeedableRng;
use rand::distr::{Distribution, Uniform};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};

use super::params::{ParamLayout, split_mut};
use crate::backend::{Activation, Cpu};
use crate::cell::SeqInput;
use crate::cell::rnn::{self, RnnGrads, RnnWeights};
use crate::error::{Error, Result};
use crate::layer::linear;
use crate::layer::loss::{Target, loss_and_grad};
use crate::tensor::Scalar;

/// Where the model produces outputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Readout {
    /// An output at every step (language models): `y: (T, B, V)`.
    ManyToMany,
    /// One output from the last hidden state (classification, regression):
    /// `y: (B, V)`.
    ManyToOne,
}

/// The shape of a [`VanillaRnn`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RnnConfig {
    /// I: input size (the vocabulary size for one-hot characters).
    pub input_size: usize,
    /// H: hidden size.
    pub hidden_size: usize,
    /// V: output size (the vocabulary size for a language model).
    pub output_size: usize,
    /// The cell's nonlinearity.
    pub activation: Activation,
    /// Many-to-many or many-to-one.
    pub readout: Readout,
}

impl RnnConfig {
    /// A character language model: one-hot input and output over `vocab`.
    pub fn char_lm(vocab: usize, hidden: usize) -> Self {
        RnnConfig {
            input_size: vocab,
            hidden_size: hidden,
            output_size: vocab,
            activation: Activation::Tanh,
            readout: Readout::ManyToMany,
        }
    }

    fn validate(&self) -> Result<()> {
        for (name, v) in [
            ("input size", self.input_size),
            ("hidden size", self.hidden_size),
            ("output size", self.output_size),
        ] {
            if v == 0 {
                return Err(Error::Config(format!("{name} must be at least 1")));
            }
        }
        Ok(())
    }
}

/// How weights start.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Init {
    /// min-char-rnn's `randn · 0.01` weights and zero biases.
    Classic,
    /// PyTorch's `U(-1/√H, 1/√H)` for every weight and bias.
    Uniform,
}

/// Offsets of each tensor in the flat buffer.
#[derive(Clone, Debug)]
struct Slots {
    w_ih: Range<usize>,
    w_hh: Range<usize>,
    b_h: Range<usize>,
    w_hy: Range<usize>,
    b_y: Range<usize>,
}

/// A vanilla RNN with a linear output layer (see the module docs for the
/// equations and names).
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
#[derive(Clone, Debug)]
pub struct VanillaRnn<S = f32> {
    config: RnnConfig,
    layout: ParamLayout,
    slots: Slots,
    /// Every parameter in one flat buffer, in [`VanillaRnn::layout`] order:
    /// Wxh, Whh, bh, Why, by.
    pub params: Vec<S>,
}

fn layout_for(c: &RnnConfig) -> (ParamLayout, Slots) {
    let (i, h, v) = (c.input_size, c.hidden_size, c.output_size);
    let mut l = ParamLayout::new();
    let slots = Slots {
        w_ih: l.push("rnn.weight_ih_l0", &[h, i]),
        w_hh: l.push("rnn.weight_hh_l0", &[h, h]),
        b_h: l.push("rnn.bias_ih_l0", &[h]),
        w_hy: l.push("fc.weight", &[v, h]),
        b_y: l.push("fc.bias", &[v]),
    };
    (l, slots)
}

impl<S: Scalar> VanillaRnn<S> {
    /// A freshly initialized model; the same `seed` gives the same weights.
    pub fn new(config: RnnConfig, init: Init, seed: u64) -> Result<Self> {
        config.validate()?;
        let (layout, slots) = layout_for(&config);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut params = vec![S::zero(); layout.len()];
        let bound = 1.0 / (config.hidden_size as f64).sqrt();
        let uniform = Uniform::new_inclusive(-bound, bound).expect("finite bound");
        for spec in layout.specs() {
            let is_bias = spec.shape.len() == 1;
            for p in &mut params[spec.range()] {
                *p = match (init, is_bias) {
                    (Init::Classic, true) => S::zero(),
                    (Init::Classic, false) => {
                        let z: f64 = StandardNormal.sample(&mut rng);
                        S::of(z * 0.01)
                    }
                    (Init::Uniform, _) => S::of(uniform.sample(&mut rng)),
                };
            }
        }
        Ok(VanillaRnn {
            config,
            layout,
            slots,
            params,
        })
    }

    /// A model with every parameter zero (to be filled, e.g. from a file).
    pub fn zeros(config: RnnConfig) -> Result<Self> {
        config.validate()?;
        let (layout, slots) = layout_for(&config);
        let params = vec![S::zero(); layout.len()];
        Ok(VanillaRnn {
            config,
            layout,
            slots,
            params,
        })
    }

    /// A model from an existing flat parameter buffer (e.g. a checkpoint).
    pub fn from_params(config: RnnConfig, params: Vec<S>) -> Result<Self> {
        config.validate()?;
        let (layout, slots) = layout_for(&config);
        if params.len() != layout.len() {
            return Err(Error::Shape(format!(
                "{} parameters given, the configuration needs {}",
                params.len(),
                layout.len()
            )));
        }
        Ok(VanillaRnn {
            config,
            layout,
            slots,
            params,
        })
    }

    /// The same model in another precision (f32 ↔ f64).
    pub fn cast<T: Scalar>(&self) -> VanillaRnn<T> {
        VanillaRnn {
            config: self.config.clone(),
            layout: self.layout.clone(),
            slots: self.slots.clone(),
            params: self.params.iter().map(|p| T::of(p.f64())).collect(),
        }
    }

    /// The model's shape.
    pub fn config(&self) -> &RnnConfig {
        &self.config
    }

    /// Names, shapes and offsets of the tensors in [`VanillaRnn::params`].
    pub fn layout(&self) -> &ParamLayout {
        &self.layout
    }

    /// The tensor called `name` (e.g. `rnn.weight_hh_l0`, i.e. `Whh`).
    pub fn param(&self, name: &str) -> Option<&[S]> {
        self.layout.get(name).map(|s| &self.params[s.range()])
    }

    /// A zeroed gradient buffer with the layout of [`VanillaRnn::params`].
    pub fn zero_grads(&self) -> Vec<S> {
        vec![S::zero(); self.params.len()]
    }

    /// An empty workspace; it grows to the largest block it sees, once.
    pub fn workspace(&self) -> RnnWorkspace<S> {
        RnnWorkspace::default()
    }

    fn cell(&self) -> RnnWeights<'_, S> {
        let p = &self.params;
        let s = &self.slots;
        RnnWeights {
            w_ih: &p[s.w_ih.clone()],
            w_hh: &p[s.w_hh.clone()],
            b: &p[s.b_h.clone()],
        }
    }

    /// Rows of output: `T·B` many-to-many, `B` many-to-one.
    fn out_rows(&self, t: usize, b: usize) -> usize {
        match self.config.readout {
            Readout::ManyToMany => t * b,
            Readout::ManyToOne => b,
        }
    }

    fn check_input(&self, x: &SeqInput<'_, S>, t: usize, b: usize) -> Result<()> {
        let i = self.config.input_size;
        if t == 0 || b == 0 {
            return Err(Error::Shape(format!(
                "a block needs at least one step and one sequence (T={t}, B={b})"
            )));
        }
        match x {
            SeqInput::Tokens(tok) => {
                if tok.len() != t * b {
                    return Err(Error::Shape(format!(
                        "{} tokens for T={t}, B={b}",
                        tok.len()
                    )));
                }
                if let Some(&bad) = tok.iter().find(|&&v| v as usize >= i) {
                    return Err(Error::Shape(format!(
                        "token {bad} is outside the input size {i}"
                    )));
                }
            }
            SeqInput::Dense(xs) => {
                if xs.len() != t * b * i {
                    return Err(Error::Shape(format!(
                        "{} inputs for T={t}, B={b}, I={i}",
                        xs.len()
                    )));
                }
            }
        }
        Ok(())
    }

    /// Forward over a block of `t` steps and `b` sequences.
    ///
    /// - `x`: tokens `(T, B)` or dense `(T, B, I)`
    /// - `h0: (B, H)`, zeros when `None`
    ///
    /// Afterwards `ws.outputs()` holds `y` (`(T, B, V)` or `(B, V)`),
    /// `ws.states()` every hidden state and `ws.final_state()` `h_T`.
    pub fn forward(
        &self,
        x: SeqInput<'_, S>,
        h0: Option<&[S]>,
        t: usize,
        b: usize,
        ws: &mut RnnWorkspace<S>,
    ) -> Result<()> {
        self.check_input(&x, t, b)?;
        let (h, v) = (self.config.hidden_size, self.config.output_size);
        ws.resize(t, b, h, v, self.out_rows(t, b), self.config.input_size, &x);
        match h0 {
            Some(h0) if h0.len() != b * h => {
                return Err(Error::Shape(format!(
                    "initial state has {} values, B·H = {}",
                    h0.len(),
                    b * h
                )));
            }
            Some(h0) => ws.hs[..b * h].copy_from_slice(h0),
            None => ws.hs[..b * h].fill(S::zero()),
        }
        rnn::forward(
            &Cpu,
            &self.cell(),
            self.config.activation,
            x,
            t,
            b,
            &mut ws.hs,
            &mut ws.w_hh_t,
        );
        let s = &self.slots;
        let hout = readout_states(&ws.hs, t, b * h, self.config.readout);
        linear::forward(
            &Cpu,
            hout,
            &self.params[s.w_hy.clone()],
            &self.params[s.b_y.clone()],
            &mut ws.ys,
        );
        Ok(())
    }

    /// Backward through time for the block of the last [`forward`](Self::forward),
    /// from the output gradient in `ws.output_grad()` (which [`loss_and_grad`](Self::loss_and_grad)
    /// fills, or the caller does) and an optional gradient into the final
    /// state `dh_final: (B, H)`. Accumulates into `grads`; afterwards
    /// `ws.initial_state_grad()` holds `dL/dh_0` and, for dense input,
    /// `ws.input_grad()` holds `dL/dx`.
    pub fn backward(
        &self,
        x: SeqInput<'_, S>,
        ws: &mut RnnWorkspace<S>,
        grads: &mut [S],
        dh_final: Option<&[S]>,
    ) -> Result<()> {
        let (t, b, h) = (ws.t, ws.b, self.config.hidden_size);
        self.check_input(&x, t, b)?;
        if grads.len() != self.params.len() {
            return Err(Error::Shape(format!(
                "{} gradients for {} parameters",
                grads.len(),
                self.params.len()
            )));
        }
        let s = &self.slots;
        let [g_ih, g_hh, gb_h, g_hy, gb_y] = split_mut(
            grads,
            [
                s.w_ih.len(),
                s.w_hh.len(),
                s.b_h.len(),
                s.w_hy.len(),
                s.b_y.len(),
            ],
        );
        let bh = b * h;
        // Output layer: dWhy, dby, and dL/dh at the read-out steps.
        let readout = self.config.readout;
        let RnnWorkspace {
            hs,
            ys: _,
            dys,
            dhs,
            dh0,
            dx,
            ..
        } = ws;
        let hout = readout_states(hs, t, bh, readout);
        let dhout = match readout {
            Readout::ManyToMany => &mut dhs[..t * bh],
            Readout::ManyToOne => {
                dhs[..(t - 1) * bh].fill(S::zero());
                &mut dhs[(t - 1) * bh..t * bh]
            }
        };
        linear::backward(
            &Cpu,
            hout,
            &self.params[s.w_hy.clone()],
            dys,
            g_hy,
            gb_y,
            Some(dhout),
        );
        if let Some(d) = dh_final {
            if d.len() != bh {
                return Err(Error::Shape(format!(
                    "final-state gradient has {} values, B·H = {bh}",
                    d.len()
                )));
            }
            for (o, &g) in dhs[(t - 1) * bh..t * bh].iter_mut().zip(d) {
                *o += g;
            }
        }
        let mut g = RnnGrads {
            w_ih: g_ih,
            w_hh: g_hh,
            b: gb_h,
        };
        let dx = match x {
            SeqInput::Dense(_) => Some(&mut dx[..]),
            SeqInput::Tokens(_) => None,
        };
        rnn::backward(
            &Cpu,
            &self.cell(),
            &mut g,
            self.config.activation,
            x,
            t,
            b,
            hs,
            dhs,
            dh0,
            dx,
        );
        Ok(())
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
        ws: &mut RnnWorkspace<S>,
        grads: &mut [S],
    ) -> Result<f64> {
        self.forward(x, h0, t, b, ws)?;
        let loss = loss_and_grad(&ws.ys, self.config.output_size, target, &mut ws.dys)?;
        self.backward(x, ws, grads, None)?;
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
        ws: &mut RnnWorkspace<S>,
    ) -> Result<f64> {
        self.forward(x, h0, t, b, ws)?;
        loss_and_grad(&ws.ys, self.config.output_size, target, &mut ws.dys)
    }
}

/// The hidden states the output layer reads: `hs[1..=T]` many-to-many,
/// `hs[T]` many-to-one. `hs: (T+1, B, H)`, `bh = B·H`.
fn readout_states<S>(hs: &[S], t: usize, bh: usize, readout: Readout) -> &[S] {
    match readout {
        Readout::ManyToMany => &hs[bh..(t + 1) * bh],
        Readout::ManyToOne => &hs[t * bh..(t + 1) * bh],
    }
}

/// Activations and gradients of one block, allocated once and reused.
///
/// Shapes: `hs (T+1, B, H)`, `ys (R, V)` and `dys (R, V)` with `R = T·B`
/// (many-to-many) or `B` (many-to-one), `dhs (T, B, H)`, `dh0 (B, H)`,
/// `dx (T, B, I)` for dense input, and `w_hh_t (H, H)` scratch for `W_hhᵀ`.
#[derive(Clone, Debug, Default)]
pub struct RnnWorkspace<S> {
    t: usize,
    b: usize,
    hs: Vec<S>,
    ys: Vec<S>,
    dys: Vec<S>,
    dhs: Vec<S>,
    dh0: Vec<S>,
    dx: Vec<S>,
    w_hh_t: Vec<S>,
}

impl<S: Scalar> RnnWorkspace<S> {
    #[allow(clippy::too_many_arguments)]
    fn resize(
        &mut self,
        t: usize,
        b: usize,
        h: usize,
        v: usize,
        rows: usize,
        i: usize,
        x: &SeqInput<'_, S>,
    ) {
        self.t = t;
        self.b = b;
        self.hs.resize((t + 1) * b * h, S::zero());
        self.ys.resize(rows * v, S::zero());
        self.dys.resize(rows * v, S::zero());
        self.dhs.resize(t * b * h, S::zero());
        self.dh0.resize(b * h, S::zero());
        self.w_hh_t.resize(h * h, S::zero());
        if matches!(x, SeqInput::Dense(_)) {
            self.dx.resize(t * b * i, S::zero());
        }
    }

    /// The outputs `y` of the last forward: `(T, B, V)` or `(B, V)`.
    pub fn outputs(&self) -> &[S] {
        &self.ys
    }

    /// `dL/dy`, filled by the loss; write into it to backpropagate your own.
    pub fn output_grad(&mut self) -> &mut [S] {
        &mut self.dys
    }

    /// Every hidden state `(T+1, B, H)`, `h_0` first.
    pub fn states(&self) -> &[S] {
        &self.hs
    }

    /// The final hidden state `h_T: (B, H)`.
    pub fn final_state(&self) -> &[S] {
        let bh = self.hs.len() / (self.t + 1);
        &self.hs[self.t * bh..]
    }

    /// `dL/dh_0: (B, H)` after a backward.
    pub fn initial_state_grad(&self) -> &[S] {
        &self.dh0
    }

    /// `dL/dx: (T, B, I)` after a backward with dense input.
    pub fn input_grad(&self) -> &[S] {
        &self.dx
    }
}
