//! Models, their data and how they are trained, runnable on any backend
//! and compared with the CPU's run: the harness of tests/backend.rs (a
//! backend with the CPU's kernels, compared bit for bit) and tests/gpu.rs
//! (the GPU, compared within a tolerance). Include with
//! `#[path = "common/trials.rs"] mod trials;`.
//!
//! - [`Trial`]: a model, one block of data and its optimizer and clipping,
//!   set up on a backend as a [`Run`]; [`train_side_by_side`] trains it on
//!   the CPU and on another backend and compares losses, gradients and
//!   parameters;
//! - [`Case`]: three networks (an LSTM language model with embedding and
//!   dropout, a many-to-one GRU regression on padded dense input, a vanilla
//!   RNN from an initial state), from [`cases`];
//! - [`PairCase`]: sequence-to-sequence models over each cell and each
//!   attention, from [`pair_cases`];
//! - [`Greedy`]: step-by-step greedy decoding of a [`PairCase`]'s model.

#![allow(dead_code)]

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use recur::backend::{Activation, Backend, IGNORE};
use recur::cell::CellKind;
use recur::layer::attention::Score;
use recur::model::seq2seq::{
    DecodeWorkspace, Encoded, PairBatch, Seq2Seq, Seq2SeqConfig, Seq2SeqWorkspace, select_rows,
};
use recur::model::{Batch, Init, Net, NetConfig, NetWorkspace, ParamLayout, Readout};
use recur::optim::{Clip, Optimizer, OptimizerKind};
use recur::{Cpu, Scalar, SeqInput, Target};

/// Learning rate of every optimizer here.
pub const LR: f64 = 0.05;
/// Training steps per run.
pub const STEPS: usize = 3;
/// Seed of every model's initial weights.
pub const SEED: u64 = 7;

pub const ADAM: OptimizerKind = OptimizerKind::Adam {
    beta1: 0.9,
    beta2: 0.999,
};
pub const MOMENTUM: OptimizerKind = OptimizerKind::Sgd { momentum: 0.9 };

// ---- data and comparisons ----

/// `n` values in `[-1, 1)`.
pub fn values<S: Scalar>(n: usize, seed: u64) -> Vec<S> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n).map(|_| S::of(rng.random_range(-1.0..1.0))).collect()
}

/// `n` tokens below `v`.
pub fn tokens(n: usize, v: usize, seed: u64) -> Vec<u32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n).map(|_| rng.random_range(0..v as u32)).collect()
}

/// `(T, B)` tokens below `v`, [`IGNORE`] past each sequence's length.
pub fn padded_targets(lengths: &[usize], t: usize, v: usize, seed: u64) -> Vec<u32> {
    let b = lengths.len();
    let mut targets = tokens(t * b, v, seed);
    for (i, x) in targets.iter_mut().enumerate() {
        if i / b >= lengths[i % b] {
            *x = IGNORE;
        }
    }
    targets
}

/// A view copied to the host.
pub use recur::backend::to_host;

/// The index of the largest value.
pub fn argmax<S: Scalar>(row: &[S]) -> u32 {
    let best = (0..row.len()).max_by(|&i, &j| row[i].f64().total_cmp(&row[j].f64()));
    best.unwrap() as u32
}

/// Assert `a` and `b` equal bit for bit (f32 widens to f64 exactly),
/// naming the first difference.
#[track_caller]
pub fn assert_same<S: Scalar>(a: &[S], b: &[S], what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    let same = |i: &usize| a[*i].f64().to_bits() == b[*i].f64().to_bits();
    if let Some(i) = (0..a.len()).find(|i| !same(i)) {
        panic!("{what}: value {i} is {} and {}", a[i], b[i]);
    }
}

/// The largest magnitude in `x` (at least 1e-30).
pub fn largest<S: Scalar>(x: &[S]) -> f64 {
    x.iter().fold(1e-30, |m, v| m.max(v.f64().abs()))
}

