//! The [`Backend`] abstraction, proven with a second backend, `Staged`,
//! that behaves like a GPU as far as the trait lets one see: it keeps its
//! numbers in its own buffer type ([`DevBuf`], which no code can use as a
//! `Vec`), copies every host slice it is shown into a staging buffer (as a
//! GPU backend must upload it) instead of reading it in place, and tallies
//! every transfer between host and backend. Its kernels are the CPU's.
//!
//! Checked, in f32 and f64:
//! - a few training steps (forward, loss, backward, clipping, optimizer
//!   step) give the CPU's losses, gradients and parameters bit for bit,
//!   and move every tensor, for an LSTM (2 layers, bidirectional,
//!   embedding, dropout), a GRU (dense padded input, many-to-one, MSE) and
//!   a vanilla RNN (one-hot tokens, initial state), and for
//!   sequence-to-sequence models (padded pairs, ignored targets) with each
//!   attention (none, Luong's dot and general, Bahdanau's) over a GRU, an
//!   LSTM (2 layers, bidirectional encoder) and a vanilla RNN (2 layers);
//! - once model and optimizer are set up, a step moves nothing back to the
//!   host and stages exactly what it was given (nothing at all for a
//!   sequence-to-sequence model, whose inputs and targets are token ids);
//!   `params_to_host` is one download;
//! - greedy step-by-step decoding (`encode`, then `decode_step` from host
//!   states) gives the CPU's logits, attention weights and states bit for
//!   bit, staging only the states it is given;
//! - the optimizer's moments (Adam, SGD with momentum) and the clipping
//!   (global norm, elementwise) live and run on the backend.
//!
//! The models, their data and the side-by-side training and decoding are
//! tests/common/trials.rs, shared with tests/gpu.rs (which compares the
//! GPU's numbers within a tolerance instead).

use std::sync::{Arc, Mutex};

#[path = "common/trials.rs"]
mod trials;

use recur::backend::{Activation, Backend, MlstmBlock, RowKernel, Update};
use recur::cell::mlstm;
use recur::model::Init;
use recur::model::seq2seq::{GreedyWorkspace, Seq2Seq};
use recur::optim::{Clip, Optimizer, OptimizerKind};
use recur::tensor::Trans;
use recur::{Cpu, Scalar};
use trials::{
    ADAM, Case, DECODE_STEPS, Data, Goal, Greedy, HYPOTHESES, MOMENTUM, PairCase, Run, SEED, STEPS,
    Tolerance, Trial, assert_same, cases, clip_and_step, optimizer, pair_cases, to_host,
    train_side_by_side, values,
};

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

    fn dropout_mask(&self, mask: &mut [S], p: f64, key: u64) {
        // Drawn in place, as a GPU draws it: nothing moves.
        Cpu.dropout_mask(mask, p, key);
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

    fn mlstm_block_forward(
        &self,
        m: &MlstmBlock<'_>,
        xg: &[S],
        c0: &[S],
        hs: &mut [S],
        c: &mut [S],
    ) -> bool {
        // The CPU's window maths, on Staged's buffers: nothing moves.
        mlstm::block_forward_on_host(m, xg, c0, hs, c);
        true
    }

    fn mlstm_block_backward(
        &self,
        m: &MlstmBlock<'_>,
        xg: &[S],
        c0: &[S],
        dh: &[S],
        dc: &mut [S],
        dg: &mut [S],
        dh0: &mut [S],
    ) -> bool {
        mlstm::block_backward_on_host(m, xg, c0, dh, dc, dg, dh0);
        true
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

// ---- what a step should ask of `Staged` ----

/// What one training step should ask of `Staged`.
trait Expected {
    fn per_step(&self) -> Tally;
}

impl<S: Scalar> Expected for Case<S> {
    /// Tokens and class ids are indices the kernels take from the host:
    /// nothing is staged for them. A dense input `(T, B, I)` is staged once,
    /// by the forward (the backward reuses that copy), real-valued targets
    /// once by the loss, an initial state once by the forward; dropout masks
    /// are drawn by the backend, in place.
    fn per_step(&self) -> Tally {
        let staged = |n| Tally::moved(n, |t| &mut t.host_views);
        let input = match &self.x {
            Data::Dense(x) => staged(x.len()),
            Data::Tokens(_) => Tally::default(),
        };
        let target = match &self.target {
            Goal::Values(y) | Goal::AbsValues(y) => staged(y.len()),
            Goal::Classes(_) => Tally::default(),
        };
        let state = self
            .state
            .as_ref()
            .map_or(Tally::default(), |s| staged(s.len()));
        Tally::clipped_step(self.clip) + input + target + state
    }
}

impl Expected for PairCase {
    /// Source, decoder inputs and targets are token ids the kernels take
    /// from the host, the decoder starts from the encoder's state on the
    /// backend: nothing is staged, nothing comes back.
    fn per_step(&self) -> Tally {
        Tally::clipped_step(self.clip)
    }
}

/// Every trial gives the CPU's losses, gradients and parameters on
/// `Staged`, bit for bit, and moves every tensor of the model.
fn same_numbers<S: Scalar, T: Trial<S>>(trials: &[T]) {
    for trial in trials {
        train_side_by_side(trial, Staged::default(), Tolerance::Bits);
    }
}

/// Set-up uploads the weights, a step asks exactly `per_step` of `Staged`,
/// and `params_to_host` is one download.
fn host_transfers<S: Scalar, T: Trial<S> + Expected>(trials: &[T]) {
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

// ---- networks ----

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

fn greedy_decoding<S: Scalar>() {
    for case in pair_cases() {
        let name = case.name();
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
            let at = format!("step {step}");
            staged.assert_matches(&cpu, &case, Tolerance::Bits, &at);
        }
    }
}

#[test]
fn greedy_decoding_on_a_staged_backend_gives_the_cpus_numbers_bit_for_bit() {
    greedy_decoding::<f32>();
    greedy_decoding::<f64>();
}

/// Training without teacher forcing decodes its padded batch greedily as
/// one batch (`Seq2Seq::greedy_batch`): every sequence gets the tokens of
/// decoding it alone, step by step, and a staged backend gets the CPU's.
#[test]
fn greedy_decoding_of_a_padded_batch_is_each_sequence_decoded_alone() {
    fn check<S: Scalar>() {
        for case in pair_cases() {
            let name = case.name();
            let cpu = Seq2Seq::<S>::new(case.config.clone(), Init::Uniform, SEED).unwrap();
            let staged = Seq2Seq::<S, _>::new_on(
                Staged::default(),
                case.config.clone(),
                Init::Uniform,
                SEED,
            )
            .unwrap();
            let batch = case.batch();
            let got = cpu
                .greedy_batch(&batch, &mut GreedyWorkspace::default())
                .unwrap();
            assert_eq!(got, trials::greedy_alone(&cpu, &case), "{name}");
            let on_staged = staged
                .greedy_batch(&batch, &mut GreedyWorkspace::default())
                .unwrap();
            assert_eq!(on_staged, got, "{name}: staged");
        }
    }
    check::<f32>();
    check::<f64>();
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
