//! Forecasting's defects at the edges: a checkpoint with horizon 0 (which
//! made `forecast predict` spin for ever), the seasonal baseline (0.000000
//! for a season as long as the series; future values read past one
//! season), and CSV files (unused text columns, duplicated names, `--from`
//! past the end, a built-in series given to a CSV-trained model).

#[path = "common/cli.rs"]
mod cli;

use std::sync::mpsc;
use std::time::Duration;

use cli::{TempDir, assert_fails, assert_ok, recur, stdout};
use recur::cell::CellKind;
use recur::checkpoint::{load_forecaster, save_forecaster};
use recur::data::series::{Split, Synthetic};
use recur::train::forecast::{ForecastConfig, Forecaster, RegressionLoss};

fn config() -> ForecastConfig {
    ForecastConfig {
        cell: CellKind::Lstm,
        hidden: 4,
        layers: 1,
        lookback: 8,
        horizon: 1,
        stride: 1,
        batch: 8,
        lr: 3e-3,
        iters: 5,
        loss: RegressionLoss::Mse,
        val_frac: 0.1,
        test_frac: 0.2,
        season: 0,
        seed: 42,
        every_step: false,
        bidirectional: false,
    }
}

fn train(
    c: ForecastConfig,
    s: &[f64],
) -> recur::Result<(Forecaster, recur::train::forecast::ForecastReport)> {
    Forecaster::train(c, &[s.to_vec()], &[s.to_vec()])
}

#[test]
fn a_checkpoint_with_horizon_zero_is_refused_instead_of_looping() {
    let d = TempDir::new("forecast-horizon-zero");
    let s = Synthetic::NoisySine.generate(300, 1);
    let (mut f, _) = train(config(), &s).unwrap();
    f.config.horizon = 0;
    let names = vec!["noisy-sine".to_string()];
    let path = d.path("model.safetensors");
    save_forecaster(&path, &f, &names, &names).unwrap();
    let e = load_forecaster(&path)
        .err()
        .expect("refused at load")
        .to_string();
    assert!(e.contains("--horizon") && e.contains("at least 1"), "{e}");
    // The command line: an error, not 100% CPU for ever.
    let o = recur(&[
        "forecast",
        "predict",
        "--checkpoint",
        &d.arg("model.safetensors"),
        "--synthetic",
        "noisy-sine",
        "--length",
        "300",
    ]);
    assert_fails(&o, &["horizon", "model.safetensors"]);
    // The library call cannot spin either.
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let col = vec![s];
        let _ = tx.send(f.predict(&col, &col, 5).map(|_| ()));
    });
    let got = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("predict with horizon 0 must return, not loop");
    assert!(got.is_err());
}

#[test]
fn the_seasonal_baseline_is_measured_on_the_networks_own_test_windows() {
    // A pseudo-random series: no baseline is accidentally exact.
    let s: Vec<f64> = (0..400u64)
        .map(|t| ((t * 7919 + 13) % 101) as f64 / 10.0)
        .collect();
    let c = ForecastConfig {
        horizon: 3,
        season: 2,
        ..config()
    };
    let (_, r) = train(c.clone(), &s).unwrap();
    // Every test window of the network, and for each predicted step the
    // latest value in the same phase of the season that was observed
    // before the forecast was made.
    let split = Split::new(s.len(), c.val_frac, c.test_frac).unwrap();
    let (mut windows, mut se, mut ae, mut n) = (0, 0.0, 0.0, 0.0);
    let mut start = split.val - c.lookback;
    while start + c.lookback + c.horizon <= s.len() {
        let end = start + c.lookback;
        for h in 0..c.horizon {
            let mut i = end + h;
            while i >= end {
                i -= c.season;
            }
            se += (s[i] - s[end + h]).powi(2);
            ae += (s[i] - s[end + h]).abs();
            n += 1.0;
        }
        windows += 1;
        start += 1;
    }
    assert_eq!(r.windows, windows);
    let (mse, mae) = r.seasonal.expect("a seasonal baseline");
    assert!(
        (mse - se / n).abs() < 1e-9 && (mae - ae / n).abs() < 1e-9,
        "seasonal baseline ({mse}, {mae}), expected ({}, {})",
        se / n,
        ae / n
    );
}

#[test]
fn a_season_longer_than_the_history_is_refused() {
    let s = Synthetic::NoisySine.generate(400, 1);
    // History before the first test forecast: 400 - 20% = 320 steps.
    for season in [321, 400, 1000] {
        let e = train(ForecastConfig { season, ..config() }, &s)
            .err()
            .expect("refused")
            .to_string();
        assert!(e.contains("--season") && e.contains("320"), "{e}");
    }
    let (_, r) = train(
        ForecastConfig {
            season: 320,
            ..config()
        },
        &s,
    )
    .unwrap();
    assert!(r.seasonal.unwrap().0 > 0.0);
    let d = TempDir::new("forecast-season");
    let o = recur(&[
        "forecast",
        "train",
        "--synthetic",
        "noisy-sine",
        "--length",
        "400",
        "--iters",
        "3",
        "--lookback",
        "8",
        "--season",
        "400",
        "--out",
        &d.arg("out"),
    ]);
    assert_fails(&o, &["--season"]);
    assert!(!stdout(&o).contains("0.000000"), "{}", stdout(&o));
    assert!(!d.path("out").exists());
}

