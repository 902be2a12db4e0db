//! Timing of the products of one row that a batch-1 step and sampling
//! run (`recur::tensor::matmul` with `m = 1`): dot products with the rows
//! of a weight (`b` transposed, a step's forward) and row updates over it
//! (`b` as stored, a step's backward), best of 5 runs of 200,000 calls,
//! on one thread. Then the mid-sized products of a batch-1 window of
//! min-char-rnn (T=25, H=100, V=65): its output layer, the backward's
//! products through it, and the recurrent weight's gradient, best of 5
//! runs of 20,000 calls. Last, the half of a step of char-rnn's 2x128
//! LSTM at B=50 that each core multiplies (25 rows), forward and backward,
//! best of 5 runs of 20,000 calls. README's figures for these come from
//! it:
//!
//! ```text
//! cargo run --release --example small_products
//! ```
//!
//! Copied into an older checkout, the same file times that build's
//! kernels (it uses only the public `matmul`).

use recur::tensor::{Trans, matmul, set_threads};
use std::time::Instant;

/// Seconds per call of `f`, the best of 5 runs of `reps` calls.
fn best_secs(reps: usize, mut f: impl FnMut()) -> f64 {
    (0..5)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..reps {
                f();
            }
            t.elapsed().as_secs_f64() / reps as f64
        })
        .fold(f64::MAX, f64::min)
}

/// Time `(m×k)·(k×n)` with `a` and `b` stored as `ta` and `tb` say.
fn time(what: &str, (m, n, k): (usize, usize, usize), ta: Trans, tb: Trans, reps: usize) {
    let a: Vec<f32> = (0..m * k).map(|i| (i as f32 * 0.37).sin()).collect();
    let b: Vec<f32> = (0..n * k).map(|i| (i as f32 * 0.11).cos()).collect();
    let mut c = vec![0f32; m * n];
    let secs = best_secs(reps, || {
        matmul(m, n, k, &a, ta, &b, tb, &mut c, false);
        std::hint::black_box(&mut c);
    });
    let gflops = 2.0 * (m * n * k) as f64 / secs / 1e9;
    println!(
        "{m:>4}x{n:<4}x{k:<4} {what:28} {:8.1} ns  {gflops:6.1} GFLOP/s",
        secs * 1e9
    );
}

fn main() {
    set_threads(1);
    // The 100-unit RNN's W_hh, char-rnn's 128-unit layer, its output layer
    // (65 characters), a small one. None is large enough to run in halves.
    for (n, k) in [(100, 100), (128, 128), (65, 128), (64, 64)] {
        time("dot products", (1, n, k), Trans::No, Trans::Yes, 200_000);
        time("row updates", (1, n, k), Trans::No, Trans::No, 200_000);
    }
    // A min-char-rnn window (T=25, H=100, V=65).
    let (t, h, v) = (25, 100, 65);
    time(
        "output layer H·W_hyᵀ",
        (t, v, h),
        Trans::No,
        Trans::Yes,
        20_000,
    );
    time(
        "its backward dY·W_hy",
        (t, h, v),
        Trans::No,
        Trans::No,
        20_000,
    );
    time(
        "its weight gradient dYᵀ·H",
        (v, h, t),
        Trans::Yes,
        Trans::No,
        20_000,
    );
    time(
        "W_hh's gradient dAᵀ·H",
        (h, h, t),
        Trans::Yes,
        Trans::No,
        20_000,
    );
    // Half of a char-rnn LSTM step (B=50, H=128, 4H gates).
    let (rows, h, g) = (25, 128, 512);
    time(
        "LSTM step half h·W_hhᵀ",
        (rows, g, h),
        Trans::No,
        Trans::No,
        20_000,
    );
    time(
        "its backward dG·W_hh",
        (rows, h, g),
        Trans::No,
        Trans::No,
        20_000,
    );
}
