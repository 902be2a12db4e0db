//! A character-level language model, the way `recur train` makes one: train
//! a GRU on a text, watch the loss, then sample from it.
//!
//! `cargo run --release --example char_model [text.txt]` (without a file, a
//! few sentences repeated).
//!
//! Shapes, as everywhere in recur: the trainer cuts the text into `batch`
//! parallel streams and windows of `seq_len` characters, time-major
//! `(T, B)`, and carries each stream's state from one window to the next.

use recur::cell::CellKind;
use recur::optim::OptimizerKind;
use recur::prelude::*;
use recur::sample::{SampleOptions, generate};
use recur::train::{Event, TrainConfig, TrainData, Trainer};

fn main() -> Result<()> {
    let text = match std::env::args().nth(1) {
        Some(path) => std::fs::read_to_string(&path)
            .map_err(|e| Error::Config(format!("cannot read {path}: {e}")))?,
        None => "the cat sat on the mat. the dog sat on the log. ".repeat(40),
    };
    let config = TrainConfig {
        cell: CellKind::Gru,
        hidden: 64,
        batch: 8,
        seq_len: 32,
        optimizer: OptimizerKind::from_name("adam", 0.0)?,
        lr: 1e-2,
        eval_every: 100,
        log_every: 100,
        ..TrainConfig::default()
    };
    let mut trainer = Trainer::new(config, TrainData::Corpus(text), 300)?;
    let summary = trainer.run(None, None, &mut |event| {
        if let Event::Logged(line) = event {
            let val = line
                .val_loss
                .map_or(String::new(), |v| format!(", validation {v:.3}"));
            println!(
                "iteration {}: training {:.3}{val} nats/char",
                line.iter, line.smooth_loss
            );
        }
    })?;
    println!(
        "{} iterations at {:.0} chars/s",
        summary.iters, summary.chars_per_sec
    );
    let (model, vocab) = trainer.into_model();
    let opts = SampleOptions {
        temperature: 0.7,
        ..SampleOptions::default()
    };
    println!("{}", generate(&model, &vocab, "the ", 120, &opts, 1)?);
    Ok(())
}
