//! `--precision bf16`: the training products take bf16 operands and sum
//! in f32; weights, optimizer state, validation and checkpoints stay f32.
//! A bf16 run follows the f32 run's loss curve within a stated tolerance,
//! the precision is the run's alone (validation and everything after the
//! steps run in f32), and a resumed run keeps it.
//!
//! These tests set the process's product precision (through a trainer), so
//! they live in a test binary of their own, one at a time: no other
//! test's f32 products run beside them.

#[path = "common/cli.rs"]
mod cli;

use std::sync::{Mutex, MutexGuard};

use cli::{TempDir, assert_fails, assert_ok, p, recur};
use recur::cell::CellKind;
use recur::model::{Batch, Init, Net, NetConfig};
use recur::optim::OptimizerKind;
use recur::tensor::bf16::{Precision, precision, with_precision};
use recur::train::{TrainConfig, TrainData, Trainer};
use recur::{CharVocab, IGNORE, SeqInput, Target};

/// Held by each test that sets the process's precision: the tests of
/// this binary run on threads side by side.
static PRECISION_SET: Mutex<()> = Mutex::new(());

/// [`PRECISION_SET`], also after a test that held it failed.
fn alone() -> MutexGuard<'static, ()> {
    PRECISION_SET.lock().unwrap_or_else(|e| e.into_inner())
}

fn text() -> String {
    "It was the best of times, it was the worst of times, it was the age of wisdom.\n".repeat(60)
}

/// Each step's loss and the final validation loss of a small LSTM whose
/// products have 16 rows (bf16 applies to more than 4).
fn losses(precision: Precision) -> (Vec<f64>, f64) {
    let config = TrainConfig {
        cell: CellKind::Lstm,
        hidden: 48,
        layers: 2,
        seq_len: 16,
        batch: 16,
        optimizer: OptimizerKind::Adam {
            beta1: 0.9,
            beta2: 0.999,
        },
        lr: 3e-3,
        val_frac: 0.1,
        eval_every: 0,
        precision,
        ..TrainConfig::default()
    };
    let mut t = Trainer::new(config, TrainData::Corpus(text()), 80).expect("a trainer");
    let curve = (0..80).map(|_| t.step().expect("a step").0).collect();
    (curve, t.validate().expect("validation").expect("a split"))
}

#[test]
fn bf16_training_follows_the_f32_loss_curve() {
    let _alone = alone();
    let (f32_curve, f32_val) = losses(Precision::F32);
    let (bf16_curve, bf16_val) = losses(Precision::Bf16);
    assert_eq!(
        precision(),
        Precision::F32,
        "the run's precision outlived it"
    );
    // The runs differ (bf16 ran), but not by much: within 0.02 nats/char
    // at every step of 80, as the issue asks of the 2x512 LSTM at 1,500.
    let off: Vec<f64> = f32_curve
        .iter()
        .zip(&bf16_curve)
        .map(|(a, b)| (a - b).abs())
        .collect();
    let most = off.iter().cloned().fold(0.0, f64::max);
    assert!(most > 0.0, "bf16 changed nothing: its products did not run");
    assert!(most <= 0.02, "bf16 left the f32 curve by {most}: {off:?}");
    assert!(
        bf16_curve[79] < bf16_curve[0] - 0.3,
        "it learns: {bf16_curve:?}"
    );
    assert!(
        (f32_val - bf16_val).abs() <= 0.02,
        "{f32_val} vs {bf16_val}"
    );
}

