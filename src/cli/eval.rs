use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use recur::Result;
use recur::backend::Backend;
use recur::checkpoint::load_model;
use recur::data::CharVocab;
use recur::data::{read_text, read_words};
use recur::model::Net;
use recur::train::{evaluate_text, evaluate_words};

use super::device::on_device;

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// model.safetensors, or the run folder holding it.
    #[arg(long)]
    checkpoint: PathBuf,
    /// Text to evaluate on (UTF-8, only characters the model knows); for a
    /// model trained on a word list, a word list (one word per line).
    #[arg(long)]
    corpus: PathBuf,
    #[command(flatten)]
    device: super::device::DeviceArgs,
}

pub fn run(a: EvalArgs) -> Result<ExitCode> {
    let ckpt = load_model(&super::model_file(&a.checkpoint))?;
    let (vocab, config, params) = (ckpt.vocab, ckpt.net.config().clone(), ckpt.net.params);
    let (nats, what) = on_device!(a.device.open()?, k => {
        evaluate(&Net::from_params_on(k, config, params)?, &vocab, &a)
    })?;
    println!(
        "{:.6} nats/char  {:.6} bits/char  ({what})",
        nats,
        nats / std::f64::consts::LN_2,
    );
    Ok(ExitCode::SUCCESS)
}

/// The mean loss of `net` on the file `a` names, and what it covered.
fn evaluate<K: Backend<f32>>(
    net: &Net<f32, K>,
    vocab: &CharVocab,
    a: &EvalArgs,
) -> Result<(f64, String)> {
    // A word model reads the file as a word list, one sequence per line.
    if vocab.has_markers() {
        let words = read_words(&a.corpus)?;
        let n = words.iter().map(|w| w.chars().count() + 1).sum::<usize>();
        let nats = evaluate_words(net, vocab, &words)?;
        let what = format!(
            "{} words, {n} characters and word ends predicted",
            words.len()
        );
        Ok((nats, what))
    } else {
        let text = read_text(&a.corpus)?;
        let nats = evaluate_text(net, vocab, &text)?;
        Ok((
            nats,
            format!("{} characters predicted", text.chars().count() - 1),
        ))
    }
}
