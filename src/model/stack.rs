//! [`Stack`]: recurrent layers without an output layer: an optional
//! embedding, then `L` layers of one cell kind, each uni- or bidirectional,
//! with dropout between layers in training. [`crate::model::Net`] puts a
//! linear output on one; a sequence-to-sequence model uses one as its
//! encoder and one as its decoder.
//!
//! A stack's tensors sit in its owner's flat buffer under PyTorch's names
//! with a prefix (`""` for a language model, `"encoder."` ...):
//! `{prefix}embedding.weight (I, D)`, `{prefix}rnn.weight_ih_l{k}[_reverse]
//! (G·H, I_k)`, `{prefix}rnn.weight_hh_l{k}[_reverse] (G·H, H)` (not for
//! minGRU and minLSTM, which have no recurrent weight),
//! `{prefix}rnn.bias_ih_l{k}[_reverse] (G·H)` and, for LSTM and GRU,
//! `{prefix}rnn.bias_hh_l{k}[_reverse] (G·H)`. The sLSTM's `weight_hh` is
//! block-diagonal (see [`crate::cell::slstm`]).
//!
//! States are laid out as PyTorch's `h_n` (and `c_n`): `h (L·D, B, H)`,
//! followed for the LSTM by `c (L·D, B, H)`, for the sLSTM by `c`, `n` and
//! `m`, each `(L·D, B, H)`, and for the mLSTM by `d + 2` such planes (its
//! matrix memory, normalizer and stabilizer: see [`crate::cell::mlstm`]).

use std::ops::Range;

use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::params::{ParamLayout, tensors_mut};
use crate::backend::{Backend, Cpu, View, ViewMut, slot, slot_mut};
use crate::cell::{
    self, CellCache, CellGrads, CellKind, CellWeights, Input, Pass, Planes, SeqInput,
};
use crate::error::{Error, Result};
use crate::tensor::{Scalar, Trans};

/// The most layers a stack has. Deep recurrent stacks have a handful; the
/// bound keeps a layout (a few named tensors per layer) small whatever a
/// flag or a checkpoint's metadata says.
pub const MAX_LAYERS: usize = 1000;

/// The shape of a [`Stack`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StackConfig {
    /// The recurrent cell.
    pub cell: CellKind,
    /// I: the vocabulary size for token input, else the feature size.
    pub input_size: usize,
    /// D: a learned embedding of this size for token input (`None`: one-hot).
    pub embed: Option<usize>,
    /// H: hidden size of every layer and direction.
    pub hidden_size: usize,
    /// L: layers.
    pub layers: usize,
    /// Each layer reads the sequence both ways; outputs are concatenated.
    pub bidirectional: bool,
    /// Dropout probability between layers (not after the last), in training.
    pub dropout: f64,
}

impl StackConfig {
    /// Directions per layer: 1 or 2.
    pub fn directions(&self) -> usize {
        if self.bidirectional { 2 } else { 1 }
    }

    /// Size of each step's output: `dirs·H`.
    pub fn output_size(&self) -> usize {
        self.directions().saturating_mul(self.hidden_size)
    }

    /// Values in one state buffer for batch `b` (see the module docs).
    pub fn state_len(&self, b: usize) -> usize {
        (1 + self.cell.state_width(self.hidden_size)) * self.plane_len(b)
    }

    /// Values in one part of a state buffer (`h`, or one cell-state plane):
    /// `L·D·B·H`.
    fn plane_len(&self, b: usize) -> usize {
        self.layers * self.directions() * b * self.hidden_size
    }

    /// The values of a state buffer for batch `b` that must be positive
    /// (the sLSTM's normalizer `n`, see [`crate::cell::Cell::positive_planes`]).
    pub fn positive_state(&self, b: usize) -> Range<usize> {
        let (per, planes) = (self.plane_len(b), self.cell.positive_planes());
        (1 + planes.start) * per..(1 + planes.end) * per
    }

    /// Make a state for batch `b` drawn at random (values around 0) one the
    /// cell can reach: `|v| + ½` where it must be positive (see
    /// [`StackConfig::positive_state`]); nothing changes for most cells.
    pub fn make_reachable<S: Scalar>(&self, b: usize, state: &mut [S]) {
        for v in &mut state[self.positive_state(b)] {
            *v = v.abs() + S::of(0.5);
        }
    }

