//! The [`Backend`] abstraction, proven with a second backend, `Staged`,
//! that behaves like a GPU as far as the trait lets one see: it keeps its
//! numbers in its own buffer type ([`DevBuf`], which no code can use as a
//! `Vec`), copies every host slice it is shown into a staging buffer (as a
//! GPU backend must upload it) instead of reading it in place, and tallies
//! every transfer between host and backend. Its kernels are the CPU's.
//!
//! Checked, in f32 and f64:
//! - a few training steps (forward, loss, backward, clipping, optimizer
//!   step) give the CPU's losses and parameters bit for bit, and move every
//!   tensor, for an LSTM (2 layers, bidirectional, embedding, dropout), a
//!   GRU (dense padded input, many-to-one, MSE) and a vanilla RNN (one-hot
//!   tokens, initial state), and for sequence-to-sequence models (padded
//!   pairs, ignored targets) with each attention (none, Luong's dot and
//!   general, Bahdanau's) over a GRU, an LSTM (2 layers, bidirectional
//!   encoder) and a vanilla RNN (2 layers);
//! - once model and optimizer are set up, a step moves nothing back to the
//!   host and stages exactly what it was given (nothing at all for a
//!   sequence-to-sequence model, whose inputs and targets are token ids);
//!   `params_to_host` is one download;
//! - greedy step-by-step decoding (`encode`, then `decode_step` from host
//!   states) gives the CPU's logits, attention weights and states bit for
//!   bit, staging only the states it is given;
//! - the optimizer's moments (Adam, SGD with momentum) and the clipping
//!   (global norm, elementwise) live and run on the backend.

use std::sync::{Arc, Mutex};

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use recur::backend::{Activation, Backend, IGNORE, RowKernel, Update, View};
use recur::cell::CellKind;
use recur::layer::attention::Score;
use recur::model::seq2seq::{
    DecodeWorkspace, Encoded, PairBatch, Seq2Seq, Seq2SeqConfig, Seq2SeqWorkspace, select_rows,
};
use recur::model::{Batch, Init, Net, NetConfig, NetWorkspace, ParamLayout, Readout};
use recur::optim::{Clip, Optimizer, OptimizerKind};
use recur::tensor::Trans;
use recur::{Cpu, Scalar, SeqInput, Target};

// ---- the backend ----

/// `Staged`'s buffer: its own type, so that only the trait reaches the numbers.
#[derive(Clone, Debug, Default)]
struct DevBuf<S>(Vec<S>);

/// What a [`Staged`] backend was asked to do since the last [`Staged::take`]:
/// host transfers, and the kernels of the optimizer and the clipping.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Tally {
    uploads: usize,
    downloads: usize,
    host_views: usize,
    writes_from_host: usize,
    /// Scalars moved by the four above, either way.
    scalars: usize,
    /// `update`: optimizer steps.
    updates: usize,
    /// `sum_squares`: global norms.
    norms: usize,
    /// `scale`: global-norm rescales.
    scales: usize,
    /// `clamp`: elementwise clips.
    clamps: usize,
}

impl Tally {
    /// The kernels of one clipped optimizer step, which moves nothing. A
    /// global-norm clip rescales only above its bound: the bounds below
    /// are small enough that it always does.
    fn clipped_step(clip: Clip) -> Tally {
        let (norms, scales, clamps) = match clip {
            Clip::GlobalNorm(_) => (1, 1, 0),
            Clip::Elementwise(_) => (0, 0, 1),
            Clip::None => (0, 0, 0),
        };
        Tally {
            updates: 1,
            norms,
            scales,
            clamps,
            ..Tally::default()
        }
    }

    /// `n` scalars moved by one transfer counted in `field`.
    fn moved(n: usize, field: fn(&mut Tally) -> &mut usize) -> Tally {
        let mut t = Tally {
            scalars: n,
            ..Tally::default()
        };
        *field(&mut t) = 1;
        t
    }
}

impl std::ops::Add for Tally {
    type Output = Tally;

    fn add(self, o: Tally) -> Tally {
        Tally {
            uploads: self.uploads + o.uploads,
            downloads: self.downloads + o.downloads,
            host_views: self.host_views + o.host_views,
            writes_from_host: self.writes_from_host + o.writes_from_host,
            scalars: self.scalars + o.scalars,
            updates: self.updates + o.updates,
            norms: self.norms + o.norms,
            scales: self.scales + o.scales,
            clamps: self.clamps + o.clamps,
        }
    }
}

