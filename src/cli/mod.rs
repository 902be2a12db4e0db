//! Argument definitions and dispatch for each subcommand.

mod bench;
mod eval;
mod forecast;
mod gradcheck;
mod sample;
mod seq2seq;
mod train;
mod viz;
mod viz_probs;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use recur::Result;

/// Recurrent neural networks from their equations: train a character-level
/// language model on your text, sample from it, check its gradients.
#[derive(Parser, Debug)]
#[command(name = "recur", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Train a character-level language model (on a built-in Latin text when
    /// no --corpus or --words is given) and print a sample.
    Train(Box<train::TrainArgs>),
    /// Generate text from a trained checkpoint.
    Sample(sample::SampleArgs),
    /// Loss of a checkpoint on a text, in nats and bits per character.
    Eval(eval::EvalArgs),
    /// Check every gradient against finite differences (f64); exit 0 only
    /// if all pass.
    Gradcheck(gradcheck::GradcheckArgs),
    /// Measure training throughput (characters/s, GFLOP/s) on synthetic data.
    Bench(bench::BenchArgs),
    /// Sequence-to-sequence models: train, translate.
    Seq2seq(seq2seq::Seq2SeqArgs),
    /// Pictures: loss curves, probabilities, t-SNE, the activation viewer.
    Viz(viz::VizArgs),
    /// Forecast numeric time series (in progress: train and report).
    Forecast(forecast::ForecastArgs),
}

/// Run the parsed command.
pub fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Train(a) => train::run(*a),
        Command::Sample(a) => sample::run(a),
        Command::Eval(a) => eval::run(a),
        Command::Gradcheck(a) => gradcheck::run(a),
        Command::Bench(a) => bench::run(a),
        Command::Seq2seq(a) => seq2seq::run(a),
        Command::Viz(a) => viz::run(a),
        Command::Forecast(a) => forecast::run(a),
    }
}

/// A checkpoint given as a file or as a run folder holding `model.safetensors`.
fn model_file(path: &Path) -> PathBuf {
    if path.is_dir() {
        path.join("model.safetensors")
    } else {
        path.to_path_buf()
    }
}