    /// Parameters the stack holds (the length of its tensors in the flat
    /// buffer), or `None` if the count overflows `usize`. Computed from the
    /// sizes alone, so it is cheap for any configuration.
    pub fn param_count(&self) -> Option<usize> {
        let (h, dirs) = (self.hidden_size, self.directions());
        let gh = self.cell.rows(h);
        let biases = if self.cell.has_hidden_bias() { 2 } else { 1 };
        let recurrent = if self.cell.has_recurrent_weight() {
            h
        } else {
            0
        };
        let embedding = match self.embed {
            Some(d) => self.input_size.checked_mul(d)?,
            None => 0,
        };
        // One direction of a layer: weight_ih (G·H, I_k), weight_hh (G·H, H)
        // (if the cell has one) and the biases (G·H).
        let cell =
            |input: usize| gh.checked_mul(input.checked_add(recurrent)?.checked_add(biases)?);
        let first = cell(self.embed.unwrap_or(self.input_size))?.checked_mul(dirs)?;
        let rest = cell(dirs.checked_mul(h)?)?
            .checked_mul(dirs)?
            .checked_mul(self.layers.saturating_sub(1))?;
        embedding.checked_add(first)?.checked_add(rest)
    }

    /// Check every size; the message names what is wrong.
    pub fn validate(&self) -> Result<()> {
        for (name, v) in [
            ("input size", self.input_size),
            ("hidden size", self.hidden_size),
            ("layers", self.layers),
        ] {
            if v == 0 {
                return Err(Error::Config(format!("{name} must be at least 1")));
            }
        }
        if self.layers > MAX_LAYERS {
            return Err(Error::Config(format!(
                "{} layers: a stack has at most {MAX_LAYERS}",
                self.layers
            )));
        }
        let heads = self.cell.heads();
        if !self.hidden_size.is_multiple_of(heads) {
            return Err(Error::Config(format!(
                "the {} has {heads} heads: its hidden size must be a multiple of {heads}, got {}",
                self.cell.title(),
                self.hidden_size
            )));
        }
        if self.embed == Some(0) {
            return Err(Error::Config(
                "the embedding size must be at least 1".into(),
            ));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(Error::Config(format!(
                "dropout must be in [0, 1), got {}",
                self.dropout
            )));
        }
        Ok(())
    }
}

/// Where each tensor of one cell (one layer, one direction) sits.
#[derive(Clone, Debug)]
struct CellSlots {
    w_ih: Range<usize>,
    w_hh: Range<usize>,
    b_ih: Range<usize>,
    b_hh: Range<usize>,
}

/// One block of sequences to run, as the caller holds it on the host:
/// input, sizes, lengths, initial state.
#[derive(Clone, Copy, Debug)]
pub struct Batch<'a, S> {
    /// Tokens `(T, B)` or dense `(T, B, I)`.
    pub x: SeqInput<'a, S>,
    /// T: steps.
    pub t: usize,
    /// B: sequences.
    pub b: usize,
    /// Per-sequence lengths `(B)` for padded batches (`None`: all T).
    pub lengths: Option<&'a [usize]>,
    /// The initial state (see [`StackConfig::state_len`]); zeros when `None`.
    pub state: Option<&'a [S]>,
}

impl<'a, S> Batch<'a, S> {
    /// A block of `t` steps of `b` sequences, all of full length, from zeros.
    pub fn new(x: SeqInput<'a, S>, t: usize, b: usize) -> Self {
        Batch {
            x,
            t,
            b,
            lengths: None,
            state: None,
        }
    }
}

/// Recurrent layers in a flat parameter buffer owned by a model.
///
/// A model pushes its stack's tensors into its [`ParamLayout`] (PyTorch's
/// names and shapes, behind a prefix) and keeps the `Stack` to find them:
///
/// ```
/// use recur::cell::CellKind;
/// use recur::model::{ParamLayout, Stack, StackConfig};
///
/// // Two bidirectional GRU layers of 8 units over 5 input features.
/// let config = StackConfig {
///     cell: CellKind::Gru,
///     input_size: 5,
///     embed: None,
///     hidden_size: 8,
///     layers: 2,
///     bidirectional: true,
///     dropout: 0.0,
/// };
/// let mut layout = ParamLayout::new();
/// let stack = Stack::push(&mut layout, "", config.clone());
/// assert_eq!(layout.len(), config.param_count().unwrap());
/// // Layer 1 reads both directions of layer 0: (3·H, 2·H).
/// let w = layout.get("rnn.weight_ih_l1_reverse").unwrap();
/// assert_eq!(w.shape, [24, 16]);
/// assert_eq!(stack.config().output_size(), 16);
/// ```
#[derive(Clone, Debug)]
pub struct Stack {
    config: StackConfig,
    embedding: Option<Range<usize>>,
    cells: Vec<CellSlots>,
}

