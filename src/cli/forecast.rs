use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};

use recur::backend::Backend;
use recur::cell::CellKind;
use recur::checkpoint::{
    Loaded, forecaster_contents, forecaster_time, load_forecaster_from, time_meta,
};
use recur::data::series::{Synthetic, column_list};
use recur::data::source::{Series, Source};
use recur::train::distributed::Group;
use recur::train::forecast::{
    ForecastConfig, ForecastReport, ForecastTrainer, Forecaster, RegressionLoss,
};
use recur::train::{RunDir, model_path};
use recur::{Error, Result};

use super::device::on_device;
use super::forecast_time::{hint_time_column, predict_time, row_labels};

#[derive(Args, Debug)]
pub struct ForecastArgs {
    #[command(subcommand)]
    command: ForecastCommand,
}

#[derive(Subcommand, Debug)]
enum ForecastCommand {
    /// Train a forecaster and report test metrics beside naive baselines.
    Train(Box<TrainArgs>),
    /// Forecast from a series with a trained checkpoint, as CSV.
    Predict(Box<PredictArgs>),
}

/// Where a series comes from.
#[derive(Args, Debug)]
struct SourceArgs {
    /// A built-in series: noisy-sine, sines-trend or mackey-glass.
    #[arg(long, conflicts_with = "csv", value_parser = ["noisy-sine", "sines-trend", "mackey-glass"])]
    synthetic: Option<String>,
    /// Length of a built-in series.
    #[arg(long, default_value_t = 4000, allow_hyphen_values = true)]
    length: usize,
    /// A CSV file with a header.
    #[arg(long)]
    csv: Option<PathBuf>,
    /// The time column: kept out of the math, it labels forecast rows,
    /// continued past the end at its step (default: the model's --time).
    #[arg(long)]
    time: Option<String>,
    /// Fill missing or non-numeric cells below a column's first row with
    /// the previous value.
    #[arg(long)]
    fill_forward: bool,
    /// Seed (of a built-in series).
    #[arg(long, default_value_t = 42, allow_hyphen_values = true)]
    seed: u64,
}

#[derive(Args, Debug)]
struct PredictArgs {
    /// model.safetensors of a forecast run, or its folder.
    #[arg(long)]
    checkpoint: PathBuf,
    #[command(flatten)]
    source: SourceArgs,
    /// Forecast from this row, using the rows before it (default: the end).
    #[arg(long, allow_hyphen_values = true)]
    from: Option<usize>,
    /// Steps to forecast (more than the horizon rolls predictions forward).
    #[arg(long, allow_hyphen_values = true)]
    steps: Option<usize>,
    /// Also draw history, truth and forecast (.png or .svg).
    #[arg(long)]
    plot: Option<PathBuf>,
    #[command(flatten)]
    device: super::device::DeviceArgs,
}

#[derive(Args, Debug)]
struct TrainArgs {
    /// A built-in series: noisy-sine, sines-trend or mackey-glass.
    #[arg(long, conflicts_with = "csv", value_parser = ["noisy-sine", "sines-trend", "mackey-glass"])]
    synthetic: Option<String>,
    /// Length of a built-in series.
    #[arg(long, default_value_t = 4000, allow_hyphen_values = true)]
    length: usize,
    /// A CSV file with a header.
    #[arg(long)]
    csv: Option<PathBuf>,
    /// Target column(s), comma-separated (CSV).
    #[arg(long)]
    target: Option<String>,
    /// Feature columns, comma-separated (default: the targets).
    #[arg(long)]
    features: Option<String>,
    /// The time column: kept out of the math and saved with the model, so
    /// that predict labels forecast rows with it.
    #[arg(long)]
    time: Option<String>,
    /// Fill missing or non-numeric cells below a column's first row with
    /// the previous value.
    #[arg(long)]
    fill_forward: bool,
    /// Recurrent cell: rnn, lstm, gru, mingru, minlstm, slstm or mlstm (xLSTM).
    #[arg(long, default_value = "lstm", value_parser = super::cell_kind())]
    model: CellKind,
    /// Hidden size.
    #[arg(long, default_value_t = 32, allow_hyphen_values = true)]
    hidden: usize,
    /// Layers.
    #[arg(long, default_value_t = 1, allow_hyphen_values = true)]
    layers: usize,
    /// Steps of history per forecast.
    #[arg(long, default_value_t = 32, allow_hyphen_values = true)]
    lookback: usize,
    /// Steps predicted at once.
    #[arg(long, default_value_t = 1, allow_hyphen_values = true)]
    horizon: usize,
    /// Steps between training windows.
    #[arg(long, default_value_t = 1, allow_hyphen_values = true)]
    stride: usize,
    /// mse or mae.
    #[arg(long, default_value = "mse", value_parser = ["mse", "mae"])]
    loss: String,
    /// Training iterations.
    #[arg(long, default_value_t = 2000, allow_hyphen_values = true)]
    iters: u64,
    /// Windows per batch.
    #[arg(long, default_value_t = 32, allow_hyphen_values = true)]
    batch: usize,
    /// Adam's learning rate.
    #[arg(long, default_value_t = 3e-3, allow_hyphen_values = true)]
    lr: f64,
    /// Validation fraction (before the test part).
    #[arg(long, default_value_t = 0.1, allow_hyphen_values = true)]
    val_frac: f64,
    /// Test fraction (the end of the series).
    #[arg(long, default_value_t = 0.2, allow_hyphen_values = true)]
    test_frac: f64,
    /// Season length for the seasonal-naive baseline (0: none).
    #[arg(long, default_value_t = 0, allow_hyphen_values = true)]
    season: usize,
    /// Seed.
    #[arg(long, default_value_t = 42, allow_hyphen_values = true)]
    seed: u64,
    /// Run folder for model.safetensors.
    #[arg(long, default_value = "out-forecast")]
    out: PathBuf,
    /// Replace the model saved in --out (without it, training into a
    /// folder that holds one is refused).
    #[arg(long)]
    overwrite: bool,
    /// Train on a prediction at every step of each window (many-to-many).
    #[arg(long)]
    every_step: bool,
    /// Read each window both ways (many-to-one only).
    #[arg(long)]
    bidirectional: bool,
    #[command(flatten)]
    device: super::device::DeviceArgs,
}

