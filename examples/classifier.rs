//! A many-to-one classifier, the first notebook's form: read a sequence,
//! answer with one label. Here: is the first token of a sequence equal to
//! its last one? Sequences have different lengths, padded in a batch.
//!
//! `cargo run --release --example classifier`
//!
//! Shapes, as everywhere in recur: inputs are time-major, `tokens[t * B +
//! b]` is step `t` of sequence `b` (a numpy `(B, T)` array is transposed);
//! padded steps hold any valid token and `Batch::lengths` says where each
//! sequence ends (padding changes neither outputs nor gradients);
//! `Target::Classes` takes one label per sequence.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use recur::prelude::*;

const V: usize = 5; // tokens 0..5
const T: usize = 12; // the longest sequence

/// `b` random sequences of 3 to T tokens: `(tokens (T, B), lengths (B), labels (B))`.
fn batch(rng: &mut ChaCha8Rng, b: usize) -> (Vec<u32>, Vec<usize>, Vec<u32>) {
    let mut seqs = Vec::new();
    for _ in 0..b {
        let len = rng.random_range(3..=T);
        let mut s: Vec<u32> = (0..len).map(|_| rng.random_range(0..V as u32)).collect();
        if rng.random_bool(0.5) {
            s[len - 1] = s[0]; // half the sequences end as they start
        }
        seqs.push(s);
    }
    let tokens = (0..T)
        .flat_map(|t| seqs.iter().map(move |s| s.get(t).copied().unwrap_or(0)))
        .collect();
    let lengths = seqs.iter().map(Vec::len).collect();
    let labels = seqs
        .iter()
        .map(|s| (s[0] == s[s.len() - 1]) as u32)
        .collect();
    (tokens, lengths, labels)
}

fn main() -> Result<()> {
    let config = NetConfig {
        readout: Readout::ManyToOne,
        output_size: 2,
        bidirectional: true,
        embed: Some(8),
        ..NetConfig::char_lm(CellKind::Gru, V, 32)
    };
    let mut net = Net::<f32>::new(config, Init::Uniform, 0)?;
    let adam = OptimizerKind::Adam {
        beta1: 0.9,
        beta2: 0.999,
    };
    let mut opt = Optimizer::new(adam, 1e-2, net.params.len())?;
    let (mut ws, mut grads) = (net.workspace(), net.zero_grads());
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    for step in 1..=600 {
        let (x, lengths, y) = batch(&mut rng, 32);
        let b = Batch {
            lengths: Some(&lengths),
            ..Batch::new(SeqInput::Tokens(&x), T, 32)
        };
        grads.fill(0.0);
        let loss = net.loss_and_grad_batch(&b, Target::Classes(&y), &mut ws, &mut grads, None)?;
        Clip::GlobalNorm(5.0).apply(&mut grads);
        opt.step(&mut net.params, &grads);
        if step % 100 == 0 {
            println!("step {step}: loss {loss:.4}");
        }
    }
    let (x, lengths, y) = batch(&mut rng, 1000);
    let b = Batch {
        lengths: Some(&lengths),
        ..Batch::new(SeqInput::Tokens(&x), T, 1000)
    };
    let predicted = net.predict(&b, &mut ws)?;
    let right = predicted.iter().zip(&y).filter(|(p, l)| p == l).count();
    let p = net.probabilities(&b, &mut ws)?; // (B, 2)
    println!(
        "held out: {right}/1000 right; first sequence: P(equal) = {:.3}",
        p[1]
    );
    Ok(())
}
