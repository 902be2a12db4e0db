//! Learning-rate schedules and time budgets for language models: `recur
//! train --schedule cosine --warmup N` shapes the rate as stated, and
//! `--time 30m` trains until the time is spent, then evaluates and saves;
//! a saved run keeps what it spent, and a resume goes on with the rest.

#[path = "common/cli.rs"]
mod cli;

use std::f64::consts::PI;
use std::time::Duration;

use cli::{TempDir, assert_fails, assert_ok, p, recur, stderr};
use recur::optim::{OptimizerKind, Schedule};
use recur::train::{TrainConfig, TrainData, Trainer};

fn text() -> String {
    "the quick brown fox jumps over the lazy dog.\n".repeat(40)
}

fn config(schedule: Schedule, warmup: u64) -> TrainConfig {
    TrainConfig {
        hidden: 8,
        seq_len: 10,
        batch: 2,
        schedule,
        warmup,
        eval_every: 0,
        ..TrainConfig::default()
    }
}

#[test]
fn the_rate_warms_up_linearly_then_follows_half_a_cosine_to_a_tenth() {
    let (lr, warmup, total) = (0.1, 5u64, 50u64);
    let c = TrainConfig {
        lr,
        ..config(Schedule::Cosine { floor: 0.1 }, warmup)
    };
    let mut t = Trainer::new(c, TrainData::Corpus(text()), total).unwrap();
    for i in 0..total {
        // The definition, written out: lr · min(1, (i+1)/warmup) ·
        // (0.1 + 0.9 · (1 + cos(π i / (total - 1))) / 2).
        let ramp = ((i + 1) as f64 / warmup as f64).min(1.0);
        let cos = 0.1 + 0.9 * 0.5 * (1.0 + (PI * i as f64 / (total - 1) as f64).cos());
        let expected = lr * ramp * cos;
        let got = t.learning_rate();
        assert!(
            (got - expected).abs() < 1e-12,
            "iteration {i}: {got} != {expected}"
        );
        t.step().unwrap();
    }
    assert!((t.learning_rate() - lr * 0.1).abs() < 1e-12);
}

#[test]
fn the_optimizer_takes_the_warmed_up_rate() {
    // Plain SGD moves by rate × gradient: a first step at 0.4 with a
    // warm-up of 4 iterations is the first step of a run at 0.1.
    let run = |lr: f64, warmup: u64| {
        let c = TrainConfig {
            lr,
            optimizer: OptimizerKind::Sgd { momentum: 0.0 },
            ..config(Schedule::Constant, warmup)
        };
        let mut t = Trainer::new(c, TrainData::Corpus(text()), 10).unwrap();
        t.step().unwrap();
        t.model().params_to_host()
    };
    let (warmed, plain, unwarmed) = (run(0.4, 4), run(0.1, 0), run(0.4, 0));
    assert_eq!(warmed, plain);
    assert_ne!(warmed, unwarmed);
}

#[test]
fn settings_files_of_constant_runs_are_those_saved_before_schedules_existed() {
    // A run saved before `schedule` and `warmup` existed resumes: its
    // settings read back as constant with no warm-up, and write back the
    // same JSON (so its run id is unchanged).
    let old = serde_json::to_value(TrainConfig::default()).unwrap();
    assert!(old.get("schedule").is_none() && old.get("warmup").is_none());
    let back: TrainConfig = serde_json::from_value(old).unwrap();
    assert_eq!(back, TrainConfig::default());
    let cosine = serde_json::to_value(config(Schedule::Cosine { floor: 0.1 }, 3)).unwrap();
    assert_eq!(cosine["schedule"]["kind"], "cosine");
    assert_eq!(cosine["warmup"], 3);
}

#[test]
fn a_time_budget_trains_until_spent_then_saves_and_resumes_with_the_rest() {
    let d = TempDir::new("budget-lib");
    let dir =
        recur::train::RunDir::open(&d.path("run"), recur::train::RunMode::New, "--out").unwrap();
    let c = config(Schedule::Cosine { floor: 0.1 }, 0);
    let mut t = Trainer::new(c.clone(), TrainData::Corpus(text()), 1).unwrap();
    t.set_time_budget(Duration::from_millis(600)).unwrap();
    assert_eq!(t.time_budget().unwrap().spent(), 0.0);
    let summary = t.run(Some(&dir), None, &mut |_| {}).unwrap();
    assert!(summary.elapsed_s >= 0.6, "{summary:?}");
    assert!(
        summary.iters > 1 && summary.val_loss.is_some(),
        "{summary:?}"
    );
    let budget = t.time_budget().unwrap();
    assert!(budget.exhausted() && budget.spent() >= 0.6);
    // The cosine reached its floor where the budget ended.
    assert!((t.learning_rate() - c.lr * 0.1).abs() < 1e-12);

    // Resumed, the run has spent its budget; a larger one goes on.
    let mut r = Trainer::resume(dir.path(), TrainData::Corpus(text())).unwrap();
    assert_eq!(r.iter(), summary.iters);
    let saved = r.time_budget().expect("the budget is saved");
    assert!(saved.spent() >= 0.6 && saved.seconds() == 0.6);
    let err = r.run(None, None, &mut |_| {}).unwrap_err().to_string();
    assert!(err.contains("spent its time budget"), "{err}");
    r.set_time_budget(Duration::from_millis(1000)).unwrap();
    assert!(
        r.learning_rate() < c.lr * 0.5,
        "the schedule goes on from where it was"
    );
    let more = r.run(None, None, &mut |_| {}).unwrap();
    assert!(more.iters > summary.iters);
    assert!(more.elapsed_s >= 0.3 && r.time_budget().unwrap().spent() >= 1.0);
}

