//! Forecasting from a CSV with dates (issue 18, items 5 and 6): the
//! checkpoint remembers `--time`, forecast rows carry the time column
//! continued at its step (days, hours, numbers) in CSV and on the plot's
//! axis, text columns that are not asked for are ignored, and every message
//! about a bad cell says what helps (`--time` for dates, `--fill-forward`
//! only where it can fill).

#[path = "common/cli.rs"]
mod cli;

use cli::{TempDir, assert_fails, assert_ok, recur, stderr, stdout};
use recur::cell::CellKind;
use recur::checkpoint::{Loaded, forecaster_time, load_forecaster, save_forecaster};
use recur::data::series::Synthetic;
use recur::train::forecast::{ForecastConfig, Forecaster, RegressionLoss};

/// A CSV file `name` with a header and one row per `t` in `0..rows`:
/// `time(t)`, then a smooth value, then a text column.
fn csv(
    d: &TempDir,
    name: &str,
    header: &str,
    rows: usize,
    time: impl Fn(usize) -> String,
) -> String {
    let body: String = (0..rows)
        .map(|t| format!("{},{:.4},Paris\n", time(t), (t as f64 * 0.3).sin()))
        .collect();
    d.file(name, format!("{header}\n{body}"));
    d.arg(name)
}

/// The date `t` days after 2020-01-01 (a leap year), by hand.
fn day(t: usize) -> String {
    let months = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    let (mut m, mut d) = (0, t);
    while d >= months[m] {
        d -= months[m];
        m += 1;
    }
    format!("2020-{:02}-{:02}", m + 1, d + 1)
}

fn train(csv: &str, out: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "forecast",
        "train",
        "--csv",
        csv,
        "--target",
        "value",
        "--iters",
        "3",
        "--lookback",
        "8",
        "--out",
        out,
    ];
    args.extend(extra);
    recur(&args)
}

fn predict(out: &str, csv: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["forecast", "predict", "--checkpoint", out, "--csv", csv];
    args.extend(extra);
    recur(&args)
}

/// The first cell of each forecast row, and the header's.
fn first_cells(o: &std::process::Output) -> Vec<String> {
    stdout(o)
        .lines()
        .map(|l| l.split(',').next().unwrap_or("").to_string())
        .collect()
}

#[test]
fn daily_dates_are_remembered_and_continued_in_csv_and_on_the_plot() {
    let d = TempDir::new("forecast-dates-daily");
    let file = csv(&d, "daily.csv", "date,value,city", 300, day);
    let out = d.arg("run");
    assert_ok(&train(&file, &out, &["--time", "date"]));
    // No --time: the checkpoint remembers it.
    let o = predict(&out, &file, &["--steps", "5"]);
    assert_ok(&o);
    assert_eq!(
        first_cells(&o),
        [
            "date",
            "2020-10-27",
            "2020-10-28",
            "2020-10-29",
            "2020-10-30",
            "2020-10-31"
        ],
        "{}",
        stdout(&o)
    );
    assert!(stderr(&o).contains("every 1 day"), "{}", stderr(&o));
    // Rows inside the file carry its own cells, then the continuation.
    let o = predict(&out, &file, &["--from", "298", "--steps", "4"]);
    assert_ok(&o);
    assert_eq!(
        first_cells(&o)[1..],
        ["2020-10-25", "2020-10-26", "2020-10-27", "2020-10-28"]
    );
    // The plot's axis keeps dates across the forecast: 60 steps past the
    // end of the file reach December, and no tick falls back to a row number.
    let svg = d.path("f.svg");
    let o = predict(
        &out,
        &file,
        &["--steps", "60", "--plot", svg.to_str().unwrap()],
    );
    assert_ok(&o);
    let picture = std::fs::read_to_string(&svg).unwrap();
    assert!(picture.contains("2020-12-"), "no December tick on the axis");
    for row in 300..=360 {
        assert!(
            !picture.contains(&format!(">{row}<")),
            "a tick shows row number {row}"
        );
    }
}

#[test]
fn hourly_date_times_continue_by_the_hour() {
    let d = TempDir::new("forecast-dates-hourly");
    let hour = |t: usize| format!("2021-03-{:02}T{:02}:00", 1 + t / 24, t % 24);
    let file = csv(&d, "hourly.csv", "time,value,city", 200, hour);
    let out = d.arg("run");
    assert_ok(&train(&file, &out, &["--time", "time"]));
    let o = predict(&out, &file, &["--steps", "3"]);
    assert_ok(&o);
    assert_eq!(
        first_cells(&o),
        [
            "time",
            "2021-03-09T08:00",
            "2021-03-09T09:00",
            "2021-03-09T10:00"
        ],
        "{}",
        stdout(&o)
    );
}

