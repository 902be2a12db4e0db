//! A bidirectional many-to-one classifier learns a task that needs both
//! ends of the sequence: name the pair (first token, last token). The
//! reverse direction's final state has just read the first token and the
//! forward direction's the last.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use recur::cell::CellKind;
use recur::model::{Batch, Init, Net, NetConfig, Readout};
use recur::optim::{Clip, Optimizer, OptimizerKind};
use recur::{SeqInput, Target};

const T: usize = 10;
const V: usize = 4;

/// `b` random sequences `(T, B)` time-major, and their labels `(B)`.
fn batch(rng: &mut ChaCha8Rng, b: usize) -> (Vec<u32>, Vec<u32>) {
    let seqs: Vec<Vec<u32>> = (0..b)
        .map(|_| (0..T).map(|_| rng.random_range(0..V as u32)).collect())
        .collect();
    let tokens = (0..T)
        .flat_map(|s| seqs.iter().map(move |q| q[s]))
        .collect();
    let labels = seqs.iter().map(|q| q[0] * V as u32 + q[T - 1]).collect();
    (tokens, labels)
}

#[test]
fn bidirectional_gru_names_the_first_and_last_tokens() {
    let config = NetConfig {
        bidirectional: true,
        output_size: V * V,
        readout: Readout::ManyToOne,
        embed: Some(8),
        ..NetConfig::char_lm(CellKind::Gru, V, 16)
    };
    let mut net = Net::<f32>::new(config, Init::Uniform, 1).unwrap();
    let mut opt = Optimizer::new(
        OptimizerKind::Adam {
            beta1: 0.9,
            beta2: 0.999,
        },
        1e-2,
        net.params.len(),
    )
    .unwrap();
    let (mut ws, mut grads) = (net.workspace(), net.zero_grads());
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    for _ in 0..400 {
        let (x, y) = batch(&mut rng, 32);
        grads.fill(0.0);
        let b = Batch::new(SeqInput::Tokens(&x), T, 32);
        net.loss_and_grad_batch(&b, Target::Classes(&y), &mut ws, &mut grads, None)
            .unwrap();
        Clip::GlobalNorm(5.0).apply(&mut grads);
        opt.step(&mut net.params, &grads);
    }
    let (x, y) = batch(&mut rng, 500);
    net.forward_batch(&Batch::new(SeqInput::Tokens(&x), T, 500), &mut ws, None)
        .unwrap();
    let argmax = |o: &[f32]| (0..o.len()).max_by(|&i, &j| o[i].total_cmp(&o[j])).unwrap() as u32;
    let correct = ws
        .outputs()
        .chunks_exact(V * V)
        .zip(&y)
        .filter(|(o, l)| argmax(o) == **l)
        .count();
    assert!(
        correct >= 475,
        "{correct}/500 held-out sequences classified right"
    );
}
