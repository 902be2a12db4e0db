use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use recur::backend::Backend;
use recur::cell::CellKind;
use recur::data::{read_text, read_words};
use recur::model::Init;
use recur::optim::{Clip, OptimizerKind, Schedule};
use recur::sample::{SampleOptions, generate, lead};
use recur::train::distributed::Group;
use recur::train::{
    Event, LogWriter, RunDir, RunMode, TrainConfig, TrainData, Trainer, format_duration,
    parse_duration,
};
use recur::{Activation, Error, Result};

use super::device::on_device;

/// Iterations when neither --iters nor --epochs is given.
const DEFAULT_ITERS: u64 = 100_000;

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Text file to learn from (UTF-8). Without it (and without --words), a
    /// built-in Latin text: Cicero's De finibus, book I.
    #[arg(long, conflicts_with = "words")]
    corpus: Option<PathBuf>,
    /// Word list, one word per line: each word is its own sequence.
    #[arg(long)]
    words: Option<PathBuf>,
    /// Settings found to train well, under any flag given: best-30m, the
    /// best model of tiny shakespeare found for 30 minutes on 2 cores: a
    /// 3x512 GRU, dropout 0.5, B=64, T=100, Adam at 2e-3 on a cosine
    /// schedule with 50 warm-up iterations, bf16 where the CPU multiplies
    /// it natively, validated every 250 iterations, for 30 minutes.
    #[arg(long, value_parser = [PRESET_BEST_30M])]
    preset: Option<String>,
    /// Recurrent cell: rnn, lstm, gru, mingru or minlstm (gates from the input only, trained as a scan), slstm (xLSTM: exponential gates, 4 heads), or mlstm (xLSTM: a matrix memory per head, trained in its parallel form) [default: rnn].
    #[arg(long, value_parser = super::cell_kind())]
    model: Option<CellKind>,
    /// Hidden size H [default: 100].
    #[arg(long, allow_hyphen_values = true)]
    hidden: Option<usize>,
    /// Stacked layers [default: 1].
    #[arg(long, allow_hyphen_values = true)]
    layers: Option<usize>,
    /// A learned character embedding of this size instead of one-hot input.
    #[arg(long, allow_hyphen_values = true)]
    embed: Option<usize>,
    /// Dropout between stacked layers, in training [default: 0].
    #[arg(long, allow_hyphen_values = true)]
    dropout: Option<f64>,
    /// Start the forget-gate biases at this value: lstm, minlstm, slstm, mlstm
    /// (char-rnn uses 1 for its LSTM).
    #[arg(long, allow_hyphen_values = true)]
    forget_bias: Option<f64>,
    /// Nonlinearity of the vanilla RNN: tanh or relu [default: tanh].
    #[arg(long)]
    activation: Option<Activation>,
    /// Weight init: classic (randn·0.01) or uniform (PyTorch's ±1/√H)
    /// [default: uniform for lstm, gru, slstm and mlstm, classic for the others].
    #[arg(long, value_parser = ["classic", "uniform"])]
    init: Option<String>,
    /// Characters per training window T [default: 25].
    #[arg(long, allow_hyphen_values = true)]
    seq_len: Option<usize>,
    /// Parallel streams (or words) per batch B [default: 1].
    #[arg(long, allow_hyphen_values = true)]
    batch: Option<usize>,
    /// sgd, adagrad, rmsprop or adam [default: adagrad].
    #[arg(long)]
    optimizer: Option<String>,
    /// Learning rate [default: 0.1].
    #[arg(long, allow_hyphen_values = true)]
    lr: Option<f64>,
    /// Learning-rate schedule: constant, or cosine (half a cosine from
    /// --lr down to a tenth of it at the last iteration, or at the end of
    /// --time) [default: constant].
    #[arg(long, value_parser = ["constant", "cosine"])]
    schedule: Option<String>,
    /// Raise the learning rate linearly from lr/N to lr over the first N
    /// iterations [default: 0, none].
    #[arg(long, allow_hyphen_values = true)]
    warmup: Option<u64>,
    /// Momentum for sgd [default: 0].
    #[arg(long, allow_hyphen_values = true)]
    momentum: Option<f64>,
    /// Clip each gradient value to [-C, C] [default: 5].
    #[arg(long, allow_hyphen_values = true, conflicts_with_all = ["clip_norm", "no_clip"])]
    clip: Option<f64>,
    /// Clip the global gradient norm to N instead.
    #[arg(long, allow_hyphen_values = true, conflicts_with = "no_clip")]
    clip_norm: Option<f64>,
    /// Do not clip gradients.
    #[arg(long)]
    no_clip: bool,
    /// Training iterations [default: 100000].
    #[arg(long, allow_hyphen_values = true, conflicts_with_all = ["epochs", "time"])]
    iters: Option<u64>,
    /// Train for this long instead (90s, 30m, 1h30m): then evaluate, save
    /// and sample. With --resume, the run's whole budget, the time it has
    /// spent included. How far a run gets depends on the machine, so it is
    /// not repeatable bit for bit as an --iters run is.
    #[arg(long, allow_hyphen_values = true, conflicts_with = "epochs")]
    time: Option<String>,
    /// Passes over the training data, instead of --iters.
    #[arg(long, allow_hyphen_values = true)]
    epochs: Option<u64>,
    /// Fraction of the data held out for validation [default: 0.05].
    #[arg(long, allow_hyphen_values = true)]
    val_frac: Option<f64>,
    /// Validate and save every N iterations (0: only at the end) [default: 1000].
    #[arg(long, allow_hyphen_values = true)]
    eval_every: Option<u64>,
    /// Log every N iterations [default: 100].
    #[arg(long, allow_hyphen_values = true)]
    log_every: Option<u64>,
    /// Seed for initialization and data order [default: 42].
    #[arg(long, allow_hyphen_values = true)]
    seed: Option<u64>,
    /// Run folder for model.safetensors and state.safetensors.
    #[arg(long, default_value = "out")]
    out: PathBuf,
    /// Continue the run saved in --out (same data; settings come from the
    /// run, and flags that are given must match them; --iters/--epochs may
    /// raise the target).
    #[arg(long)]
    resume: bool,
    /// Replace the run saved in --out by a new one (without it, training
    /// into a folder that holds a run is refused).
    #[arg(long, conflicts_with = "resume")]
    overwrite: bool,
    /// Append a JSON-lines log here.
    #[arg(long)]
    log: Option<PathBuf>,
    /// Characters of the sample printed at the end (0: none).
    #[arg(long, default_value_t = 400)]
    sample_len: usize,
    /// Threads to train on [default: all cores]. The result does not
    /// depend on it: any count gives the same bytes, and a resumed run may
    /// use another.
    #[arg(long, allow_hyphen_values = true)]
    threads: Option<usize>,
    /// The matrix products' operands: f32, or bf16 (rounded to 8
    /// significant bits, summed in f32; weights, optimizer state,
    /// validation and checkpoints stay f32). Natively on a CPU with
    /// AVX-512 BF16, emulated (no faster) elsewhere [default: f32, or the
    /// resumed run's].
    #[arg(long, value_parser = ["f32", "bf16"])]
    precision: Option<String>,
    /// With several MPI ranks (`mpirun -np N recur train`), how they
    /// combine gradients: gather sends every shard's to every rank, and the
    /// run is bit for bit the single-process one; allreduce sums each
    /// rank's shards, then across ranks: one gradient's bytes per rank
    /// whatever the shard count, results within rounding of one process
    /// (the same for a given rank count).
    #[arg(long, value_parser = ["gather", "allreduce"], default_value = "gather")]
    exchange: String,
    /// With several MPI ranks: exchange the output layer's and each upper
    /// layer's gradients while the layers below still run their backward
    /// pass (on), or all of them after it (off); auto: on for a large
    /// model (where it paid in measurements), off for a small one. The
    /// results are the same either way.
    #[arg(long, value_parser = ["auto", "on", "off"], default_value = "auto")]
    overlap: String,
    #[command(flatten)]
    device: super::device::DeviceArgs,
}

