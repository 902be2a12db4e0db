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

use rand::distr::{Distribution, Uniform};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

use super::config::{Init, NetConfig, Readout};
use super::params::{ParamLayout, split_mut};
use crate::backend::{Backend, Cpu};
use crate::cell::{self, CellCache, CellGrads, CellKind, CellWeights, Pass, SeqInput};
use crate::error::{Error, Result};
use crate::layer::linear;
use crate::layer::loss::{Target, loss_and_grad};
use crate::tensor::Scalar;

/// Where each tensor of one cell (one layer, one direction) sits.
#[derive(Clone, Debug)]
struct CellSlots {
    w_ih: Range<usize>,
    w_hh: Range<usize>,
    b_ih: Range<usize>,
    b_hh: Range<usize>,
}

impl CellSlots {
    /// The whole cell: its tensors are consecutive.
    fn all(&self) -> Range<usize> {
        self.w_ih.start..self.b_hh.end.max(self.b_ih.end)
    }
}

#[derive(Clone, Debug)]
struct Slots {
    embedding: Option<Range<usize>>,
    cells: Vec<CellSlots>,
    fc_w: Range<usize>,
    fc_b: Range<usize>,
}

fn layout_for(c: &NetConfig) -> (ParamLayout, Slots) {
    let (h, g, dirs) = (c.hidden_size, c.cell.gates(), c.directions());
    let mut l = ParamLayout::new();
    let embedding = c
        .embed
        .map(|d| l.push("embedding.weight", &[c.input_size, d]));
    let mut cells = Vec::new();
    for k in 0..c.layers {
        let input = match k {
            0 => c.embed.unwrap_or(c.input_size),
            _ => dirs * h,
        };
        for d in 0..dirs {
            let sfx = if d == 1 { "_reverse" } else { "" };
            let w_ih = l.push(format!("rnn.weight_ih_l{k}{sfx}"), &[g * h, input]);
            let w_hh = l.push(format!("rnn.weight_hh_l{k}{sfx}"), &[g * h, h]);
            let b_ih = l.push(format!("rnn.bias_ih_l{k}{sfx}"), &[g * h]);
            let b_hh = match c.cell.has_hidden_bias() {
                true => l.push(format!("rnn.bias_hh_l{k}{sfx}"), &[g * h]),
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
    let fc_w = l.push("fc.weight", &[c.output_size, dirs * h]);
    let fc_b = l.push("fc.bias", &[c.output_size]);
    (
        l,
        Slots {
            embedding,
            cells,
            fc_w,
            fc_b,
        },
    )
}

/// One block of sequences to run: input, sizes, lengths, initial state.
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
    /// The initial state (see [`NetConfig::state_len`]); zeros when `None`.
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

/// A recurrent network with a linear output layer (see the module docs).
#[derive(Clone, Debug)]
pub struct Net<S = f32> {
    config: NetConfig,
    layout: ParamLayout,
    slots: Slots,
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

impl<S: Scalar> Net<S> {
    /// A freshly initialized model; the same `seed` gives the same weights.
    pub fn new(config: impl Into<NetConfig>, init: Init, seed: u64) -> Result<Self> {
        let mut net = Self::zeros(config)?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let bound = 1.0 / (net.config.hidden_size as f64).sqrt();
        let uniform = Uniform::new_inclusive(-bound, bound).expect("finite bound");
        let embedding = net.slots.embedding.clone();
        for spec in net.layout.specs() {
            let is_bias = spec.shape.len() == 1;
            let is_embedding = embedding.as_ref().is_some_and(|e| e.start == spec.offset);
            for p in &mut net.params[spec.range()] {
                let v = match (init, is_bias, is_embedding) {
                    (Init::Classic, true, _) => 0.0,
                    (Init::Classic, false, _) => {
                        0.01 * Distribution::<f64>::sample(&StandardNormal, &mut rng)
                    }
                    (Init::Uniform, _, true) => {
                        Distribution::<f64>::sample(&StandardNormal, &mut rng)
                    }
                    (Init::Uniform, _, false) => uniform.sample(&mut rng),
                };
                *p = S::of(v);
            }
        }
        Ok(net)
    }

    /// A model with every parameter zero (to be filled, e.g. from a file).
    pub fn zeros(config: impl Into<NetConfig>) -> Result<Self> {
        let config = config.into();
        config.validate()?;
        let (layout, slots) = layout_for(&config);
        let params = vec![S::zero(); layout.len()];
        Ok(Net {
            config,
            layout,
            slots,
            params,
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
            slots: self.slots.clone(),
            params: self.params.iter().map(|p| T::of(p.f64())).collect(),
        }
    }

    /// Set every LSTM forget-gate bias to `value` (char-rnn starts at 1):
    /// `b_ih`'s forget quarter to `value`, `b_hh`'s to 0.
    pub fn set_forget_bias(&mut self, value: f64) {
        if self.config.cell != CellKind::Lstm {
            return;
        }
        let h = self.config.hidden_size;
        for c in &self.slots.cells {
            self.params[c.b_ih.start + h..c.b_ih.start + 2 * h].fill(S::of(value));
            self.params[c.b_hh.start + h..c.b_hh.start + 2 * h].fill(S::zero());
        }
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

    fn weights(&self, cell: usize) -> CellWeights<'_, S> {
        let (p, c) = (&self.params, &self.slots.cells[cell]);
        CellWeights {
            w_ih: &p[c.w_ih.clone()],
            w_hh: &p[c.w_hh.clone()],
            b_ih: &p[c.b_ih.clone()],
            b_hh: &p[c.b_hh.clone()],
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

    fn check(&self, batch: &Batch<'_, S>) -> Result<()> {
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
        self.check(batch)?;
        let c = &self.config;
        let (t, b, h, dirs) = (batch.t, batch.b, c.hidden_size, c.directions());
        let (bh, lds) = (b * h, c.layers * dirs);
        ws.prepare(c, batch);
        let k = &Cpu;
        if let (Some(e), SeqInput::Tokens(tok)) = (&self.slots.embedding, batch.x) {
            k.gather_rows(&self.params[e.clone()], tok, &mut ws.emb);
        }
        let mut rng = dropout.filter(|_| c.dropout > 0.0);
        ws.zeros.clear();
        ws.zeros.resize(bh, S::zero());
        for l in 0..c.layers {
            let (done, rest) = ws.outs.split_at_mut(l);
            let x: SeqInput<'_, S> = match l {
                0 if self.slots.embedding.is_some() => SeqInput::Dense(&ws.emb),
                0 => batch.x,
                _ => {
                    let prev = &done[l - 1];
                    match rng.as_deref_mut() {
                        Some(r) => {
                            fill_dropout_mask(r, c.dropout, &mut ws.masks[l - 1]);
                            for ((o, &v), &m) in
                                ws.inputs[l - 1].iter_mut().zip(prev).zip(&ws.masks[l - 1])
                            {
                                *o = v * m;
                            }
                            SeqInput::Dense(&ws.inputs[l - 1])
                        }
                        None => SeqInput::Dense(prev),
                    }
                }
            };
            let out = &mut rest[0];
            for d in 0..dirs {
                let cell = l * dirs + d;
                let p = self.pass(t, b, d, batch.lengths);
                let (h0, c0) = match batch.state {
                    Some(s) => (
                        &s[cell * bh..(cell + 1) * bh],
                        state_c(s, lds * bh, cell, bh),
                    ),
                    None => (&ws.zeros[..], &ws.zeros[..]),
                };
                let cache = &mut ws.caches[cell];
                cell::forward(k, &self.weights(cell), x, &p, h0, c0, cache);
                // Concatenate the directions: out[s, r, d·H..(d+1)·H].
                for (dst, src) in out
                    .chunks_exact_mut(dirs * h)
                    .zip(cache.outputs(&p).chunks_exact(h))
                {
                    dst[d * h..(d + 1) * h].copy_from_slice(src);
                }
                ws.state[cell * bh..(cell + 1) * bh].copy_from_slice(cache.final_h(&p));
                if c.cell.has_cell_state() {
                    ws.state[(lds + cell) * bh..(lds + cell + 1) * bh]
                        .copy_from_slice(cache.final_c(&p));
                }
            }
            // Padded steps output zeros, as PyTorch's packed sequences do.
            if let Some(lengths) = batch.lengths {
                for (s, row) in out.chunks_exact_mut(b * dirs * h).enumerate() {
                    for (r, _) in lengths.iter().enumerate().filter(|&(_, &n)| s >= n) {
                        row[r * dirs * h..(r + 1) * dirs * h].fill(S::zero());
                    }
                }
            }
        }
        // The output layer reads the last layer's outputs (T·B, dirs·H), or
        // its final states of both directions (B, dirs·H).
        let NetWorkspace {
            outs,
            feats,
            state,
            ys,
            ..
        } = ws;
        let readout: &[S] = match c.readout {
            Readout::ManyToMany => &outs[c.layers - 1],
            Readout::ManyToOne => {
                let first = (c.layers - 1) * dirs;
                for d in 0..dirs {
                    let fin = &state[(first + d) * bh..(first + d + 1) * bh];
                    for (dst, src) in feats.chunks_exact_mut(dirs * h).zip(fin.chunks_exact(h)) {
                        dst[d * h..(d + 1) * h].copy_from_slice(src);
                    }
                }
                feats
            }
        };
        linear::forward(
            k,
            readout,
            &self.params[self.slots.fc_w.clone()],
            &self.params[self.slots.fc_b.clone()],
            ys,
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
        // Taken out for the duration (and put back below) so that the
        // workspace can be borrowed mutably meanwhile.
        let lengths = std::mem::take(&mut ws.lengths);
        let result = self.backward_with(x, ws, grads, dstate, lengths.as_deref());
        ws.lengths = lengths;
        result
    }

    fn backward_with(
        &self,
        x: SeqInput<'_, S>,
        ws: &mut NetWorkspace<S>,
        grads: &mut [S],
        dstate: Option<&[S]>,
        lengths: Option<&[usize]>,
    ) -> Result<()> {
        let c = &self.config;
        let (t, b, h, dirs) = (ws.t, ws.b, c.hidden_size, c.directions());
        let batch = Batch {
            lengths,
            ..Batch::new(x, t, b)
        };
        self.check(&batch)?;
        if grads.len() != self.params.len() {
            return Err(Error::Shape(format!(
                "{} gradients for {} parameters",
                grads.len(),
                self.params.len()
            )));
        }
        if let Some(d) = dstate
            && d.len() != c.state_len(b)
        {
            return Err(Error::Shape(format!(
                "the final-state gradient has {} values, this model needs {}",
                d.len(),
                c.state_len(b)
            )));
        }
        let k = &Cpu;
        let (bh, lds) = (b * h, c.layers * dirs);
        // Output layer: dWhy, dby, and dL/d(features).
        {
            let (fw, fb) = (self.slots.fc_w.clone(), self.slots.fc_b.clone());
            let [gw, gb] = split_mut(&mut grads[fw.start..fb.end], [fw.len(), fb.len()]);
            let feats: &[S] = match c.readout {
                Readout::ManyToMany => &ws.outs[c.layers - 1],
                Readout::ManyToOne => &ws.feats,
            };
            let dfeats = match c.readout {
                Readout::ManyToMany => &mut ws.dout,
                Readout::ManyToOne => &mut ws.dfeats,
            };
            linear::backward(k, feats, &self.params[fw], &ws.dys, gw, gb, Some(dfeats));
        }
        if c.readout == Readout::ManyToOne {
            ws.dout.fill(S::zero());
        }
        ws.dstate0.fill(S::zero());
        for l in (0..c.layers).rev() {
            let input_len = ws.input_len(c, l);
            ws.dinput.clear();
            ws.dinput.resize(input_len, S::zero());
            for d in 0..dirs {
                let cell = l * dirs + d;
                let p = self.pass(t, b, d, batch.lengths);
                let NetWorkspace {
                    caches,
                    dout,
                    dinput,
                    dstate0,
                    dfeats,
                    outs,
                    inputs,
                    emb,
                    masks,
                    dlast,
                    ..
                } = ws;
                let cache = &mut caches[cell];
                // dL/dh from above, this direction's half; none at padding.
                for (dst, src) in cache
                    .dh
                    .chunks_exact_mut(h)
                    .zip(dout.chunks_exact(dirs * h))
                {
                    dst.copy_from_slice(&src[d * h..(d + 1) * h]);
                }
                if let Some(lengths) = batch.lengths {
                    for (s, rows) in cache.dh.chunks_exact_mut(bh).enumerate() {
                        for (r, _) in lengths.iter().enumerate().filter(|&(_, &n)| s >= n) {
                            rows[r * h..(r + 1) * h].fill(S::zero());
                        }
                    }
                }
                // Gradients into the final states: from the read-out and from the caller.
                let read_out = c.readout == Readout::ManyToOne && l == c.layers - 1;
                dlast.clear();
                dlast.resize(bh, S::zero());
                if read_out {
                    for (dst, row) in dlast.chunks_exact_mut(h).zip(dfeats.chunks_exact(dirs * h)) {
                        dst.copy_from_slice(&row[d * h..(d + 1) * h]);
                    }
                }
                if let Some(ds) = dstate {
                    for (a, &e) in dlast.iter_mut().zip(&ds[cell * bh..(cell + 1) * bh]) {
                        *a += e;
                    }
                }
                let dh_last = (read_out || dstate.is_some()).then_some(&dlast[..]);
                let dc_last = dstate
                    .filter(|_| c.cell.has_cell_state())
                    .map(|ds| &ds[(lds + cell) * bh..(lds + cell + 1) * bh]);
                let x_l: SeqInput<'_, S> = match l {
                    0 if self.slots.embedding.is_some() => SeqInput::Dense(&emb[..]),
                    0 => x,
                    _ if masks[l - 1].is_empty() => SeqInput::Dense(&outs[l - 1]),
                    _ => SeqInput::Dense(&inputs[l - 1]),
                };
                let cs = self.slots.cells[cell].clone();
                let all = cs.all();
                let [g_ih, g_hh, g_bi, g_bh] = split_mut(
                    &mut grads[all],
                    [cs.w_ih.len(), cs.w_hh.len(), cs.b_ih.len(), cs.b_hh.len()],
                );
                let mut g = CellGrads {
                    w_ih: g_ih,
                    w_hh: g_hh,
                    b_ih: g_bi,
                    b_hh: g_bh,
                };
                let (dh0s, dc0s) = dstate0.split_at_mut(lds * bh);
                let dh0 = &mut dh0s[cell * bh..(cell + 1) * bh];
                let dc0 = if c.cell.has_cell_state() {
                    &mut dc0s[cell * bh..(cell + 1) * bh]
                } else {
                    &mut [][..]
                };
                let dx = match x_l {
                    SeqInput::Dense(_) => Some(&mut dinput[..]),
                    SeqInput::Tokens(_) => None,
                };
                cell::backward(
                    k,
                    &self.weights(cell),
                    &mut g,
                    x_l,
                    &p,
                    cache,
                    dh_last,
                    dc_last,
                    dh0,
                    dc0,
                    dx,
                );
            }
            // dL/d(layer input) becomes dL/d(previous layer's output), through dropout.
            if l > 0 {
                if !ws.masks[l - 1].is_empty() {
                    for (g, &m) in ws.dinput.iter_mut().zip(&ws.masks[l - 1]) {
                        *g *= m;
                    }
                }
                std::mem::swap(&mut ws.dout, &mut ws.dinput);
            }
        }
        match (&self.slots.embedding, x) {
            (Some(e), SeqInput::Tokens(tok)) => {
                k.scatter_add_rows(&ws.dinput, tok, &mut grads[e.clone()])
            }
            (None, SeqInput::Dense(_)) => {
                ws.dx.clear();
                ws.dx.extend_from_slice(&ws.dinput);
            }
            _ => {}
        }
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

/// The `c` part of a state buffer for `cell` (empty without cell state).
fn state_c<S>(s: &[S], h_len: usize, cell: usize, bh: usize) -> &[S] {
    if s.len() > h_len {
        &s[h_len + cell * bh..h_len + (cell + 1) * bh]
    } else {
        &[]
    }
}

/// Inverted dropout: each value is 0 with probability `p`, else `1/(1-p)`.
fn fill_dropout_mask<S: Scalar>(rng: &mut ChaCha8Rng, p: f64, mask: &mut [S]) {
    let keep = S::of(1.0 / (1.0 - p));
    for m in mask.iter_mut() {
        *m = if rng.random::<f64>() < p {
            S::zero()
        } else {
            keep
        };
    }
}

/// Activations and gradients of one block, allocated once and reused.
///
/// Shapes (`DH = dirs·H`): `outs[l]: (T, B, DH)` per layer; `emb: (T, B, D)`;
/// `masks[l], inputs[l]: (T, B, DH)` dropout masks and dropped inputs of
/// layer `l+1` (empty without dropout); `feats, dfeats: (B, DH)`;
/// `ys, dys: (R, V)` with `R = T·B` or `B`; `state, dstate0`: state layout;
/// `dout: (T, B, DH)`, `dinput: (T, B, I_l)` scratch of the backward.
#[derive(Clone, Debug, Default)]
pub struct NetWorkspace<S> {
    t: usize,
    b: usize,
    lengths: Option<Vec<usize>>,
    caches: Vec<CellCache<S>>,
    outs: Vec<Vec<S>>,
    masks: Vec<Vec<S>>,
    inputs: Vec<Vec<S>>,
    emb: Vec<S>,
    feats: Vec<S>,
    dfeats: Vec<S>,
    ys: Vec<S>,
    dys: Vec<S>,
    state: Vec<S>,
    dstate0: Vec<S>,
    dout: Vec<S>,
    dinput: Vec<S>,
    dx: Vec<S>,
    zeros: Vec<S>,
    dlast: Vec<S>,
}

impl<S: Scalar> NetWorkspace<S> {
    fn prepare(&mut self, c: &NetConfig, batch: &Batch<'_, S>) {
        let (t, b, h, dirs) = (batch.t, batch.b, c.hidden_size, c.directions());
        let z = S::zero();
        self.t = t;
        self.b = b;
        self.lengths = batch.lengths.map(<[usize]>::to_vec);
        self.caches.resize_with(c.layers * dirs, CellCache::default);
        self.outs.resize_with(c.layers, Vec::new);
        for o in &mut self.outs {
            o.resize(t * b * dirs * h, z);
        }
        let between = c.layers - 1;
        let dropout = c.dropout > 0.0;
        self.masks.resize_with(between, Vec::new);
        self.inputs.resize_with(between, Vec::new);
        for (m, i) in self.masks.iter_mut().zip(&mut self.inputs) {
            // Emptied here; filled by a training forward.
            m.clear();
            i.clear();
            if dropout {
                m.resize(t * b * dirs * h, z);
                i.resize(t * b * dirs * h, z);
            }
        }
        self.emb.resize(c.embed.map_or(0, |d| t * b * d), z);
        let rows = match c.readout {
            Readout::ManyToMany => t * b,
            Readout::ManyToOne => b,
        };
        self.feats.resize(b * dirs * h, z);
        self.dfeats.resize(b * dirs * h, z);
        self.ys.resize(rows * c.output_size, z);
        self.dys.resize(rows * c.output_size, z);
        self.state.resize(c.state_len(b), z);
        self.dstate0.resize(c.state_len(b), z);
        self.dout.resize(t * b * dirs * h, z);
    }

    /// Size of layer `l`'s input `(T, B, I_l)`.
    fn input_len(&self, c: &NetConfig, l: usize) -> usize {
        let per = match l {
            0 => c.embed.unwrap_or(c.input_size),
            _ => c.directions() * c.hidden_size,
        };
        self.t * self.b * per
    }

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
        &self.state
    }

    /// Every hidden state of the last layer's forward direction by time,
    /// `(T, B, dirs·H)` outputs of the last layer.
    pub fn last_layer_outputs(&self) -> &[S] {
        self.outs.last().map_or(&[], |o| &o[..])
    }

    /// `dL/d(initial state)` after a backward.
    pub fn initial_state_grad(&self) -> &[S] {
        &self.dstate0
    }

    /// `dL/dx: (T, B, I)` after a backward with dense input.
    pub fn input_grad(&self) -> &[S] {
        &self.dx
    }
}
