//! Timing of the products of one row that a batch-1 step and sampling
//! run (`recur::tensor::matmul` with `m = 1`): dot products with the rows
//! of a weight (`b` transposed, a step's forward) and row updates over it
//! (`b` as stored, a step's backward), best of 5 runs of 200,000 calls,
//! on one thread. README's batch-1 figures come from it:
//!
//! ```text
//! cargo run --release --example small_products
//! ```
//!
//! Copied into an older checkout, the same file times that build's
//! kernels (it uses only the public `matmul`).

use recur::tensor::{Trans, matmul, set_threads};
use std::time::Instant;

fn main() {
    set_threads(1);
    // The 100-unit RNN's W_hh, char-rnn's 128-unit layer, its output layer
    // (65 characters), a small one. None is large enough to run in halves.
    for (n, k) in [(100, 100), (128, 128), (65, 128), (64, 64)] {
        let x: Vec<f32> = (0..k).map(|i| (i as f32 * 0.37).sin()).collect();
        let w: Vec<f32> = (0..n * k).map(|i| (i as f32 * 0.11).cos()).collect();
        let mut c = vec![0f32; n];
        for (what, tb) in [("dot products", Trans::Yes), ("row updates", Trans::No)] {
            let reps = 200_000;
            let mut best = f64::MAX;
            for _ in 0..5 {
                let t = Instant::now();
                for _ in 0..reps {
                    matmul(1, n, k, &x, Trans::No, &w, tb, &mut c, false);
                    std::hint::black_box(&mut c);
                }
                best = best.min(t.elapsed().as_secs_f64() / reps as f64);
            }
            let gflops = 2.0 * (n * k) as f64 / best / 1e9;
            println!(
                "{n:>4}x{k:<4} {what:12} {:7.1} ns  {gflops:6.1} GFLOP/s",
                best * 1e9
            );
        }
    }
}