#[test]
fn numeric_time_continues_numerically_and_other_times_fall_back_to_row_numbers() {
    let d = TempDir::new("forecast-dates-numeric");
    let file = csv(&d, "t.csv", "t,value,city", 120, |t| (5 * t).to_string());
    let out = d.arg("run");
    assert_ok(&train(&file, &out, &["--time", "t"]));
    let o = predict(&out, &file, &["--steps", "2"]);
    assert_ok(&o);
    assert_eq!(first_cells(&o), ["t", "600", "605"]);

    let file = csv(&d, "days.csv", "day,value,city", 120, |t| format!("day{t}"));
    let out = d.arg("run-days");
    assert_ok(&train(&file, &out, &["--time", "day"]));
    let o = predict(&out, &file, &["--steps", "2"]);
    assert_ok(&o);
    assert_eq!(first_cells(&o), ["step", "120", "121"]);
    let note = stderr(&o);
    assert!(
        note.contains("row number") && note.contains("'day0'"),
        "{note}"
    );
}

#[test]
fn the_checkpoint_keeps_the_time_column_and_older_ones_still_load() {
    let d = TempDir::new("forecast-dates-meta");
    let file = csv(&d, "daily.csv", "date,value,city", 120, day);
    let out = d.arg("run");
    assert_ok(&train(&file, &out, &["--time", "date"]));
    let saved = Loaded::open(&d.path("run/model.safetensors")).unwrap();
    assert_eq!(forecaster_time(&saved).unwrap().as_deref(), Some("date"));
    // A checkpoint written without it (as before) loads, with no time.
    let s = Synthetic::NoisySine.generate(200, 1);
    let c = ForecastConfig {
        cell: CellKind::Lstm,
        hidden: 4,
        layers: 1,
        lookback: 8,
        horizon: 1,
        stride: 1,
        batch: 8,
        lr: 3e-3,
        iters: 2,
        loss: RegressionLoss::Mse,
        val_frac: 0.1,
        test_frac: 0.2,
        season: 0,
        seed: 42,
        every_step: false,
        bidirectional: false,
    };
    let (f, _) = Forecaster::train(c, std::slice::from_ref(&s), std::slice::from_ref(&s)).unwrap();
    let names = vec!["noisy-sine".to_string()];
    let old = d.path("old.safetensors");
    save_forecaster(&old, &f, &names, &names).unwrap();
    assert!(load_forecaster(&old).is_ok());
    assert_eq!(forecaster_time(&Loaded::open(&old).unwrap()).unwrap(), None);
    // An explicit --time still wins over the remembered one.
    let o = predict(
        &out,
        &file,
        &["--time", "city", "--from", "100", "--steps", "1"],
    );
    assert_ok(&o);
    assert_eq!(first_cells(&o), ["city", "Paris"]);
}

#[test]
fn a_date_column_left_out_is_ignored_with_a_hint_to_name_it() {
    let d = TempDir::new("forecast-dates-hint");
    let file = csv(&d, "daily.csv", "date,value,city", 120, day);
    let out = d.arg("run");
    let o = train(&file, &out, &[]);
    assert_ok(&o);
    assert!(stderr(&o).contains("--time date"), "{}", stderr(&o));
    let o = predict(&out, &file, &["--steps", "2"]);
    assert_ok(&o);
    assert_eq!(first_cells(&o), ["step", "120", "121"]);
    assert!(stderr(&o).contains("--time date"), "{}", stderr(&o));
}

#[test]
fn bad_cells_say_what_helps() {
    let d = TempDir::new("forecast-dates-messages");
    let file = csv(&d, "daily.csv", "date,value,city", 120, day);
    let out = d.arg("run");
    // A date column given as the target: --time helps, --fill-forward cannot.
    for extra in [&[][..], &["--fill-forward"][..]] {
        let mut args = vec!["--target", "date"];
        args.extend(extra);
        let mut all = vec![
            "forecast", "train", "--csv", &file, "--iters", "3", "--out", &out,
        ];
        all.extend(args);
        let line = assert_fails(&recur(&all), &["column 'date'", "--time date"]);
        assert!(!line.contains("pass --fill-forward"), "{line}");
    }
    // A text column as a feature: not a number from its first row.
    let o = train(&file, &out, &["--time", "date", "--features", "value,city"]);
    let line = assert_fails(&o, &["column 'city'", "'Paris'", "numeric"]);
    assert!(!line.contains("pass --fill-forward"), "{line}");
    // A bad cell further down: --fill-forward helps, and says so.
    let mut text = std::fs::read_to_string(d.path("daily.csv")).unwrap();
    text = text.replacen("0.2955", "n/a", 1); // row t = 1, line 3
    d.file("gap.csv", &text);
    let gap = d.arg("gap.csv");
    let line = assert_fails(
        &train(&gap, &out, &["--time", "date"]),
        &["gap.csv:3", "'n/a'"],
    );
    assert!(line.contains("--fill-forward"), "{line}");
    assert_ok(&train(&gap, &out, &["--time", "date", "--fill-forward"]));
    // An empty first cell: --fill-forward cannot fill it, and the message
    // says so rather than suggesting it again.
    d.file("first.csv", "date,value\n2020-01-01,\n2020-01-02,1\n");
    let first = d.arg("first.csv");
    let o = train(
        &first,
        &d.arg("run2"),
        &["--time", "date", "--fill-forward"],
    );
    let line = assert_fails(&o, &["column 'value'", "empty", "first data row"]);
    assert!(!line.contains("pass --fill-forward"), "{line}");
}