impl std::iter::Sum for Tally {
    fn sum<I: Iterator<Item = Tally>>(iter: I) -> Tally {
        iter.fold(Tally::default(), |a, b| a + b)
    }
}

/// A backend with its own buffers and staged host transfers, tallied in
/// counters its clones share; every kernel is the CPU's.
#[derive(Clone, Debug, Default)]
struct Staged {
    tally: Arc<Mutex<Tally>>,
}

impl Staged {
    fn note(&self, f: impl FnOnce(&mut Tally)) {
        f(&mut self.tally.lock().unwrap());
    }

    /// One transfer of `n` scalars, counted in `field`.
    fn moved(&self, n: usize, field: fn(&mut Tally) -> &mut usize) {
        self.note(|t| {
            *field(t) += 1;
            t.scalars += n;
        });
    }

    /// The tally so far, and start a new one.
    fn take(&self) -> Tally {
        std::mem::take(&mut self.tally.lock().unwrap())
    }
}

impl<S: Scalar> Backend<S> for Staged {
    type Buf = DevBuf<S>;
    type Ref<'a> = &'a [S];
    type Mut<'a> = &'a mut [S];

    // ---- buffers and transfers: Staged's own ----

    fn resize(&self, buf: &mut DevBuf<S>, len: usize) {
        buf.0.resize(len, S::zero());
    }

    fn buf_len(buf: &DevBuf<S>) -> usize {
        buf.0.len()
    }

    fn upload(&self, host: &[S]) -> DevBuf<S> {
        self.moved(host.len(), |t| &mut t.uploads);
        DevBuf(host.to_vec())
    }

    fn download(&self, src: &[S], dst: &mut [S]) {
        self.moved(src.len(), |t| &mut t.downloads);
        dst.copy_from_slice(src);
    }

    fn host_view<'a>(&self, host: &'a [S], staging: &'a mut DevBuf<S>) -> &'a [S] {
        // Never in place: a copy into the staging buffer, as a GPU uploads.
        self.moved(host.len(), |t| &mut t.host_views);
        staging.0.clear();
        staging.0.extend_from_slice(host);
        &staging.0
    }

    fn write_from_host(&self, dst: &mut [S], mut f: impl FnMut() -> S) {
        // Drawn into host memory, then copied over, as a GPU uploads.
        self.moved(dst.len(), |t| &mut t.writes_from_host);
        let host: Vec<S> = (0..dst.len()).map(|_| f()).collect();
        dst.copy_from_slice(&host);
    }

    fn view(buf: &DevBuf<S>) -> &[S] {
        &buf.0
    }

    fn view_mut(buf: &mut DevBuf<S>) -> &mut [S] {
        &mut buf.0
    }