impl Stack {
    /// Append the stack's tensors, named with `prefix`, to `layout`.
    pub fn push(layout: &mut ParamLayout, prefix: &str, config: StackConfig) -> Stack {
        let (h, dirs) = (config.hidden_size, config.directions());
        let gh = config.cell.rows(h);
        let embedding = config
            .embed
            .map(|d| layout.push(format!("{prefix}embedding.weight"), &[config.input_size, d]));
        let mut cells = Vec::new();
        for k in 0..config.layers {
            let input = match k {
                0 => config.embed.unwrap_or(config.input_size),
                _ => dirs * h,
            };
            for d in 0..dirs {
                let sfx = if d == 1 { "_reverse" } else { "" };
                let w_ih = layout.push(format!("{prefix}rnn.weight_ih_l{k}{sfx}"), &[gh, input]);
                let w_hh = match config.cell.has_recurrent_weight() {
                    true => layout.push_blocks(
                        format!("{prefix}rnn.weight_hh_l{k}{sfx}"),
                        &[gh, h],
                        config.cell.heads(),
                    ),
                    false => w_ih.end..w_ih.end,
                };
                let b_ih = layout.push(format!("{prefix}rnn.bias_ih_l{k}{sfx}"), &[gh]);
                let b_hh = match config.cell.has_hidden_bias() {
                    true => layout.push(format!("{prefix}rnn.bias_hh_l{k}{sfx}"), &[gh]),
                    false => b_ih.end..b_ih.end,
                };
                cells.push(CellSlots {
                    w_ih,
                    w_hh,
                    b_ih,
                    b_hh,
                });
            }
        }
        Stack {
            config,
            embedding,
            cells,
        }
    }

    /// The stack's shape.
    pub fn config(&self) -> &StackConfig {
        &self.config
    }

    /// Where the embedding table sits, if any.
    pub fn embedding(&self) -> Option<Range<usize>> {
        self.embedding.clone()
    }

    /// Set every forget-gate bias (LSTM, minLSTM, sLSTM: see
    /// [`crate::cell::Cell::forget_rows`]) to `value`: `b_ih`'s forget rows
    /// to `value`, `b_hh`'s (where there is one) to 0. Nothing for the
    /// other cells.
    pub fn set_forget_bias<S: Scalar, K: Backend<S>>(
        &self,
        k: &K,
        mut params: K::Mut<'_>,
        value: f64,
    ) {
        let Some(f) = self.config.cell.forget_rows(self.config.hidden_size) else {
            return;
        };
        let rows = |start: usize| start + f.start..start + f.end;
        for c in &self.cells {
            let p = K::reborrow(&mut params);
            let (lo, hi) = p.split(c.b_hh.start);
            k.fill(lo.sub(rows(c.b_ih.start)), S::of(value));
            if !c.b_hh.is_empty() {
                k.fill(hi.sub(rows(0)), S::zero());
            }
        }
    }

