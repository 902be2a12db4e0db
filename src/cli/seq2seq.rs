use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use recur::backend::Backend;
use recur::cell::CellKind;
use recur::checkpoint::load_seq2seq;
use recur::data::pairs::PairVocab;
use recur::data::pairs::{Pair, hold_out, read_pairs};
use recur::data::tasks::{Task, split};
use recur::decode::{DecodeOptions, translate};
use recur::layer::attention::Score;
use recur::model::seq2seq::Seq2Seq;
use recur::model::seq2seq::Seq2SeqConfig;
use recur::optim::{Clip, OptimizerKind, Schedule};
use recur::train::distributed::Group;
use recur::train::seq2seq::{Seq2SeqTrainConfig, Seq2SeqTrainer};

use super::device::on_device;
use recur::train::{LogWriter, RunDir, RunMode};
use recur::{Error, Result};

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
    #[arg(long, default_value_t = 20_000, allow_hyphen_values = true)]
    train_size: usize,
    /// Held-out pairs drawn for a task.
    #[arg(long, default_value_t = 500, allow_hyphen_values = true)]
    test_size: usize,
    /// Fraction of a pairs file held out.
    #[arg(long, default_value_t = 0.05, allow_hyphen_values = true)]
    val_frac: f64,
    /// Cell of encoder and decoder: gru, lstm, rnn, mingru, minlstm, slstm or mlstm (not with --bidirectional) [default: gru].
    #[arg(long, value_parser = super::cell_kind())]
    cell: Option<CellKind>,
    /// Attention: none, bahdanau, luong-dot or luong-general
    /// [default: luong-general].
    #[arg(long, value_parser = ["none", "bahdanau", "luong-dot", "luong-general"])]
    attention: Option<String>,
    /// Encoder hidden size per direction [default: 128].
    #[arg(long, allow_hyphen_values = true)]
    hidden: Option<usize>,
    /// Character embedding size [default: 32].
    #[arg(long, allow_hyphen_values = true)]
    embed: Option<usize>,
    /// Layers of encoder and decoder [default: 1].
    #[arg(long, allow_hyphen_values = true)]
    layers: Option<usize>,
    /// A bidirectional encoder.
    #[arg(long)]
    bidirectional: bool,
    /// Pairs per batch [default: 32].
    #[arg(long, allow_hyphen_values = true)]
    batch: Option<usize>,
    /// sgd, adagrad, rmsprop or adam [default: adam].
    #[arg(long)]
    optimizer: Option<String>,
    /// Learning rate [default: 0.001].
    #[arg(long, allow_hyphen_values = true)]
    lr: Option<f64>,
    /// Clip the global gradient norm [default: 5].
    #[arg(long, allow_hyphen_values = true)]
    clip_norm: Option<f64>,
    /// Learning-rate schedule: cosine (down to 5% at the end) or constant
    /// [default: cosine]. With cosine, resuming with a larger --iters
    /// stretches the schedule.
    #[arg(long, value_parser = ["cosine", "constant"])]
    schedule: Option<String>,
    /// Probability of teacher forcing per batch [default: 1].
    #[arg(long, allow_hyphen_values = true)]
    teacher_forcing: Option<f64>,
    /// Training iterations [default: 10 epochs, at least 2000].
    #[arg(long, conflicts_with = "epochs", allow_hyphen_values = true)]
    iters: Option<u64>,
    /// Passes over the training pairs.
    #[arg(long, allow_hyphen_values = true)]
    epochs: Option<u64>,
    /// Measure held-out accuracy and save every N iterations [default: 500].
    #[arg(long, allow_hyphen_values = true)]
    eval_every: Option<u64>,
    /// Seed [default: 42].
    #[arg(long, allow_hyphen_values = true)]
    seed: Option<u64>,
    /// Run folder.
    #[arg(long, default_value = "out-seq2seq")]
    out: PathBuf,
    /// Append a JSON-lines log here.
    #[arg(long)]
    log: Option<PathBuf>,
    /// Continue the run saved in --out (its settings are kept; flags that
    /// are given must match them; --iters/--epochs may raise the target).
    #[arg(long)]
    resume: bool,
    /// Replace the run saved in --out by a new one (without it, training
    /// into a folder that holds a run is refused).
    #[arg(long, conflicts_with = "resume")]
    overwrite: bool,
    #[command(flatten)]
    device: super::device::DeviceArgs,
}

