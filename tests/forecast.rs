//! Forecasting: an LSTM beats the naive baselines by the margins the issue
//! asks for, and the CLI names bad CSV cells.

use std::process::Command;

#[cfg(feature = "gpu")]
#[path = "common/gpu.rs"]
mod gpu;

use recur::cell::CellKind;
use recur::data::series::Synthetic;
use recur::train::forecast::{ForecastConfig, Forecaster, RegressionLoss};

fn config(season: usize) -> ForecastConfig {
    ForecastConfig {
        cell: CellKind::Lstm,
        hidden: 32,
        layers: 1,
        lookback: 32,
        horizon: 1,
        stride: 1,
        batch: 32,
        lr: 3e-3,
        iters: 1500,
        loss: RegressionLoss::Mse,
        val_frac: 0.1,
        test_frac: 0.2,
        season,
        seed: 42,
        every_step: false,
        bidirectional: false,
    }
}

#[test]
fn lstm_beats_repeating_the_last_value_on_mackey_glass_tenfold() {
    let s = Synthetic::MackeyGlass.generate(4000, 42);
    let (_, r) = Forecaster::train(
        config(0),
        std::slice::from_ref(&s),
        std::slice::from_ref(&s),
    )
    .unwrap();
    assert!(
        r.last_value.0 >= 10.0 * r.mse,
        "network MSE {} vs repeat-last {}",
        r.mse,
        r.last_value.0
    );
}

#[test]
fn lstm_gets_within_one_and_a_half_noise_variances_on_the_noisy_sine() {
    let s = Synthetic::NoisySine.generate(4000, 42);
    let (_, r) = Forecaster::train(
        config(25),
        std::slice::from_ref(&s),
        std::slice::from_ref(&s),
    )
    .unwrap();
    let noise = Synthetic::NoisySine.noise_variance();
    assert!(
        r.mse <= 1.5 * noise,
        "network MSE {} vs noise variance {noise}",
        r.mse
    );
    assert!(r.seasonal.unwrap().0 > r.mse && r.last_value.0 > r.mse);
}

#[test]
fn mae_training_and_multi_step_horizons_work() {
    let s = Synthetic::SinesTrend.generate(3000, 7);
    let c = ForecastConfig {
        horizon: 4,
        loss: RegressionLoss::Mae,
        iters: 600,
        ..config(24)
    };
    let (_, r) = Forecaster::train(c, std::slice::from_ref(&s), std::slice::from_ref(&s)).unwrap();
    assert!(
        r.mae < r.last_value.1,
        "network MAE {} vs repeat-last {}",
        r.mae,
        r.last_value.1
    );
}

#[test]
fn many_to_many_and_bidirectional_variants_beat_the_baseline() {
    let s = Synthetic::MackeyGlass.generate(3000, 5);
    for c in [
        ForecastConfig {
            every_step: true,
            iters: 600,
            ..config(0)
        },
        ForecastConfig {
            bidirectional: true,
            iters: 600,
            ..config(0)
        },
    ] {
        let (_, r) = Forecaster::train(
            c.clone(),
            std::slice::from_ref(&s),
            std::slice::from_ref(&s),
        )
        .unwrap();
        assert!(
            r.last_value.0 >= 5.0 * r.mse,
            "{c:?}: network MSE {} vs repeat-last {}",
            r.mse,
            r.last_value.0
        );
    }
    let both = ForecastConfig {
        every_step: true,
        bidirectional: true,
        ..config(0)
    };
    assert!(Forecaster::train(both, std::slice::from_ref(&s), std::slice::from_ref(&s)).is_err());
}

