use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use recur::cell::CellKind;
use recur::checkpoint::load_seq2seq;
use recur::data::pairs::read_pairs;
use recur::data::tasks::{Task, split};
use recur::decode::{DecodeOptions, translate};
use recur::layer::attention::Score;
use recur::model::seq2seq::Seq2SeqConfig;
use recur::optim::{Clip, OptimizerKind, Schedule};
use recur::train::LogWriter;
use recur::train::seq2seq::{Seq2SeqTrainConfig, Seq2SeqTrainer};
use recur::{Activation, Error, Result};

#[derive(Args, Debug)]
pub struct Seq2SeqArgs {
    #[command(subcommand)]
    command: Seq2SeqCommand,
}

#[derive(Subcommand, Debug)]
enum Seq2SeqCommand {
    /// Train an encoder-decoder on a built-in task or a pairs file.
    Train(Box<TrainArgs>),
    /// Translate one input with a trained checkpoint.
    Translate(TranslateArgs),
}

#[derive(Args, Debug)]
struct TrainArgs {
    /// A built-in task: reverse, sort, add or dates.
    #[arg(long, conflicts_with = "pairs")]
    task: Option<String>,
    /// Lengths of reverse/sort examples, as MIN-MAX (default 5-20 / 5-15).
    #[arg(long)]
    lengths: Option<String>,
    /// A file of source<TAB>target lines.
    #[arg(long)]
    pairs: Option<PathBuf>,
    /// Training pairs drawn for a task.
    #[arg(long, default_value_t = 20_000)]
    train_size: usize,
    /// Held-out pairs drawn for a task.
    #[arg(long, default_value_t = 500)]
    test_size: usize,
    /// Fraction of a pairs file held out.
    #[arg(long, default_value_t = 0.05)]
    val_frac: f64,
    /// Cell of encoder and decoder: gru, lstm or rnn.
    #[arg(long, default_value = "gru", value_parser = ["gru", "lstm", "rnn"])]
    cell: String,
    /// Attention: none, bahdanau, luong-dot or luong-general.
    #[arg(long, default_value = "luong-general", value_parser = ["none", "bahdanau", "luong-dot", "luong-general"])]
    attention: String,
    /// Encoder hidden size per direction.
    #[arg(long, default_value_t = 128)]
    hidden: usize,
    /// Character embedding size.
    #[arg(long, default_value_t = 32)]
    embed: usize,
    /// Layers of encoder and decoder.
    #[arg(long, default_value_t = 1)]
    layers: usize,
    /// A bidirectional encoder.
    #[arg(long)]
    bidirectional: bool,
    /// Pairs per batch.
    #[arg(long, default_value_t = 32)]
    batch: usize,
    /// sgd, adagrad, rmsprop or adam.
    #[arg(long, default_value = "adam")]
    optimizer: String,
    /// Learning rate.
    #[arg(long, default_value_t = 1e-3, allow_hyphen_values = true)]
    lr: f64,
    /// Clip the global gradient norm.
    #[arg(long, default_value_t = 5.0, allow_hyphen_values = true)]
    clip_norm: f64,
    /// Learning-rate schedule: cosine (down to 5% at the end) or constant.
    /// With cosine, resuming with a larger --iters stretches the schedule.
    #[arg(long, default_value = "cosine", value_parser = ["cosine", "constant"])]
    schedule: String,
    /// Probability of teacher forcing per batch.
    #[arg(long, default_value_t = 1.0, allow_hyphen_values = true)]
    teacher_forcing: f64,
    /// Training iterations.
    #[arg(long, conflicts_with = "epochs")]
    iters: Option<u64>,
    /// Passes over the training pairs.
    #[arg(long)]
    epochs: Option<u64>,
    /// Measure held-out accuracy and save every N iterations.
    #[arg(long, default_value_t = 500)]
    eval_every: u64,
    /// Seed.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Run folder.
    #[arg(long, default_value = "out-seq2seq")]
    out: PathBuf,
    /// Append a JSON-lines log here.
    #[arg(long)]
    log: Option<PathBuf>,
    /// Continue the run saved in --out (repeat the original flags).
    #[arg(long)]
    resume: bool,
}

#[derive(Args, Debug)]
struct TranslateArgs {
    /// model.safetensors of a seq2seq run, or its folder.
    #[arg(long)]
    checkpoint: PathBuf,
    /// The text to translate.
    #[arg(long)]
    input: String,
    /// Beam width (1: greedy).
    #[arg(long, default_value_t = 1)]
    beam: usize,
    /// Rank beams by log p / length^A.
    #[arg(long, default_value_t = 0.0)]
    length_alpha: f64,
    /// Longest output.
    #[arg(long, default_value_t = 100)]
    max_len: usize,
    /// Draw the attention matrix to this file (.png or .svg).
    #[arg(long)]
    show_attention: Option<PathBuf>,
}

pub fn run(a: Seq2SeqArgs) -> Result<ExitCode> {
    match a.command {
        Seq2SeqCommand::Train(t) => train(*t),
        Seq2SeqCommand::Translate(t) => translate_cmd(t),
    }
}

