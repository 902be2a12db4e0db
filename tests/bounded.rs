//! Ordinary inputs never take unbounded memory: a run too large for the
//! memory limit (RECUR_MAX_MEMORY here, so nothing large is ever allocated)
//! is refused before it starts with an error naming the flag to change,
//! word lists and built-in tasks have sane maxima, and pictures are never
//! larger than a viewer opens.

mod support;

use recur::viz::heatmap;
use support::{TempDir, assert_fails, assert_ok, recur, recur_env, s, small_text, train_small};

#[test]
fn training_larger_than_the_memory_limit_is_refused_naming_the_flag() {
    let d = TempDir::new("bounded-train");
    let corpus = d.file("corpus.txt", small_text());
    let out = s(&d.path("out"));
    let train = |limit: &str, hidden: &str| {
        recur_env(
            &[("RECUR_MAX_MEMORY", limit)],
            &[
                "train",
                "--corpus",
                &corpus,
                "--model",
                "lstm",
                "--hidden",
                hidden,
                "--iters",
                "1",
                "--sample-len",
                "0",
                "--eval-every",
                "0",
                "--out",
                &out,
            ],
        )
    };
    // Weights, gradients and moments of a 2000-unit LSTM: about 190 MiB.
    let line = assert_fails(
        &train("64M", "2000"),
        &["--hidden", "RECUR_MAX_MEMORY", "64.0 MiB"],
    );
    assert!(line.contains("parameters"), "{line}");
    // What the issue saw abort after reaching gigabytes.
    assert_fails(&train("1G", "100000"), &["--hidden"]);
    assert!(!d.path("out").join("model.safetensors").exists());
    assert_fails(&train("plenty", "8"), &["RECUR_MAX_MEMORY=plenty", "8G"]);
    assert_ok(&train("64M", "8"));
}

#[test]
fn seq2seq_lengths_and_sizes_are_bounded_before_any_pair_is_drawn() {
    let d = TempDir::new("bounded-seq2seq");
    let out = s(&d.path("out"));
    let run = |limit: &str, extra: &[&str]| {
        let mut args = vec![
            "seq2seq",
            "train",
            "--task",
            "reverse",
            "--iters",
            "1",
            "--eval-every",
            "0",
            "--out",
            &out,
        ];
        args.extend(extra);
        recur_env(&[("RECUR_MAX_MEMORY", limit)], &args)
    };
    // The case: 20,500 pairs of 100,000 characters.
    assert_fails(
        &run("64G", &["--lengths", "100000-100000"]),
        &["100000", "1000", "--pairs"],
    );
    // Long pairs whose activations need hundreds of MiB.
    assert_fails(
        &run(
            "32M",
            &[
                "--lengths",
                "1000-1000",
                "--train-size",
                "64",
                "--test-size",
                "4",
            ],
        ),
        &["--lengths", "--batch", "RECUR_MAX_MEMORY"],
    );
    assert_fails(
        &run("64M", &["--train-size", "100000000000000"]),
        &["--train-size"],
    );
}

#[test]
fn words_longer_than_the_maximum_are_refused_with_file_and_line() {
    let d = TempDir::new("bounded-long-word");
    let words = d.file(
        "words.txt",
        format!("anna\nbob\n\n{}\ncarl\n", "x".repeat(20_000)),
    );
    let o = recur(&[
        "train",
        "--words",
        &words,
        "--hidden",
        "8",
        "--iters",
        "1",
        "--sample-len",
        "0",
        "--out",
        &s(&d.path("out")),
    ]);
    assert_fails(
        &o,
        &["words.txt:4", "20000 characters", "10000", "--corpus"],
    );
}

#[test]
fn word_batches_larger_than_the_memory_limit_are_refused_naming_batch() {
    let d = TempDir::new("bounded-word-batch");
    // Ten words of 9,000 characters: one batch of ten is 9,001 steps long.
    let words: String = (0..10)
        .map(|i| format!("{}\n", "ab".repeat(4_500) + &i.to_string()))
        .collect();
    let words = d.file("words.txt", words);
    let o = recur_env(
        &[("RECUR_MAX_MEMORY", "16M")],
        &[
            "train",
            "--words",
            &words,
            "--hidden",
            "64",
            "--batch",
            "10",
            "--iters",
            "1",
            "--sample-len",
            "0",
            "--out",
            &s(&d.path("out")),
        ],
    );
    assert_fails(&o, &["--batch", "longest word", "RECUR_MAX_MEMORY"]);
}