/// Every named gradient of a 2-layer char model of `cell` (one-hot input
/// to the first layer, dense to the second), uni- or `bidirectional`, on
/// a batch of 16 windows of 16 characters (the odd windows padded after
/// 11 where `padded`), with products in `precision`.
fn gradients(
    cell: CellKind,
    bidirectional: bool,
    padded: bool,
    precision: Precision,
) -> Vec<(String, Vec<f32>)> {
    let text = text();
    let vocab = CharVocab::from_text(&text).expect("a vocabulary");
    let config = NetConfig {
        layers: 2,
        bidirectional,
        ..NetConfig::char_lm(cell, vocab.len(), 48)
    };
    let net: Net<f32> = Net::new(config, Init::Uniform, 5).expect("a model");
    let tokens = vocab.encode(&text).expect("tokens");
    let (t, b) = (16, 16);
    let lengths: Vec<usize> = (0..b).map(|r| if r % 2 == 1 { 11 } else { t }).collect();
    // Window r starts at character 37·r; (T, B) by time; no targets past
    // a window's length.
    let at = |s: usize, r: usize| tokens[37 * r + s];
    let x: Vec<u32> = (0..t * b).map(|i| at(i / b, i % b)).collect();
    let y: Vec<u32> = (0..t * b)
        .map(|i| match padded && i / b >= lengths[i % b] {
            true => IGNORE,
            false => at(i / b + 1, i % b),
        })
        .collect();
    let batch = Batch {
        lengths: padded.then_some(&lengths[..]),
        ..Batch::new(SeqInput::Tokens(&x), t, b)
    };
    let mut grads = net.zero_grads();
    with_precision(precision, || {
        let mut ws = net.workspace();
        net.loss_and_grad_batch(&batch, Target::Classes(&y), &mut ws, &mut grads, None)
            .expect("a backward pass")
    });
    let specs = net.layout().specs();
    specs
        .iter()
        .map(|s| (s.name.clone(), grads[s.range()].to_vec()))
        .collect()
}

#[test]
fn bf16_gradients_are_the_f32_gradients_within_bf16_rounding() {
    let _alone = alone();
    // An LSTM's recurrent weight gradients take the gates' gradients
    // packed a step at a time as the backward writes them (in reverse
    // order, or with padded rows zeroed); a GRU's, its hidden side's.
    let cases = [(false, false), (true, false), (false, true), (true, true)];
    for cell in [CellKind::Lstm, CellKind::Gru] {
        for (bidirectional, padded) in cases {
            let what = format!("{cell:?}, bidirectional {bidirectional}, padded {padded}");
            let exact = gradients(cell, bidirectional, padded, Precision::F32);
            let rounded = gradients(cell, bidirectional, padded, Precision::Bf16);
            for ((name, want), (_, got)) in exact.iter().zip(&rounded) {
                let norm = |v: &mut dyn Iterator<Item = f32>| {
                    v.map(|x| (x as f64).powi(2)).sum::<f64>().sqrt()
                };
                let off = norm(&mut want.iter().zip(got).map(|(a, b)| a - b));
                let size = norm(&mut want.iter().copied());
                assert!(size > 0.0, "{what}: {name} has no gradient");
                // bf16 keeps 8 significant bits (relative rounding 2^-9 per
                // operand); a gradient from the wrong steps would be off by
                // its own size.
                assert!(
                    off <= 0.02 * size,
                    "{what}: {name} is off by {:.4} of its size",
                    off / size
                );
                if name.contains("weight_hh") {
                    assert!(off > 0.0, "{what}: {name}: bf16 changed nothing");
                }
            }
        }
    }
}

#[test]
fn the_cli_trains_in_bf16_saves_f32_and_resumes_in_bf16() {
    let d = TempDir::new("precision");
    let corpus = d.file("corpus.txt", text());
    let out = d.path("run");
    let args = |more: &str| -> Vec<String> {
        format!(
            "train --corpus {} --out {} --model gru --hidden 24 --batch 8 --seq-len 12 --sample-len 0 {more}",
            p(&corpus),
            p(&out)
        )
        .split_whitespace()
        .map(String::from)
        .collect()
    };
    // The settings saved with the run (in the state file's header).
    let settings = || {
        let state = std::fs::read(out.join("state.safetensors")).expect("a saved state");
        cli::safetensors_parts(&state).0.to_string()
    };
    assert_ok(&recur(&args("--iters 6 --precision bf16")));
    assert!(
        settings().contains(r#"\"precision\":\"bf16\""#),
        "{}",
        settings()
    );
    // Weights stay f32.
    let model = std::fs::read(out.join("model.safetensors")).expect("a model");
    let (header, _) = cli::safetensors_parts(&model);
    assert!(header.to_string().contains("F32"), "{header}");
    assert!(!header.to_string().contains("BF16"), "{header}");
    assert_ok(&recur(&args("--iters 10 --resume")));
    assert!(
        settings().contains("bf16"),
        "a resume keeps the precision: {}",
        settings()
    );
    assert_fails(
        &recur(&args("--iters 2 --overwrite --precision fp8")),
        &["precision", "fp8"],
    );
}