/// Assert `got` within `eps` of `want` as a tensor: every difference at
/// most `eps` times the largest magnitude in `want` (sums taken in another
/// order differ by rounding relative to the tensor's scale, not each
/// value's). For one value, a relative bound.
#[track_caller]
pub fn assert_close<S: Scalar>(got: &[S], want: &[S], eps: f64, what: &str) {
    assert_close_at(got, want, eps, largest(want), what);
}

/// Assert every difference of `got` from `want` at most `eps · scale`.
#[track_caller]
pub fn assert_close_at<S: Scalar>(got: &[S], want: &[S], eps: f64, scale: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let (g, w) = (g.f64(), w.f64());
        assert!(
            (g - w).abs() <= eps * scale,
            "{what}: value {i} is {g}, expected {w} (scale {scale:.3e}, tolerance {eps:e})"
        );
    }
}

/// A tensor whose values all lie below this fraction of the largest in its
/// buffer is judged on that fraction of the largest instead of on its own
/// (see [`Tolerance::check_tensors`]).
pub const NEGLIGIBLE: f64 = 1e-3;

/// How closely another backend must give the CPU's numbers.
#[derive(Clone, Copy, Debug)]
pub enum Tolerance {
    /// Bit for bit ([`assert_same`]).
    Bits,
    /// Within `ε` of the tensor's scale ([`assert_close`]).
    Within(f64),
}

impl Tolerance {
    /// Assert `got` (from the other backend) matches `want` (the CPU's).
    #[track_caller]
    pub fn check<S: Scalar>(self, got: &[S], want: &[S], what: &str) {
        match self {
            Tolerance::Bits => assert_same(got, want, what),
            Tolerance::Within(eps) => assert_close(got, want, eps, what),
        }
    }

    /// [`Tolerance::check`] on each tensor of `layout` in turn, but within
    /// `ε` of [`NEGLIGIBLE`] times the buffer's largest value where that
    /// exceeds the tensor's own largest. Such small values (a gradient
    /// that nearly cancels) carry the rounding of the larger terms that
    /// cancelled: in the seq2seq LSTM with Bahdanau's attention the first
    /// gradient of `attention.w` is 1e-6 of the model's largest, and the
    /// CPU's own f32 one differs from its f64 one by 1.5e-4 of its scale.
    #[track_caller]
    pub fn check_tensors<S: Scalar>(self, layout: &ParamLayout, got: &[S], want: &[S], what: &str) {
        assert_eq!(got.len(), want.len(), "{what}: lengths");
        let floor = NEGLIGIBLE * largest(want);
        for spec in layout.specs() {
            let r = spec.range();
            let (got, want) = (&got[r.clone()], &want[r]);
            let what = format!("{what} {}", spec.name);
            match self {
                Tolerance::Bits => assert_same(got, want, &what),
                Tolerance::Within(eps) => {
                    assert_close_at(got, want, eps, largest(want).max(floor), &what)
                }
            }
        }
    }
}

// ---- training on any backend ----

/// A model being trained on some backend.
pub trait Run<S: Scalar> {
    /// Zero the gradients, forward, loss, backward. Returns the loss.
    fn backward(&mut self) -> f64;
    /// Clip the gradients and take an optimizer step.
    fn update(&mut self);
    /// One training step: [`Run::backward`], then [`Run::update`]. Returns
    /// the loss.
    fn step(&mut self) -> f64 {
        let loss = self.backward();
        self.update();
        loss
    }
    /// The parameters, copied to the host.
    fn params_to_host(&self) -> Vec<S>;
    /// The gradients (clipped once [`Run::update`] ran), copied to the host.
    fn grads_to_host(&self) -> Vec<S>;
    /// Names and places of the tensors in them.
    fn layout(&self) -> &ParamLayout;
}

/// A model, its data and how it is trained, ready to run on any backend.
pub trait Trial<S: Scalar> {
    /// The run on backend `K`.
    type On<'c, K: Backend<S>>: Run<S>
    where
        Self: 'c;
    fn name(&self) -> String;
    /// The model's parameter count.
    fn params(&self) -> usize;
    /// Model, optimizer and buffers set up on `k`.
    fn on<K: Backend<S>>(&self, k: K) -> Self::On<'_, K>;
}

