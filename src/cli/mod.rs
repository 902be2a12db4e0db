//! Argument definitions and dispatch for each subcommand.

mod bench;
mod device;
mod eval;
mod forecast;
mod forecast_time;
mod gradcheck;
mod out;
mod ranks;
mod sample;
mod seq2seq;
mod shell;
mod train;
mod viz;
mod viz_input;
mod viz_probs;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Parser, Subcommand};

use recur::Result;
use recur::cell::CellKind;

/// Recurrent neural networks from their equations: train a character-level
/// language model on your text and sample from it, translate sequences,
/// forecast time series, draw what a model learned, check its gradients.
#[derive(Parser, Debug)]
#[command(name = "recur", version, long_about = None)]
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
    /// Forecast numeric time series: train on a CSV or a synthetic series,
    /// predict ahead, plot.
    Forecast(forecast::ForecastArgs),
    /// List the GPU adapters --device gpu can use.
    Devices,
    /// Print a shell completion script: bash, zsh, fish, powershell, elvish.
    Completions(shell::CompletionsArgs),
    /// Print the manual page recur(1), or write every page into a folder.
    Man(shell::ManArgs),
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
        Command::Devices => device::list(),
        Command::Completions(a) => shell::completions(a),
        Command::Man(a) => shell::man(a),
    }
}

/// The value parser of a cell flag (`--model`, `--cell`): the names
/// [`CellKind`] reads, listed in `--help` and in clap's error for any other
/// word (`rnn` is the tanh RNN; `recur train --activation` picks relu).
fn cell_kind() -> impl TypedValueParser<Value = CellKind> {
    PossibleValuesParser::new(CellKind::names()).try_map(|name| name.parse::<CellKind>())
}

/// A checkpoint given as a file or as a run folder holding `model.safetensors`.
fn model_file(path: &Path) -> PathBuf {
    if path.is_dir() {
        path.join("model.safetensors")
    } else {
        path.to_path_buf()
    }
}

/// On `--resume`: an error naming every flag whose value differs from the
/// saved run's. `saved` is the run's settings, `given` the same settings
/// with the command line's flags applied over them; `flags` names the flag
/// of each setting whose flag is not `--` plus its name in kebab case.
fn check_resume_flags<T: serde::Serialize>(
    saved: &T,
    given: &T,
    flags: &[(&str, &str)],
) -> Result<()> {
    let (saved, given) = (serde_json::json!(saved), serde_json::json!(given));
    let (Some(saved), Some(given)) = (saved.as_object(), given.as_object()) else {
        return Ok(());
    };
    // Settings at their defaults may be left out of either side.
    let shown =
        |v: Option<&serde_json::Value>| v.map_or("the default".to_string(), |v| v.to_string());
    let mut keys: Vec<&String> = saved.keys().chain(given.keys()).collect();
    keys.sort();
    keys.dedup();
    let differing: Vec<String> = keys
        .into_iter()
        .filter(|k| saved.get(*k) != given.get(*k))
        .map(|k| {
            let flag = flags
                .iter()
                .find(|f| f.0 == k)
                .map(|f| f.1.to_string())
                .unwrap_or_else(|| format!("--{}", k.replace('_', "-")));
            format!(
                "{flag} (the run has {}, the command gives {})",
                shown(saved.get(k)),
                shown(given.get(k))
            )
        })
        .collect();
    if differing.is_empty() {
        return Ok(());
    }
    Err(recur::Error::Config(format!(
        "--resume continues a run with its saved settings, and these differ: {}; drop them or give the saved values (or start a new run with --overwrite or another --out)",
        differing.join(", ")
    )))
}

/// Run this process's parallel work on `n` threads (`None` or 0: one per
/// core). Call it before anything else uses a thread pool. Results do not
/// depend on it.
fn use_threads(n: Option<usize>) -> Result<()> {
    const MAX: usize = 1024;
    let n = n.unwrap_or(0);
    if n > MAX {
        return Err(recur::Error::Config(format!(
            "--threads {n} is more than this program uses ({MAX} at most); give the number of cores, or leave it out for all of them"
        )));
    }
    recur::tensor::set_threads(n);
    rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .build_global()
        .map_err(|e| recur::Error::Config(format!("--threads {n}: cannot start the threads: {e}")))
}

/// The run folder's mode from `--resume` and `--overwrite`.
fn run_mode(resume: bool, overwrite: bool) -> recur::train::RunMode {
    use recur::train::RunMode;
    match (resume, overwrite) {
        (true, _) => RunMode::Resume,
        (_, true) => RunMode::Overwrite,
        _ => RunMode::New,
    }
}

/// The target of a resumed run in `out` that has done `done` of its saved
/// `total` iterations, given the target the command line `asked` for:
/// `Some(target)` to train on, `None` when the run is finished and nothing
/// more was asked (said on stderr; not an error).
fn resume_target(out: &Path, done: u64, total: u64, asked: Option<u64>) -> Result<Option<u64>> {
    match asked {
        Some(asked) if asked <= done => Err(recur::Error::Config(format!(
            "--iters {asked} (or the --epochs that gives it): the run has already done {done} iterations; give a target above that to train it further"
        ))),
        Some(asked) => Ok(Some(asked)),
        None if done >= total => {
            eprintln!(
                "the run in {} is finished: {done} of {total} iterations; add --iters N (N above {done}) to train it further",
                out.display()
            );
            Ok(None)
        }
        None => Ok(Some(total)),
    }
}
