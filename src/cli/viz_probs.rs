use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use recur::Result;
use recur::checkpoint::load_model;
use recur::viz::probs;

#[derive(Args, Debug)]
pub struct ProbsArgs {
    /// model.safetensors of a language model, or its run folder.
    #[arg(long)]
    checkpoint: PathBuf,
    #[command(flatten)]
    input: super::viz_input::InputArgs,
    /// Rows: the K characters most likely on average, then "other" for the
    /// rest (0: the whole vocabulary).
    #[arg(long, default_value_t = 12)]
    top_k: usize,
    /// The picture (.png or .svg).
    #[arg(long)]
    out: PathBuf,
}

pub fn run(a: ProbsArgs) -> Result<ExitCode> {
    let ckpt = load_model(&super::model_file(&a.checkpoint))?;
    let input = a.input.read(&ckpt.vocab)?;
    probs::draw(&ckpt.net, &ckpt.vocab, &input, a.top_k, &a.out)?;
    eprintln!("probabilities drawn to {}", a.out.display());
    Ok(ExitCode::SUCCESS)
}
