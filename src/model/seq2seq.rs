//! [`Seq2Seq`]: an encoder-decoder with optional attention.
//!
//! ```text
//! encoder:  K, s = Stack_enc(embed(source))            K: (S, B, E), E = dirs·H
//! bridge:   the decoder starts from the encoder's final states, each
//!           layer's directions concatenated                 Hd = E
//! decoder:  h_t = Stack_dec(embed(target input))   (teacher forcing)
//! attention (Luong's placement, any score):
//!           c_t = Σ_s α[t, s] k_s,  h̃_t = tanh(W_c [c_t; h_t] + b_c)
//! output:   y_t = W_out h̃_t + b_out   (h_t without attention)
//! ```
//!
//! Tensor names: `encoder.embedding.weight`, `encoder.rnn.*`,
//! `decoder.embedding.weight`, `decoder.rnn.*`, `attention.w`,
//! `attention.u`, `attention.v`, `attention.combine.weight`,
//! `attention.combine.bias`, `fc.weight`, `fc.bias`.

use std::ops::Range;

use serde::{Deserialize, Serialize};

use super::config::Init;
use super::net::init_params;
use super::params::{ParamLayout, split_mut};
use super::stack::{Batch, Stack, StackConfig, StackWorkspace};
use crate::backend::{Backend, Cpu};
use crate::cell::{CellKind, SeqInput};
use crate::error::{Error, Result};
use crate::layer::attention::{self, AttnCache, Dims, Score, ScoreGrads, ScoreWeights};
use crate::layer::linear;
use crate::layer::loss::{Target, loss_and_grad};
use crate::tensor::Scalar;

/// The shape of a [`Seq2Seq`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Seq2SeqConfig {
    /// The cell of encoder and decoder.
    pub cell: CellKind,
    /// Source vocabulary size.
    pub src_vocab: usize,
    /// Target vocabulary size.
    pub tgt_vocab: usize,
    /// Embedding size of source and target tokens.
    pub embed: usize,
    /// H: encoder hidden size per direction (the decoder's is `dirs·H`).
    pub hidden: usize,
    /// Layers of encoder and of decoder.
    pub layers: usize,
    /// A bidirectional encoder.
    pub bidirectional: bool,
    /// The attention score, or none (the decoder then sees the source only
    /// through its initial state).
    pub attention: Option<Score>,
    /// A: size of the additive score's hidden layer.
    pub attention_size: usize,
}

impl Seq2SeqConfig {
    pub(crate) fn encoder(&self) -> StackConfig {
        StackConfig {
            cell: self.cell,
            input_size: self.src_vocab,
            embed: Some(self.embed),
            hidden_size: self.hidden,
            layers: self.layers,
            bidirectional: self.bidirectional,
            dropout: 0.0,
        }
    }

    pub(crate) fn decoder(&self) -> StackConfig {
        StackConfig {
            input_size: self.tgt_vocab,
            hidden_size: self.encoder().output_size(),
            bidirectional: false,
            ..self.encoder()
        }
    }

    /// E: the encoder's output size, also the decoder's hidden size.
    pub fn encoder_output_size(&self) -> usize {
        self.encoder().output_size()
    }

    /// Parameters the model holds (the length of its flat buffer), or
    /// `None` if the count overflows `usize`.
    pub fn param_count(&self) -> Option<usize> {
        let (hd, e, a) = (
            self.decoder().hidden_size,
            self.encoder_output_size(),
            self.attention_size,
        );
        let attention = match self.attention {
            None => 0,
            Some(score) => {
                let scores = match score {
                    Score::LuongDot => 0,
                    Score::LuongGeneral => hd.checked_mul(e)?,
                    Score::Bahdanau => a.checked_mul(hd.checked_add(e)?.checked_add(1)?)?,
                };
                // combine: (Hd, E + Hd) and its bias (Hd).
                let combine = hd.checked_mul(e.checked_add(hd)?.checked_add(1)?)?;
                scores.checked_add(combine)?
            }
        };
        let fc = self.tgt_vocab.checked_mul(hd.checked_add(1)?)?;
        self.encoder()
            .param_count()?
            .checked_add(self.decoder().param_count()?)?
            .checked_add(attention)?
            .checked_add(fc)
    }