    fn shorten<'a: 'b, 'b>(r: &'a [S]) -> &'b [S] {
        r
    }

    fn reborrow<'b>(m: &'b mut &mut [S]) -> &'b mut [S] {
        m
    }

    // ---- kernels: delegated to the CPU on the same slices (the
    // optimizer's and the clipping's tallied on the way) ----

    fn copy(&self, src: &[S], dst: &mut [S]) {
        Cpu.copy(src, dst);
    }

    fn fill(&self, dst: &mut [S], value: S) {
        Cpu.fill(dst, value);
    }

    fn add(&self, src: &[S], dst: &mut [S]) {
        Cpu.add(src, dst);
    }

    fn mul(&self, src: &[S], dst: &mut [S]) {
        Cpu.mul(src, dst);
    }

    fn mul_into(&self, a: &[S], b: &[S], dst: &mut [S]) {
        Cpu.mul_into(a, b, dst);
    }

    fn copy_block(
        &self,
        rows: usize,
        width: usize,
        src: (&[S], usize),
        dst: (&mut [S], usize),
        accumulate: bool,
    ) {
        Cpu.copy_block(rows, width, src, dst, accumulate);
    }

    fn set_padded_rows(&self, lengths: &[usize], s: usize, src: Option<&[S]>, dst: &mut [S]) {
        Cpu.set_padded_rows(lengths, s, src, dst);
    }

    fn add_padded_rows(&self, lengths: &[usize], s: usize, src: &[S], dst: &mut [S]) {
        Cpu.add_padded_rows(lengths, s, src, dst);
    }

    fn rows<const N: usize, const M: usize>(
        &self,
        kernel: &impl RowKernel<S, N, M>,
        rows: usize,
        ins: [&[S]; N],
        outs: [&mut [S]; M],
    ) {
        Cpu.rows(kernel, rows, ins, outs);
    }

    fn matmul(
        &self,
        m: usize,
        n: usize,
        k: usize,
        a: &[S],
        ta: Trans,
        b: &[S],
        tb: Trans,
        c: &mut [S],
        accumulate: bool,
    ) {
        Cpu.matmul(m, n, k, a, ta, b, tb, c, accumulate);
    }

    fn recurrent_weight<'a>(
        &self,
        rows: usize,
        g: usize,
        h: usize,
        w_hh: &'a [S],
        scratch: &'a mut DevBuf<S>,
    ) -> (&'a [S], Trans) {
        Cpu.recurrent_weight(rows, g, h, w_hh, &mut scratch.0)
    }

    fn gather_rows(&self, table: &[S], tokens: &[u32], out: &mut [S]) {
        Cpu.gather_rows(table, tokens, out);
    }

    fn scatter_add_rows(&self, d: &[S], tokens: &[u32], dtable: &mut [S]) {
        Cpu.scatter_add_rows(d, tokens, dtable);
    }

    fn gather_columns(&self, w: &[S], v: usize, tokens: &[u32], out: &mut [S]) {
        Cpu.gather_columns(w, v, tokens, out);
    }

    fn scatter_add_columns(&self, d: &[S], tokens: &[u32], dw: &mut [S], v: usize) {
        Cpu.scatter_add_columns(d, tokens, dw, v);
    }

    fn add_bias(&self, x: &mut [S], bias: &[S]) {
        Cpu.add_bias(x, bias);
    }

    fn set_rows(&self, x: &mut [S], bias: &[S]) {
        Cpu.set_rows(x, bias);
    }

    fn sum_rows_into(&self, d: &[S], db: &mut [S]) {
        Cpu.sum_rows_into(d, db);
    }

    fn activate(&self, act: Activation, x: &mut [S]) {
        Cpu.activate(act, x);
    }

    fn activate_backward(&self, act: Activation, y: &[S], d: &mut [S]) {
        Cpu.activate_backward(act, y, d);
    }

    fn mse(&self, y: &[S], target: &[S], dy: &mut [S]) -> f64 {
        Cpu.mse(y, target, dy)
    }

    fn mae(&self, y: &[S], target: &[S], dy: &mut [S]) -> f64 {
        Cpu.mae(y, target, dy)
    }

    fn softmax_rows(&self, x: &mut [S], cols: usize, n: usize) {
        Cpu.softmax_rows(x, cols, n);
    }

    fn softmax_rows_backward(&self, y: &[S], d: &mut [S], cols: usize) {
        Cpu.softmax_rows_backward(y, d, cols);
    }

    fn additive_scores(&self, q: &[S], u: &[S], v: &[S], z: &mut [S], e: &mut [S]) {
        Cpu.additive_scores(q, u, v, z, e);
    }

    fn additive_scores_backward(
        &self,
        z: &[S],
        v: &[S],
        de: &[S],
        dv: &mut [S],
        dq: &mut [S],
        du: &mut [S],
    ) {
        Cpu.additive_scores_backward(z, v, de, dv, dq, du);
    }

    fn update(&self, rule: Update<S>, p: &mut [S], g: &[S], m0: &mut [S], m1: &mut [S]) {
        self.note(|t| t.updates += 1);
        Cpu.update(rule, p, g, m0, m1);
    }

    fn sum_squares(&self, x: &[S]) -> f64 {
        self.note(|t| t.norms += 1);
        Cpu.sum_squares(x)
    }

    fn scale(&self, x: &mut [S], s: S) {
        self.note(|t| t.scales += 1);
        Cpu.scale(x, s);
    }

    fn clamp(&self, x: &mut [S], lo: S, hi: S) -> bool {
        self.note(|t| t.clamps += 1);
        Cpu.clamp(x, lo, hi)
    }

    fn all_finite(&self, x: &[S]) -> bool {
        Cpu.all_finite(x)
    }

    fn softmax_cross_entropy(
        &self,
        logits: &[S],
        v: usize,
        targets: &[u32],
        scale: S,
        dlogits: &mut [S],
    ) -> (f64, usize) {
        Cpu.softmax_cross_entropy(logits, v, targets, scale, dlogits)
    }
}

// ---- training on any backend ----

/// Learning rate of every optimizer here.
const LR: f64 = 0.05;
/// Training steps per run.
const STEPS: usize = 3;
/// Seed of every model's initial weights.
const SEED: u64 = 7;

const ADAM: OptimizerKind = OptimizerKind::Adam {
    beta1: 0.9,
    beta2: 0.999,
};
const MOMENTUM: OptimizerKind = OptimizerKind::Sgd { momentum: 0.9 };