/// Train `trial` for [`STEPS`] steps on the CPU and on `k` side by side,
/// from the same initial weights: each step's loss and each step's
/// gradients (per tensor, before clipping) on `k` match the CPU's within
/// `tol`, and so do the trained parameters (per tensor), every one of
/// which training changed.
pub fn train_side_by_side<S: Scalar, T: Trial<S>, K: Backend<S>>(trial: &T, k: K, tol: Tolerance) {
    let name = trial.name();
    let mut cpu = trial.on(Cpu);
    let mut other = trial.on(k);
    let start = cpu.params_to_host();
    tol.check(
        &other.params_to_host(),
        &start,
        &format!("{name}: initial weights"),
    );
    for step in 0..STEPS {
        let (on_cpu, on_other) = (cpu.backward(), other.backward());
        tol.check(
            &[on_other],
            &[on_cpu],
            &format!("{name}: loss at step {step}"),
        );
        let what = format!("{name}: step {step}'s gradient of");
        let (g_cpu, g_other) = (cpu.grads_to_host(), other.grads_to_host());
        tol.check_tensors(cpu.layout(), &g_other, &g_cpu, &what);
        cpu.update();
        other.update();
    }
    let trained = cpu.params_to_host();
    for spec in cpu.layout().specs() {
        let r = spec.range();
        let (before, after) = (&start[r.clone()], &trained[r]);
        assert!(after != before, "{name}: {} unchanged", spec.name);
    }
    let on_other = other.params_to_host();
    tol.check_tensors(
        cpu.layout(),
        &on_other,
        &trained,
        &format!("{name}: trained"),
    );
}

/// Clip `grads` and take one optimizer step, on the backend that holds them.
pub fn clip_and_step<S: Scalar, K: Backend<S>>(
    k: &K,
    clip: Clip,
    opt: &mut Optimizer<S, K>,
    params: &mut K::Buf,
    grads: &mut K::Buf,
) {
    assert!(clip.apply_on(k, K::view_mut(grads)), "non-finite gradients");
    opt.step(K::view_mut(params), K::view(grads));
}

/// An optimizer of `n` parameters on `k`, at learning rate [`LR`].
pub fn optimizer<S: Scalar, K: Backend<S>>(
    k: &K,
    kind: OptimizerKind,
    n: usize,
) -> Optimizer<S, K> {
    Optimizer::new_on(k.clone(), kind, LR, n).unwrap()
}

// ---- networks ----

/// A block's input as the caller holds it.
pub enum Data<S> {
    Tokens(Vec<u32>),
    Dense(Vec<S>),
}

/// What the outputs are trained towards.
pub enum Goal<S> {
    /// Class ids: softmax cross-entropy.
    Classes(Vec<u32>),
    /// Real values: mean squared error.
    Values(Vec<S>),
    /// Real values: mean absolute error.
    AbsValues(Vec<S>),
}

/// A network, one block of data and how it is trained.
pub struct Case<S> {
    pub name: &'static str,
    pub config: NetConfig,
    pub x: Data<S>,
    pub t: usize,
    pub b: usize,
    pub lengths: Option<Vec<usize>>,
    pub state: Option<Vec<S>>,
    pub target: Goal<S>,
    pub optimizer: OptimizerKind,
    /// The optimizer's learning rate.
    pub lr: f64,
    pub clip: Clip,
}

impl<S: Scalar> Case<S> {
    pub fn batch(&self) -> Batch<'_, S> {
        let x = match &self.x {
            Data::Tokens(tok) => SeqInput::Tokens(tok),
            Data::Dense(xs) => SeqInput::Dense(xs),
        };
        Batch {
            lengths: self.lengths.as_deref(),
            state: self.state.as_deref(),
            ..Batch::new(x, self.t, self.b)
        }
    }

    pub fn target(&self) -> Target<'_, S> {
        match &self.target {
            Goal::Classes(c) => Target::Classes(c),
            Goal::Values(v) => Target::Values(v),
            Goal::AbsValues(v) => Target::AbsValues(v),
        }
    }
}