#[test]
fn recur_train_time_runs_for_the_budget_and_says_so() {
    let d = TempDir::new("budget-cli");
    let corpus = p(&d.file("corpus.txt", text()));
    let out = d.arg("run");
    let log = d.arg("log.jsonl");
    let train = |extra: &[&str]| {
        let mut args = vec![
            "train",
            "--corpus",
            &corpus,
            "--out",
            &out,
            "--hidden",
            "8",
            "--sample-len",
            "0",
        ];
        args.extend(extra);
        recur(&args)
    };
    let o = train(&[
        "--time",
        "1.5s",
        "--schedule",
        "cosine",
        "--warmup",
        "3",
        "--log",
        &log,
    ]);
    assert_ok(&o);
    let err = stderr(&o);
    assert!(err.contains("for 1.5s"), "{err}");
    assert!(
        err.contains("cosine schedule") && err.contains("3 warm-up iterations"),
        "{err}"
    );
    let last: serde_json::Value = serde_json::from_str(
        std::fs::read_to_string(&log)
            .unwrap()
            .lines()
            .last()
            .unwrap(),
    )
    .unwrap();
    assert!(last["elapsed_s"].as_f64().unwrap() >= 1.5, "{last}");
    assert!(
        last["val_loss"].is_number(),
        "the run evaluates at the end: {last}"
    );
    assert!(d.path("run/model.safetensors").exists());

    // Resumed without a new budget, the run is finished; --time is the
    // whole budget, so it must be above what was spent.
    let o = train(&["--resume"]);
    assert_ok(&o);
    assert!(
        stderr(&o).contains("spent its time budget"),
        "{}",
        stderr(&o)
    );
    assert_fails(
        &train(&["--resume", "--time", "1s"]),
        &["--time", "already trained"],
    );
    assert_fails(
        &train(&["--resume", "--time", "3s", "--schedule", "constant"]),
        &["--schedule"],
    );
    let o = train(&["--resume", "--time", "2s"]);
    assert_ok(&o);
    assert!(stderr(&o).contains("for 2.0s"), "{}", stderr(&o));
}

#[test]
fn bad_budgets_and_warmups_are_refused_before_training() {
    let d = TempDir::new("budget-flags");
    let corpus = p(&d.file("corpus.txt", text()));
    let out = d.arg("run");
    let train = |extra: &[&str]| {
        let mut args = vec!["train", "--corpus", &corpus, "--out", &out, "--hidden", "8"];
        args.extend(extra);
        recur(&args)
    };
    for bad in ["0", "-5m", "30x", "1h30", "nan", "400d"] {
        assert_fails(&train(&["--time", bad]), &["--time", "30m"]);
    }
    assert_fails(
        &train(&["--iters", "5", "--warmup", "5"]),
        &["--warmup 5", "5 iterations"],
    );
    assert_fails(
        &train(&["--iters", "5", "--time", "1m"]),
        &["--time", "--iters"],
    );
    assert_fails(&train(&["--schedule", "linear"]), &["--schedule", "linear"]);
    assert!(!d.path("run").exists(), "nothing is written");
}

/// `recur.train_config` of a saved run's state, as JSON.
fn saved_settings(run: &std::path::Path) -> serde_json::Value {
    let bytes = std::fs::read(run.join("state.safetensors")).unwrap();
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let config = &meta.metadata().as_ref().unwrap()["recur.train_config"];
    serde_json::from_str(config).unwrap()
}

#[test]
fn the_best_30m_preset_sets_what_no_flag_gives() {
    let d = TempDir::new("preset-cli");
    let corpus = p(&d.file("corpus.txt", text()));
    let out = d.arg("run");
    // Small enough to run here: the flags given win over the preset's
    // size, window, warm-up and length.
    let small = [
        "--hidden",
        "8",
        "--batch",
        "2",
        "--seq-len",
        "10",
        "--sample-len",
        "0",
    ];
    let preset = ["train", "--preset", "best-30m", "--corpus", &corpus];
    let o = recur(
        &[
            &preset[..],
            &["--out", &out, "--warmup", "1", "--iters", "3"],
            &small,
        ]
        .concat(),
    );
    assert_ok(&o);
    let s = saved_settings(&d.path("run"));
    assert_eq!(s["cell"], "gru", "{s}");
    assert_eq!(s["layers"], 3, "{s}");
    assert_eq!(s["hidden"], 8, "{s}");
    assert_eq!(s["dropout"], 0.5, "{s}");
    assert_eq!(
        (s["batch"].clone(), s["seq_len"].clone()),
        (2.into(), 10.into()),
        "{s}"
    );
    assert_eq!(s["optimizer"]["kind"], "adam", "{s}");
    assert_eq!(s["lr"], 2e-3, "{s}");
    assert_eq!(s["schedule"]["kind"], "cosine", "{s}");
    assert_eq!(s["warmup"], 1, "{s}");
    assert_eq!(s["eval_every"], 250, "{s}");
    let native = recur::tensor::bf16::native();
    assert_eq!(s["precision"], if native { "bf16" } else { "f32" }, "{s}");
    assert!(stderr(&o).contains("3-layer GRU"), "{}", stderr(&o));

    // Without --iters or --epochs it trains for 30 minutes, which its
    // first line says; the run is stopped there.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_recur"))
        .args(preset)
        .args(["--out", &d.arg("timed")])
        .args(small)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stderr.take().unwrap()),
        &mut first,
    )
    .unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(first.contains("for 30m"), "{first}");
    assert_fails(
        &recur(&[
            "train",
            "--preset",
            "best-3m",
            "--corpus",
            &corpus,
            "--out",
            &d.arg("other"),
        ]),
        &["--preset", "best-3m"],
    );
}