/// The one `--preset`.
const PRESET_BEST_30M: &str = "best-30m";

impl TrainArgs {
    /// These arguments with `--preset`'s settings where no flag was given.
    fn with_preset(mut self) -> Self {
        if self.preset.as_deref() != Some(PRESET_BEST_30M) {
            return self;
        }
        self.model.get_or_insert(CellKind::Gru);
        self.layers.get_or_insert(3);
        self.hidden.get_or_insert(512);
        self.dropout.get_or_insert(0.5);
        self.batch.get_or_insert(64);
        self.seq_len.get_or_insert(100);
        self.optimizer.get_or_insert_with(|| "adam".into());
        self.lr.get_or_insert(2e-3);
        self.schedule.get_or_insert_with(|| "cosine".into());
        self.warmup.get_or_insert(50);
        self.eval_every.get_or_insert(250);
        if self.iters.is_none() && self.epochs.is_none() {
            self.time.get_or_insert_with(|| "30m".into());
        }
        let native = recur::tensor::bf16::native();
        self.precision
            .get_or_insert_with(|| if native { "bf16" } else { "f32" }.into());
        self
    }

    /// The settings given on the command line, over `d` (the defaults for
    /// a `fresh` run, or a resumed run's saved settings).
    fn config(&self, d: &TrainConfig, fresh: bool) -> Result<TrainConfig> {
        let optimizer = match &self.optimizer {
            Some(name) => OptimizerKind::from_name(name, self.momentum.unwrap_or(0.0))?,
            None if self.momentum.is_some() => OptimizerKind::Sgd {
                momentum: self.momentum.unwrap_or(0.0),
            },
            None => d.optimizer,
        };
        if self.momentum.is_some() && !matches!(optimizer, OptimizerKind::Sgd { .. }) {
            return Err(Error::Config(format!(
                "--momentum applies to --optimizer sgd only, not {}",
                optimizer.name()
            )));
        }
        let clip = match (self.no_clip, self.clip, self.clip_norm) {
            (true, _, _) => Clip::None,
            (_, _, Some(n)) => Clip::GlobalNorm(n),
            (_, Some(c), _) => Clip::Elementwise(c),
            _ => d.clip,
        };

        // The given cell, else the saved (or default) one; a vanilla RNN
        // keeps the saved activation (a new one is tanh) unless
        // --activation picks another.
        let cell = match (self.model, d.cell) {
            (Some(CellKind::Rnn(_)) | None, CellKind::Rnn(a)) | (Some(CellKind::Rnn(a)), _) => {
                CellKind::Rnn(self.activation.unwrap_or(a))
            }
            (Some(given), _) => given,
            (None, saved) => saved,
        };
        if self.activation.is_some() && !matches!(cell, CellKind::Rnn(_)) {
            return Err(Error::Config(
                "--activation applies to --model rnn only".into(),
            ));
        }
        let init = match self.init.as_deref() {
            None if !fresh => d.init,
            None => Init::default_for(cell),
            Some("uniform") => Init::Uniform,
            _ => Init::Classic,
        };
        Ok(TrainConfig {
            cell,
            hidden: self.hidden.unwrap_or(d.hidden),
            layers: self.layers.unwrap_or(d.layers),
            embed: self.embed,
            dropout: self.dropout.unwrap_or(d.dropout),
            forget_bias: self.forget_bias,
            init,
            seq_len: self.seq_len.unwrap_or(d.seq_len),
            batch: self.batch.unwrap_or(d.batch),
            optimizer,
            lr: self.lr.unwrap_or(d.lr),
            schedule: match self.schedule.as_deref() {
                Some(name) => Schedule::from_name(name, TrainConfig::COSINE_FLOOR)?,
                None => d.schedule,
            },
            warmup: self.warmup.unwrap_or(d.warmup),
            clip,
            val_frac: self.val_frac.unwrap_or(d.val_frac),
            eval_every: self.eval_every.unwrap_or(d.eval_every),
            log_every: self.log_every.unwrap_or(d.log_every),
            seed: self.seed.unwrap_or(d.seed),
            precision: match &self.precision {
                Some(p) => p.parse()?,
                None => d.precision,
            },
        })
    }