    fn weights<'p, S: Scalar, K: Backend<S>>(
        &self,
        params: K::Ref<'p>,
        cell: usize,
    ) -> CellWeights<'p, S, K> {
        let c = &self.cells[cell];
        CellWeights {
            w_ih: params.sub(c.w_ih.clone()),
            w_hh: params.sub(c.w_hh.clone()),
            b_ih: params.sub(c.b_ih.clone()),
            b_hh: params.sub(c.b_hh.clone()),
        }
    }

    /// Exclusive views of one cell's gradients in the owner's buffer.
    fn grads<'g, S: Scalar, K: Backend<S>>(
        &self,
        grads: K::Mut<'g>,
        cell: usize,
    ) -> CellGrads<'g, S, K> {
        let c = &self.cells[cell];
        let [w_ih, w_hh, b_ih, b_hh] = tensors_mut(grads, [&c.w_ih, &c.w_hh, &c.b_ih, &c.b_hh]);
        CellGrads {
            w_ih,
            w_hh,
            b_ih,
            b_hh,
        }
    }

    fn pass<'a>(&self, t: usize, b: usize, d: usize, lengths: Option<&'a [usize]>) -> Pass<'a> {
        Pass {
            kind: self.config.cell,
            t,
            b,
            h: self.config.hidden_size,
            reverse: d == 1,
            lengths,
        }
    }

    /// Check a batch against the stack's sizes.
    pub fn check<S>(&self, batch: &Batch<'_, S>) -> Result<()> {
        let (t, b, i) = (batch.t, batch.b, self.config.input_size);
        if t == 0 || b == 0 {
            return Err(Error::Shape(format!(
                "a block needs at least one step and one sequence (T={t}, B={b})"
            )));
        }
        match batch.x {
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
                if self.config.embed.is_some() {
                    return Err(Error::Shape(
                        "a model with an embedding reads tokens, not dense input".into(),
                    ));
                }
                if xs.len() != t * b * i {
                    return Err(Error::Shape(format!(
                        "{} inputs for T={t}, B={b}, I={i}",
                        xs.len()
                    )));
                }
            }
        }
        if let Some(l) = batch.lengths
            && (l.len() != b || l.iter().any(|&n| n == 0 || n > t))
        {
            return Err(Error::Shape(format!(
                "lengths {l:?} must be B={b} values in 1..={t}"
            )));
        }
        if let Some(s) = batch.state
            && s.len() != self.config.state_len(b)
        {
            return Err(Error::Shape(format!(
                "the initial state has {} values, this model needs {}",
                s.len(),
                self.config.state_len(b)
            )));
        }
        Ok(())
    }

    /// Forward over a block on backend `k`; with `dropout` (a random
    /// generator) dropout is applied between layers, as in training.
    /// Afterwards `ws.outputs()` holds the last layer's outputs
    /// `(T, B, dirs·H)` (zeros at padded steps, as PyTorch's packed
    /// sequences give) and `ws.final_state()` the state after the block.
    pub fn forward<S: Scalar, K: Backend<S>>(
        &self,
        k: &K,
        params: K::Ref<'_>,
        batch: &Batch<'_, S>,
        ws: &mut StackWorkspace<S, K>,
        dropout: Option<&mut ChaCha8Rng>,
    ) -> Result<()> {
        self.check(batch)?;
        let mut staging = std::mem::take(&mut ws.state_in);
        let state = batch.state.map(|s| k.host_view(s, &mut staging));
        self.run_forward(k, params, batch, (state, None), ws, dropout);
        ws.state_in = staging;
        Ok(())
    }

    /// [`Stack::forward`] from an initial state in the backend's buffers
    /// (`batch.state` is not read; `None`: zeros).
    pub fn forward_from<S: Scalar, K: Backend<S>>(
        &self,
        k: &K,
        params: K::Ref<'_>,
        batch: &Batch<'_, S>,
        state0: Option<K::Ref<'_>>,
        ws: &mut StackWorkspace<S, K>,
        dropout: Option<&mut ChaCha8Rng>,
    ) -> Result<()> {
        self.check(&Batch {
            state: None,
            ..*batch
        })?;
        if let Some(s) = state0
            && s.len() != self.config.state_len(batch.b)
        {
            return Err(Error::Shape(format!(
                "the initial state has {} values, this model needs {}",
                s.len(),
                self.config.state_len(batch.b)
            )));
        }
        self.run_forward(k, params, batch, (state0, None), ws, dropout);
        Ok(())
    }

    /// [`Stack::forward_from`] over token input given on the backend as
    /// one-hot rows `onehot: (T, B, V)` (a sample's last draw, which never
    /// leaves the device): the same outputs as the token ids would give.
    /// Forward only (no backward follows it). An error for dense input.
    #[allow(clippy::too_many_arguments)]
    pub fn forward_one_hot<S: Scalar, K: Backend<S>>(
        &self,
        k: &K,
        params: K::Ref<'_>,
        onehot: K::Ref<'_>,
        (t, b): (usize, usize),
        state0: Option<K::Ref<'_>>,
        ws: &mut StackWorkspace<S, K>,
    ) -> Result<()> {
        let c = &self.config;
        if onehot.len() != t * b * c.input_size || t * b == 0 {
            return Err(Error::Shape(format!(
                "{} one-hot values for {t} steps of {b} rows over {} tokens",
                onehot.len(),
                c.input_size
            )));
        }
        if let Some(s) = state0
            && s.len() != c.state_len(b)
        {
            return Err(Error::Shape(format!(
                "the initial state has {} values, this model needs {}",
                s.len(),
                c.state_len(b)
            )));
        }
        let batch = Batch::new(SeqInput::Tokens(&[]), t, b);
        self.run_forward(k, params, &batch, (state0, Some(onehot)), ws, None);
        Ok(())
    }

    /// The forward of a checked batch from `state0`; with `onehot`, the
    /// tokens are those one-hot rows on the backend instead of `batch.x`.
    fn run_forward<S: Scalar, K: Backend<S>>(
        &self,
        k: &K,
        params: K::Ref<'_>,
        batch: &Batch<'_, S>,
        (state0, onehot): (Option<K::Ref<'_>>, Option<K::Ref<'_>>),
        ws: &mut StackWorkspace<S, K>,
        dropout: Option<&mut ChaCha8Rng>,
    ) {
        let c = &self.config;
        let (t, b, h, dirs) = (batch.t, batch.b, c.hidden_size, c.directions());
        let (bh, lds) = (b * h, c.layers * dirs);
        ws.prepare(k, c, batch);
        match (&self.embedding, onehot, batch.x) {
            // The rows of the table the one-hot rows pick: (T·B, V)·(V, D).
            (Some(e), Some(oh), _) => {
                let (v, d) = (c.input_size, c.embed.unwrap_or(0));
                let table = params.sub(e.clone());
                let emb = K::view_mut(&mut ws.emb);
                k.matmul(t * b, d, v, oh, Trans::No, table, Trans::No, emb, false);
            }
            (Some(e), None, SeqInput::Tokens(tok)) => {
                k.gather_rows(params.sub(e.clone()), tok, K::view_mut(&mut ws.emb));
            }
            _ => {}
        }
        let mut rng = dropout.filter(|_| c.dropout > 0.0);
        let StackWorkspace {
            caches,
            outs,
            masks,
            inputs,
            emb,
            state,
            zeros,
            x_in,
            ..
        } = ws;
        let x0 = match onehot {
            // One-hot rows are dense input to W_ih (G, V): its columns.
            Some(oh) => Input::Dense(K::shorten(oh)),
            None => Input::from_host(k, batch.x, x_in),
        };
        for l in 0..c.layers {
            let (done, rest) = outs.split_at_mut(l);
            let x: Input<'_, S, K> = match l {
                0 if self.embedding.is_some() => Input::Dense(K::view(emb)),
                0 => x0.shorten(),
                _ => {
                    let prev = K::view(&done[l - 1]);
                    match rng.as_deref_mut() {
                        Some(r) => {
                            let (mask, input) = (&mut masks[l - 1], &mut inputs[l - 1]);
                            fill_dropout_mask(k, r, c.dropout, K::view_mut(mask));
                            k.mul_into(prev, K::view(mask), K::view_mut(input));
                            Input::Dense(K::view(input))
                        }
                        None => Input::Dense(prev),
                    }
                }
            };
            let out = &mut rest[0];
            for d in 0..dirs {
                let cell = l * dirs + d;
                let p = self.pass(t, b, d, batch.lengths);
                let (h0, c0) = match state0 {
                    Some(s) => {
                        let s = K::shorten(s);
                        (slot(s, bh, cell), c_planes(s, lds * bh, lds * bh, cell, bh))
                    }
                    // Every plane the same zeros.
                    None => (
                        K::view(zeros),
                        Planes {
                            view: K::view(zeros),
                            stride: 0,
                        },
                    ),
                };
                let cache = &mut caches[cell];
                let w = self.weights(K::shorten(params), cell);
                cell::forward(k, &w, x.shorten(), &p, h0, c0, cache);
                // Concatenate the directions: out[s, r, d·H..(d+1)·H].
                let dst = K::view_mut(out);
                let len = dst.len();
                k.copy_block(
                    t * b,
                    h,
                    (cache.outputs(&p), h),
                    (dst.sub(d * h..len), dirs * h),
                    false,
                );
                let (hs, cs) = K::view_mut(state).split(lds * bh);
                k.copy(cache.final_h(&p), slot_mut(hs, bh, cell));
                cache.copy_final_c(k, &p, c_planes_mut(cs, 0, lds * bh, cell, bh));
            }
            // Padded steps output zeros, as PyTorch's packed sequences do.
            if let Some(lengths) = batch.lengths {
                for s in 0..t {
                    k.set_padded_rows(lengths, s, None, slot_mut(K::view_mut(out), bh * dirs, s));
                }
            }
        }
    }

    /// Backward through the block of the last [`Stack::forward`] (`x` is
    /// that forward's input), from
    /// `dL/d(outputs)` in `ws.output_grad()` `(T, B, dirs·H)` (which the
    /// caller fills) and an optional gradient into the final state.
    /// Accumulates into `grads` (the owner's whole buffer); afterwards
    /// `ws.initial_state_grad()` holds `dL/d(initial state)` and, for dense
    /// input, `ws.input_grad()` holds `dL/dx`.
    pub fn backward<S: Scalar, K: Backend<S>>(
        &self,
        k: &K,
        params: K::Ref<'_>,
        grads: K::Mut<'_>,
        x: SeqInput<'_, S>,
        ws: &mut StackWorkspace<S, K>,
        dstate: Option<K::Ref<'_>>,
    ) -> Result<()> {
        self.backward_reporting(k, params, grads, x, ws, dstate, &mut |_, _| {})
    }

    /// [`Stack::backward`], calling `done(from, grads)` as each layer's
    /// gradients become final, from the top layer down: from then on
    /// `grads[from..]` up to the layer above's `from` (the stack's end for
    /// the top layer) no longer change. `from` runs through
    /// [`Stack::layer_starts`] in order; the bottom layer's includes the
    /// embedding.
    #[allow(clippy::too_many_arguments)]
    pub fn backward_reporting<S: Scalar, K: Backend<S>>(
        &self,
        k: &K,
        params: K::Ref<'_>,
        grads: K::Mut<'_>,
        x: SeqInput<'_, S>,
        ws: &mut StackWorkspace<S, K>,
        dstate: Option<K::Ref<'_>>,
        done: &mut dyn FnMut(usize, K::Ref<'_>),
    ) -> Result<()> {
        // Taken out for the duration (and put back below) so that the
        // workspace can be borrowed mutably meanwhile.
        let lengths = std::mem::take(&mut ws.lengths);
        let batch = (x, lengths.as_deref());
        let result = self.backward_with(k, params, grads, batch, ws, dstate, done);
        ws.lengths = lengths;
        result
    }

    /// Where each layer's parameters start in the owner's buffer, top layer
    /// first (the bottom layer's at the embedding, when there is one):
    /// what [`Stack::backward_reporting`] reports, in its order.
    pub fn layer_starts(&self) -> Vec<usize> {
        (0..self.config.layers)
            .rev()
            .map(|l| self.layer_start(l))
            .collect()
    }

    /// Where layer `l`'s parameters start; layer 0's at the embedding.
    fn layer_start(&self, l: usize) -> usize {
        let first = self.cells[l * self.config.directions()].w_ih.start;
        match (&self.embedding, l) {
            (Some(e), 0) => e.start.min(first),
            _ => first,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn backward_with<S: Scalar, K: Backend<S>>(
        &self,
        k: &K,
        params: K::Ref<'_>,
        mut grads: K::Mut<'_>,
        (x, lengths): (SeqInput<'_, S>, Option<&[usize]>),
        ws: &mut StackWorkspace<S, K>,
        dstate: Option<K::Ref<'_>>,
        done: &mut dyn FnMut(usize, K::Ref<'_>),
    ) -> Result<()> {
        let c = &self.config;
        let (t, b, h, dirs) = (ws.t, ws.b, c.hidden_size, c.directions());
        let batch = Batch {
            lengths,
            ..Batch::new(x, t, b)
        };
        self.check(&batch)?;
        if let Some(d) = dstate
            && d.len() != c.state_len(b)
        {
            return Err(Error::Shape(format!(
                "the final-state gradient has {} values, this model needs {}",
                d.len(),
                c.state_len(b)
            )));
        }
        let (bh, lds) = (b * h, c.layers * dirs);
        k.fill(K::view_mut(&mut ws.dstate0), S::zero());
        let mut x_in = std::mem::take(&mut ws.x_in);
        // A backend that cannot read the host reuses the copy of the dense
        // input the forward staged, rather than uploading it again.
        let x0 = match x {
            SeqInput::Dense(xs) if !K::READS_HOST && K::buf_len(&x_in) == xs.len() => {
                Input::Dense(K::view(&x_in))
            }
            _ => Input::from_host(k, x, &mut x_in),
        };
        for l in (0..c.layers).rev() {
            let input_len = ws.input_len(c, l);
            k.resize(&mut ws.dinput, input_len);
            k.fill(K::view_mut(&mut ws.dinput), S::zero());
            for d in 0..dirs {
                let cell = l * dirs + d;
                let p = self.pass(t, b, d, batch.lengths);
                let StackWorkspace {
                    caches,
                    dout,
                    dinput,
                    dstate0,
                    outs,
                    inputs,
                    emb,
                    masks,
                    ..
                } = ws;
                let cache = &mut caches[cell];
                // dL/dh from above, this direction's half; none at padding.
                let src = K::view(dout);
                let len = src.len();
                k.copy_block(
                    t * b,
                    h,
                    (src.sub(d * h..len), dirs * h),
                    (cache.output_grad(), h),
                    false,
                );
                if let Some(lengths) = batch.lengths {
                    for s in 0..t {
                        k.set_padded_rows(lengths, s, None, slot_mut(cache.output_grad(), bh, s));
                    }
                }
                let dh_last = dstate.map(|ds| slot(K::shorten(ds), bh, cell));
                let dc_last =
                    dstate.map(|ds| c_planes(K::shorten(ds), lds * bh, lds * bh, cell, bh));
                let x_l: Input<'_, S, K> = match l {
                    0 if self.embedding.is_some() => Input::Dense(K::view(emb)),
                    0 => x0.shorten(),
                    _ if K::buf_len(&masks[l - 1]) == 0 => Input::Dense(K::view(&outs[l - 1])),
                    _ => Input::Dense(K::view(&inputs[l - 1])),
                };
                let g = self.grads(K::reborrow(&mut grads), cell);
                let (dh0s, dc0s) = K::view_mut(dstate0).split(lds * bh);
                let (dh0, dc0) = (
                    slot_mut(dh0s, bh, cell),
                    c_planes_mut(dc0s, 0, lds * bh, cell, bh),
                );
                let dx = match x_l {
                    Input::Dense(_) => Some(K::view_mut(dinput)),
                    Input::Tokens(_) => None,
                };
                let w = self.weights(K::shorten(params), cell);
                cell::backward(k, &w, g, x_l, &p, cache, dh_last, dc_last, dh0, dc0, dx);
            }
            // dL/d(layer input) becomes dL/d(previous layer's output), through dropout.
            if l > 0 {
                let mask = &ws.masks[l - 1];
                if K::buf_len(mask) > 0 {
                    k.mul(K::view(mask), K::view_mut(&mut ws.dinput));
                }
                std::mem::swap(&mut ws.dout, &mut ws.dinput);
                done(self.layer_start(l), K::reborrow(&mut grads).into_ref());
            }
        }
        match (&self.embedding, x) {
            (Some(e), SeqInput::Tokens(tok)) => {
                let g = K::reborrow(&mut grads).sub(e.clone());
                k.scatter_add_rows(K::view(&ws.dinput), tok, g)
            }
            (None, SeqInput::Dense(_)) => {
                k.resize(&mut ws.dx, K::buf_len(&ws.dinput));
                k.copy(K::view(&ws.dinput), K::view_mut(&mut ws.dx));
            }
            _ => {}
        }
        ws.x_in = x_in;
        done(self.layer_start(0), grads.into_ref());
        Ok(())
    }
}

/// The cell-state planes of `cell` (each `(B, H)`) in a state buffer whose
/// cell states start at `start`, as planes of `plane = L·D·B·H` values one
/// after the other; an empty view where the buffer has none.
fn c_planes<V: View>(s: V, start: usize, plane: usize, cell: usize, bh: usize) -> Planes<V> {
    let len = s.len();
    Planes {
        view: s.sub((start + cell * bh).min(len)..len),
        stride: plane,
    }
}

/// [`c_planes`] of an exclusive view.
fn c_planes_mut<V: ViewMut>(s: V, start: usize, plane: usize, cell: usize, bh: usize) -> Planes<V> {
    let len = s.len();
    Planes {
        view: s.sub((start + cell * bh).min(len)..len),
        stride: plane,
    }
}

/// Inverted dropout: each value is 0 with probability `p`, else `1/(1-p)`,
/// drawn by the backend where the mask lives from a key taken from `rng`
/// (so every backend draws the same mask).
fn fill_dropout_mask<S: Scalar, K: Backend<S>>(
    k: &K,
    rng: &mut ChaCha8Rng,
    p: f64,
    mask: K::Mut<'_>,
) {
    k.dropout_mask(mask, p, rng.random::<u64>());
}

/// Activations and gradients of a stack over one block, in the backend's
/// buffers, allocated once and reused.
///
/// Shapes (`DH = dirs·H`): `outs[l]: (T, B, DH)` per layer; `emb: (T, B, D)`;
/// `masks[l], inputs[l]: (T, B, DH)` dropout masks and dropped inputs of
/// layer `l+1` (empty without dropout); `state, dstate0`: state layout;
/// `dout: (T, B, DH)`, `dinput: (T, B, I_l)` scratch of the backward.
#[derive(Clone, Debug)]
#[derive_where::derive_where(Default)]
pub struct StackWorkspace<S: Scalar, K: Backend<S> = Cpu> {
    t: usize,
    b: usize,
    lengths: Option<Vec<usize>>,
    caches: Vec<CellCache<S, K>>,
    outs: Vec<K::Buf>,
    masks: Vec<K::Buf>,
    inputs: Vec<K::Buf>,
    emb: K::Buf,
    state: K::Buf,
    dstate0: K::Buf,
    dout: K::Buf,
    dinput: K::Buf,
    dx: K::Buf,
    zeros: K::Buf,
    /// Staging for host inputs and states a backend cannot read in place.
    x_in: K::Buf,
    state_in: K::Buf,
}

impl<S: Scalar, K: Backend<S>> StackWorkspace<S, K> {
    fn prepare(&mut self, k: &K, c: &StackConfig, batch: &Batch<'_, S>) {
        let (t, b, h, dirs) = (batch.t, batch.b, c.hidden_size, c.directions());
        self.t = t;
        self.b = b;
        self.lengths = batch.lengths.map(<[usize]>::to_vec);
        self.caches.resize_with(c.layers * dirs, CellCache::default);
        self.outs.resize_with(c.layers, K::Buf::default);
        for o in &mut self.outs {
            k.resize(o, t * b * dirs * h);
        }
        let between = c.layers - 1;
        let dropout = c.dropout > 0.0;
        self.masks.resize_with(between, K::Buf::default);
        self.inputs.resize_with(between, K::Buf::default);
        for (m, i) in self.masks.iter_mut().zip(&mut self.inputs) {
            // Emptied here; filled by a training forward.
            k.resize(m, 0);
            k.resize(i, 0);
            if dropout {
                k.resize(m, t * b * dirs * h);
                k.resize(i, t * b * dirs * h);
            }
        }
        k.resize(&mut self.emb, c.embed.map_or(0, |d| t * b * d));
        k.resize(&mut self.state, c.state_len(b));
        k.resize(&mut self.dstate0, c.state_len(b));
        k.resize(&mut self.dout, t * b * dirs * h);
        k.resize(&mut self.zeros, 0);
        k.resize(&mut self.zeros, b * h);
    }

    /// Size of layer `l`'s input `(T, B, I_l)`.
    fn input_len(&self, c: &StackConfig, l: usize) -> usize {
        let per = match l {
            0 => c.embed.unwrap_or(c.input_size),
            _ => c.directions() * c.hidden_size,
        };
        self.t * self.b * per
    }

    /// An empty view (what an accessor gives before any forward).
    fn empty(&self) -> K::Ref<'_> {
        K::view(&self.zeros).sub(0..0)
    }

    /// T and B of the last forward.
    pub fn dims(&self) -> (usize, usize) {
        (self.t, self.b)
    }

    /// Layer `l`'s outputs `(T, B, dirs·H)` (empty past the last layer).
    pub fn layer_outputs(&self, l: usize) -> K::Ref<'_> {
        self.outs.get(l).map_or_else(|| self.empty(), K::view)
    }

    /// The last layer's outputs `(T, B, dirs·H)`.
    pub fn outputs(&self) -> K::Ref<'_> {
        self.outs.last().map_or_else(|| self.empty(), K::view)
    }

    /// `dL/d(outputs)` `(T, B, dirs·H)` for the next backward: fill it.
    pub fn output_grad(&mut self) -> K::Mut<'_> {
        K::view_mut(&mut self.dout)
    }

    /// The outputs and their gradient buffer at once.
    pub fn outputs_and_grad(&mut self) -> (K::Ref<'_>, K::Mut<'_>) {
        let outs = match self.outs.last() {
            Some(o) => K::view(o),
            None => K::view(&self.zeros).sub(0..0),
        };
        (outs, K::view_mut(&mut self.dout))
    }

    /// The state after the block.
    pub fn final_state(&self) -> K::Ref<'_> {
        K::view(&self.state)
    }

    /// `dL/d(initial state)` after a backward.
    pub fn initial_state_grad(&self) -> K::Ref<'_> {
        K::view(&self.dstate0)
    }

    /// `dL/dx: (T, B, I)` after a backward with dense input.
    pub fn input_grad(&self) -> K::Ref<'_> {
        K::view(&self.dx)
    }
}
