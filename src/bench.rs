//! Throughput benchmarks: training characters per second and GFLOP/s of a
//! character model on synthetic text through the real training loop, beside
//! the GEMM throughput this machine reaches on the model's largest product,
//! measured in the same run.

use std::time::Instant;

use crate::backend::{Backend, Cpu, View};
use crate::cell::CellKind;
use crate::check;
use crate::error::Result;
use crate::model::{Init, NetConfig};
use crate::optim::{Clip, OptimizerKind};
use crate::tensor::Trans;
use crate::train::{TrainConfig, TrainData, Trainer};

/// A benchmark's shape.
#[derive(Clone, Copy, Debug)]
pub struct BenchConfig {
    /// The cell.
    pub cell: CellKind,
    /// L.
    pub layers: usize,
    /// H.
    pub hidden: usize,
    /// B.
    pub batch: usize,
    /// T.
    pub seq_len: usize,
    /// V.
    pub vocab: usize,
    /// Timed iterations (after a few untimed warm-up ones).
    pub iters: usize,
    /// The training products' operands (see [`crate::tensor::bf16`]).
    pub precision: crate::tensor::bf16::Precision,
}

/// The largest vocabulary a benchmark draws its synthetic text from (one
/// character per symbol from U+0100 on, below the surrogates at U+D800).
pub const MAX_VOCAB: usize = 0xD800 - 0x100;

impl BenchConfig {
    /// Check every size: at least 1 each, `--vocab` at most [`MAX_VOCAB`];
    /// the message names the flag.
    pub fn validate(&self) -> Result<()> {
        for (flag, v) in [
            ("--layers", self.layers),
            ("--hidden", self.hidden),
            ("--batch", self.batch),
            ("--seq-len", self.seq_len),
            ("--iters", self.iters),
        ] {
            check::at_least_one(flag, v)?;
        }
        check::between("--vocab", self.vocab, 1, MAX_VOCAB)
    }
}

/// What a benchmark measured.
#[derive(Clone, Debug)]
pub struct BenchReport {
    /// Training characters per second (forward, backward, clip, optimizer).
    pub chars_per_sec: f64,
    /// Model FLOP per iteration (the matrix products; see [`flop_per_iter`]).
    pub flop_per_iter: f64,
    /// Achieved model GFLOP/s.
    pub gflops: f64,
    /// GFLOP/s of a bare `(T·B × H) · (H × G·H)` GEMM on this machine, now.
    pub gemm_gflops: f64,
    /// The same GEMM with bf16 operands (see [`gemm_bf16_gflops`]), on the
    /// CPU alone.
    pub gemm_bf16_gflops: Option<f64>,
}

/// FLOP of the matrix products in one training iteration of a one-hot
/// character model: per layer, the input projection (a gather for layer 0),
/// the recurrence, and in the backward the same again for `dh`, `dW_hh`,
/// `dW_ih` and `dx` (layers above 0); the output layer three times.
pub fn flop_per_iter(c: &NetConfig, t: usize, b: usize) -> f64 {
    let (h, g, dirs) = (
        c.hidden_size as f64,
        c.cell.rows(c.hidden_size) as f64,
        c.directions() as f64,
    );
    let rows = (t * b) as f64;
    let mut macs = 0.0;
    for l in 0..c.layers {
        let recur = match c.cell.has_recurrent_weight() {
            true => 3.0 * rows * g * h, // forward, dh, dW_hh
            false => 0.0,
        };
        let input = if l == 0 {
            0.0
        } else {
            3.0 * rows * g * dirs * h
        }; // xg, dW_ih, dx
        let window = c.cell.window_macs(t, b, c.hidden_size);
        macs += dirs * (recur + input + window);
    }
    macs += 3.0 * rows * c.output_size as f64 * dirs * h;
    2.0 * macs
}

/// Train on random text for `iters` iterations with Adam and time it, on
/// the current rayon pool's threads.
pub fn train_throughput(c: &BenchConfig) -> Result<BenchReport> {
    train_throughput_on(Cpu, c, || {})
}