#[test]
fn forecast_windows_larger_than_the_memory_limit_are_refused_naming_lookback() {
    let d = TempDir::new("bounded-forecast");
    let o = recur_env(
        &[("RECUR_MAX_MEMORY", "16M")],
        &[
            "forecast",
            "train",
            "--synthetic",
            "noisy-sine",
            "--lookback",
            "2000",
            "--iters",
            "1",
            "--out",
            &s(&d.path("out")),
        ],
    );
    assert_fails(&o, &["--lookback", "windows"]);
}

#[test]
fn a_probability_picture_taller_than_viewers_open_is_refused() {
    let d = TempDir::new("bounded-probs");
    let run = train_small(&d, &small_text(), &[]);
    let png = d.path("probs.png");
    // Long texts wrap into panels of 60 columns; 3,440 characters make more
    // panels of 13 rows than 16,384 pixels hold.
    let text = small_text().repeat(5);
    let o = recur(&[
        "viz",
        "probs",
        "--checkpoint",
        &run,
        "--text",
        &text,
        "--out",
        &s(&png),
    ]);
    assert_fails(&o, &["3440 characters", "16384", "--top-k"]);
    assert!(!png.exists());
    // 600 characters, once past the width limit, now wrap into 10 panels.
    let fits = small_text()[..600].to_string();
    assert_ok(&recur(&[
        "viz",
        "probs",
        "--checkpoint",
        &run,
        "--text",
        &fits,
        "--out",
        &s(&png),
    ]));
    let (w, h) = image::image_dimensions(&png).unwrap();
    assert!(w < 2_000 && h > 10 * 13 * 28, "{w} x {h}");
}

#[test]
fn heatmaps_past_the_largest_picture_are_refused_and_nan_is_drawn_not_a_panic() {
    let d = TempDir::new("bounded-heatmap");
    let png = d.path("h.png");
    let cols = vec!['a'; heatmap::MAX_COLS + 1];
    let values = vec![vec![0.5f32; cols.len()]];
    let err = heatmap::draw(&png, &values, &['x'], &cols, "wide").unwrap_err();
    assert!(err.to_string().contains("16384"), "{err}");
    // NaN has no colour in the colormap: drawn as 0 instead of panicking.
    let values = vec![vec![f32::NAN, 0.5, f32::INFINITY]];
    heatmap::draw(&png, &values, &['x'], &['a', 'b', 'c'], "nan").unwrap();
    assert!(png.is_file());
}

#[test]
fn tsne_points_past_the_maximum_are_refused_before_embedding() {
    let d = TempDir::new("bounded-tsne");
    let run = train_small(&d, &small_text(), &[]);
    let text = d.file("text.txt", small_text().repeat(40)); // 27,520 characters
    let o = recur(&[
        "viz",
        "tsne",
        "--checkpoint",
        &run,
        "--file",
        &text,
        "--points",
        "1000000",
        "--out",
        &s(&d.path("t.png")),
    ]);
    assert_fails(&o, &["27520 points", "--points 20000"]);
}

#[test]
fn activation_pages_past_what_a_browser_shows_are_refused() {
    let d = TempDir::new("bounded-activations");
    let run = train_small(&d, &small_text(), &[]);
    let text = d.file("text.txt", small_text().repeat(160)); // 110,080 characters
    let page = d.path("page.html");
    let o = recur(&[
        "viz",
        "activations",
        "--checkpoint",
        &run,
        "--file",
        &text,
        "--max-chars",
        "1000000",
        "--out",
        &s(&page),
    ]);
    assert_fails(&o, &["110080 characters", "--max-chars 100000"]);
    assert!(!page.exists());
}

#[test]
fn a_built_in_series_longer_than_the_maximum_is_refused() {
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_recur"))
        .args([
            "forecast",
            "train",
            "--synthetic",
            "noisy-sine",
            "--length",
            "100000000000",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("--length") && !err.contains("panicked"),
        "{err}"
    );
}