/// A CSV file of `rows` rows: a time column, a numeric `y` and a text column.
fn csv_with_notes(d: &TempDir, header: &str, rows: usize) -> String {
    let body: String = (0..rows)
        .map(|t| format!("day{t},{:.4},checked by Ann\n", (t as f64 * 0.3).sin()))
        .collect();
    let name = format!("series-{}.csv", header.replace(',', "-"));
    d.file(&name, format!("{header}\n{body}"));
    d.arg(&name)
}

#[test]
fn csv_columns_that_are_not_used_are_ignored() {
    let d = TempDir::new("forecast-unused-column");
    let csv = csv_with_notes(&d, "date,y,notes", 300);
    let out = d.arg("out");
    let o = recur(&[
        "forecast",
        "train",
        "--csv",
        &csv,
        "--time",
        "date",
        "--target",
        "y",
        "--iters",
        "3",
        "--lookback",
        "8",
        "--out",
        &out,
    ]);
    assert_ok(&o);
    let o = recur(&[
        "forecast",
        "predict",
        "--checkpoint",
        &out,
        "--csv",
        &csv,
        "--time",
        "date",
        "--steps",
        "2",
    ]);
    assert_ok(&o);
    assert_eq!(stdout(&o).lines().count(), 3, "{}", stdout(&o));
    // The text column is still refused when it is asked for.
    let o = recur(&[
        "forecast", "train", "--csv", &csv, "--time", "date", "--target", "notes", "--iters", "3",
        "--out", &out,
    ]);
    assert_fails(&o, &["column 'notes'", "not a number"]);
}

#[test]
fn csv_names_given_twice_are_refused() {
    let d = TempDir::new("forecast-duplicates");
    let dup = csv_with_notes(&d, "date,y,y", 300);
    let good = csv_with_notes(&d, "date,y,notes", 300);
    let out = d.arg("out");
    let run = |csv: &str, extra: &[&str]| {
        let mut args = vec![
            "forecast",
            "train",
            "--csv",
            csv,
            "--time",
            "date",
            "--iters",
            "3",
            "--lookback",
            "8",
            "--out",
            &out,
        ];
        args.extend(extra);
        recur(&args)
    };
    assert_fails(&run(&dup, &["--target", "y"]), &["'y'", "twice"]);
    assert_fails(
        &run(&good, &["--target", "y,y"]),
        &["--target", "'y'", "twice"],
    );
    assert_fails(
        &run(&good, &["--target", "y", "--features", "y, y"]),
        &["--features", "'y'", "twice"],
    );
    assert_fails(&run(&good, &["--target", "date"]), &["'date'", "--time"]);
    assert!(!d.path("out").exists());
}

#[test]
fn predict_refuses_a_start_outside_the_series_and_the_wrong_kind_of_series() {
    let d = TempDir::new("forecast-predict-source");
    let csv = csv_with_notes(&d, "date,y,notes", 300);
    let (from_csv, built_in) = (d.arg("csv-run"), d.arg("sine-run"));
    assert_ok(&recur(&[
        "forecast",
        "train",
        "--csv",
        &csv,
        "--time",
        "date",
        "--target",
        "y",
        "--iters",
        "3",
        "--lookback",
        "8",
        "--out",
        &from_csv,
    ]));
    assert_ok(&recur(&[
        "forecast",
        "train",
        "--synthetic",
        "noisy-sine",
        "--length",
        "300",
        "--iters",
        "3",
        "--lookback",
        "8",
        "--out",
        &built_in,
    ]));
    let predict = |run: &str, extra: &[&str]| {
        let mut args = vec!["forecast", "predict", "--checkpoint", run];
        args.extend(extra);
        recur(&args)
    };
    let on_csv = ["--csv", csv.as_str(), "--time", "date"];
    for from in ["301", "100000", "7"] {
        let args: Vec<&str> = on_csv.iter().copied().chain(["--from", from]).collect();
        assert_fails(
            &predict(&from_csv, &args),
            &["--from", from, "between 8", "300"],
        );
    }
    let args: Vec<&str> = on_csv.iter().copied().chain(["--from", "300"]).collect();
    assert_ok(&predict(&from_csv, &args));
    let args: Vec<&str> = on_csv.iter().copied().chain(["--steps", "0"]).collect();
    assert_fails(&predict(&from_csv, &args), &["--steps"]);
    // A built-in series for a model trained on CSV columns, and the reverse.
    assert_fails(
        &predict(&from_csv, &["--synthetic", "noisy-sine", "--length", "300"]),
        &["CSV columns y", "--csv"],
    );
    assert_fails(
        &predict(&built_in, &on_csv),
        &["no column 'noisy-sine'", "--synthetic noisy-sine"],
    );
    assert_fails(
        &predict(
            &built_in,
            &["--synthetic", "mackey-glass", "--length", "300"],
        ),
        &["noisy-sine", "mackey-glass"],
    );
    assert_ok(&predict(
        &built_in,
        &["--synthetic", "noisy-sine", "--length", "300"],
    ));
}
