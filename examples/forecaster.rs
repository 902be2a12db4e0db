//! A forecaster: an LSTM reads the last 32 values of a chaotic series
//! (Mackey-Glass) and predicts the next one; its test error is set beside
//! the naive forecast (repeat the last value), then it forecasts ahead,
//! feeding its predictions back.
//!
//! `cargo run --release --example forecaster`
//!
//! Shapes, as everywhere in recur: a series is a column `[t]`; the trainer
//! cuts `lookback`-step windows into time-major `(L, B, F)` batches with
//! targets `(B, K)`, and normalizes every column on the training part.

use recur::cell::CellKind;
use recur::data::series::Synthetic;
use recur::model::{ForecastConfig, RegressionLoss};
use recur::prelude::*;
use recur::train::forecast::ForecastTrainer;

fn main() -> Result<()> {
    let series = Synthetic::MackeyGlass.generate(2000, 1);
    let config = ForecastConfig {
        cell: CellKind::Lstm,
        hidden: 32,
        layers: 1,
        lookback: 32,
        horizon: 1,
        stride: 1,
        batch: 32,
        lr: 3e-3,
        iters: 1000,
        loss: RegressionLoss::Mse,
        val_frac: 0.1,
        test_frac: 0.2,
        season: 0,
        seed: 42,
        every_step: false,
        bidirectional: false,
    };
    // The series is its own feature: the model reads its past.
    let columns = [series];
    let mut trainer = ForecastTrainer::new(config, &columns, &columns)?;
    let summary = trainer.run(None, &mut |_event| {})?;
    println!(
        "{} iterations, training loss {:.5}",
        summary.iters, summary.smooth_loss
    );
    let (model, report) = trainer.finish()?;
    let (last_mse, _) = report.last_value;
    println!(
        "test MSE {:.6} over {} windows; repeating the last value: {last_mse:.6} ({:.0}x the network's)",
        report.mse,
        report.windows,
        last_mse / report.mse
    );
    let ahead = model.predict(&columns, &columns, 5)?;
    let values: Vec<String> = ahead.iter().map(|row| format!("{:.3}", row[0])).collect();
    println!("the next 5 values: {}", values.join(" "));
    Ok(())
}
