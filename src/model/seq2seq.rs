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
use super::params::{ParamLayout, tensors_mut};
use super::stack::{Batch, Stack, StackConfig, StackWorkspace};
use crate::backend::{Activation, Backend, Cpu, View, ViewMut};
use crate::cell::{CellKind, SeqInput};
use crate::error::{Error, Result};
use crate::layer::attention::{self, AttnCache, Dims, Score, ScoreGrads, ScoreWeights};
use crate::layer::linear;
use crate::layer::loss::{Target, loss_and_grad_on, loss_and_grad_to};
use crate::tensor::Scalar;

mod greedy;
pub use greedy::GreedyWorkspace;

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
        // The bridge joins the encoder's two directions unit by unit: a
        // cell state that is not per unit (the mLSTM's matrix memory per
        // head) cannot be joined.
        if self.bidirectional && !self.cell.state_per_unit() {
            return Err(Error::Config(format!(
                "the {}'s state (a matrix memory per head) cannot be joined from two \
                 encoder directions into the decoder's: drop --bidirectional, or pick \
                 another cell",
                self.cell.title()
            )));
        }
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

/// An encoder-decoder (see the module docs), on backend `K` (the CPU
/// unless said otherwise).
///
/// Learn to reverse two sequences of three tokens, then decode them
/// greedily (each step fed the model's own previous choice):
///
/// ```
/// use recur::cell::CellKind;
/// use recur::layer::attention::Score;
/// use recur::model::Init;
/// use recur::model::seq2seq::{GreedyWorkspace, PairBatch, Seq2Seq, Seq2SeqConfig};
/// use recur::optim::{Optimizer, OptimizerKind};
/// let config = Seq2SeqConfig {
///     cell: CellKind::Gru,
///     src_vocab: 5,
///     tgt_vocab: 5,
///     embed: 4,
///     hidden: 8,
///     layers: 1,
///     bidirectional: true,
///     attention: Some(Score::LuongDot),
///     attention_size: 8,
/// };
/// let mut model = Seq2Seq::<f32>::new(config, Init::Uniform, 0)?;
/// // Tokens 0..5; 0 starts the decoder's input, 1 ends a target. Time-major.
/// let src = [2, 4, 3, 3, 4, 2]; // "234" and "432": (S = 3, B = 2)
/// let tgt_in = [0, 0, 4, 2, 3, 3, 2, 4]; // START, then "432" and "234": (T = 4, B = 2)
/// let targets = [4, 2, 3, 3, 2, 4, 1, 1]; // "432" and "234", then END
/// let batch = PairBatch {
///     b: 2,
///     src: &src,
///     src_lengths: &[3, 3],
///     tgt_in: &tgt_in,
///     tgt_lengths: &[4, 4],
/// };
/// let adam = OptimizerKind::Adam { beta1: 0.9, beta2: 0.999 };
/// let mut opt = Optimizer::new(adam, 0.05, model.params.len())?;
/// let (mut ws, mut grads) = (model.workspace(), model.zero_grads());
/// let mut loss = f64::INFINITY;
/// for _ in 0..60 {
///     grads.fill(0.0);
///     loss = model.loss_and_grad(&batch, &targets, &mut ws, &mut grads)?;
///     opt.step(&mut model.params, &grads);
/// }
/// assert!(loss < 0.05); // nats per target token; measured 0.0004
/// let chosen = model.greedy_batch(&batch, &mut GreedyWorkspace::default())?;
/// assert_eq!(chosen, tgt_in); // START, then "432" and "234" again
/// # Ok::<(), recur::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Seq2Seq<S: Scalar = f32, K: Backend<S> = Cpu> {
    config: Seq2SeqConfig,
    layout: ParamLayout,
    encoder: Stack,
    decoder: Stack,
    attn: Option<AttnSlots>,
    fc_w: Range<usize>,
    fc_b: Range<usize>,
    backend: K,
    /// Every parameter in one flat buffer, in [`Seq2Seq::layout`] order,
    /// where the backend keeps it (a `Vec<S>` on the CPU).
    pub params: K::Buf,
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