    /// Check every size; the message names what is wrong.
    pub fn validate(&self) -> Result<()> {
        self.encoder().validate()?;
        if self.tgt_vocab == 0 || self.embed == 0 {
            return Err(Error::Config(
                "vocabularies and the embedding need at least one entry".into(),
            ));
        }
        if self.attention == Some(Score::Bahdanau) && self.attention_size == 0 {
            return Err(Error::Config(
                "the additive attention size must be at least 1".into(),
            ));
        }
        Ok(())
    }
}

#[derive(Clone, Debug)]
struct AttnSlots {
    w: Range<usize>,
    u: Range<usize>,
    v: Range<usize>,
    combine_w: Range<usize>,
    combine_b: Range<usize>,
}

/// An encoder-decoder (see the module docs).
#[derive(Clone, Debug)]
pub struct Seq2Seq<S = f32> {
    config: Seq2SeqConfig,
    layout: ParamLayout,
    encoder: Stack,
    decoder: Stack,
    attn: Option<AttnSlots>,
    fc_w: Range<usize>,
    fc_b: Range<usize>,
    /// Every parameter in one flat buffer, in [`Seq2Seq::layout`] order.
    pub params: Vec<S>,
}

/// A batch of source and target sequences, time-major and padded.
#[derive(Clone, Copy, Debug)]
pub struct PairBatch<'a> {
    /// B.
    pub b: usize,
    /// `(S, B)` source tokens.
    pub src: &'a [u32],
    /// `(B)` source lengths.
    pub src_lengths: &'a [usize],
    /// `(T, B)` decoder inputs: START, then the target shifted right.
    pub tgt_in: &'a [u32],
    /// `(B)` target lengths (with the END marker).
    pub tgt_lengths: &'a [usize],
}

impl PairBatch<'_> {
    fn steps(&self) -> (usize, usize) {
        (
            self.src.len() / self.b.max(1),
            self.tgt_in.len() / self.b.max(1),
        )
    }
}

impl<S: Scalar> Seq2Seq<S> {
    /// A freshly initialized model (PyTorch-style uniform init unless
    /// `init` says otherwise); the same `seed` gives the same weights.
    pub fn new(config: Seq2SeqConfig, init: Init, seed: u64) -> Result<Self> {
        let mut model = Self::shell(config)?;
        super::memory::check_params::<S>(model.layout.len())?;
        model.params = vec![S::zero(); model.layout.len()];
        let emb: Vec<_> = model
            .encoder
            .embedding()
            .into_iter()
            .chain(model.decoder.embedding())
            .collect();
        let hd = model.config.decoder().hidden_size;
        init_params(&mut model.params, &model.layout, &emb, hd, init, seed);
        Ok(model)
    }

    /// The layout a model of `config` has (names, shapes, offsets), built
    /// without allocating its parameters: what a loader checks a file
    /// against before it allocates anything.
    pub fn layout_of(config: Seq2SeqConfig) -> Result<ParamLayout> {
        Ok(Self::shell(config)?.layout)
    }

    /// The model's structure with no parameters yet; refused if its sizes
    /// are invalid or its parameter count overflows.
    fn shell(config: Seq2SeqConfig) -> Result<Self> {
        config.validate()?;
        super::memory::param_count(config.param_count())?;
        let mut layout = ParamLayout::new();
        let encoder = Stack::push(&mut layout, "encoder.", config.encoder());
        let decoder = Stack::push(&mut layout, "decoder.", config.decoder());
        let (hd, e, a) = (
            config.decoder().hidden_size,
            config.encoder().output_size(),
            config.attention_size,
        );
        let attn = config.attention.map(|score| {
            let w = match score {
                Score::LuongDot => layout.len()..layout.len(),
                Score::LuongGeneral => layout.push("attention.w", &[hd, e]),
                Score::Bahdanau => layout.push("attention.w", &[a, hd]),
            };
            let (u, v) = match score {
                Score::Bahdanau => (
                    layout.push("attention.u", &[a, e]),
                    layout.push("attention.v", &[a]),
                ),
                _ => (w.end..w.end, w.end..w.end),
            };
            let combine_w = layout.push("attention.combine.weight", &[hd, e + hd]);
            let combine_b = layout.push("attention.combine.bias", &[hd]);
            AttnSlots {
                w,
                u,
                v,
                combine_w,
                combine_b,
            }
        });
        let fc_w = layout.push("fc.weight", &[config.tgt_vocab, hd]);
        let fc_b = layout.push("fc.bias", &[config.tgt_vocab]);
        Ok(Seq2Seq {
            config,
            layout,
            encoder,
            decoder,
            attn,
            fc_w,
            fc_b,
            params: Vec::new(),
        })
    }