/// LSTM, 2 layers, bidirectional, embedding, dropout between the layers;
/// a language model with one ignored target; Adam, global-norm clipping.
pub fn lstm<S: Scalar>() -> Case<S> {
    let (t, b, v, h) = (6, 3, 7, 8);
    let mut targets = tokens(t * b, v, 2);
    targets[4] = IGNORE;
    Case {
        name: "lstm",
        config: NetConfig {
            embed: Some(5),
            layers: 2,
            bidirectional: true,
            dropout: 0.3,
            ..NetConfig::char_lm(CellKind::Lstm, v, h)
        },
        x: Data::Tokens(tokens(t * b, v, 1)),
        t,
        b,
        lengths: None,
        state: None,
        target: Goal::Classes(targets),
        optimizer: ADAM,
        lr: LR,
        clip: Clip::GlobalNorm(1e-2),
    }
}

/// GRU, 2 layers, dense input, padded sequences, many-to-one regression
/// (MSE); SGD with momentum, elementwise clipping.
pub fn gru<S: Scalar>() -> Case<S> {
    let (t, b, i, h, v) = (5, 4, 3, 6, 2);
    Case {
        name: "gru",
        config: NetConfig {
            layers: 2,
            output_size: v,
            readout: Readout::ManyToOne,
            ..NetConfig::char_lm(CellKind::Gru, i, h)
        },
        x: Data::Dense(values(t * b * i, 3)),
        t,
        b,
        lengths: Some(vec![5, 2, 1, 4]),
        state: None,
        target: Goal::Values(values(b * v, 4)),
        optimizer: MOMENTUM,
        lr: LR,
        clip: Clip::Elementwise(0.05),
    }
}

/// Vanilla RNN, one-hot tokens, from a given initial state; a language
/// model; SGD with momentum, global-norm clipping.
pub fn rnn<S: Scalar>() -> Case<S> {
    let (t, b, v, h) = (4, 2, 5, 6);
    Case {
        name: "rnn",
        config: NetConfig::char_lm(CellKind::Rnn(Activation::Tanh), v, h),
        x: Data::Tokens(tokens(t * b, v, 5)),
        t,
        b,
        lengths: None,
        state: Some(values(b * h, 6)),
        target: Goal::Classes(tokens(t * b, v, 7)),
        optimizer: MOMENTUM,
        lr: LR,
        clip: Clip::GlobalNorm(1e-2),
    }
}

pub fn cases<S: Scalar>() -> [Case<S>; 3] {
    [lstm(), gru(), rnn()]
}

/// A network of `case` with its optimizer and buffers on backend `K`.
pub struct Session<'c, S: Scalar, K: Backend<S>> {
    pub case: &'c Case<S>,
    pub k: K,
    pub net: Net<S, K>,
    pub opt: Optimizer<S, K>,
    pub ws: NetWorkspace<S, K>,
    pub grads: K::Buf,
    /// Dropout's generator: the same seed on every backend.
    pub rng: ChaCha8Rng,
}

impl<S: Scalar> Trial<S> for Case<S> {
    type On<'c, K: Backend<S>>
        = Session<'c, S, K>
    where
        Self: 'c;

    fn name(&self) -> String {
        self.name.into()
    }

    fn params(&self) -> usize {
        self.config.param_count().unwrap()
    }

    fn on<K: Backend<S>>(&self, k: K) -> Session<'_, S, K> {
        let net = Net::new_on(k.clone(), self.config.clone(), Init::Uniform, SEED).unwrap();
        let n = net.layout().len();
        Session {
            case: self,
            opt: Optimizer::new_on(k.clone(), self.optimizer, self.lr, n).unwrap(),
            ws: net.workspace(),
            grads: net.zero_grads(),
            rng: ChaCha8Rng::seed_from_u64(11),
            k,
            net,
        }
    }
}