pub fn run(a: ForecastArgs) -> Result<ExitCode> {
    match a.command {
        ForecastCommand::Train(t) => train(*t),
        ForecastCommand::Predict(p) => predict(*p),
    }
}

/// The series named by `--synthetic NAME` or `--csv FILE`.
fn source<'a>(
    synthetic: Option<&str>,
    length: usize,
    seed: u64,
    csv: Option<&'a Path>,
    time: Option<&'a str>,
    fill_forward: bool,
) -> Result<Source<'a>> {
    /// Longest built-in series: 80 MB of values, far past what trains in a session.
    const MAX_LENGTH: usize = 10_000_000;
    if synthetic.is_some() {
        recur::check::between("--length", length, 1, MAX_LENGTH)?;
    }
    match (synthetic, csv) {
        (Some(name), _) => Ok(Source::Synthetic {
            kind: Synthetic::from_name(name)?,
            length,
            seed,
        }),
        (_, Some(path)) => Ok(Source::Csv {
            path,
            time,
            fill_forward,
        }),
        _ => Err(Error::Config("give --synthetic NAME or --csv FILE".into())),
    }
}

fn predict(a: PredictArgs) -> Result<ExitCode> {
    let file = Loaded::open(&super::model_file(&a.checkpoint))?;
    let remembered = forecaster_time(&file)?;
    let (model, feature_names, target_names) = load_forecaster_from(file)?;
    let device = a.device.open()?;
    let s = &a.source;
    let time = predict_time(s.time.as_deref(), remembered, s.csv.as_deref());
    let series = source(
        s.synthetic.as_deref(),
        s.length,
        s.seed,
        s.csv.as_deref(),
        time.as_deref(),
        s.fill_forward,
    )?
    .read(&feature_names, &target_names)?;
    let (features, targets, times) = (series.features, series.targets, series.time);
    let len = targets[0].len();
    let from = model.start_row(a.from, len)?;
    let cut =
        |cols: &[Vec<f64>]| -> Vec<Vec<f64>> { cols.iter().map(|c| c[..from].to_vec()).collect() };
    let steps = a.steps.unwrap_or(model.config.horizon);
    let (features_in, targets_in) = (cut(&features), cut(&targets));
    let forecast = on_device!(device, k => {
        model.to_backend(k)?.predict(&features_in, &targets_in, steps)?
    });
    let labels = match (time.as_deref(), times) {
        (Some(name), Some(cells)) => row_labels(name, cells, from + forecast.len()),
        _ => {
            if let (Some(csv), None) = (s.csv.as_deref(), &time) {
                let what_for = "to label forecast rows with them";
                hint_time_column(csv, &[&feature_names, &target_names], what_for);
            }
            None
        }
    };
    let head = match (&labels, &time) {
        (Some(_), Some(name)) => name.as_str(),
        _ => "step",
    };
    // The picture first: a reader that stops early (`| head`) must not
    // cost it.
    if let Some(path) = &a.plot {
        let first = from.saturating_sub(4 * model.config.lookback);
        let series = &targets[0];
        let truth = &series[from..(from + steps).min(len)];
        let pred: Vec<f64> = forecast.iter().map(|r| r[0]).collect();
        recur::viz::forecast::draw(
            path,
            &target_names[0],
            labels.as_deref(),
            first,
            &series[first..from],
            from,
            truth,
            &pred,
        )?;
        eprintln!("forecast drawn to {}", path.display());
    }
    super::out::print_with(|out| {
        writeln!(out, "{head},{}", target_names.join(","))?;
        for (i, row) in forecast.iter().enumerate() {
            let cells: Vec<String> = row.iter().map(|v| format!("{v:.6}")).collect();
            let at = match &labels {
                Some(l) => l[from + i].clone(),
                None => (from + i).to_string(),
            };
            writeln!(out, "{at},{}", cells.join(","))?;
        }
        Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

fn train(a: TrainArgs) -> Result<ExitCode> {
    let ranks = super::ranks::Ranks::start()?;
    let result = train_ranks(&a, ranks.group());
    ranks.end(result)
}

/// [`train`] as one of the ranks of `group` (alone without MPI): each
/// trains its part of every batch; rank 0 alone writes the model and
/// prints the report.
fn train_ranks(a: &TrainArgs, group: Group) -> Result<ExitCode> {
    let (feature_names, target_names) = match (&a.synthetic, &a.csv, &a.target) {
        (Some(name), _, _) => (vec![name.clone()], vec![name.clone()]),
        (_, Some(_), Some(target)) => {
            let targets = column_list("--target", target)?;
            let features = match &a.features {
                Some(f) => column_list("--features", f)?,
                None => targets.clone(),
            };
            (features, targets)
        }
        (_, Some(_), None) => {
            return Err(Error::Config("--target COL is required with --csv".into()));
        }
        _ => {
            return Err(Error::Config(
                "give --synthetic NAME or --csv FILE --target COL".into(),
            ));
        }
    };
    let source = source(
        a.synthetic.as_deref(),
        a.length,
        a.seed,
        a.csv.as_deref(),
        a.time.as_deref(),
        a.fill_forward,
    )?;
    let Series {
        features, targets, ..
    } = source.read(&feature_names, &target_names)?;
    if let (Some(csv), None) = (&a.csv, &a.time) {
        let what_for = "so that the model remembers it and forecasts carry its times";
        hint_time_column(csv, &[&feature_names, &target_names], what_for);
    }
    let config = ForecastConfig {
        cell: a.model,
        hidden: a.hidden,
        layers: a.layers,
        lookback: a.lookback,
        horizon: a.horizon,
        stride: a.stride,
        batch: a.batch,
        lr: a.lr,
        iters: a.iters,
        loss: if a.loss == "mae" {
            RegressionLoss::Mae
        } else {
            RegressionLoss::Mse
        },
        val_frac: a.val_frac,
        test_frac: a.test_frac,
        season: a.season,
        seed: a.seed,
        every_step: a.every_step,
        bidirectional: a.bidirectional,
    };
    config.validate_for(&features, &targets)?;
    eprintln!(
        "forecasting {source}: {} {}x{}, lookback {}, horizon {}",
        a.model.name(),
        a.layers,
        a.hidden,
        a.lookback,
        a.horizon
    );
    let device = a.device.open()?;
    let root = group.is_root();
    // Before the folder is made: more ranks than a batch has windows.
    group.part(a.batch)?;
    let mode = super::run_mode(false, a.overwrite);
    let dir = root
        .then(|| RunDir::open(&a.out, mode, "--out"))
        .transpose()?;
    let start = std::time::Instant::now();
    let (model, r) = on_device!(device, k => train_on(k, config, &features, &targets, group)?);
    let Some(dir) = dir else {
        return Ok(ExitCode::SUCCESS);
    };
    let time = a.time.as_deref().filter(|_| a.csv.is_some());
    let time: Vec<_> = time.map(time_meta).into_iter().collect();
    forecaster_contents(&model, &feature_names, &target_names)
        .with_meta(&time)
        .write(&model_path(dir.path()))?;
    println!(
        "test windows: {}  (trained in {:.1} s; validation MSE {:.5} in normalized units)",
        r.windows,
        start.elapsed().as_secs_f64(),
        r.val_mse
    );
    println!("{:<22} {:>12} {:>12}", "", "MSE", "MAE");
    println!("{:<22} {:>12.6} {:>12.6}", "network", r.mse, r.mae);
    println!(
        "{:<22} {:>12.6} {:>12.6}   ({:.1}x the network's MSE)",
        "repeat last value",
        r.last_value.0,
        r.last_value.1,
        r.last_value.0 / r.mse
    );
    if let Some((m, e)) = r.seasonal {
        println!(
            "{:<22} {:>12.6} {:>12.6}   ({:.1}x the network's MSE)",
            "repeat last season",
            m,
            e,
            m / r.mse
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Train a forecaster on backend `k` with the ranks of `group`: the
/// trained model (on the CPU, from which its file is written the same
/// whatever device trained it) and its test report.
fn train_on<K: Backend<f32>>(
    k: K,
    config: ForecastConfig,
    features: &[Vec<f64>],
    targets: &[Vec<f64>],
    group: Group,
) -> Result<(Forecaster, ForecastReport)> {
    let mut trainer = ForecastTrainer::new_on(k, config, features, targets)?;
    trainer.set_group(group)?;
    trainer.run(None, &mut |_| {})?;
    let (model, report) = trainer.finish()?;
    Ok((model.to_cpu(), report))
}