/// A model being trained on some backend.
trait Run<S: Scalar> {
    /// One training step: zero the gradients, forward, loss, backward,
    /// clip, update. Returns the loss.
    fn step(&mut self) -> f64;
    /// The parameters, copied to the host.
    fn params_to_host(&self) -> Vec<S>;
    /// Names and places of the tensors in them.
    fn layout(&self) -> &ParamLayout;
}

/// A model, its data and how it is trained, ready to run on any backend.
trait Trial<S: Scalar> {
    /// The run on backend `K`.
    type On<'c, K: Backend<S>>: Run<S>
    where
        Self: 'c;
    fn name(&self) -> String;
    /// The model's parameter count.
    fn params(&self) -> usize;
    /// What one training step should ask of `Staged`.
    fn per_step(&self) -> Tally;
    /// Model, optimizer and buffers set up on `k`.
    fn on<K: Backend<S>>(&self, k: K) -> Self::On<'_, K>;
}

/// Every trial gives the CPU's losses and parameters on `Staged`, bit for
/// bit, and moves every tensor of the model.
fn same_numbers<S: Scalar, T: Trial<S>>(trials: &[T]) {
    for trial in trials {
        let name = trial.name();
        let mut cpu = trial.on(Cpu);
        let mut staged = trial.on(Staged::default());
        let start = cpu.params_to_host();
        for step in 0..STEPS {
            let (on_cpu, on_staged) = (cpu.step(), staged.step());
            let what = format!("{name}: loss at step {step}");
            assert_same(&[on_staged], &[on_cpu], &what);
        }
        let trained = cpu.params_to_host();
        for spec in cpu.layout().specs() {
            let r = spec.range();
            assert!(
                trained[r.clone()] != start[r],
                "{name}: {} unchanged",
                spec.name
            );
        }
        let on_staged = staged.params_to_host();
        assert_same(&on_staged, &trained, &format!("{name}: parameters"));
    }
}

/// Set-up uploads the weights, a step asks exactly `per_step` of `Staged`,
/// and `params_to_host` is one download.
fn host_transfers<S: Scalar, T: Trial<S>>(trials: &[T]) {
    for trial in trials {
        let name = trial.name();
        let k = Staged::default();
        let mut run = trial.on(k.clone());
        let n = trial.params();
        // Set-up: the initial weights, drawn on the host, go up once; the
        // optimizer's moments, gradients and workspace start on the backend.
        let upload = Tally::moved(n, |t| &mut t.uploads);
        assert_eq!(k.take(), upload, "{name}: set-up");
        for step in 0..STEPS {
            run.step();
            assert_eq!(k.take(), trial.per_step(), "{name}: step {step}");
        }
        run.params_to_host();
        let download = Tally::moved(n, |t| &mut t.downloads);
        assert_eq!(k.take(), download, "{name}: params_to_host");
    }
}

/// Clip `grads` and take one optimizer step, on the backend that holds them.
fn clip_and_step<S: Scalar, K: Backend<S>>(
    k: &K,
    clip: Clip,
    opt: &mut Optimizer<S, K>,
    params: &mut K::Buf,
    grads: &mut K::Buf,
) {
    assert!(clip.apply_on(k, K::view_mut(grads)), "non-finite gradients");
    opt.step(K::view_mut(params), K::view(grads));
}

/// An optimizer of `n` parameters on `k`.
fn optimizer<S: Scalar, K: Backend<S>>(k: &K, kind: OptimizerKind, n: usize) -> Optimizer<S, K> {
    Optimizer::new_on(k.clone(), kind, LR, n).unwrap()
}

/// A view copied to the host.
fn to_host<S: Scalar, K: Backend<S>>(k: &K, view: K::Ref<'_>) -> Vec<S> {
    let mut host = vec![S::zero(); view.len()];
    k.download(view, &mut host);
    host
}

/// Assert `a` and `b` equal bit for bit (f32 widens to f64 exactly),
/// naming the first difference.
fn assert_same<S: Scalar>(a: &[S], b: &[S], what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    let same = |i: &usize| a[*i].f64().to_bits() == b[*i].f64().to_bits();
    if let Some(i) = (0..a.len()).find(|i| !same(i)) {
        panic!("{what}: value {i} is {} and {}", a[i], b[i]);
    }
}

/// `n` values in `[-1, 1)`.
fn values<S: Scalar>(n: usize, seed: u64) -> Vec<S> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n).map(|_| S::of(rng.random_range(-1.0..1.0))).collect()
}