impl<S: Scalar, K: Backend<S>> Run<S> for Session<'_, S, K> {
    fn backward(&mut self) -> f64 {
        self.k.fill(K::view_mut(&mut self.grads), S::zero());
        self.net
            .loss_and_grad_batch(
                &self.case.batch(),
                self.case.target(),
                &mut self.ws,
                K::view_mut(&mut self.grads),
                Some(&mut self.rng),
            )
            .unwrap()
    }

    fn update(&mut self) {
        let (opt, params) = (&mut self.opt, &mut self.net.params);
        clip_and_step(&self.k, self.case.clip, opt, params, &mut self.grads);
    }

    fn params_to_host(&self) -> Vec<S> {
        self.net.params_to_host()
    }

    fn grads_to_host(&self) -> Vec<S> {
        to_host(&self.k, K::view(&self.grads))
    }

    fn layout(&self) -> &ParamLayout {
        self.net.layout()
    }
}

// ---- sequence to sequence ----

/// A sequence-to-sequence model, one padded batch of pairs, and how it is
/// trained.
pub struct PairCase {
    pub config: Seq2SeqConfig,
    /// B.
    pub b: usize,
    /// `(S, B)` source tokens, padded past `src_lengths`.
    pub src: Vec<u32>,
    pub src_lengths: Vec<usize>,
    /// `(T, B)` decoder inputs, padded past `tgt_lengths`.
    pub tgt_in: Vec<u32>,
    pub tgt_lengths: Vec<usize>,
    /// `(T, B)` class targets, [`IGNORE`] at padding.
    pub targets: Vec<u32>,
    pub optimizer: OptimizerKind,
    pub clip: Clip,
}

impl PairCase {
    pub fn batch(&self) -> PairBatch<'_> {
        PairBatch {
            b: self.b,
            src: &self.src,
            src_lengths: &self.src_lengths,
            tgt_in: &self.tgt_in,
            tgt_lengths: &self.tgt_lengths,
        }
    }

    /// Sequence `r` of the source, without its padding.
    pub fn source(&self, r: usize) -> Vec<u32> {
        let n = self.src_lengths[r];
        self.src
            .iter()
            .skip(r)
            .step_by(self.b)
            .take(n)
            .copied()
            .collect()
    }

    /// Scalars in the decoder's state for one hypothesis: (h and the
    /// cell-state planes) × layers × the encoder's output size.
    pub fn state_len(&self) -> usize {
        let c = &self.config;
        let parts = 1 + c.cell.state_width(c.encoder_output_size());
        parts * c.layers * c.encoder_output_size()
    }

    /// "seq2seq CELL, ATTENTION".
    pub fn name(&self) -> String {
        let c = &self.config;
        let attention = c.attention.map_or("no attention", Score::name);
        format!("seq2seq {}, {attention}", c.cell.name())
    }
}

/// Each attention (none, Luong's dot and general, Bahdanau's) over each of
/// a GRU (bidirectional encoder; Adam, global-norm clipping), an LSTM (2
/// layers, bidirectional encoder; SGD with momentum, elementwise clipping),
/// a vanilla RNN (2 layers; SGD with momentum, global-norm clipping), an
/// sLSTM (2 layers, bidirectional) and an mLSTM (2 layers; Adam),
/// on one batch of 3 pairs of different lengths.
pub fn pair_cases() -> Vec<PairCase> {
    let (s, t, b, src_vocab, tgt_vocab) = (6, 5, 3, 7, 6);
    let (src_lengths, tgt_lengths) = (vec![6, 4, 1], vec![3, 5, 1]);
    let cells = [
        (CellKind::Gru, 1, true, ADAM, Clip::GlobalNorm(1e-2)),
        (CellKind::Lstm, 2, true, MOMENTUM, Clip::Elementwise(0.05)),
        (
            CellKind::Rnn(Activation::Tanh),
            2,
            false,
            MOMENTUM,
            Clip::GlobalNorm(1e-2),
        ),
        (CellKind::Slstm, 2, true, ADAM, Clip::GlobalNorm(1e-2)),
        (CellKind::Mlstm, 2, false, ADAM, Clip::GlobalNorm(1e-2)),
    ];
    let attentions = [
        None,
        Some(Score::LuongDot),
        Some(Score::LuongGeneral),
        Some(Score::Bahdanau),
    ];
    let mut cases = Vec::new();
    for (cell, layers, bidirectional, optimizer, clip) in cells {
        for attention in attentions {
            cases.push(PairCase {
                config: Seq2SeqConfig {
                    cell,
                    src_vocab,
                    tgt_vocab,
                    embed: 4,
                    // 5 units, or 8 for the sLSTM's and mLSTM's 4 heads.
                    hidden: 5usize.next_multiple_of(cell.heads()),
                    layers,
                    bidirectional,
                    attention,
                    attention_size: 3,
                },
                b,
                src: tokens(s * b, src_vocab, 30),
                tgt_in: tokens(t * b, tgt_vocab, 31),
                targets: padded_targets(&tgt_lengths, t, tgt_vocab, 32),
                src_lengths: src_lengths.clone(),
                tgt_lengths: tgt_lengths.clone(),
                optimizer,
                clip,
            });
        }
    }
    cases
}

