//! The [`Backend`] abstraction, proven with a second backend, `Staged`,
//! that behaves like a GPU as far as the trait lets one see: it keeps its
//! numbers in its own buffer type ([`DevBuf`], which no code can use as a
//! `Vec`), copies every host slice it is shown into a staging buffer (as a
//! GPU backend must upload it) instead of reading it in place, and tallies
//! every transfer between host and backend. Its kernels are the CPU's.
//!
//! Checked, in f32 and f64:
//! - a few training steps (forward, loss, backward, clipping, optimizer
//!   step) give the CPU's losses and parameters bit for bit, for an LSTM
//!   (2 layers, bidirectional, embedding, dropout), a GRU (dense padded
//!   input, many-to-one, MSE) and a vanilla RNN (one-hot tokens, initial
//!   state);
//! - once model and optimizer are set up, a step moves nothing back to the
//!   host and stages exactly what it was given; `params_to_host` is one
//!   download;
//! - the optimizer's moments (Adam, SGD with momentum) and the clipping
//!   (global norm, elementwise) live and run on the backend.

use std::sync::{Arc, Mutex};

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use recur::backend::{Activation, Backend, IGNORE, RowKernel, Update};
use recur::cell::CellKind;
use recur::model::{Batch, Init, Net, NetConfig, NetWorkspace, Readout};
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

const ADAM: OptimizerKind = OptimizerKind::Adam {
    beta1: 0.9,
    beta2: 0.999,
};
const MOMENTUM: OptimizerKind = OptimizerKind::Sgd { momentum: 0.9 };

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

/// A buffer copied to the host.
fn to_host<S: Scalar, K: Backend<S>>(k: &K, buf: &K::Buf) -> Vec<S> {
    let mut host = vec![S::zero(); K::buf_len(buf)];
    k.download(K::view(buf), &mut host);
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

/// A model of `case` with its optimizer and buffers on backend `K`.
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

impl<'c, S: Scalar, K: Backend<S>> Session<'c, S, K> {
    fn new(k: K, case: &'c Case<S>) -> Self {
        let net = Net::new_on(k.clone(), case.config.clone(), Init::Uniform, 7).unwrap();
        let opt = Optimizer::new_on(k.clone(), case.optimizer, LR, net.layout().len()).unwrap();
        Session {
            case,
            ws: net.workspace(),
            grads: net.zero_grads(),
            rng: ChaCha8Rng::seed_from_u64(11),
            k,
            net,
            opt,
        }
    }

    /// One training step: forward, loss, backward, clip, update. Returns
    /// the loss.
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
}

fn same_numbers<S: Scalar>() {
    for case in cases::<S>() {
        let name = case.name;
        let mut cpu = Session::new(Cpu, &case);
        let mut staged = Session::new(Staged::default(), &case);
        let start = cpu.net.params_to_host();
        for step in 0..STEPS {
            let (on_cpu, on_staged) = (cpu.step(), staged.step());
            let what = format!("{name}: loss at step {step}");
            assert_same(&[on_staged], &[on_cpu], &what);
        }
        let trained = cpu.net.params_to_host();
        assert!(trained != start, "{name}: nothing trained");
        let on_staged = staged.net.params_to_host();
        assert_same(&on_staged, &trained, &format!("{name}: parameters"));
    }
}

#[test]
fn training_on_a_staged_backend_gives_the_cpus_numbers_bit_for_bit() {
    same_numbers::<f32>();
    same_numbers::<f64>();
}

fn host_transfers<S: Scalar>() {
    for case in cases::<S>() {
        let k = Staged::default();
        let mut s = Session::new(k.clone(), &case);
        let n = case.config.param_count().unwrap();
        // Set-up: the initial weights, drawn on the host, go up once; the
        // optimizer's moments, gradients and workspace start on the backend.
        let upload = Tally::moved(n, |t| &mut t.uploads);
        assert_eq!(k.take(), upload, "{}: set-up", case.name);
        for step in 0..STEPS {
            s.step();
            assert_eq!(k.take(), case.step, "{}: step {step}", case.name);
        }
        s.net.params_to_host();
        let download = Tally::moved(n, |t| &mut t.downloads);
        assert_eq!(k.take(), download, "{}: params_to_host", case.name);
    }
}

#[test]
fn a_training_step_moves_nothing_to_the_host_and_stages_only_its_inputs() {
    host_transfers::<f32>();
    host_transfers::<f64>();
}

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
            opt: Optimizer::new_on(k.clone(), kind, LR, params.len()).unwrap(),
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
            .map(|b| to_host(&self.k, b))
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