/// `n` tokens below `v`.
fn tokens(n: usize, v: usize, seed: u64) -> Vec<u32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n).map(|_| rng.random_range(0..v as u32)).collect()
}

// ---- networks ----

/// A block's input as the caller holds it.
enum Data<S> {
    Tokens(Vec<u32>),
    Dense(Vec<S>),
}

/// What the outputs are trained towards.
enum Goal<S> {
    Classes(Vec<u32>),
    Values(Vec<S>),
}

/// A model, one block of data, how it is trained, and what one training
/// step should ask of `Staged`.
struct Case<S> {
    name: &'static str,
    config: NetConfig,
    x: Data<S>,
    t: usize,
    b: usize,
    lengths: Option<Vec<usize>>,
    state: Option<Vec<S>>,
    target: Goal<S>,
    optimizer: OptimizerKind,
    clip: Clip,
    step: Tally,
}

impl<S: Scalar> Case<S> {
    fn batch(&self) -> Batch<'_, S> {
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

    fn target(&self) -> Target<'_, S> {
        match &self.target {
            Goal::Classes(c) => Target::Classes(c),
            Goal::Values(v) => Target::Values(v),
        }
    }
}

/// LSTM, 2 layers, bidirectional, embedding, dropout between the layers;
/// a language model with one ignored target; Adam, global-norm clipping.
fn lstm<S: Scalar>() -> Case<S> {
    let (t, b, v, h) = (6, 3, 7, 8);
    let mut targets = tokens(t * b, v, 2);
    targets[4] = IGNORE;
    let clip = Clip::GlobalNorm(1e-2);
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
        clip,
        // Tokens and class ids are indices the kernels take from the host;
        // nothing is staged. The one transfer is the dropout mask between
        // the two layers, drawn on the host: (T, B, 2H).
        step: Tally {
            writes_from_host: 1,
            scalars: t * b * 2 * h,
            ..Tally::clipped_step(clip)
        },
    }
}

/// GRU, 2 layers, dense input, padded sequences, many-to-one regression
/// (MSE); SGD with momentum, elementwise clipping.
fn gru<S: Scalar>() -> Case<S> {
    let (t, b, i, h, v) = (5, 4, 3, 6, 2);
    let clip = Clip::Elementwise(0.05);
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
        clip,
        // The dense input (T, B, I) is staged once, by the forward (the
        // backward reuses that copy), and the real-valued targets (B, V)
        // once by the loss.
        step: Tally {
            host_views: 2,
            scalars: t * b * i + b * v,
            ..Tally::clipped_step(clip)
        },
    }
}

/// Vanilla RNN, one-hot tokens, from a given initial state; a language
/// model; SGD with momentum, global-norm clipping.
fn rnn<S: Scalar>() -> Case<S> {
    let (t, b, v, h) = (4, 2, 5, 6);
    let clip = Clip::GlobalNorm(1e-2);
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
        clip,
        // The initial state (L·D = 1, B, H), staged once by the forward.
        step: Tally {
            host_views: 1,
            scalars: b * h,
            ..Tally::clipped_step(clip)
        },
    }
}

fn cases<S: Scalar>() -> [Case<S>; 3] {
    [lstm(), gru(), rnn()]
}

/// A network of `case` with its optimizer and buffers on backend `K`.
struct Session<'c, S: Scalar, K: Backend<S>> {
    case: &'c Case<S>,
    k: K,
    net: Net<S, K>,
    opt: Optimizer<S, K>,
    ws: NetWorkspace<S, K>,
    grads: K::Buf,
    /// Dropout's generator: the same seed on every backend.
    rng: ChaCha8Rng,
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

    fn per_step(&self) -> Tally {
        self.step
    }

    fn on<K: Backend<S>>(&self, k: K) -> Session<'_, S, K> {
        let net = Net::new_on(k.clone(), self.config.clone(), Init::Uniform, SEED).unwrap();
        Session {
            case: self,
            opt: optimizer(&k, self.optimizer, net.layout().len()),
            ws: net.workspace(),
            grads: net.zero_grads(),
            rng: ChaCha8Rng::seed_from_u64(11),
            k,
            net,
        }
    }
}

impl<S: Scalar, K: Backend<S>> Run<S> for Session<'_, S, K> {
    fn step(&mut self) -> f64 {
        self.k.fill(K::view_mut(&mut self.grads), S::zero());
        let loss = self
            .net
            .loss_and_grad_batch(
                &self.case.batch(),
                self.case.target(),
                &mut self.ws,
                K::view_mut(&mut self.grads),
                Some(&mut self.rng),
            )
            .unwrap();
        let (opt, params) = (&mut self.opt, &mut self.net.params);
        clip_and_step(&self.k, self.case.clip, opt, params, &mut self.grads);
        loss
    }

    fn params_to_host(&self) -> Vec<S> {
        self.net.params_to_host()
    }

    fn layout(&self) -> &ParamLayout {
        self.net.layout()
    }
}

