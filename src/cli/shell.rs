//! `recur completions SHELL` and `recur man`: shell completions and manual
//! pages generated from the same clap definitions the command line parses
//! with, so they cannot drift from it.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, CommandFactory};
use clap_complete::Shell;

use recur::{Error, Result};

use super::Cli;
use super::out::print_with;

#[derive(Args, Debug)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    shell: Shell,
}

#[derive(Args, Debug)]
pub struct ManArgs {
    /// Write recur.1 and a page per subcommand (recur-train.1,
    /// recur-seq2seq-train.1, ...) into this folder, replacing pages of the
    /// same names, instead of printing recur(1) to standard output.
    #[arg(long)]
    out: Option<PathBuf>,
}

/// The command line's definition, as `recur` (whatever the binary's file
/// is called).
fn command() -> clap::Command {
    Cli::command().bin_name("recur")
}

/// Print the completion script for `args.shell` to standard output.
pub fn completions(args: CompletionsArgs) -> Result<ExitCode> {
    let mut cmd = command();
    print_with(|out| {
        clap_complete::generate(args.shell, &mut cmd, "recur", out);
        Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Print recur(1) in roff to standard output, or write every page into
/// `args.out`.
pub fn man(args: ManArgs) -> Result<ExitCode> {
    match args.out {
        None => print_with(|out| clap_mangen::Man::new(command()).render(out))?,
        Some(dir) => write_pages(&dir)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// Write recur.1 and one page per subcommand into `dir`, created if missing,
/// and say where on stderr.
fn write_pages(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    clap_mangen::generate_to(command(), dir).map_err(|e| Error::io(dir, e))?;
    eprintln!(
        "wrote recur.1 and a page per subcommand into {}; `man -l {}` reads one",
        dir.display(),
        dir.join("recur.1").display()
    );
    Ok(())
}