fn train(a: TrainArgs) -> Result<ExitCode> {
    let (train_pairs, test_pairs, source) = match (&a.task, &a.pairs) {
        (Some(name), _) => {
            let mut task: Task = name.parse()?;
            if let Some(l) = &a.lengths {
                let bad = || Error::Config(format!("--lengths {l}: give MIN-MAX, e.g. 15-20"));
                let (lo, hi) = l.split_once('-').ok_or_else(bad)?;
                task = task.with_lengths(
                    lo.trim().parse().map_err(|_| bad())?,
                    hi.trim().parse().map_err(|_| bad())?,
                )?;
            }
            let (tr, te) = split(task, a.train_size, a.test_size, a.seed)?;
            (tr, te, format!("the {name} task"))
        }
        (_, Some(path)) => {
            let mut pairs = read_pairs(path)?;
            let n_test = (pairs.len() as f64 * a.val_frac).round() as usize;
            let test = pairs.split_off(pairs.len() - n_test.min(pairs.len().saturating_sub(1)));
            (pairs, test, path.display().to_string())
        }
        _ => {
            return Err(Error::Config(
                "give --task reverse|sort|add|dates or --pairs FILE".into(),
            ));
        }
    };
    let cell = match a.cell.as_str() {
        "lstm" => CellKind::Lstm,
        "rnn" => CellKind::Rnn(Activation::Tanh),
        _ => CellKind::Gru,
    };
    let attention = match a.attention.as_str() {
        "bahdanau" => Some(Score::Bahdanau),
        "luong-dot" => Some(Score::LuongDot),
        "luong-general" => Some(Score::LuongGeneral),
        _ => None,
    };
    let model = Seq2SeqConfig {
        cell,
        src_vocab: 1,
        tgt_vocab: 1,
        embed: a.embed,
        hidden: a.hidden,
        layers: a.layers,
        bidirectional: a.bidirectional,
        attention,
        attention_size: a.hidden,
    };
    let config = Seq2SeqTrainConfig {
        batch: a.batch,
        optimizer: OptimizerKind::from_name(&a.optimizer, 0.0)?,
        lr: a.lr,
        clip: Clip::GlobalNorm(a.clip_norm),
        schedule: match a.schedule.as_str() {
            "constant" => Schedule::Constant,
            _ => Schedule::Cosine { floor: 0.05 },
        },
        teacher_forcing: a.teacher_forcing,
        eval_every: a.eval_every,
        seed: a.seed,
        ..Seq2SeqTrainConfig::default()
    };
    let (n_train, n_test) = (train_pairs.len(), test_pairs.len());
    let per_epoch = n_train.div_ceil(a.batch.max(1)) as u64;
    let total = match (a.iters, a.epochs) {
        (Some(0), _) => return Err(Error::Config("--iters must be at least 1".into())),
        (_, Some(0)) => return Err(Error::Config("--epochs must be at least 1".into())),
        (Some(n), _) => n,
        (_, Some(e)) => e * per_epoch,
        _ => 10 * per_epoch,
    };
    let mut trainer = match a.resume {
        true => Seq2SeqTrainer::resume(&a.out, model, config, train_pairs, test_pairs, total)?,
        false => Seq2SeqTrainer::new(model, config, train_pairs, test_pairs, total)?,
    };
    eprintln!(
        "training a {} encoder-decoder ({} attention, H={}) on {source}: {n_train} training and {n_test} held-out pairs, {total} iterations",
        a.cell, a.attention, a.hidden
    );
    let mut log = a.log.as_deref().map(LogWriter::append).transpose()?;
    let started = std::time::Instant::now();
    let accuracy = trainer.run(Some(&a.out), log.as_mut(), &mut |line, acc| {
        if let Some(acc) = acc {
            eprintln!(
                "iter {:>7}  loss {:.4}  held-out exact match {:.2}%",
                line.iter,
                line.train_loss,
                100.0 * acc
            );
        }
    })?;
    let secs = started.elapsed().as_secs_f64();
    if let Some(acc) = accuracy {
        println!(
            "held-out exact match: {:.2}% ({n_test} pairs) after {} iterations in {secs:.0} s; saved to {}",
            100.0 * acc,
            trainer.iter(),
            a.out.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn translate_cmd(a: TranslateArgs) -> Result<ExitCode> {
    let (model, vocab) = load_seq2seq(&super::model_file(&a.checkpoint))?;
    let opts = DecodeOptions {
        beam: a.beam,
        max_len: a.max_len,
        length_alpha: a.length_alpha,
    };
    if let Some(path) = &a.show_attention {
        recur::viz::format_of(path)?;
        if model.config().attention.is_none() {
            return Err(Error::Config(
                "--show-attention needs a model trained with attention".into(),
            ));
        }
    }
    let out = translate(&model, &vocab, &a.input, &opts)?;
    println!("{}", out.text);
    eprintln!("log-probability {:.4}", out.log_prob);
    if let Some(path) = &a.show_attention {
        // Rows: each output token (■ for the end marker); columns: the input.
        let rows: Vec<char> = out
            .tokens
            .iter()
            .map(|&t| {
                if t == vocab.end() {
                    '■'
                } else {
                    vocab.tgt.char(t).unwrap_or('?')
                }
            })
            .collect();
        let cols: Vec<char> = a.input.chars().collect();
        recur::viz::heatmap::draw(
            path,
            &out.attention,
            &rows,
            &cols,
            &format!("attention: {} → {}", a.input, out.text),
        )?;
        eprintln!("attention drawn to {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}