#[test]
fn training_on_a_staged_backend_gives_the_cpus_numbers_bit_for_bit() {
    same_numbers::<f32, _>(&cases());
    same_numbers::<f64, _>(&cases());
}

#[test]
fn a_training_step_moves_nothing_to_the_host_and_stages_only_its_inputs() {
    host_transfers::<f32, _>(&cases());
    host_transfers::<f64, _>(&cases());
}

// ---- sequence to sequence ----

/// A sequence-to-sequence model, one padded batch of pairs, and how it is
/// trained.
struct PairCase {
    config: Seq2SeqConfig,
    /// B.
    b: usize,
    /// `(S, B)` source tokens, padded past `src_lengths`.
    src: Vec<u32>,
    src_lengths: Vec<usize>,
    /// `(T, B)` decoder inputs, padded past `tgt_lengths`.
    tgt_in: Vec<u32>,
    tgt_lengths: Vec<usize>,
    /// `(T, B)` class targets, [`IGNORE`] at padding.
    targets: Vec<u32>,
    optimizer: OptimizerKind,
    clip: Clip,
}

impl PairCase {
    fn batch(&self) -> PairBatch<'_> {
        PairBatch {
            b: self.b,
            src: &self.src,
            src_lengths: &self.src_lengths,
            tgt_in: &self.tgt_in,
            tgt_lengths: &self.tgt_lengths,
        }
    }

    /// Sequence `r` of the source, without its padding.
    fn source(&self, r: usize) -> Vec<u32> {
        let n = self.src_lengths[r];
        self.src
            .iter()
            .skip(r)
            .step_by(self.b)
            .take(n)
            .copied()
            .collect()
    }

    /// Scalars in the decoder's state for one hypothesis: (h and, for the
    /// LSTM, c) × layers × the encoder's output size.
    fn state_len(&self) -> usize {
        let c = &self.config;
        let parts = if c.cell.has_cell_state() { 2 } else { 1 };
        parts * c.layers * c.encoder_output_size()
    }
}

/// `(T, B)` tokens below `v`, [`IGNORE`] past each sequence's length.
fn padded_targets(lengths: &[usize], t: usize, v: usize, seed: u64) -> Vec<u32> {
    let b = lengths.len();
    let mut targets = tokens(t * b, v, seed);
    for (i, x) in targets.iter_mut().enumerate() {
        if i / b >= lengths[i % b] {
            *x = IGNORE;
        }
    }
    targets
}

/// Each attention (none, Luong's dot and general, Bahdanau's) over each of
/// a GRU (bidirectional encoder; Adam, global-norm clipping), an LSTM (2
/// layers, bidirectional encoder; SGD with momentum, elementwise clipping)
/// and a vanilla RNN (2 layers; SGD with momentum, global-norm clipping),
/// on one batch of 3 pairs of different lengths.
fn pair_cases() -> Vec<PairCase> {
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
                    hidden: 5,
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
struct PairSession<'c, S: Scalar, K: Backend<S>> {
    case: &'c PairCase,
    k: K,
    model: Seq2Seq<S, K>,
    opt: Optimizer<S, K>,
    ws: Seq2SeqWorkspace<S, K>,
    grads: K::Buf,
}

impl<S: Scalar> Trial<S> for PairCase {
    type On<'c, K: Backend<S>>
        = PairSession<'c, S, K>
    where
        Self: 'c;

    fn name(&self) -> String {
        let c = &self.config;
        let attention = c.attention.map_or("no attention", Score::name);
        format!("seq2seq {}, {attention}", c.cell.name())
    }

    fn params(&self) -> usize {
        self.config.param_count().unwrap()
    }

