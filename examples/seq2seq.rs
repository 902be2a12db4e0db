//! A sequence-to-sequence model: a bidirectional GRU encoder, a GRU decoder
//! with Luong attention, trained to reverse strings, then asked to
//! translate a few it has not seen, greedily and with a beam.
//!
//! `cargo run --release --example seq2seq`
//!
//! Shapes, as everywhere in recur: source and target batches are
//! time-major token ids, `(S, B)` and `(T, B)`, padded, with their lengths;
//! the trainer builds them from the pairs.

use recur::cell::CellKind;
use recur::data::tasks::{Task, split};
use recur::decode::{DecodeOptions, translate};
use recur::layer::attention::Score;
use recur::model::seq2seq::Seq2SeqConfig;
use recur::prelude::*;
use recur::train::seq2seq::{Seq2SeqTrainConfig, Seq2SeqTrainer};

fn main() -> Result<()> {
    let task = Task::Reverse { min: 3, max: 6 };
    let (train, test) = split(task, 2000, 50, 1)?;
    let model = Seq2SeqConfig {
        cell: CellKind::Gru,
        src_vocab: 1, // both set from the pairs' characters by the trainer
        tgt_vocab: 1,
        embed: 16,
        hidden: 48,
        layers: 1,
        bidirectional: true,
        attention: Some(Score::LuongGeneral),
        attention_size: 48,
    };
    let config = Seq2SeqTrainConfig {
        lr: 1e-2,
        eval_every: 400,
        log_every: 400,
        ..Seq2SeqTrainConfig::default()
    };
    let mut trainer = Seq2SeqTrainer::new(model, config, train, test.clone(), 1200)?;
    let accuracy = trainer.run(None, None, &mut |line, accuracy| {
        let held_out = accuracy.map_or(String::new(), |a| {
            format!(", held-out exact match {:.0}%", 100.0 * a)
        });
        println!(
            "iteration {}: loss {:.3}{held_out}",
            line.iter, line.smooth_loss
        );
    })?;
    println!(
        "held-out exact match: {:.1}%",
        100.0 * accuracy.unwrap_or(0.0)
    );
    let (model, vocab) = trainer.into_model();
    for pair in test.iter().take(3) {
        for beam in [1, 4] {
            let opts = DecodeOptions {
                beam,
                ..DecodeOptions::default()
            };
            let out = translate(&model, &vocab, &pair.source, &opts)?;
            println!(
                "{} -> {} (beam {beam}, want {})",
                pair.source, out.text, pair.target
            );
        }
    }
    Ok(())
}