#[test]
fn csv_errors_name_line_and_column() {
    let d = std::env::temp_dir().join(format!("recur-forecast-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    let csv = d.join("load.csv");
    let rows: String = (0..300)
        .map(|t| {
            if t == 150 {
                format!("day{t},,1\n")
            } else {
                format!("day{t},{},1\n", (t as f64 * 0.3).sin())
            }
        })
        .collect();
    std::fs::write(&csv, format!("date,load,holiday\n{rows}")).unwrap();
    let run = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_recur"))
            .args([
                "forecast",
                "train",
                "--csv",
                csv.to_str().unwrap(),
                "--time",
                "date",
                "--iters",
                "20",
                "--lookback",
                "8",
                "--out",
                d.join("run").to_str().unwrap(),
                "--overwrite",
            ])
            .args(extra)
            .output()
            .unwrap()
    };
    let o = run(&["--target", "load"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("load.csv:152") && err.contains("column 'load'"),
        "{err}"
    );
    let o = run(&["--target", "load", "--fill-forward"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("repeat last value"));
    let o = run(&["--target", "price", "--fill-forward"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("no column 'price'") && err.contains("load, holiday"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn trained_forecaster_saves_predicts_rolls_and_plots() {
    let d = std::env::temp_dir().join(format!("recur-forecast-predict-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    let out = d.join("run");
    let bin = env!("CARGO_BIN_EXE_recur");
    let o = Command::new(bin)
        .args([
            "forecast",
            "train",
            "--synthetic",
            "noisy-sine",
            "--length",
            "1500",
            "--iters",
            "200",
            "--horizon",
            "3",
        ])
        .args(["--out", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let png = d.join("f.png");
    let o = Command::new(bin)
        .args([
            "forecast",
            "predict",
            "--checkpoint",
            out.to_str().unwrap(),
            "--synthetic",
            "noisy-sine",
            "--length",
            "1500",
        ])
        .args([
            "--from",
            "1400",
            "--steps",
            "10",
            "--plot",
            png.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "step,noisy-sine");
    assert_eq!(lines.len(), 11, "10 rolled steps past a horizon of 3");
    assert!(lines[1].starts_with("1400,"));
    let vals: Vec<f64> = lines[1..]
        .iter()
        .map(|l| l.split(',').nth(1).unwrap().parse().unwrap())
        .collect();
    assert!(
        vals.iter().all(|v| v.abs() < 2.0),
        "forecasts in the series' units: {vals:?}"
    );
    let img = image::open(&png).unwrap().to_rgb8();
    assert_eq!(img.dimensions(), recur::viz::forecast::SIZE);
    let _ = std::fs::remove_dir_all(&d);
}

/// `forecast train --device gpu` trains on the GPU, and `forecast predict
/// --device gpu` forecasts from its checkpoint what `--device cpu` does
/// within 1e-4 (of the largest forecast), rolling past the horizon. Skipped
/// with a message without a GPU adapter, except where `CI` is set.
#[cfg(feature = "gpu")]
#[test]
fn forecasts_train_and_predict_on_the_gpu() {
    if gpu::gpu().is_none() {
        return;
    }
    let d = std::env::temp_dir().join(format!("recur-forecast-gpu-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    let out = d.join("run");
    let series = ["--synthetic", "noisy-sine", "--length", "300"];
    let bin = env!("CARGO_BIN_EXE_recur");
    let o = Command::new(bin)
        .args(["forecast", "train", "--device", "gpu"])
        .args(series)
        .args(["--iters", "6", "--lookback", "10", "--hidden", "8"])
        .args(["--batch", "8", "--horizon", "2", "--model", "gru"])
        .args(["--out", out.to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("on the GPU"), "{err}");
    assert!(String::from_utf8_lossy(&o.stdout).contains("repeat last value"));
    let predict = |device: &str| -> Vec<f64> {
        let o = Command::new(bin)
            .args(["forecast", "predict", "--device", device])
            .args(["--checkpoint", out.to_str().unwrap()])
            .args(series)
            .args(["--from", "280", "--steps", "5"])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let text = String::from_utf8_lossy(&o.stdout).into_owned();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "step,noisy-sine", "{text}");
        assert_eq!(lines.len(), 6, "5 steps rolled past a horizon of 2: {text}");
        lines[1..]
            .iter()
            .map(|l| l.split(',').nth(1).unwrap().parse().unwrap())
            .collect()
    };
    let (cpu, gpu) = (predict("cpu"), predict("gpu"));
    let scale = cpu.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    for (g, c) in gpu.iter().zip(&cpu) {
        assert!(
            (g - c).abs() <= 1e-4 * scale,
            "the GPU forecasts {gpu:?}, the CPU {cpu:?}"
        );
    }
    let _ = std::fs::remove_dir_all(&d);
}