/// The model `recur seq2seq train` builds without flags.
fn default_model() -> Seq2SeqConfig {
    Seq2SeqConfig {
        cell: CellKind::Gru,
        src_vocab: 1,
        tgt_vocab: 1,
        embed: 32,
        hidden: 128,
        layers: 1,
        bidirectional: false,
        attention: Some(Score::LuongGeneral),
        attention_size: 128,
    }
}

impl TrainArgs {
    /// The model the flags ask for, over `d`.
    fn model(&self, d: &Seq2SeqConfig) -> Seq2SeqConfig {
        let attention = match self.attention.as_deref() {
            Some("bahdanau") => Some(Score::Bahdanau),
            Some("luong-dot") => Some(Score::LuongDot),
            Some("luong-general") => Some(Score::LuongGeneral),
            Some(_) => None,
            None => d.attention,
        };
        Seq2SeqConfig {
            cell: self.cell.unwrap_or(d.cell),
            embed: self.embed.unwrap_or(d.embed),
            hidden: self.hidden.unwrap_or(d.hidden),
            layers: self.layers.unwrap_or(d.layers),
            bidirectional: self.bidirectional || d.bidirectional,
            attention,
            attention_size: self.hidden.unwrap_or(d.attention_size),
            ..d.clone()
        }
    }

    /// The training settings the flags ask for, over `d`.
    fn config(&self, d: &Seq2SeqTrainConfig) -> Result<Seq2SeqTrainConfig> {
        Ok(Seq2SeqTrainConfig {
            batch: self.batch.unwrap_or(d.batch),
            optimizer: match &self.optimizer {
                Some(name) => OptimizerKind::from_name(name, 0.0)?,
                None => d.optimizer,
            },
            lr: self.lr.unwrap_or(d.lr),
            clip: self.clip_norm.map(Clip::GlobalNorm).unwrap_or(d.clip),
            schedule: match self.schedule.as_deref() {
                Some(name) => Schedule::from_name(name, Seq2SeqTrainConfig::COSINE_FLOOR)?,
                None => d.schedule,
            },
            teacher_forcing: self.teacher_forcing.unwrap_or(d.teacher_forcing),
            eval_every: self.eval_every.unwrap_or(d.eval_every),
            seed: self.seed.unwrap_or(d.seed),
            ..d.clone()
        })
    }

    /// Training and held-out pairs (drawn with `seed` for a task) and a
    /// description of where they come from.
    fn pairs(&self, seed: u64) -> Result<(Vec<Pair>, Vec<Pair>, String)> {
        recur::check::fraction("--val-frac", self.val_frac)?;
        Ok(match (&self.task, &self.pairs) {
            (Some(name), _) => {
                let mut task: Task = name.parse()?;
                if let Some(l) = &self.lengths {
                    let bad = || Error::Config(format!("--lengths {l}: give MIN-MAX, e.g. 15-20"));
                    let (lo, hi) = l.split_once('-').ok_or_else(bad)?;
                    task = task.with_lengths(
                        lo.trim().parse().map_err(|_| bad())?,
                        hi.trim().parse().map_err(|_| bad())?,
                    )?;
                }
                let (tr, te) = split(task, self.train_size, self.test_size, seed)?;
                (tr, te, format!("the {name} task"))
            }
            (_, Some(path)) => {
                let (train, test) = hold_out(read_pairs(path)?, self.val_frac)?;
                (train, test, path.display().to_string())
            }
            _ => {
                return Err(Error::Config(
                    "give --task reverse|sort|add|dates or --pairs FILE".into(),
                ));
            }
        })
    }

    /// The target the command line asks for, if any.
    fn target(&self, per_epoch: u64) -> Result<Option<u64>> {
        Ok(match (self.iters, self.epochs) {
            (Some(0), _) => return Err(Error::Config("--iters must be at least 1".into())),
            (_, Some(0)) => return Err(Error::Config("--epochs must be at least 1".into())),
            (Some(n), _) => Some(n),
            (_, Some(e)) => Some(e.saturating_mul(per_epoch)),
            _ => None,
        })
    }
}

