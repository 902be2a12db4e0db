use std::process::ExitCode;

use clap::Args;
use clap::builder::PossibleValuesParser;

use recur::Result;
use recur::cell::CellKind;
use recur::gradcheck::{self, TOLERANCE};

#[derive(Args, Debug)]
pub struct GradcheckArgs {
    /// Which model's gradients to check.
    #[arg(long, default_value = "all", value_parser = models())]
    model: String,
}

/// The names `--model` takes: every cell's, then `seq2seq` and `all`.
fn models() -> PossibleValuesParser {
    PossibleValuesParser::new(CellKind::names().into_iter().chain(["seq2seq", "all"]))
}

pub fn run(args: GradcheckArgs) -> Result<ExitCode> {
    let reports = gradcheck::run(&args.model)?;
    let mut failed = 0;
    for r in &reports {
        let verdict = if r.passed() { "ok" } else { "FAIL" };
        println!("{verdict:4}  {:.2e}  {}", r.max_rel_error(), r.case);
        for t in r.tensors.iter().filter(|t| t.max_rel_error > TOLERANCE) {
            println!(
                "      {:.2e}  {} ({} values)",
                t.max_rel_error, t.name, t.count
            );
        }
        failed += usize::from(!r.passed());
    }
    println!(
        "{} passed, {failed} failed (max relative error tolerated: {TOLERANCE:.0e}, f64 five-point differences)",
        reports.len() - failed
    );
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
