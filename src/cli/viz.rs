use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use recur::Result;
use recur::viz::loss::{self, Axis};
use recur::viz::tsne;

#[derive(Args, Debug)]
pub struct VizArgs {
    #[command(subcommand)]
    command: VizCommand,
}

#[derive(Subcommand, Debug)]
enum VizCommand {
    /// Training and validation loss curves of one or more runs.
    Loss(LossArgs),
    /// The model's next-character probabilities at every step of a text.
    Probs(super::viz_probs::ProbsArgs),
    /// Hidden states of a text embedded in 2-D with t-SNE, coloured by the
    /// class of the character just read.
    Tsne(TsneArgs),
    /// A self-contained HTML page: the text coloured by any hidden unit,
    /// the most selective units, top-5 predictions on hover.
    Activations(ActivationsArgs),
}

#[derive(Args, Debug)]
struct ActivationsArgs {
    /// model.safetensors of a language model, or its run folder.
    #[arg(long)]
    checkpoint: PathBuf,
    #[command(flatten)]
    input: super::viz_input::InputArgs,
    /// Show the first N characters.
    #[arg(long, default_value_t = 3000)]
    max_chars: usize,
    /// The page (.html).
    #[arg(long)]
    out: PathBuf,
}

#[derive(Args, Debug)]
struct TsneArgs {
    /// model.safetensors of a language model, or its run folder.
    #[arg(long)]
    checkpoint: PathBuf,
    #[command(flatten)]
    input: super::viz_input::InputArgs,
    /// Which layer's states (0 = first).
    #[arg(long, default_value_t = 0)]
    layer: usize,
    /// Use the states after the first N characters.
    #[arg(long, default_value_t = 2000)]
    points: usize,
    /// Label this many points (evenly spaced) with their character.
    #[arg(long, default_value_t = 60)]
    labels: usize,
    /// Seed of t-SNE's initial layout.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// The picture (.png or .svg).
    #[arg(long)]
    out: PathBuf,
}

#[derive(Args, Debug)]
struct LossArgs {
    /// A JSON-lines log from `recur train --log` (repeat to overlay runs).
    #[arg(long = "log", required = true)]
    logs: Vec<PathBuf>,
    /// The x axis: iters or seconds.
    #[arg(long, default_value = "iters", value_parser = ["iters", "seconds"])]
    x: String,
    /// The picture (.png or .svg).
    #[arg(long)]
    out: PathBuf,
}

pub fn run(a: VizArgs) -> Result<ExitCode> {
    match a.command {
        VizCommand::Loss(l) => {
            let axis = if l.x == "seconds" {
                Axis::Seconds
            } else {
                Axis::Iterations
            };
            loss::draw(&l.logs, axis, &l.out)?;
            eprintln!("loss curves drawn to {}", l.out.display());
            Ok(ExitCode::SUCCESS)
        }
        VizCommand::Probs(p) => super::viz_probs::run(p),
        VizCommand::Tsne(t) => tsne(t),
        VizCommand::Activations(a) => {
            let ckpt = recur::checkpoint::load_model(&super::model_file(&a.checkpoint))?;
            let input = a.input.read(&ckpt.vocab)?;
            recur::viz::activations::write_page(
                &ckpt.net,
                &ckpt.vocab,
                &input,
                a.max_chars,
                &a.out,
            )?;
            eprintln!(
                "activation viewer written to {} (open it in a browser)",
                a.out.display()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn tsne(a: TsneArgs) -> Result<ExitCode> {
    recur::viz::format_of(&a.out)?;
    let ckpt = recur::checkpoint::load_model(&super::model_file(&a.checkpoint))?;
    let input = a.input.read(&ckpt.vocab)?;
    let start = std::time::Instant::now();
    let (chars, states) = tsne::hidden_states(&ckpt.net, &ckpt.vocab, &input, a.layer, a.points)?;
    let dim = states.len() / chars.len();
    let coords = tsne::embed(&states, dim, a.seed)?;
    let title = format!(
        "t-SNE of {} hidden states (layer {}, {dim} values each)",
        chars.len(),
        a.layer
    );
    tsne::draw(&a.out, &coords, &chars, a.labels, &title)?;
    eprintln!(
        "{} states embedded in {:.1} s, drawn to {}",
        chars.len(),
        start.elapsed().as_secs_f64(),
        a.out.display()
    );
    Ok(ExitCode::SUCCESS)
}