/// A sequence-to-sequence model of `case` with its optimizer and buffers
/// on backend `K`.
pub struct PairSession<'c, S: Scalar, K: Backend<S>> {
    pub case: &'c PairCase,
    pub k: K,
    pub model: Seq2Seq<S, K>,
    pub opt: Optimizer<S, K>,
    pub ws: Seq2SeqWorkspace<S, K>,
    pub grads: K::Buf,
}

impl<S: Scalar> Trial<S> for PairCase {
    type On<'c, K: Backend<S>>
        = PairSession<'c, S, K>
    where
        Self: 'c;

    fn name(&self) -> String {
        PairCase::name(self)
    }

    fn params(&self) -> usize {
        self.config.param_count().unwrap()
    }

    fn on<K: Backend<S>>(&self, k: K) -> PairSession<'_, S, K> {
        let model = Seq2Seq::new_on(k.clone(), self.config.clone(), Init::Uniform, SEED).unwrap();
        PairSession {
            case: self,
            opt: optimizer(&k, self.optimizer, model.layout().len()),
            ws: model.workspace(),
            grads: model.zero_grads(),
            k,
            model,
        }
    }
}

impl<S: Scalar, K: Backend<S>> Run<S> for PairSession<'_, S, K> {
    fn backward(&mut self) -> f64 {
        self.k.fill(K::view_mut(&mut self.grads), S::zero());
        let (batch, targets) = (self.case.batch(), &self.case.targets);
        let grads = K::view_mut(&mut self.grads);
        self.model
            .loss_and_grad(&batch, targets, &mut self.ws, grads)
            .unwrap()
    }

    fn update(&mut self) {
        let (opt, params) = (&mut self.opt, &mut self.model.params);
        clip_and_step(&self.k, self.case.clip, opt, params, &mut self.grads);
    }

    fn params_to_host(&self) -> Vec<S> {
        self.model.params_to_host()
    }

    fn grads_to_host(&self) -> Vec<S> {
        to_host(&self.k, K::view(&self.grads))
    }

    fn layout(&self) -> &ParamLayout {
        self.model.layout()
    }
}

// ---- greedy decoding ----

/// Hypotheses decoded side by side, each greedily.
pub const HYPOTHESES: usize = 2;
/// The decoder inputs `(T, B)` that greedy decoding gives each of
/// `case`'s sequences decoded alone, one `decode_step` at a time, every
/// step of the window: step 0 is `case.tgt_in`'s, each later step the
/// previous step's most likely token.
pub fn greedy_alone<S: Scalar, K: Backend<S>>(model: &Seq2Seq<S, K>, case: &PairCase) -> Vec<u32> {
    let (b, k) = (case.b, model.backend());
    let t = case.tgt_in.len() / b;
    let mut out = case.tgt_in[..b].to_vec();
    out.resize(t * b, 0);
    let mut ws = DecodeWorkspace::default();
    for r in 0..b {
        let enc = model.encode(&case.source(r), &mut ws).unwrap();
        let mut state = to_host(k, K::view(&enc.state));
        for step in 1..t {
            let token = [out[(step - 1) * b + r]];
            model.decode_step(&enc, &token, &state, &mut ws).unwrap();
            out[step * b + r] = argmax(&to_host(k, ws.logits()));
            state = to_host(k, ws.state());
        }
    }
    out
}