    /// The model's shape.
    pub fn config(&self) -> &Seq2SeqConfig {
        &self.config
    }

    /// Names, shapes and offsets of the tensors in [`Seq2Seq::params`].
    pub fn layout(&self) -> &ParamLayout {
        &self.layout
    }

    /// A zeroed gradient buffer with the layout of [`Seq2Seq::params`].
    pub fn zero_grads(&self) -> Vec<S> {
        vec![S::zero(); self.params.len()]
    }

    /// An empty workspace.
    pub fn workspace(&self) -> Seq2SeqWorkspace<S> {
        Seq2SeqWorkspace::default()
    }

    fn dims(&self, t: usize, s: usize) -> Dims {
        let c = &self.config;
        Dims {
            t,
            s,
            hd: c.decoder().hidden_size,
            e: c.encoder().output_size(),
            a: c.attention_size,
        }
    }

    fn score_weights(&self) -> Option<(Score, ScoreWeights<'_, S>)> {
        let (score, a) = (self.config.attention?, self.attn.as_ref()?);
        let p = &self.params;
        Some((
            score,
            ScoreWeights {
                w: &p[a.w.clone()],
                u: &p[a.u.clone()],
                v: &p[a.v.clone()],
            },
        ))
    }

    fn check(&self, batch: &PairBatch<'_>) -> Result<()> {
        let (s, t) = batch.steps();
        let ok = batch.b > 0
            && batch.src.len() == s * batch.b
            && batch.tgt_in.len() == t * batch.b
            && batch.src_lengths.len() == batch.b
            && batch.tgt_lengths.len() == batch.b;
        if !ok {
            return Err(Error::Shape(format!(
                "a pair batch of B={} has mismatched token or length counts",
                batch.b
            )));
        }
        Ok(())
    }

    /// Forward with teacher forcing. Afterwards `ws.outputs()` holds the
    /// logits `(T, B, V_target)` and `ws.attention(b)` each sequence's
    /// attention weights `(T, S)`.
    pub fn forward(&self, batch: &PairBatch<'_>, ws: &mut Seq2SeqWorkspace<S>) -> Result<()> {
        self.check(batch)?;
        let (s, t) = batch.steps();
        let b = batch.b;
        let enc = Batch {
            lengths: Some(batch.src_lengths),
            ..Batch::new(SeqInput::Tokens(batch.src), s, b)
        };
        self.encoder
            .forward(&Cpu, &self.params, &enc, &mut ws.enc, None)?;
        bridge(&self.config, b, ws.enc.final_state(), &mut ws.dec_state0);
        let dec = Batch {
            lengths: Some(batch.tgt_lengths),
            state: Some(&ws.dec_state0),
            ..Batch::new(SeqInput::Tokens(batch.tgt_in), t, b)
        };
        self.decoder
            .forward(&Cpu, &self.params, &dec, &mut ws.dec, None)?;
        let d = self.dims(t, s);
        let z = S::zero();
        ws.t = t;
        ws.s = s;
        ws.b = b;
        if let Some((score, w)) = self.score_weights() {
            ws.ctx.resize(t * b * d.e, z);
            ws.caches.resize_with(b, AttnCache::default);
            for r in 0..b {
                gather(ws.enc.outputs(), s, b, d.e, r, &mut ws.kb);
                gather(ws.dec.outputs(), t, b, d.hd, r, &mut ws.hb);
                ws.cb.resize(t * d.e, z);
                attention::forward(
                    score,
                    &w,
                    d,
                    &ws.hb,
                    &ws.kb,
                    batch.src_lengths[r],
                    &mut ws.caches[r],
                    &mut ws.cb,
                );
                scatter(&ws.cb, t, b, d.e, r, &mut ws.ctx, false);
            }
        }
        ws.dys.resize(t * b * self.config.tgt_vocab, z);
        self.head(
            ws.dec.outputs(),
            &ws.ctx,
            &mut ws.cat,
            &mut ws.att,
            &mut ws.ys,
        );
        Ok(())
    }