#[derive(Args, Debug)]
struct TranslateArgs {
    /// model.safetensors of a seq2seq run, or its folder.
    #[arg(long)]
    checkpoint: PathBuf,
    /// The text to translate.
    #[arg(
        long,
        required_unless_present = "input_file",
        conflicts_with = "input_file"
    )]
    input: Option<String>,
    /// Translate every line of this file (`-`: standard input), one output
    /// line per input line.
    #[arg(long)]
    input_file: Option<PathBuf>,
    /// Beam width (1: greedy).
    #[arg(long, default_value_t = 1, allow_hyphen_values = true)]
    beam: usize,
    /// Rank beams by log p / length^A.
    #[arg(long, default_value_t = 0.0, allow_hyphen_values = true)]
    length_alpha: f64,
    /// Longest output.
    #[arg(long, default_value_t = 100, allow_hyphen_values = true)]
    max_len: usize,
    /// Draw the attention matrix to this file (.png or .svg).
    #[arg(long)]
    show_attention: Option<PathBuf>,
    #[command(flatten)]
    device: super::device::DeviceArgs,
}

pub fn run(a: Seq2SeqArgs) -> Result<ExitCode> {
    match a.command {
        Seq2SeqCommand::Train(t) => train(*t),
        Seq2SeqCommand::Translate(t) => translate_cmd(t),
    }
}

fn train(a: TrainArgs) -> Result<ExitCode> {
    let ranks = super::ranks::Ranks::start()?;
    let result = (|| on_device!(a.device.open()?, k => train_on(k, &a, ranks.group())))();
    ranks.end(result)
}