/// Decoding steps.
pub const DECODE_STEPS: usize = 4;

/// Greedy decoding of a case's first source on backend `K`, one
/// `decode_step` at a time, with what each step gives copied to the host.
pub struct Greedy<S: Scalar, K: Backend<S>> {
    pub k: K,
    pub model: Seq2Seq<S, K>,
    pub ws: DecodeWorkspace<S, K>,
    pub enc: Encoded<S, K>,
    /// Each hypothesis' last token: at first 0, 1, ...
    pub tokens: Vec<u32>,
    /// `(B, V)` logits of the last step.
    pub logits: Vec<S>,
    /// Each hypothesis' attention weights `(S)` in the last step.
    pub attention: Vec<Option<Vec<S>>>,
    /// The hypotheses' states (state layout for B).
    pub state: Vec<S>,
}

impl<S: Scalar, K: Backend<S>> Greedy<S, K> {
    /// The model of `case` on `k`, and its first source encoded.
    pub fn new(k: K, case: &PairCase) -> Self {
        let model = Seq2Seq::new_on(k.clone(), case.config.clone(), Init::Uniform, SEED).unwrap();
        let mut ws = DecodeWorkspace::default();
        let enc = model.encode(&case.source(0), &mut ws).unwrap();
        Greedy {
            k,
            model,
            ws,
            enc,
            tokens: (0..HYPOTHESES as u32).collect(),
            logits: Vec::new(),
            attention: Vec::new(),
            state: Vec::new(),
        }
    }

    /// Every hypothesis starts from the encoder's state, brought to the host.
    pub fn start(&mut self) {
        let one = to_host(&self.k, K::view(&self.enc.state));
        let n = self.model.config().encoder_output_size();
        self.state = select_rows(&one, 1, n, &[0; HYPOTHESES]);
    }

    /// One step of every hypothesis; each then continues from its most
    /// likely token.
    pub fn step(&mut self) {
        let (model, k, ws) = (&self.model, &self.k, &mut self.ws);
        model
            .decode_step(&self.enc, &self.tokens, &self.state, ws)
            .unwrap();
        self.logits = to_host(k, ws.logits());
        self.attention = (0..HYPOTHESES)
            .map(|r| ws.attention(r).map(|a| to_host(k, a)))
            .collect();
        self.state = to_host(k, ws.state());
        let v = model.config().tgt_vocab;
        self.tokens = self.logits.chunks(v).map(argmax).collect();
    }

    /// After the same step of `case`'s decoding, this decoding gives
    /// `cpu`'s logits, states and attention weights within `tol` and the
    /// same tokens; the weights, where the model attends, are one positive
    /// distribution over the source per hypothesis.
    #[track_caller]
    pub fn assert_matches(&self, cpu: &Greedy<S, Cpu>, case: &PairCase, tol: Tolerance, at: &str) {
        let what = |x: &str| format!("{}, {at}: {x}", case.name());
        tol.check(&self.logits, &cpu.logits, &what("logits"));
        tol.check(&self.state, &cpu.state, &what("state"));
        assert_eq!(self.tokens, cpu.tokens, "{}", what("tokens"));
        let (attends, src_len) = (case.config.attention.is_some(), case.src_lengths[0]);
        assert_eq!(self.attention.len(), HYPOTHESES, "{}", what("hypotheses"));
        for (r, (s, c)) in self.attention.iter().zip(&cpu.attention).enumerate() {
            let what = what(&format!("attention of hypothesis {r}"));
            let (Some(s), Some(c)) = (s, c) else {
                assert!(!attends && s.is_none() && c.is_none(), "{what}");
                continue;
            };
            assert!(attends, "{what}: weights without attention");
            tol.check(s, c, &what);
            assert_eq!(s.len(), src_len, "{what}: length");
            let sum: f64 = s.iter().map(|a| a.f64()).sum();
            let positive = s.iter().all(|&a| a > S::zero());
            assert!(positive && (sum - 1.0).abs() < 1e-5, "{what}: {s:?}");
        }
    }
}