    fn data(&self) -> Result<(TrainData, String)> {
        Ok(match (&self.corpus, &self.words) {
            (Some(p), _) => (TrainData::Corpus(read_text(p)?), p.display().to_string()),
            (_, Some(p)) => {
                let words = read_words(p)?;
                if words.is_empty() {
                    return Err(Error::Data(format!(
                        "{}: no words in the file",
                        p.display()
                    )));
                }
                (TrainData::Words(words), p.display().to_string())
            }
            _ => (
                TrainData::Corpus(lipsum::LIBER_PRIMUS.to_string()),
                "built-in corpus (Cicero, De finibus I)".into(),
            ),
        })
    }
}

/// The flag of each [`TrainConfig`] setting whose flag is not its name.
const FLAGS: &[(&str, &str)] = &[
    ("cell", "--model/--activation"),
    ("optimizer", "--optimizer/--momentum"),
    ("clip", "--clip/--clip-norm/--no-clip"),
    ("schedule", "--schedule"),
];

pub fn run(a: TrainArgs) -> Result<ExitCode> {
    let a = a.with_preset();
    recur::check::between("--sample-len", a.sample_len, 0, recur::sample::MAX_LENGTH)?;
    super::use_threads(a.threads)?;
    if a.iters == Some(0) || a.epochs == Some(0) {
        let flag = if a.iters.is_some() {
            "--iters"
        } else {
            "--epochs"
        };
        return Err(Error::Config(format!("{flag} must be at least 1")));
    }
    let ranks = super::ranks::Ranks::start()?;
    let result = (|| {
        let (data, source) = a.data()?;
        let group = ranks
            .group()
            .with_exchange(a.exchange.parse()?)
            .with_overlap(a.overlap.parse()?);
        on_device!(a.device.open()?, k => train_on(k, &a, data, &source, group))
    })();
    ranks.end(result)
}