/// [`train_throughput`] on backend `k`; `mark` is called just before and
/// just after the timed iterations (to read a backend's counters). The
/// iterations run as `recur train` runs them when it logs only at the
/// end: a device reads the losses back every [`DEFER_MAX`] iterations and
/// at the end, so the time covers all their work.
///
/// [`DEFER_MAX`]: crate::train::DEFER_MAX
pub fn train_throughput_on<K: Backend<f32>>(
    k: K,
    c: &BenchConfig,
    mut mark: impl FnMut(),
) -> Result<BenchReport> {
    c.validate()?;
    let (t, b) = (c.seq_len, c.batch);
    let alphabet: Vec<char> = (0..c.vocab as u32)
        .filter_map(|i| char::from_u32(0x100 + i))
        .collect();
    // Every symbol once, so the model's vocabulary is V, then the pattern.
    let pattern = (0..b * (t + 1) * 4).map(|i| alphabet[(i * 7919 + i / 13) % c.vocab]);
    let text: String = alphabet.iter().copied().chain(pattern).collect();
    let config = TrainConfig {
        cell: c.cell,
        layers: c.layers,
        hidden: c.hidden,
        init: Init::Uniform,
        seq_len: t,
        batch: b,
        optimizer: OptimizerKind::Adam {
            beta1: 0.9,
            beta2: 0.999,
        },
        lr: 1e-3,
        clip: Clip::Elementwise(5.0),
        val_frac: 0.0,
        eval_every: 0,
        log_every: u64::MAX,
        precision: c.precision,
        ..TrainConfig::default()
    };
    let warmup = c.iters.div_ceil(10).max(2);
    let total = (warmup + c.iters) as u64;
    let mut trainer = Trainer::new_on(k.clone(), config, TrainData::Corpus(text), warmup as u64)?;
    trainer.run(None, None, &mut |_| {})?;
    trainer.set_total_iters(total);
    mark();
    let start = Instant::now();
    trainer.run(None, None, &mut |_| {})?;
    let secs = start.elapsed().as_secs_f64();
    mark();
    let flop = flop_per_iter(trainer.model().config(), t, b);
    let g = c.cell.rows(c.hidden);
    Ok(BenchReport {
        chars_per_sec: (c.iters * t * b) as f64 / secs,
        flop_per_iter: flop,
        gflops: flop * c.iters as f64 / secs / 1e9,
        gemm_gflops: gemm_gflops_on(&k, t * b, g, c.hidden),
        gemm_bf16_gflops: K::READS_HOST.then(|| gemm_bf16_gflops(t * b, g, c.hidden)),
    })
}

/// GFLOP/s of `(m × k) · (k × n)` in f32 on the CPU, best of several
/// timed runs.
pub fn gemm_gflops(m: usize, n: usize, k: usize) -> f64 {
    gemm_gflops_on(&Cpu, m, n, k)
}

/// [`gemm_gflops`] on backend `kb` (each timed run ends by reading a value
/// back, so a device's queue is drained).
pub fn gemm_gflops_on<K: Backend<f32>>(kb: &K, m: usize, n: usize, k: usize) -> f64 {
    let a = kb.upload(&vec![0.5f32; m * k]);
    let bm = kb.upload(&vec![0.25f32; k * n]);
    let mut c = kb.upload(&vec![0.0f32; m * n]);
    let reps = (2e9 / (2.0 * (m * n * k) as f64)).clamp(3.0, 10_000.0) as usize;
    let reps = if K::READS_HOST { reps } else { reps.min(50) };
    let mut last = [0.0f32];
    let best = best_of(5, || {
        for _ in 0..reps {
            let (av, bv) = (K::view(&a), K::view(&bm));
            kb.matmul(
                m,
                n,
                k,
                av,
                Trans::No,
                bv,
                Trans::No,
                K::view_mut(&mut c),
                false,
            );
        }
        kb.download(K::view(&c).sub(0..1), &mut last);
    });
    2.0 * (m * n * k) as f64 * reps as f64 / best / 1e9
}

/// GFLOP/s of `(m × k) · (k × n)` with bf16 operands and f32 sums on the
/// CPU ([`crate::tensor::bf16::matmul_bf16`], natively where the CPU has
/// AVX-512 BF16, else emulated), best of several timed runs; the operands'
/// rounding and packing count.
pub fn gemm_bf16_gflops(m: usize, n: usize, k: usize) -> f64 {
    let (a, b, mut c) = (
        vec![0.5f32; m * k],
        vec![0.25f32; k * n],
        vec![0.0f32; m * n],
    );
    let reps = (2e9 / (2.0 * (m * n * k) as f64)).clamp(3.0, 10_000.0) as usize;
    let best = best_of(5, || {
        for _ in 0..reps {
            crate::tensor::bf16::matmul_bf16(m, n, k, &a, Trans::No, &b, Trans::No, &mut c, false);
        }
    });
    2.0 * (m * n * k) as f64 * reps as f64 / best / 1e9
}

/// The shortest of `runs` timed calls of `f`, in seconds.
fn best_of(runs: usize, mut f: impl FnMut()) -> f64 {
    (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}
