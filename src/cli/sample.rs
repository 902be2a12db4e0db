use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use recur::checkpoint::{ModelCheckpoint, load_model};
use recur::data::words::MAX_WORD_CHARS;
use recur::sample::{MAX_WORDS, SampleOptions, generate, lead, novelty, sample_words_with_prefix};
use recur::{Error, Result};

#[derive(Args, Debug)]
pub struct SampleArgs {
    /// model.safetensors, or the run folder holding it.
    #[arg(long)]
    checkpoint: PathBuf,
    /// Text to start from (printed before the sample). Without it, the
    /// sample starts after the first character of the training text, where
    /// training started from a zero state. With --count, every word starts
    /// with it (and is printed with it).
    #[arg(long, default_value = "")]
    prime: String,
    /// Characters to generate. With --count, the most characters of each
    /// word after the prime (1 to 10000): a word the model has not ended
    /// by then is cut there.
    #[arg(long, default_value_t = 500, allow_hyphen_values = true)]
    length: usize,
    /// Print N whole words, one per line, each from the start of a word to
    /// its end (a model trained with `recur train --words`; running text
    /// samples with --length). CPU only for now.
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    count: Option<usize>,
    /// With --count: the training word list (one word per line); each
    /// sampled word not in it is marked "(new)", and a last line on stderr
    /// counts the new ones.
    #[arg(long, value_name = "FILE")]
    words: Option<PathBuf>,
    /// Below 1: safer, more repetitive; above 1: more surprising.
    #[arg(long, default_value_t = 1.0, allow_hyphen_values = true)]
    temperature: f64,
    /// Sample only among the K most likely characters.
    #[arg(long, allow_hyphen_values = true)]
    top_k: Option<usize>,
    /// Always take the most likely character.
    #[arg(long)]
    greedy: bool,
    /// Seed of the sampler [default: from the clock]. With --device gpu
    /// every character is drawn on the GPU, from another generator than the
    /// CPU's: a seed gives another text there (--greedy the same).
    #[arg(long)]
    seed: Option<u64>,
    #[command(flatten)]
    device: super::device::DeviceArgs,
}

pub fn run(a: SampleArgs) -> Result<ExitCode> {
    if a.words.is_some() && a.count.is_none() {
        return Err(Error::Config(
            "--words marks which sampled words are new, so it needs --count N (the number of words to sample)".into(),
        ));
    }
    if let Some(count) = a.count {
        recur::check::between("--count", count, 1, MAX_WORDS)?;
        recur::check::between(
            "--length (with --count, per word)",
            a.length,
            1,
            MAX_WORD_CHARS,
        )?;
        if a.device.is_gpu() {
            return Err(Error::Config(
                "--count samples on the CPU only for now: drop --device gpu (or sample running text with --length on the GPU)".into(),
            ));
        }
    }
    recur::check::between("--length", a.length, 0, recur::sample::MAX_LENGTH)?;
    let ckpt = load_model(&super::model_file(&a.checkpoint))?;
    let opts = SampleOptions {
        temperature: a.temperature,
        top_k: a.top_k,
        greedy: a.greedy,
    };
    let seed = a.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0)
    });
    if let Some(count) = a.count {
        return print_words(&a, &ckpt, count, &opts, seed);
    }
    let start = std::time::Instant::now();
    let text = match a.device.open()? {
        super::device::Device::Cpu => {
            generate(&ckpt.net, &ckpt.vocab, &a.prime, a.length, &opts, seed)?
        }
        #[cfg(feature = "gpu")]
        super::device::Device::Gpu(gpu) => {
            let (config, params) = (ckpt.net.config().clone(), ckpt.net.params);
            let net = recur::model::Net::from_params_on(gpu, config, params)?;
            recur::sample::generate_on(&net, &ckpt.vocab, &a.prime, a.length, &opts, seed)?
        }
    };
    let secs = start.elapsed().as_secs_f64();
    println!("{}{text}", lead(&ckpt.vocab, &a.prime));
    let n = text.chars().count();
    eprintln!(
        "generated {n} characters in {secs:.3} s ({:.0} characters/s)",
        n as f64 / secs.max(1e-9)
    );
    Ok(ExitCode::SUCCESS)
}

/// `--count N`: N whole words, one per line; with `--words FILE` the new
/// ones marked and counted.
fn print_words(
    a: &SampleArgs,
    ckpt: &ModelCheckpoint,
    count: usize,
    opts: &SampleOptions,
    seed: u64,
) -> Result<ExitCode> {
    if !ckpt.vocab.has_markers() {
        return Err(Error::Config(
            "--count is for word-list models (trained with recur train --words); this model was trained on running text: use --length N to sample N characters of it".into(),
        ));
    }
    // Read the list before sampling, so that a bad path fails at once.
    let training = match &a.words {
        Some(path) => Some((path, recur::data::read_words(path)?)),
        None => None,
    };
    let start = std::time::Instant::now();
    let words = sample_words_with_prefix(
        &ckpt.net,
        &ckpt.vocab,
        &a.prime,
        count,
        opts,
        seed,
        a.length,
    )?;
    let secs = start.elapsed().as_secs_f64();
    let Some((path, training)) = training else {
        for w in &words {
            println!("{w}");
        }
        eprintln!("sampled {count} words in {secs:.3} s");
        return Ok(ExitCode::SUCCESS);
    };
    let marks = novelty(&words, &training);
    // Align the marks in a column (up to a sensible width).
    let width = words
        .iter()
        .map(|w| w.chars().count())
        .max()
        .unwrap_or(0)
        .min(40);
    for (w, &new) in words.iter().zip(&marks.is_new) {
        if new {
            println!("{w:<width$}  (new)");
        } else {
            println!("{w}");
        }
    }
    eprintln!("sampled {count} words in {secs:.3} s");
    eprintln!(
        "{} of {count} words are new ({:.0}%); {} are in {}",
        marks.new_count(),
        100.0 * marks.fraction_new(),
        marks.known_count(),
        path.display()
    );
    Ok(ExitCode::SUCCESS)
}