/// Train on backend `k` (the rest of [`run`]).
fn train_on<K: Backend<f32>>(
    k: K,
    a: &TrainArgs,
    data: TrainData,
    source: &str,
    group: Group,
) -> Result<ExitCode> {
    let budget = a.time.as_deref().map(parse_duration).transpose()?;
    // Rank 0 alone holds the run folder; the others only read it to resume.
    let root = group.is_root();
    let (mut trainer, dir) = if a.resume {
        let dir = root
            .then(|| RunDir::open(&a.out, RunMode::Resume, "--out"))
            .transpose()?;
        let mut t = Trainer::resume_on(k, &a.out, data)?;
        let saved = t.config().clone();
        super::check_resume_flags(&saved, &a.config(&saved, false)?, FLAGS)?;
        let spent = t.time_budget().map(|b| (b.spent(), b.exhausted()));
        match (budget, spent) {
            (Some(limit), _) => {
                let (spent, _) = spent.unwrap_or_default();
                if limit.as_secs_f64() <= spent {
                    return Err(Error::Config(format!(
                        "--time {}: the run has already trained for {}; with --resume, --time is the whole budget: give more than that",
                        a.time.as_deref().unwrap_or_default(),
                        format_duration(spent)
                    )));
                }
                t.set_time_budget(limit)?;
            }
            (None, Some((spent, true))) if a.iters.is_none() && a.epochs.is_none() => {
                eprintln!(
                    "the run in {} is finished: it has spent its time budget ({}); add --time T (T above that) or --iters N to train it further",
                    a.out.display(),
                    format_duration(spent)
                );
                return Ok(ExitCode::SUCCESS);
            }
            (None, Some(_)) if a.iters.is_none() && a.epochs.is_none() => {}
            (None, _) => match super::resume_target(
                &a.out,
                t.iter(),
                t.total_iters(),
                target(a, t.iters_per_epoch()?),
            )? {
                Some(total) => t.set_total_iters(total),
                None => return Ok(ExitCode::SUCCESS),
            },
        }
        t.set_group(group)?;
        (t, dir)
    } else {
        let config = a.config(&TrainConfig::default(), true)?;
        let t = Trainer::new(config, data.clone(), 1)?;
        let total = target(a, t.iters_per_epoch()?).unwrap_or(DEFAULT_ITERS);
        let config = t.config().clone();
        if budget.is_none() && config.warmup >= total {
            return Err(Error::Config(format!(
                "--warmup {} is not below the run's {total} iterations: give a shorter warm-up (a few percent of the run) or more --iters",
                config.warmup
            )));
        }
        let mut t = Trainer::new_on(k, config, data, total)?;
        if let Some(limit) = budget {
            t.set_time_budget(limit)?;
        }
        // Before the folder is made: a group the batch cannot be split over
        // leaves nothing behind.
        t.set_group(group)?;
        let mode = super::run_mode(false, a.overwrite);
        let dir = root
            .then(|| RunDir::open(&a.out, mode, "--out"))
            .transpose()?;
        (t, dir)
    };
    let mut log = match &a.log {
        Some(path) if root => Some(LogWriter::open(path, &trainer.run_id(), trainer.iter())?),
        _ => None,
    };
    let c = trainer.config().clone();
    let span = match trainer.time_budget() {
        Some(b) => format!(
            "for {} (from iteration {}, {} spent)",
            format_duration(b.seconds()),
            trainer.iter(),
            format_duration(b.spent())
        ),
        None => format!("iterations {}..{}", trainer.iter(), trainer.total_iters()),
    };
    eprintln!(
        "training {} (H={}, {} parameters) on {source}: {} characters in the vocabulary, T={} B={}, {} lr {}{}, {span}",
        describe(&c),
        c.hidden,
        trainer.model().layout().len(),
        trainer.vocab().len(),
        c.seq_len,
        c.batch,
        c.optimizer.name(),
        c.lr,
        schedule_words(&c),
    );
    let timed = trainer.time_budget().is_some();
    let total = trainer.total_iters();
    let interactive = std::io::stderr().is_terminal();
    let bar = ProgressBar::new(if timed { trainer.iter() + 1 } else { total });
    bar.set_position(trainer.iter());
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} loss {msg} ETA {eta}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    let (first_iter, mut last_line) = (trainer.iter() + 1, std::time::Instant::now());
    let summary = trainer.run(dir.as_ref(), log.as_mut(), &mut |e| match e {
        Event::Step {
            iter,
            total: planned,
            smooth_loss,
            chars_per_sec,
        } => {
            if iter % 50 == 0 {
                if timed {
                    bar.set_length(planned);
                }
                bar.set_position(iter);
                bar.set_message(format!(
                    "{smooth_loss:.3} nats/char, {:.0}k chars/s",
                    chars_per_sec / 1e3
                ));
            }
            // Without a terminal (no progress bar), a line at the first
            // iteration and then at least every 10 seconds.
            if !interactive && (iter == first_iter || last_line.elapsed().as_secs() >= 10) {
                let of = if timed {
                    format!("~{planned}")
                } else {
                    planned.to_string()
                };
                eprintln!(
                    "iter {iter:>7}/{of}  smooth {smooth_loss:.4}  {chars_per_sec:.0} chars/s"
                );
                last_line = std::time::Instant::now();
            }
        }
        Event::Logged(line) => {
            let val = line
                .val_loss
                .map(|v| format!("  val {v:.4}"))
                .unwrap_or_default();
            let msg = format!(
                "iter {:>7}  train {:.4}  smooth {:.4}{val}  {:.0} chars/s",
                line.iter, line.train_loss, line.smooth_loss, line.chars_per_sec
            );
            // A line per validation (the progress bar shows the rest).
            let at_eval = c.eval_every > 0 && line.iter.is_multiple_of(c.eval_every);
            if at_eval || line.val_loss.is_some() || line.iter == total {
                if interactive {
                    bar.println(msg)
                } else {
                    eprintln!("{msg}");
                    last_line = std::time::Instant::now();
                }
            }
        }
        Event::Saved(_) => {}
    });
    bar.finish_and_clear();
    let summary = summary?;
    let val = summary
        .val_loss
        .map(|v| {
            format!(
                ", validation {v:.4} nats/char ({:.4} bits/char)",
                v / std::f64::consts::LN_2
            )
        })
        .unwrap_or_default();
    eprintln!(
        "done: {} iterations, {:.1} s, {:.0} chars/s; smoothed training loss {:.4} nats/char{val}; saved to {}",
        summary.iters,
        summary.elapsed_s,
        summary.chars_per_sec,
        summary.smooth_loss,
        a.out.display()
    );
    let g = trainer.group();
    if g.size() > 1 {
        let (how, when, beside) = match g.overlaps(trainer.model().config()) {
            true => (
                ", beside the backward",
                " past its backward passes",
                format!(
                    "; the layers above exchanged beside {:.1} s of its bottom layers' backward",
                    g.beside_seconds()
                ),
            ),
            false => ("", "", String::new()),
        };
        eprintln!(
            "{} ranks ({}{how}); rank 0 spent {:.1} s ({:.0}%) exchanging gradients with the others{when} (moving them and waiting for the slowest){beside}",
            g.size(),
            a.exchange,
            g.exchange_seconds(),
            100.0 * g.exchange_seconds() / summary.elapsed_s.max(1e-9)
        );
    }
    if a.sample_len > 0 && root {
        let text = generate(
            &trainer.model().cast::<f32>(),
            trainer.vocab(),
            "",
            a.sample_len,
            &SampleOptions::default(),
            c.seed,
        )?;
        println!("{}{text}", lead(trainer.vocab(), ""));
    }
    Ok(ExitCode::SUCCESS)
}

/// ", cosine schedule, 100 warm-up iterations", or nothing for a constant
/// rate from the start.
fn schedule_words(c: &TrainConfig) -> String {
    let mut words = String::new();
    if let Schedule::Cosine { floor } = c.schedule {
        words += &format!(", cosine schedule to {floor}x");
    }
    if c.warmup > 0 {
        words += &format!(", {} warm-up iterations", c.warmup);
    }
    words
}

/// The target the command line asks for, if any.
fn target(a: &TrainArgs, per_epoch: u64) -> Option<u64> {
    match (a.iters, a.epochs) {
        (Some(n), _) => Some(n),
        (_, Some(e)) => Some(e.saturating_mul(per_epoch)),
        _ => None,
    }
}

/// "a 2-layer LSTM", "a tanh RNN", ...
fn describe(c: &TrainConfig) -> String {
    let cell = c.cell.title();
    let layers = if c.layers > 1 {
        format!("{}-layer ", c.layers)
    } else {
        String::new()
    };
    let embed = c
        .embed
        .map(|d| format!(" with a {d}-wide embedding"))
        .unwrap_or_default();
    format!("a {layers}{cell}{embed}")
}
