use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use recur::Result;
use recur::checkpoint::load_model;
use recur::data::read_text;
use recur::train::evaluate_text;

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// model.safetensors, or the run folder holding it.
    #[arg(long)]
    checkpoint: PathBuf,
    /// Text to evaluate on (UTF-8, only characters the model knows).
    #[arg(long)]
    corpus: PathBuf,
}

pub fn run(a: EvalArgs) -> Result<ExitCode> {
    let ckpt = load_model(&super::model_file(&a.checkpoint))?;
    let text = read_text(&a.corpus)?;
    let nats = evaluate_text(&ckpt.net, &ckpt.vocab, &text)?;
    println!(
        "{:.6} nats/char  {:.6} bits/char  ({} characters predicted)",
        nats,
        nats / std::f64::consts::LN_2,
        text.chars().count() - 1
    );
    Ok(ExitCode::SUCCESS)
}
