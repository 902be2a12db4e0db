//! `--text STRING` or `--file PATH`: what a picture runs the model over,
//! the same two flags with the same meaning in every `viz` command.

use std::path::PathBuf;

use clap::Args;

use recur::Result;
use recur::data::CharVocab;
use recur::viz::input::Input;

/// The text itself or a file holding it; exactly one.
#[derive(Args, Debug)]
#[group(required = true, multiple = false)]
pub struct InputArgs {
    /// The text to run the model over, as given (for a model trained on a
    /// word list: words, one per line).
    #[arg(long)]
    text: Option<String>,
    /// A file holding the text (for a model trained on a word list: a word
    /// list, one word per line).
    #[arg(long)]
    file: Option<PathBuf>,
}

impl InputArgs {
    /// The input as the model reads it.
    pub fn read(&self, vocab: &CharVocab) -> Result<Input> {
        match (&self.text, &self.file) {
            (Some(text), _) => Input::of_text(text, vocab),
            (_, Some(path)) => Input::read(path, vocab),
            // clap requires one of the two.
            (None, None) => Err(recur::Error::Config(
                "give --text TEXT or --file FILE".into(),
            )),
        }
    }
}