    /// The output over decoder states `h: (R, Hd)`: `ys (R, V) = W_out h̃ +
    /// b_out`, where with attention `h̃ = tanh(W_c [ctx; h] + b_c)` (`ctx:
    /// (R, E)`, `cat` and `att` keep `[ctx; h]` and `h̃`) and without, `h̃ = h`.
    fn head(&self, h: &[S], ctx: &[S], cat: &mut Vec<S>, att: &mut Vec<S>, ys: &mut Vec<S>) {
        let (k, z) = (&Cpu, S::zero());
        let d = self.dims(0, 0);
        let rows = h.len() / d.hd;
        ys.resize(rows * self.config.tgt_vocab, z);
        let (w, b) = (
            &self.params[self.fc_w.clone()],
            &self.params[self.fc_b.clone()],
        );
        let Some(slots) = &self.attn else {
            return linear::forward(k, h, w, b, ys);
        };
        cat.resize(rows * (d.e + d.hd), z);
        for ((row, c), h) in cat
            .chunks_exact_mut(d.e + d.hd)
            .zip(ctx.chunks_exact(d.e))
            .zip(h.chunks_exact(d.hd))
        {
            row[..d.e].copy_from_slice(c);
            row[d.e..].copy_from_slice(h);
        }
        att.resize(rows * d.hd, z);
        linear::forward(
            k,
            cat,
            &self.params[slots.combine_w.clone()],
            &self.params[slots.combine_b.clone()],
            att,
        );
        k.activate(crate::backend::Activation::Tanh, att);
        linear::forward(k, att, w, b, ys);
    }

