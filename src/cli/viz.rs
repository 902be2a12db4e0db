use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use recur::Result;
use recur::viz::loss::{self, Axis};

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
    }
}