/// Train on backend `k` with the ranks of `group` (the rest of [`train`]).
fn train_on<K: Backend<f32>>(k: K, a: &TrainArgs, group: Group) -> Result<ExitCode> {
    // Rank 0 alone holds the run folder; the others only read it to resume.
    let root = group.is_root();
    let (mut trainer, dir, source) = if a.resume {
        let dir = root
            .then(|| RunDir::open(&a.out, RunMode::Resume, "--out"))
            .transpose()?;
        let (saved_model, saved) = Seq2SeqTrainer::saved_settings(&a.out)?;
        super::check_resume_flags(&saved_model, &a.model(&saved_model), &[])?;
        super::check_resume_flags(&saved, &a.config(&saved)?, &[("clip", "--clip-norm")])?;
        let (train, test, source) = a.pairs(saved.seed)?;
        let mut t = Seq2SeqTrainer::resume_on(k, &a.out, train, test)?;
        match super::resume_target(
            &a.out,
            t.iter(),
            t.total_iters(),
            a.target(t.iters_per_epoch())?,
        )? {
            Some(total) => t.set_total_iters(total),
            None => return Ok(ExitCode::SUCCESS),
        }
        t.set_group(group)?;
        (t, dir, source)
    } else {
        let config = a.config(&Seq2SeqTrainConfig::default())?;
        let (train, test, source) = a.pairs(config.seed)?;
        let per_epoch = train.len().div_ceil(config.batch.max(1)) as u64;
        // Ten passes, but never so few that a small pairs file learns nothing.
        let total = a.target(per_epoch)?.unwrap_or((10 * per_epoch).max(2000));
        let model = a.model(&default_model());
        let mut t = Seq2SeqTrainer::new_on(k, model, config, train, test, total)?;
        // Before the folder is made: a group the batch cannot be split over
        // leaves nothing behind.
        t.set_group(group)?;
        let mode = super::run_mode(false, a.overwrite);
        let dir = root
            .then(|| RunDir::open(&a.out, mode, "--out"))
            .transpose()?;
        (t, dir, source)
    };
    let mut log = match &a.log {
        Some(path) if root => Some(LogWriter::open(path, &trainer.run_id(), trainer.iter())?),
        _ => None,
    };
    let (n_train, n_test) = (trainer.data().0.len(), trainer.data().1.len());
    let m = trainer.model().config().clone();
    eprintln!(
        "training a {} encoder-decoder ({} attention, H={}) on {source}: {n_train} training and {n_test} held-out pairs, iterations {}..{}",
        m.cell.name(),
        m.attention.map(|s| s.name()).unwrap_or("no"),
        m.hidden,
        trainer.iter(),
        trainer.total_iters()
    );
    let started = std::time::Instant::now();
    let mut last_loss = f64::NAN;
    let accuracy = trainer.run(dir.as_ref(), log.as_mut(), &mut |line, acc| {
        last_loss = line.train_loss;
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
    match accuracy {
        Some(acc) => {
            println!(
                "held-out exact match: {:.2}% ({n_test} pairs) after {} iterations in {secs:.0} s; saved to {}",
                100.0 * acc,
                trainer.iter(),
                a.out.display()
            );
            if acc < 0.5 {
                eprintln!(
                    "hint: under half the held-out pairs come out exactly right; the built-in tasks need 4,000-12,000 iterations (see README), small pair files several hundred passes: train further with --resume --iters N, or use a larger --hidden"
                );
            }
        }
        None => println!(
            "trained {} iterations in {secs:.0} s, training loss {last_loss:.4} (no held-out pairs to measure: raise {}); saved to {}",
            trainer.iter(),
            if a.pairs.is_some() {
                "--val-frac"
            } else {
                "--test-size"
            },
            a.out.display()
        ),
    }
    Ok(ExitCode::SUCCESS)
}

fn translate_cmd(a: TranslateArgs) -> Result<ExitCode> {
    let (model, vocab) = load_seq2seq(&super::model_file(&a.checkpoint))?;
    let (config, params) = (model.config().clone(), model.params);
    on_device!(a.device.open()?, k => {
        translate_on(&Seq2Seq::from_params_on(k, config, params)?, &vocab, &a)
    })
}

/// Translate with `model` (the rest of [`translate_cmd`]).
fn translate_on<K: Backend<f32>>(
    model: &Seq2Seq<f32, K>,
    vocab: &PairVocab,
    a: &TranslateArgs,
) -> Result<ExitCode> {
    let opts = DecodeOptions {
        beam: a.beam,
        max_len: a.max_len,
        length_alpha: a.length_alpha,
    };
    opts.validate()?;
    if let Some(path) = &a.show_attention {
        recur::viz::format_of(path)?;
        if model.config().attention.is_none() {
            return Err(Error::Config(
                "--show-attention needs a model trained with attention".into(),
            ));
        }
    }
    let input = match (&a.input, &a.input_file) {
        (Some(text), _) => text.clone(),
        (None, Some(file)) => {
            if a.show_attention.is_some() {
                return Err(Error::Config(
                    "--show-attention draws one translation; give it with --input".into(),
                ));
            }
            return translate_lines(model, vocab, file, &opts);
        }
        (None, None) => {
            return Err(Error::Config(
                "give --input TEXT or --input-file FILE".into(),
            ));
        }
    };
    let out = translate(model, vocab, &input, &opts)?;
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
        let cols: Vec<char> = input.chars().collect();
        recur::viz::heatmap::draw(
            path,
            &out.attention,
            &rows,
            &cols,
            &format!("attention: {input} → {}", out.text),
        )?;
        eprintln!("attention drawn to {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// Translate every line of `file` (`-`: standard input), printing one line
/// each; a line the model cannot read is an error naming it.
fn translate_lines<K: Backend<f32>>(
    model: &Seq2Seq<f32, K>,
    vocab: &PairVocab,
    file: &std::path::Path,
    opts: &DecodeOptions,
) -> Result<ExitCode> {
    use std::io::{BufRead, Write};
    let reader: Box<dyn BufRead> = if file.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        let f = std::fs::File::open(file).map_err(|e| Error::io(file, e))?;
        Box::new(std::io::BufReader::new(f))
    };
    let mut stdout = std::io::stdout().lock();
    for (n, line) in reader.lines().enumerate() {
        let line = line.map_err(|e| Error::io(file, e))?;
        let line = line.trim_end_matches('\r');
        if line.is_empty() {
            // An empty line stays an empty line, so outputs line up.
            if writeln!(stdout).is_err() {
                break;
            }
            continue;
        }
        let out = translate(model, vocab, line, opts)
            .map_err(|e| Error::Data(format!("{}:{}: {e}", file.display(), n + 1)))?;
        if writeln!(stdout, "{}", out.text).is_err() {
            break; // the reader went away (a closed pipe): stop quietly
        }
    }
    Ok(ExitCode::SUCCESS)
}
