//! Throughput benchmarks: training characters per second and GFLOP/s of the
//! vanilla RNN on synthetic data, beside the GEMM throughput this machine
//! reaches on the model's largest product, measured in the same run.

use std::time::Instant;

use crate::cell::SeqInput;
use crate::error::Result;
use crate::layer::loss::Target;
use crate::model::{Init, RnnConfig, VanillaRnn};
use crate::optim::{Clip, Optimizer, OptimizerKind};
use crate::tensor::{Trans, matmul};

/// A benchmark's shape.
#[derive(Clone, Copy, Debug)]
pub struct BenchConfig {
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
}

/// What a benchmark measured.
#[derive(Clone, Debug)]
pub struct BenchReport {
    /// Training characters per second (forward, backward, clip, Adagrad).
    pub chars_per_sec: f64,
    /// Model FLOP per iteration (GEMM work: `6·T·B·H·(H + V)`).
    pub flop_per_iter: f64,
    /// Achieved model GFLOP/s.
    pub gflops: f64,
    /// GFLOP/s of a bare `(T·B × H) · (H × H)` GEMM on this machine, now.
    pub gemm_gflops: f64,
}

/// Train the vanilla RNN on random tokens for `iters` iterations and time it.
pub fn vanilla_rnn(c: &BenchConfig) -> Result<BenchReport> {
    let (t, b, h, v) = (c.seq_len, c.batch, c.hidden, c.vocab);
    let mut rnn = VanillaRnn::<f32>::new(RnnConfig::char_lm(v, h), Init::Classic, 1)?;
    let mut opt = Optimizer::new(OptimizerKind::Adagrad, 0.1, rnn.params.len())?;
    let mut ws = rnn.workspace();
    let mut grads = rnn.zero_grads();
    let tokens: Vec<u32> = (0..t * b + 1).map(|i| ((i * 7919) % v) as u32).collect();
    let (x, y) = (&tokens[..t * b], &tokens[1..]);
    let mut carry = vec![0.0f32; b * h];
    let mut iteration = |rnn: &mut VanillaRnn<f32>| -> Result<()> {
        grads.fill(0.0);
        rnn.loss_and_grad(
            SeqInput::Tokens(x),
            Some(&carry),
            t,
            b,
            Target::Classes(y),
            &mut ws,
            &mut grads,
        )?;
        carry.copy_from_slice(ws.final_state());
        Clip::Elementwise(5.0).apply(&mut grads);
        opt.step(&mut rnn.params, &grads);
        Ok(())
    };
    for _ in 0..c.iters.div_ceil(10).max(2) {
        iteration(&mut rnn)?;
    }
    let start = Instant::now();
    for _ in 0..c.iters {
        iteration(&mut rnn)?;
    }
    let secs = start.elapsed().as_secs_f64();
    let flop_per_iter = 6.0 * (t * b * h) as f64 * (h + v) as f64;
    Ok(BenchReport {
        chars_per_sec: (c.iters * t * b) as f64 / secs,
        flop_per_iter,
        gflops: flop_per_iter * c.iters as f64 / secs / 1e9,
        gemm_gflops: gemm_gflops(t * b, h, h),
    })
}

/// GFLOP/s of `(m × k) · (k × n)` in f32, best of several timed runs.
pub fn gemm_gflops(m: usize, n: usize, k: usize) -> f64 {
    let a = vec![0.5f32; m * k];
    let bm = vec![0.25f32; k * n];
    let mut c = vec![0.0f32; m * n];
    let reps = (2e9 / (2.0 * (m * n * k) as f64)).clamp(3.0, 10_000.0) as usize;
    let mut best = f64::INFINITY;
    for _ in 0..5 {
        let start = Instant::now();
        for _ in 0..reps {
            matmul(m, n, k, &a, Trans::No, &bm, Trans::Yes, &mut c, false);
        }
        best = best.min(start.elapsed().as_secs_f64() / reps as f64);
    }
    2.0 * (m * n * k) as f64 / best / 1e9
}