    /// Backward from `ws.output_grad()` (filled by [`Seq2Seq::loss_and_grad`]
    /// or the caller); accumulates into `grads`.
    pub fn backward(
        &self,
        batch: &PairBatch<'_>,
        ws: &mut Seq2SeqWorkspace<S>,
        grads: &mut [S],
    ) -> Result<()> {
        self.check(batch)?;
        if grads.len() != self.params.len() {
            return Err(Error::Shape(format!(
                "{} gradients for {} parameters",
                grads.len(),
                self.params.len()
            )));
        }
        let (t, s, b) = (ws.t, ws.s, ws.b);
        let d = self.dims(t, s);
        let k = &Cpu;
        let z = S::zero();
        let [gw, gb] = split_mut(
            &mut grads[self.fc_w.start..self.fc_b.end],
            [self.fc_w.len(), self.fc_b.len()],
        );
        let w_out = &self.params[self.fc_w.clone()];
        match (self.score_weights(), &self.attn) {
            (Some((score, w)), Some(slots)) => {
                ws.datt.resize(t * b * d.hd, z);
                linear::backward(k, &ws.att, w_out, &ws.dys, gw, gb, Some(&mut ws.datt));
                // Through the tanh and the combine layer: d[c; h].
                k.activate_backward(crate::backend::Activation::Tanh, &ws.att, &mut ws.datt);
                ws.dcat.resize(t * b * (d.e + d.hd), z);
                let [gcw, gcb] = split_mut(
                    &mut grads[slots.combine_w.start..slots.combine_b.end],
                    [slots.combine_w.len(), slots.combine_b.len()],
                );
                linear::backward(
                    k,
                    &ws.cat,
                    &self.params[slots.combine_w.clone()],
                    &ws.datt,
                    gcw,
                    gcb,
                    Some(&mut ws.dcat),
                );
                // dL/dh (decoder outputs): the direct part, then attention's.
                let ddec = ws.dec.output_grad();
                for (dst, row) in ddec
                    .chunks_exact_mut(d.hd)
                    .zip(ws.dcat.chunks_exact(d.e + d.hd))
                {
                    dst.copy_from_slice(&row[d.e..]);
                }
                ws.denc.clear();
                ws.denc.resize(s * b * d.e, z);
                let [g_w, g_u, g_v] = split_mut(
                    &mut grads[slots.w.start..slots.v.end],
                    [slots.w.len(), slots.u.len(), slots.v.len()],
                );
                let mut g = ScoreGrads {
                    w: g_w,
                    u: g_u,
                    v: g_v,
                };
                for r in 0..b {
                    gather(ws.enc.outputs(), s, b, d.e, r, &mut ws.kb);
                    gather(ws.dec.outputs(), t, b, d.hd, r, &mut ws.hb);
                    ws.dcb.clear();
                    for row in ws.dcat.chunks_exact(d.e + d.hd).skip(r).step_by(b) {
                        ws.dcb.extend_from_slice(&row[..d.e]);
                    }
                    ws.dhb.clear();
                    ws.dhb.resize(t * d.hd, z);
                    ws.dkb.clear();
                    ws.dkb.resize(s * d.e, z);
                    attention::backward(
                        score,
                        &w,
                        &mut g,
                        d,
                        &ws.hb,
                        &ws.kb,
                        &mut ws.caches[r],
                        &ws.dcb,
                        &mut ws.dhb,
                        &mut ws.dkb,
                    );
                    scatter(&ws.dhb, t, b, d.hd, r, ws.dec.output_grad(), true);
                    scatter(&ws.dkb, s, b, d.e, r, &mut ws.denc, true);
                }
            }
            _ => {
                let (outs, dout) = ws.dec.outputs_and_grad();
                linear::backward(k, outs, w_out, &ws.dys, gw, gb, Some(dout));
                ws.denc.clear();
                ws.denc.resize(s * b * d.e, z);
            }
        }
        self.decoder.backward(
            &Cpu,
            &self.params,
            grads,
            SeqInput::Tokens(batch.tgt_in),
            &mut ws.dec,
            None,
        )?;
        unbridge(
            &self.config,
            b,
            ws.dec.initial_state_grad(),
            &mut ws.denc_state,
        );
        ws.enc.output_grad().copy_from_slice(&ws.denc);
        self.encoder.backward(
            &Cpu,
            &self.params,
            grads,
            SeqInput::Tokens(batch.src),
            &mut ws.enc,
            Some(&ws.denc_state),
        )
    }

    /// Forward, cross-entropy against `targets: (T, B)` (`IGNORE` at
    /// padding), backward; returns the loss (nats per target token).
    pub fn loss_and_grad(
        &self,
        batch: &PairBatch<'_>,
        targets: &[u32],
        ws: &mut Seq2SeqWorkspace<S>,
        grads: &mut [S],
    ) -> Result<f64> {
        self.forward(batch, ws)?;
        let loss = loss_and_grad(
            &ws.ys,
            self.config.tgt_vocab,
            Target::Classes(targets),
            &mut ws.dys,
        )?;
        self.backward(batch, ws, grads)?;
        Ok(loss)
    }

    /// Forward and loss only.
    pub fn loss(
        &self,
        batch: &PairBatch<'_>,
        targets: &[u32],
        ws: &mut Seq2SeqWorkspace<S>,
    ) -> Result<f64> {
        self.forward(batch, ws)?;
        loss_and_grad(
            &ws.ys,
            self.config.tgt_vocab,
            Target::Classes(targets),
            &mut ws.dys,
        )
    }
}

/// A source run through the encoder, ready for step-by-step decoding.
#[derive(Clone, Debug)]
pub struct Encoded<S: Scalar> {
    /// `(S, E)` encoder outputs.
    pub keys: Vec<S>,
    /// S: the source's length.
    pub len: usize,
    /// The decoder's initial state for one hypothesis.
    pub state: Vec<S>,
}