impl<S: Scalar> Seq2Seq<S, Cpu> {
    /// A freshly initialized model on the CPU (PyTorch-style uniform init
    /// unless `init` says otherwise); the same `seed` gives the same weights.
    pub fn new(config: Seq2SeqConfig, init: Init, seed: u64) -> Result<Self> {
        Self::new_on(Cpu, config, init, seed)
    }

    /// The layout a model of `config` has (names, shapes, offsets), built
    /// without allocating its parameters: what a loader checks a file
    /// against before it allocates anything.
    pub fn layout_of(config: Seq2SeqConfig) -> Result<ParamLayout> {
        Ok(Self::shell(Cpu, config)?.layout)
    }
}

impl<S: Scalar, K: Backend<S>> Seq2Seq<S, K> {
    /// [`Seq2Seq::new`] on `backend`: the weights are drawn on the host,
    /// then placed on the backend.
    pub fn new_on(backend: K, config: Seq2SeqConfig, init: Init, seed: u64) -> Result<Self> {
        let mut model = Self::shell(backend, config)?;
        super::memory::check_params::<S>(model.layout.len())?;
        let mut host = vec![S::zero(); model.layout.len()];
        let emb: Vec<_> = model
            .encoder
            .embedding()
            .into_iter()
            .chain(model.decoder.embedding())
            .collect();
        let hd = model.config.decoder().hidden_size;
        init_params(&mut host, &model.layout, &emb, hd, init, seed);
        model.params = model.backend.upload(&host);
        Ok(model)
    }

    /// A model of `config` on `backend` holding `params` (in
    /// [`Seq2Seq::layout`] order; a checkpoint's, or another backend's).
    pub fn from_params_on(backend: K, config: Seq2SeqConfig, params: Vec<S>) -> Result<Self> {
        let mut model = Self::shell(backend, config)?;
        if params.len() != model.layout.len() {
            return Err(Error::Shape(format!(
                "{} parameters given, the configuration needs {}",
                params.len(),
                model.layout.len()
            )));
        }
        model.params = model.backend.upload(&params);
        Ok(model)
    }

    /// The same model on the CPU.
    pub fn to_cpu(&self) -> Seq2Seq<S> {
        let mut cpu = Seq2Seq::shell(Cpu, self.config.clone()).expect("a valid model's shape");
        cpu.params = self.params_to_host();
        cpu
    }

    /// The backend the model runs on.
    pub fn backend(&self) -> &K {
        &self.backend
    }

    /// The parameters copied to the host, in [`Seq2Seq::layout`] order.
    pub fn params_to_host(&self) -> Vec<S> {
        let mut host = vec![S::zero(); self.layout.len()];
        self.backend.download(K::view(&self.params), &mut host);
        host
    }

