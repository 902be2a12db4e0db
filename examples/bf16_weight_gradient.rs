//! What packing the gate gradients costs a bf16 weight gradient: the
//! 2x512 LSTM's `dW_hh = dGᵀ·H` (B=64, T=100: `dG (6400×2048)`,
//! `H (6400×512)`), with `dG` packed by the product, read strided from
//! memory as before it was packed a step at a time, and with `dG` held
//! (packed beforehand, as the backward's steps now pack it). Best of 7,
//! on the default threads (2 here). README's figure comes from it:
//!
//! ```text
//! cargo run --release --example bf16_weight_gradient
//! ```
//!
//! On a CPU without AVX-512 BF16 both run the emulated product and
//! nothing is held.

use recur::tensor::bf16::{holding, matmul_bf16, native};
use recur::tensor::{Operand, Trans};
use std::time::Instant;

fn main() {
    let (m, n, k) = (2048, 512, 6400);
    let dg: Vec<f32> = (0..k * m).map(|i| (i as f32 * 0.37).sin()).collect();
    let h: Vec<f32> = (0..k * n).map(|i| (i as f32 * 0.11).cos()).collect();
    let mut c = vec![0f32; m * n];
    let mut product = || {
        let t = Instant::now();
        matmul_bf16(m, n, k, &dg, Trans::Yes, &h, Trans::No, &mut c, true);
        t.elapsed().as_secs_f64()
    };
    let packed_here = (0..7).map(|_| product()).fold(f64::MAX, f64::min);
    let held = holding(&dg, Operand::A, (m, k), Trans::Yes, || {
        (0..7).map(|_| product()).fold(f64::MAX, f64::min)
    });
    let gflops = |secs: f64| 2.0 * (m * n * k) as f64 / secs / 1e9;
    println!("native bf16: {}", native());
    for (what, secs) in [("dG packed by the product", packed_here), ("dG held", held)] {
        println!(
            "{what:26} {:6.2} ms  {:6.1} GFLOP/s",
            secs * 1e3,
            gflops(secs)
        );
    }
    println!("packing dG: {:.2} ms", (packed_here - held) * 1e3);
}