/// Buffers of step-by-step decoding, reused.
#[derive(Clone, Debug, Default)]
pub struct DecodeWorkspace<S: Scalar> {
    enc: StackWorkspace<S>,
    dec: StackWorkspace<S>,
    caches: Vec<AttnCache<S>>,
    ctx: Vec<S>,
    cat: Vec<S>,
    att: Vec<S>,
    ys: Vec<S>,
}

impl<S: Scalar> DecodeWorkspace<S> {
    /// Logits `(B, V_target)` of the last step.
    pub fn logits(&self) -> &[S] {
        &self.ys
    }

    /// The decoder states after the last step (state layout for B).
    pub fn state(&self) -> &[S] {
        self.dec.final_state()
    }

    /// Attention weights `(S)` of hypothesis `r` in the last step.
    pub fn attention(&self, r: usize) -> Option<&[S]> {
        self.caches.get(r).map(|c| &c.alpha[..])
    }
}

impl<S: Scalar> Seq2Seq<S> {
    /// Run one source (token ids) through the encoder.
    pub fn encode(&self, src: &[u32], ws: &mut DecodeWorkspace<S>) -> Result<Encoded<S>> {
        if src.is_empty() {
            return Err(Error::Data(
                "the input is empty; give at least one character".into(),
            ));
        }
        let batch = Batch::new(SeqInput::Tokens(src), src.len(), 1);
        self.encoder
            .forward(&Cpu, &self.params, &batch, &mut ws.enc, None)?;
        let mut state = Vec::new();
        bridge(&self.config, 1, ws.enc.final_state(), &mut state);
        Ok(Encoded {
            keys: ws.enc.outputs().to_vec(),
            len: src.len(),
            state,
        })
    }

    /// One decoder step for `b = tokens.len()` hypotheses of one source, from
    /// their states (state layout for B). Afterwards `ws.logits()` holds
    /// `(B, V_target)`, `ws.state()` the new states and `ws.attention(r)`
    /// each hypothesis' attention over the source.
    pub fn decode_step(
        &self,
        enc: &Encoded<S>,
        tokens: &[u32],
        state: &[S],
        ws: &mut DecodeWorkspace<S>,
    ) -> Result<()> {
        let b = tokens.len();
        let batch = Batch {
            state: Some(state),
            ..Batch::new(SeqInput::Tokens(tokens), 1, b)
        };
        self.decoder
            .forward(&Cpu, &self.params, &batch, &mut ws.dec, None)?;
        let d = self.dims(1, enc.len);
        let z = S::zero();
        if let Some((score, w)) = self.score_weights() {
            ws.ctx.resize(b * d.e, z);
            ws.caches.resize_with(b, AttnCache::default);
            let h = ws.dec.outputs();
            for r in 0..b {
                let ctx = &mut ws.ctx[r * d.e..(r + 1) * d.e];
                attention::forward(
                    score,
                    &w,
                    d,
                    &h[r * d.hd..(r + 1) * d.hd],
                    &enc.keys,
                    enc.len,
                    &mut ws.caches[r],
                    ctx,
                );
            }
        }
        self.head(
            ws.dec.outputs(),
            &ws.ctx,
            &mut ws.cat,
            &mut ws.att,
            &mut ws.ys,
        );
        Ok(())
    }
}

/// Rows `rows` of a state buffer laid out as blocks of `(B, n)`: the state
/// of the chosen hypotheses, as a state buffer for `rows.len()`.
pub fn select_rows<S: Copy>(state: &[S], b: usize, n: usize, rows: &[usize]) -> Vec<S> {
    let mut out = Vec::with_capacity(state.len() / b.max(1) * rows.len());
    for block in state.chunks_exact(b * n) {
        for &r in rows {
            out.extend_from_slice(&block[r * n..(r + 1) * n]);
        }
    }
    out
}