    fn per_step(&self) -> Tally {
        // Source, decoder inputs and targets are token ids the kernels take
        // from the host, the decoder starts from the encoder's state on the
        // backend: nothing is staged, nothing comes back.
        Tally::clipped_step(self.clip)
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
    fn step(&mut self) -> f64 {
        self.k.fill(K::view_mut(&mut self.grads), S::zero());
        let (batch, targets) = (self.case.batch(), &self.case.targets);
        let grads = K::view_mut(&mut self.grads);
        let loss = self
            .model
            .loss_and_grad(&batch, targets, &mut self.ws, grads)
            .unwrap();
        let (opt, params) = (&mut self.opt, &mut self.model.params);
        clip_and_step(&self.k, self.case.clip, opt, params, &mut self.grads);
        loss
    }

    fn params_to_host(&self) -> Vec<S> {
        self.model.params_to_host()
    }

    fn layout(&self) -> &ParamLayout {
        self.model.layout()
    }
}

#[test]
fn seq2seq_training_on_a_staged_backend_gives_the_cpus_numbers_bit_for_bit() {
    same_numbers::<f32, _>(&pair_cases());
    same_numbers::<f64, _>(&pair_cases());
}

#[test]
fn a_seq2seq_training_step_moves_nothing_to_the_host_and_stages_nothing() {
    host_transfers::<f32, _>(&pair_cases());
    host_transfers::<f64, _>(&pair_cases());
}

/// Hypotheses decoded side by side, each greedily.
const HYPOTHESES: usize = 2;
/// Decoding steps.
const DECODE_STEPS: usize = 4;

/// Greedy decoding of a case's first source on backend `K`, one
/// `decode_step` at a time, with what each step gives copied to the host.
struct Greedy<S: Scalar, K: Backend<S>> {
    k: K,
    model: Seq2Seq<S, K>,
    ws: DecodeWorkspace<S, K>,
    enc: Encoded<S, K>,
    /// Each hypothesis' last token: at first 0, 1, ...
    tokens: Vec<u32>,
    /// `(B, V)` logits of the last step.
    logits: Vec<S>,
    /// Each hypothesis' attention weights `(S)` in the last step.
    attention: Vec<Option<Vec<S>>>,
    /// The hypotheses' states (state layout for B).
    state: Vec<S>,
}

impl<S: Scalar, K: Backend<S>> Greedy<S, K> {
    /// The model of `case` on `k`, and its first source encoded.
    fn new(k: K, case: &PairCase) -> Self {
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
    fn start(&mut self) {
        let one = to_host(&self.k, K::view(&self.enc.state));
        let n = self.model.config().encoder_output_size();
        self.state = select_rows(&one, 1, n, &[0; HYPOTHESES]);
    }

    /// One step of every hypothesis; each then continues from its most
    /// likely token.
    fn step(&mut self) {
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
}

/// The index of the largest value.
fn argmax<S: Scalar>(row: &[S]) -> u32 {
    let best = (0..row.len()).max_by(|&i, &j| row[i].f64().total_cmp(&row[j].f64()));
    best.unwrap() as u32
}

fn greedy_decoding<S: Scalar>() {
    for case in pair_cases() {
        let name = Trial::<S>::name(&case);
        let k = Staged::default();
        let mut cpu = Greedy::<S, _>::new(Cpu, &case);
        let mut staged = Greedy::<S, _>::new(k.clone(), &case);
        // The weights go up; encoding moves nothing.
        let n = case.config.param_count().unwrap();
        let upload = Tally::moved(n, |t| &mut t.uploads);
        assert_eq!(k.take(), upload, "{name}: set-up and encoding");
        let (b, state_len) = (HYPOTHESES, case.state_len());
        cpu.start();
        staged.start();
        let download = |n| Tally::moved(n, |t| &mut t.downloads);
        assert_eq!(k.take(), download(state_len), "{name}: encoder state");
        assert_same(&staged.state, &cpu.state, &format!("{name}: encoder state"));
        let src_len = case.src_lengths[0];
        let attends = case.config.attention.is_some();
        // The states go up (staged by the decoder); logits, each
        // hypothesis' attention weights and the new states come back.
        let per_step = Tally::moved(b * state_len, |t| &mut t.host_views)
            + download(b * case.config.tgt_vocab)
            + (0..b).filter(|_| attends).map(|_| download(src_len)).sum()
            + download(b * state_len);
        for step in 0..DECODE_STEPS {
            cpu.step();
            staged.step();
            assert_eq!(k.take(), per_step, "{name}: decoding step {step}");
            let what = |x: &str| format!("{name}, step {step}: {x}");
            assert_same(&staged.logits, &cpu.logits, &what("logits"));
            assert_same(&staged.state, &cpu.state, &what("state"));
            assert_eq!(staged.tokens, cpu.tokens, "{}", what("tokens"));
            assert_eq!(staged.attention.len(), b);
            for (r, (s, c)) in staged.attention.iter().zip(&cpu.attention).enumerate() {
                let what = what(&format!("attention of hypothesis {r}"));
                let (Some(s), Some(c)) = (s, c) else {
                    assert!(!attends && s.is_none() && c.is_none(), "{what}");
                    continue;
                };
                assert!(attends, "{what}: weights without attention");
                assert_same(s, c, &what);
                assert_eq!(s.len(), src_len, "{what}: length");
                let sum: f64 = s.iter().map(|a| a.f64()).sum();
                let positive = s.iter().all(|&a| a > S::zero());
                assert!(positive && (sum - 1.0).abs() < 1e-5, "{what}: {s:?}");
            }
        }
    }
}

#[test]
fn greedy_decoding_on_a_staged_backend_gives_the_cpus_numbers_bit_for_bit() {
    greedy_decoding::<f32>();
    greedy_decoding::<f64>();
}

// ---- optimizers and clipping ----

/// Parameters and an optimizer on backend `K`, fed gradients from the host.
struct Stepper<S: Scalar, K: Backend<S>> {
    k: K,
    params: K::Buf,
    opt: Optimizer<S, K>,
}

impl<S: Scalar, K: Backend<S>> Stepper<S, K> {
    fn new(k: K, kind: OptimizerKind, params: &[S]) -> Self {
        Stepper {
            params: k.upload(params),
            opt: optimizer(&k, kind, params.len()),
            k,
        }
    }

    /// Upload `grads`, clip them and step.
    fn step(&mut self, clip: Clip, grads: &[S]) {
        let mut g = self.k.upload(grads);
        clip_and_step(&self.k, clip, &mut self.opt, &mut self.params, &mut g);
    }

    /// The parameters, then each moment, on the host.
    fn to_host(&self) -> Vec<Vec<S>> {
        let moments = self.opt.moments().iter();
        std::iter::once(&self.params)
            .chain(moments)
            .map(|b| to_host(&self.k, K::view(b)))
            .collect()
    }
}

fn optimizer_on_the_backend<S: Scalar>(kind: OptimizerKind, clip: Clip) {
    const N: usize = 1000;
    let p0: Vec<S> = values(N, 20);
    let k = Staged::default();
    let mut staged = Stepper::new(k.clone(), kind, &p0);
    let mut cpu = Stepper::new(Cpu, kind, &p0);
    // The parameters go up; the moments start on the backend, as zeros.
    assert_eq!(k.take(), Tally::moved(N, |t| &mut t.uploads));
    for step in 0..STEPS {
        // Values up to 1 in size, norm about 18: both clips change them.
        let g: Vec<S> = values(N, 21 + step as u64);
        let mut clipped = g.clone();
        clip.apply(&mut clipped);
        assert!(clipped != g, "{clip:?} changes nothing");
        cpu.step(clip, &g);
        staged.step(clip, &g);
        // The gradients we upload, then the clip's and the update's kernels.
        let expected = Tally {
            uploads: 1,
            scalars: N,
            ..Tally::clipped_step(clip)
        };
        assert_eq!(k.take(), expected, "{kind:?}, {clip:?}: step {step}");
    }
    let (on_staged, on_cpu) = (staged.to_host(), cpu.to_host());
    assert_eq!(on_staged.len(), 1 + kind.moments(), "{kind:?}: moments");
    for (i, (s, c)) in on_staged.iter().zip(&on_cpu).enumerate() {
        assert!(
            s.iter().any(|&v| v != S::zero()),
            "{kind:?}: buffer {i} is zero"
        );
        assert_same(s, c, &format!("{kind:?}, {clip:?}: buffer {i}"));
    }
}

#[test]
fn optimizer_moments_and_clipping_run_on_the_backend() {
    for kind in [ADAM, MOMENTUM] {
        for clip in [Clip::GlobalNorm(0.5), Clip::Elementwise(0.05)] {
            optimizer_on_the_backend::<f32>(kind, clip);
            optimizer_on_the_backend::<f64>(kind, clip);
        }
    }
}

#[test]
fn clipping_on_the_backend_reports_non_finite_gradients() {
    let k = Staged::default();
    for clip in [Clip::None, Clip::Elementwise(1.0), Clip::GlobalNorm(1.0)] {
        for (g, finite) in [
            (vec![0.5f32, -2.0], true),
            (vec![0.5, f32::NAN, -2.0], false),
            (vec![0.5, f32::INFINITY, -2.0], false),
        ] {
            let mut buf = k.upload(&g);
            let ok = clip.apply_on(&k, <Staged as Backend<f32>>::view_mut(&mut buf));
            assert_eq!(ok, finite, "{clip:?} on {g:?}");
        }
    }
    // Only the verdict came back, not the values.
    assert_eq!(k.take().downloads, 0);
}
