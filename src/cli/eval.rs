use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use recur::Result;
use recur::checkpoint::load_model;
use recur::data::{read_text, read_words};
use recur::train::{evaluate_text, evaluate_words};

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// model.safetensors, or the run folder holding it.
    #[arg(long)]
    checkpoint: PathBuf,
    /// Text to evaluate on (UTF-8, only characters the model knows); for a
    /// model trained on a word list, a word list (one word per line).
    #[arg(long)]
    corpus: PathBuf,
}

pub fn run(a: EvalArgs) -> Result<ExitCode> {
    let ckpt = load_model(&super::model_file(&a.checkpoint))?;
    // A word model reads the file as a word list, one sequence per line.
    let (nats, what) = if ckpt.vocab.has_markers() {
        let words = read_words(&a.corpus)?;
        let n = words.iter().map(|w| w.chars().count() + 1).sum::<usize>();
        let nats = evaluate_words(&ckpt.net, &ckpt.vocab, &words)?;
        (
            nats,
            format!(
                "{} words, {n} characters and word ends predicted",
                words.len()
            ),
        )
    } else {
        let text = read_text(&a.corpus)?;
        let nats = evaluate_text(&ckpt.net, &ckpt.vocab, &text)?;
        (
            nats,
            format!("{} characters predicted", text.chars().count() - 1),
        )
    };
    println!(
        "{:.6} nats/char  {:.6} bits/char  ({what})",
        nats,
        nats / std::f64::consts::LN_2,
    );
    Ok(ExitCode::SUCCESS)
}