/// Rows of sequence `r` of a time-major `(T, B, n)` buffer, contiguous `(T, n)`.
fn gather<S: Copy>(src: &[S], t: usize, b: usize, n: usize, r: usize, out: &mut Vec<S>) {
    out.clear();
    for s in 0..t {
        out.extend_from_slice(&src[(s * b + r) * n..(s * b + r + 1) * n]);
    }
}

/// The inverse of [`gather`]: write (or add) `(T, n)` rows into sequence `r`.
fn scatter<S: Scalar>(
    rows: &[S],
    t: usize,
    b: usize,
    n: usize,
    r: usize,
    dst: &mut [S],
    add: bool,
) {
    for s in 0..t {
        let (from, to) = (
            &rows[s * n..(s + 1) * n],
            &mut dst[(s * b + r) * n..(s * b + r + 1) * n],
        );
        if add {
            to.iter_mut().zip(from).for_each(|(o, &v)| *o += v);
        } else {
            to.copy_from_slice(from);
        }
    }
}

/// The decoder's initial state from the encoder's final one: per layer,
/// the directions' `(B, H)` states side by side as `(B, dirs·H)`; h, then c.
fn bridge<S: Scalar>(c: &Seq2SeqConfig, b: usize, enc: &[S], dec: &mut Vec<S>) {
    dec.resize(enc.len(), S::zero());
    for_bridge_rows(c, b, |e, d, h| {
        dec[d..d + h].copy_from_slice(&enc[e..e + h])
    });
}

/// The inverse of [`bridge`], for gradients.
fn unbridge<S: Scalar>(c: &Seq2SeqConfig, b: usize, ddec: &[S], denc: &mut Vec<S>) {
    denc.resize(ddec.len(), S::zero());
    for_bridge_rows(c, b, |e, d, h| {
        denc[e..e + h].copy_from_slice(&ddec[d..d + h])
    });
}

/// Calls `f(encoder offset, decoder offset, H)` for every `H`-long row the
/// bridge moves: encoder state `(parts·L·dirs, B, H)` to decoder state
/// `(parts·L, B, dirs·H)`.
fn for_bridge_rows(c: &Seq2SeqConfig, b: usize, mut f: impl FnMut(usize, usize, usize)) {
    let (dirs, h) = (c.encoder().directions(), c.hidden);
    let parts = if c.cell.has_cell_state() { 2 } else { 1 };
    for block in 0..parts * c.layers {
        for d in 0..dirs {
            for r in 0..b {
                f(
                    ((block * dirs + d) * b + r) * h,
                    (block * b + r) * dirs * h + d * h,
                    h,
                );
            }
        }
    }
}

/// Activations and gradients of one pair batch, reused.
#[derive(Clone, Debug, Default)]
pub struct Seq2SeqWorkspace<S: Scalar> {
    t: usize,
    s: usize,
    b: usize,
    enc: StackWorkspace<S>,
    dec: StackWorkspace<S>,
    dec_state0: Vec<S>,
    caches: Vec<AttnCache<S>>,
    ctx: Vec<S>,
    cat: Vec<S>,
    att: Vec<S>,
    ys: Vec<S>,
    dys: Vec<S>,
    datt: Vec<S>,
    dcat: Vec<S>,
    denc: Vec<S>,
    denc_state: Vec<S>,
    kb: Vec<S>,
    hb: Vec<S>,
    cb: Vec<S>,
    dcb: Vec<S>,
    dhb: Vec<S>,
    dkb: Vec<S>,
}

impl<S: Scalar> Seq2SeqWorkspace<S> {
    /// The logits `(T, B, V_target)` of the last forward.
    pub fn outputs(&self) -> &[S] {
        &self.ys
    }

    /// `dL/d(logits)`, filled by the loss; write into it to backpropagate
    /// your own.
    pub fn output_grad(&mut self) -> &mut [S] {
        &mut self.dys
    }

    /// Attention weights `(T, S)` of sequence `r` in the last forward
    /// (`None` without attention).
    pub fn attention(&self, r: usize) -> Option<&[S]> {
        self.caches.get(r).map(|c| &c.alpha[..])
    }
}