    /// The model's structure with no parameters yet; refused if its sizes
    /// are invalid or its parameter count overflows.
    fn shell(backend: K, config: Seq2SeqConfig) -> Result<Self> {
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
            backend,
            params: K::Buf::default(),
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
    pub fn zero_grads(&self) -> K::Buf {
        let mut g = K::Buf::default();
        self.backend.resize(&mut g, self.layout.len());
        g
    }

    /// An empty workspace.
    pub fn workspace(&self) -> Seq2SeqWorkspace<S, K> {
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

    fn score_weights(&self) -> Option<(Score, ScoreWeights<'_, S, K>)> {
        let (score, a) = (self.config.attention?, self.attn.as_ref()?);
        let p = K::view(&self.params);
        Some((
            score,
            ScoreWeights {
                w: p.sub(a.w.clone()),
                u: p.sub(a.u.clone()),
                v: p.sub(a.v.clone()),
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
    pub fn forward(&self, batch: &PairBatch<'_>, ws: &mut Seq2SeqWorkspace<S, K>) -> Result<()> {
        self.check(batch)?;
        let (s, t) = batch.steps();
        let b = batch.b;
        let (k, params) = (&self.backend, K::view(&self.params));
        let enc = Batch {
            lengths: Some(batch.src_lengths),
            ..Batch::new(SeqInput::Tokens(batch.src), s, b)
        };
        self.encoder.forward(k, params, &enc, &mut ws.enc, None)?;
        k.resize(&mut ws.dec_state0, ws.enc.final_state().len());
        bridge(
            k,
            &self.config,
            b,
            ws.enc.final_state(),
            K::view_mut(&mut ws.dec_state0),
            false,
        );
        let dec = Batch {
            lengths: Some(batch.tgt_lengths),
            ..Batch::new(SeqInput::Tokens(batch.tgt_in), t, b)
        };
        let state = Some(K::view(&ws.dec_state0));
        self.decoder
            .forward_from(k, params, &dec, state, &mut ws.dec, None)?;
        let d = self.dims(t, s);
        ws.t = t;
        ws.s = s;
        ws.b = b;
        if let Some((score, w)) = self.score_weights() {
            k.resize(&mut ws.ctx, t * b * d.e);
            ws.caches.resize_with(b, AttnCache::default);
            let Seq2SeqWorkspace {
                enc,
                dec,
                caches,
                ctx,
                kb,
                hb,
                cb,
                ..
            } = ws;
            for (r, cache) in caches.iter_mut().enumerate().take(b) {
                gather(k, enc.outputs(), s, b, d.e, r, kb);
                gather(k, dec.outputs(), t, b, d.hd, r, hb);
                k.resize(cb, t * d.e);
                let (n, cb_out) = (batch.src_lengths[r], K::view_mut(cb));
                attention::forward(k, score, &w, d, K::view(hb), K::view(kb), n, cache, cb_out);
                scatter(k, K::view(cb), t, b, d.e, r, K::view_mut(ctx), false);
            }
        }
        k.resize(&mut ws.dys, t * b * self.config.tgt_vocab);
        let Seq2SeqWorkspace {
            dec,
            ctx,
            cat,
            att,
            ys,
            ..
        } = ws;
        self.head(dec.outputs(), K::view(ctx), cat, att, ys);
        Ok(())
    }

    /// The output over decoder states `h: (R, Hd)`: `ys (R, V) = W_out h̃ +
    /// b_out`, where with attention `h̃ = tanh(W_c [ctx; h] + b_c)` (`ctx:
    /// (R, E)`, `cat` and `att` keep `[ctx; h]` and `h̃`) and without, `h̃ = h`.
    fn head(
        &self,
        h: K::Ref<'_>,
        ctx: K::Ref<'_>,
        cat: &mut K::Buf,
        att: &mut K::Buf,
        ys: &mut K::Buf,
    ) {
        let (k, params) = (&self.backend, K::view(&self.params));
        let d = self.dims(0, 0);
        let rows = h.len() / d.hd;
        k.resize(ys, rows * self.config.tgt_vocab);
        let (w, b) = (params.sub(self.fc_w.clone()), params.sub(self.fc_b.clone()));
        let Some(slots) = &self.attn else {
            return linear::forward(k, h, w, b, K::view_mut(ys));
        };
        let width = d.e + d.hd;
        k.resize(cat, rows * width);
        let cat_len = rows * width;
        k.copy_block(rows, d.e, (ctx, d.e), (K::view_mut(cat), width), false);
        let dst = K::view_mut(cat).sub(d.e..cat_len);
        k.copy_block(rows, d.hd, (h, d.hd), (dst, width), false);
        k.resize(att, rows * d.hd);
        let (cw, cb) = (
            params.sub(slots.combine_w.clone()),
            params.sub(slots.combine_b.clone()),
        );
        linear::forward(k, K::view(cat), cw, cb, K::view_mut(att));
        k.activate(Activation::Tanh, K::view_mut(att));
        linear::forward(k, K::view(att), w, b, K::view_mut(ys));
    }

    /// Backward from `ws.output_grad()` (filled by [`Seq2Seq::loss_and_grad`]
    /// or the caller); accumulates into `grads`.
    pub fn backward(
        &self,
        batch: &PairBatch<'_>,
        ws: &mut Seq2SeqWorkspace<S, K>,
        mut grads: K::Mut<'_>,
    ) -> Result<()> {
        self.check(batch)?;
        if grads.len() != self.layout.len() {
            return Err(Error::Shape(format!(
                "{} gradients for {} parameters",
                grads.len(),
                self.layout.len()
            )));
        }
        let (t, s, b) = (ws.t, ws.s, ws.b);
        let d = self.dims(t, s);
        let (k, params) = (&self.backend, K::view(&self.params));
        let [gw, gb] = tensors_mut(K::reborrow(&mut grads), [&self.fc_w, &self.fc_b]);
        let w_out = params.sub(self.fc_w.clone());
        let Seq2SeqWorkspace {
            enc,
            dec,
            caches,
            cat,
            att,
            dys,
            datt,
            dcat,
            denc,
            kb,
            hb,
            dcb,
            dhb,
            dkb,
            denc_state,
            ..
        } = ws;
        k.resize(denc, s * b * d.e);
        k.fill(K::view_mut(denc), S::zero());
        match (self.score_weights(), &self.attn) {
            (Some((score, w)), Some(slots)) => {
                k.resize(datt, t * b * d.hd);
                let (att, dys) = (K::view(att), K::view(dys));
                linear::backward(k, att, w_out, dys, gw, gb, Some(K::view_mut(datt)));
                // Through the tanh and the combine layer: d[c; h].
                k.activate_backward(Activation::Tanh, att, K::view_mut(datt));
                let width = d.e + d.hd;
                k.resize(dcat, t * b * width);
                let combine = [&slots.combine_w, &slots.combine_b];
                let [gcw, gcb] = tensors_mut(K::reborrow(&mut grads), combine);
                let cw = params.sub(slots.combine_w.clone());
                let dcat_out = Some(K::view_mut(dcat));
                linear::backward(k, K::view(cat), cw, K::view(datt), gcw, gcb, dcat_out);
                // dL/dh (decoder outputs): the direct part, then attention's.
                let rows = t * b;
                let dcat_h = K::view(dcat).sub(d.e..rows * width);
                k.copy_block(
                    rows,
                    d.hd,
                    (dcat_h, width),
                    (dec.output_grad(), d.hd),
                    false,
                );
                let [g_w, g_u, g_v] =
                    tensors_mut(K::reborrow(&mut grads), [&slots.w, &slots.u, &slots.v]);
                let mut g = ScoreGrads {
                    w: g_w,
                    u: g_u,
                    v: g_v,
                };
                for (r, cache) in caches.iter_mut().enumerate().take(b) {
                    gather(k, enc.outputs(), s, b, d.e, r, kb);
                    gather(k, dec.outputs(), t, b, d.hd, r, hb);
                    // This sequence's dL/dctx: (T, E) from dcat's first E columns.
                    k.resize(dcb, t * d.e);
                    let src = K::view(dcat).sub(r * width..rows * width);
                    k.copy_block(t, d.e, (src, b * width), (K::view_mut(dcb), d.e), false);
                    for (buf, len) in [(&mut *dhb, t * d.hd), (&mut *dkb, s * d.e)] {
                        k.resize(buf, len);
                        k.fill(K::view_mut(buf), S::zero());
                    }
                    let (dh_out, dk_out) = (K::view_mut(dhb), K::view_mut(dkb));
                    let (h, keys, dctx) = (K::view(hb), K::view(kb), K::view(dcb));
                    attention::backward(
                        k, score, &w, &mut g, d, h, keys, cache, dctx, dh_out, dk_out,
                    );
                    scatter(k, K::view(dhb), t, b, d.hd, r, dec.output_grad(), true);
                    scatter(k, K::view(dkb), s, b, d.e, r, K::view_mut(denc), true);
                }
            }
            _ => {
                let (outs, dout) = dec.outputs_and_grad();
                linear::backward(k, outs, w_out, K::view(dys), gw, gb, Some(dout));
            }
        }
        let tgt = SeqInput::Tokens(batch.tgt_in);
        self.decoder
            .backward(k, params, K::reborrow(&mut grads), tgt, dec, None)?;
        let ddec = dec.initial_state_grad();
        k.resize(denc_state, ddec.len());
        bridge(k, &self.config, b, ddec, K::view_mut(denc_state), true);
        k.copy(K::view(denc), enc.output_grad());
        let src = SeqInput::Tokens(batch.src);
        self.encoder
            .backward(k, params, grads, src, enc, Some(K::view(denc_state)))
    }

    /// Forward, cross-entropy against `targets: (T, B)` (`IGNORE` at
    /// padding), backward; returns the loss (nats per target token).
    pub fn loss_and_grad(
        &self,
        batch: &PairBatch<'_>,
        targets: &[u32],
        ws: &mut Seq2SeqWorkspace<S, K>,
        grads: K::Mut<'_>,
    ) -> Result<f64> {
        let loss = self.loss(batch, targets, ws)?;
        self.backward(batch, ws, grads)?;
        Ok(loss)
    }

    /// [`Seq2Seq::loss_and_grad`] leaving the summed loss in `loss[0]` on
    /// the backend (no round trip: a trainer reads it with the step's other
    /// scalars); returns the number of counted targets.
    pub fn loss_and_grad_to(
        &self,
        batch: &PairBatch<'_>,
        targets: &[u32],
        ws: &mut Seq2SeqWorkspace<S, K>,
        grads: K::Mut<'_>,
        loss: K::Mut<'_>,
    ) -> Result<usize> {
        self.forward(batch, ws)?;
        let (v, target) = (self.config.tgt_vocab, Target::Classes(targets));
        let Seq2SeqWorkspace {
            ys, dys, staging, ..
        } = ws;
        let (ys, dys) = (K::view(ys), K::view_mut(dys));
        let count = loss_and_grad_to(&self.backend, ys, v, target, dys, staging, loss)?;
        self.backward(batch, ws, grads)?;
        Ok(count)
    }

    /// Forward and loss only (its gradient is left in `ws.output_grad()`).
    pub fn loss(
        &self,
        batch: &PairBatch<'_>,
        targets: &[u32],
        ws: &mut Seq2SeqWorkspace<S, K>,
    ) -> Result<f64> {
        self.forward(batch, ws)?;
        let (v, target) = (self.config.tgt_vocab, Target::Classes(targets));
        let Seq2SeqWorkspace {
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

/// A source run through the encoder, ready for step-by-step decoding.
#[derive(Clone, Debug)]
pub struct Encoded<S: Scalar, K: Backend<S> = Cpu> {
    /// `(S, E)` encoder outputs.
    pub keys: K::Buf,
    /// S: the source's length.
    pub len: usize,
    /// The decoder's initial state for one hypothesis.
    pub state: K::Buf,
}

/// Buffers of step-by-step decoding, reused.
#[derive(Clone, Debug)]
#[derive_where::derive_where(Default)]
pub struct DecodeWorkspace<S: Scalar, K: Backend<S> = Cpu> {
    enc: StackWorkspace<S, K>,
    dec: StackWorkspace<S, K>,
    caches: Vec<AttnCache<S, K>>,
    ctx: K::Buf,
    cat: K::Buf,
    att: K::Buf,
    ys: K::Buf,
}

impl<S: Scalar, K: Backend<S>> DecodeWorkspace<S, K> {
    /// Logits `(B, V_target)` of the last step.
    pub fn logits(&self) -> K::Ref<'_> {
        K::view(&self.ys)
    }

    /// The decoder states after the last step (state layout for B).
    pub fn state(&self) -> K::Ref<'_> {
        self.dec.final_state()
    }

    /// Attention weights `(S)` of hypothesis `r` in the last step.
    pub fn attention(&self, r: usize) -> Option<K::Ref<'_>> {
        self.caches.get(r).map(|c| K::view(&c.alpha))
    }
}

impl<S: Scalar, K: Backend<S>> Seq2Seq<S, K> {
    /// Run one source (token ids) through the encoder.
    pub fn encode(&self, src: &[u32], ws: &mut DecodeWorkspace<S, K>) -> Result<Encoded<S, K>> {
        if src.is_empty() {
            return Err(Error::Data(
                "the input is empty; give at least one character".into(),
            ));
        }
        let (k, params) = (&self.backend, K::view(&self.params));
        let batch = Batch::new(SeqInput::Tokens(src), src.len(), 1);
        self.encoder.forward(k, params, &batch, &mut ws.enc, None)?;
        let mut state = K::Buf::default();
        let fin = ws.enc.final_state();
        k.resize(&mut state, fin.len());
        bridge(k, &self.config, 1, fin, K::view_mut(&mut state), false);
        let mut keys = K::Buf::default();
        k.resize(&mut keys, ws.enc.outputs().len());
        k.copy(ws.enc.outputs(), K::view_mut(&mut keys));
        Ok(Encoded {
            keys,
            len: src.len(),
            state,
        })
    }

    /// One decoder step for `b = tokens.len()` hypotheses of one source, from
    /// their states (state layout for B, on the host). Afterwards
    /// `ws.logits()` holds `(B, V_target)`, `ws.state()` the new states and
    /// `ws.attention(r)` each hypothesis' attention over the source.
    pub fn decode_step(
        &self,
        enc: &Encoded<S, K>,
        tokens: &[u32],
        state: &[S],
        ws: &mut DecodeWorkspace<S, K>,
    ) -> Result<()> {
        let b = tokens.len();
        let (k, params) = (&self.backend, K::view(&self.params));
        let batch = Batch {
            state: Some(state),
            ..Batch::new(SeqInput::Tokens(tokens), 1, b)
        };
        self.decoder.forward(k, params, &batch, &mut ws.dec, None)?;
        let keys = vec![(K::view(&enc.keys), enc.len); b];
        self.attend_step(&keys, enc.len, ws);
        Ok(())
    }

    /// The rest of a decoder step after the decoder stack's (in
    /// `ws.dec`): each of its rows `r` attends over `keys[r] = (keys (S,
    /// E), valid rows)`, then the output layer, into `ws.ys`.
    fn attend_step(&self, keys: &[(K::Ref<'_>, usize)], s: usize, ws: &mut DecodeWorkspace<S, K>) {
        let k = &self.backend;
        let d = self.dims(1, s);
        let DecodeWorkspace {
            dec,
            caches,
            ctx,
            cat,
            att,
            ys,
            ..
        } = ws;
        if let Some((score, w)) = self.score_weights() {
            let b = keys.len();
            k.resize(ctx, b * d.e);
            caches.resize_with(b, AttnCache::default);
            let h = dec.outputs();
            for (r, (cache, &(keys, n))) in caches.iter_mut().zip(keys).enumerate() {
                let ctx_r = K::view_mut(ctx).sub(r * d.e..(r + 1) * d.e);
                let hr = h.sub(r * d.hd..(r + 1) * d.hd);
                attention::forward(k, score, &w, d, hr, keys, n, cache, ctx_r);
            }
        }
        self.head(dec.outputs(), K::view(ctx), cat, att, ys);
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

/// Rows of sequence `r` of a time-major `(T, B, n)` buffer, contiguous
/// `(T, n)` in `out`.
fn gather<S: Scalar, K: Backend<S>>(
    k: &K,
    src: K::Ref<'_>,
    t: usize,
    b: usize,
    n: usize,
    r: usize,
    out: &mut K::Buf,
) {
    k.resize(out, t * n);
    let src = src.sub(r * n..t * b * n);
    k.copy_block(t, n, (src, b * n), (K::view_mut(out), n), false);
}

/// The inverse of [`gather`]: write (or add) `(T, n)` rows into sequence `r`.
#[allow(clippy::too_many_arguments)]
fn scatter<S: Scalar, K: Backend<S>>(
    k: &K,
    rows: K::Ref<'_>,
    t: usize,
    b: usize,
    n: usize,
    r: usize,
    dst: K::Mut<'_>,
    add: bool,
) {
    let dst = dst.sub(r * n..t * b * n);
    k.copy_block(t, n, (rows, n), (dst, b * n), add);
}

/// The decoder's initial state from the encoder's final one: per layer,
/// the directions' `(B, H)` states side by side as `(B, dirs·H)`; h, then
/// each cell-state plane (LSTM: c; sLSTM: c, n, m). With `inverse`, the
/// other way (for gradients). Encoder state
/// `(parts·L·dirs, B, H)`, decoder state `(parts·L, B, dirs·H)`.
fn bridge<S: Scalar, K: Backend<S>>(
    k: &K,
    c: &Seq2SeqConfig,
    b: usize,
    src: K::Ref<'_>,
    mut dst: K::Mut<'_>,
    inverse: bool,
) {
    let (dirs, h) = (c.encoder().directions(), c.hidden);
    let parts = 1 + c.cell.state_width(h);
    let len = src.len();
    for block in 0..parts * c.layers {
        for d in 0..dirs {
            // Encoder rows of (block, d): (B, H) at stride H; decoder rows:
            // columns d·H.. of (B, dirs·H).
            let enc = ((block * dirs + d) * b * h, h);
            let dec = (block * b * dirs * h + d * h, dirs * h);
            let ((from, s_stride), (to, d_stride)) = if inverse { (dec, enc) } else { (enc, dec) };
            let out = K::reborrow(&mut dst).sub(to..len);
            k.copy_block(b, h, (src.sub(from..len), s_stride), (out, d_stride), false);
        }
    }
}

/// Activations and gradients of one pair batch, in the backend's buffers,
/// reused.
#[derive(Clone, Debug)]
#[derive_where::derive_where(Default)]
pub struct Seq2SeqWorkspace<S: Scalar, K: Backend<S> = Cpu> {
    t: usize,
    s: usize,
    b: usize,
    enc: StackWorkspace<S, K>,
    dec: StackWorkspace<S, K>,
    dec_state0: K::Buf,
    caches: Vec<AttnCache<S, K>>,
    ctx: K::Buf,
    cat: K::Buf,
    att: K::Buf,
    ys: K::Buf,
    dys: K::Buf,
    datt: K::Buf,
    dcat: K::Buf,
    denc: K::Buf,
    denc_state: K::Buf,
    kb: K::Buf,
    hb: K::Buf,
    cb: K::Buf,
    dcb: K::Buf,
    dhb: K::Buf,
    dkb: K::Buf,
    /// Host targets a backend cannot read in place.
    staging: K::Buf,
}

impl<S: Scalar, K: Backend<S>> Seq2SeqWorkspace<S, K> {
    /// The logits `(T, B, V_target)` of the last forward.
    pub fn outputs(&self) -> K::Ref<'_> {
        K::view(&self.ys)
    }

    /// `dL/d(logits)`, filled by the loss; write into it to backpropagate
    /// your own.
    pub fn output_grad(&mut self) -> K::Mut<'_> {
        K::view_mut(&mut self.dys)
    }

    /// Attention weights `(T, S)` of sequence `r` in the last forward
    /// (`None` without attention).
    pub fn attention(&self, r: usize) -> Option<K::Ref<'_>> {
        self.caches.get(r).map(|c| K::view(&c.alpha))
    }
}
