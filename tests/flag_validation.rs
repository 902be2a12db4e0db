//! Every numeric flag of every trainer (`recur train`, `recur seq2seq
//! train`, `recur forecast train`) and of `bench`, `seq2seq translate` and
//! `sample` is checked the same way: 0, negative, NaN, infinite or out of
//! range values fail before anything runs, with one `error:` line that
//! names the flag and its valid range, and nothing is written.

#[path = "common/cli.rs"]
mod cli;

use std::path::Path;

use cli::{TempDir, assert_fails, assert_ok, p, recur, stdout};

/// Flags as `(name, value)` pairs.
type Flags<'a> = &'a [(&'a str, &'a str)];

/// `cmd` with the `base` flags, where `over` replaces those it names, then
/// the rest of `over`.
fn command(cmd: &[&str], base: Flags, over: Flags) -> Vec<String> {
    let kept = base
        .iter()
        .filter(|(k, _)| !over.iter().any(|(o, _)| o == k));
    let mut args: Vec<String> = cmd.iter().map(|s| s.to_string()).collect();
    for (k, v) in kept.chain(over) {
        args.extend([k.to_string(), v.to_string()]);
    }
    args
}

/// Each `(flag, values, range)`: every value makes `cmd` fail with one
/// error line naming the flag and containing `range`, and leaves `out`
/// unwritten.
#[track_caller]
fn refuses(cmd: &[&str], base: Flags, out: &Path, bad: &[(&str, &[&str], &str)]) {
    for &(flag, values, range) in bad {
        for value in values {
            let o = recur(&command(cmd, base, &[(flag, value)]));
            assert_fails(&o, &[flag, range]);
            assert!(!out.exists(), "{flag} {value}: nothing should be written");
        }
    }
}

const NOT_POSITIVE: &[&str] = &["0", "-1", "NaN", "inf", "-inf"];
const NOT_A_FRACTION: &[&str] = &["1", "1.5", "-0.5", "NaN", "inf"];

fn corpus(d: &TempDir) -> String {
    let text = "the quick brown fox jumps over the lazy dog.\n".repeat(20);
    p(&d.file("corpus.txt", text))
}

#[test]
fn train_checks_every_number() {
    let d = TempDir::new("flags-train");
    let (corpus, out) = (corpus(&d), d.arg("out"));
    let base = [
        ("--corpus", corpus.as_str()),
        ("--out", out.as_str()),
        ("--iters", "3"),
        ("--hidden", "8"),
        ("--sample-len", "0"),
        ("--eval-every", "0"),
    ];
    let sgd = [("--optimizer", "sgd")];
    let with_sgd: Vec<(&str, &str)> = base.iter().chain(&sgd).copied().collect();
    refuses(
        &["train"],
        &base,
        &d.path("out"),
        &[
            ("--lr", NOT_POSITIVE, "positive"),
            ("--clip", NOT_POSITIVE, "positive"),
            ("--clip-norm", NOT_POSITIVE, "positive"),
            ("--dropout", NOT_A_FRACTION, "[0, 1)"),
            ("--val-frac", NOT_A_FRACTION, "[0, 1)"),
            ("--forget-bias", &["NaN", "inf", "-inf"], "finite"),
            ("--embed", &["0"], "at least 1"),
            ("--layers", &["0"], "at least 1"),
            ("--log-every", &["0"], "at least 1"),
            ("--sample-len", &["1000000000000000"], "between 0 and"),
        ],
    );
    refuses(
        &["train"],
        &with_sgd,
        &d.path("out"),
        &[("--momentum", NOT_A_FRACTION, "[0, 1)")],
    );
    // Momentum belongs to SGD: given with another optimizer it was
    // silently dropped.
    let o = recur(&command(
        &["train"],
        &base,
        &[("--optimizer", "adam"), ("--momentum", "0.9")],
    ));
    assert_fails(&o, &["--momentum", "sgd"]);
    // Likewise a forget-gate bias for a cell without a forget gate.
    let o = recur(&command(
        &["train"],
        &base,
        &[("--model", "gru"), ("--forget-bias", "1")],
    ));
    assert_fails(&o, &["--forget-bias", "lstm, minlstm, slstm", "not gru"]);
}

#[test]
fn seq2seq_train_checks_every_number() {
    let d = TempDir::new("flags-seq2seq");
    let out = d.arg("out");
    let base = [
        ("--task", "reverse"),
        ("--lengths", "3-5"),
        ("--train-size", "40"),
        ("--test-size", "4"),
        ("--iters", "2"),
        ("--hidden", "8"),
        ("--embed", "4"),
        ("--out", out.as_str()),
    ];
    refuses(
        &["seq2seq", "train"],
        &base,
        &d.path("out"),
        &[
            // --clip-norm 0 froze training and -1 ran gradient ascent.
            ("--clip-norm", NOT_POSITIVE, "positive"),
            ("--lr", NOT_POSITIVE, "positive"),
            (
                "--teacher-forcing",
                &["-0.1", "1.5", "NaN", "inf"],
                "[0, 1]",
            ),
            ("--val-frac", NOT_A_FRACTION, "[0, 1)"),
            ("--hidden", &["0"], "at least 1"),
            ("--embed", &["0"], "at least 1"),
            ("--layers", &["0"], "at least 1"),
            ("--batch", &["0"], "at least 1"),
            ("--train-size", &["0"], "at least 1"),
        ],
    );
    // A pairs file: --val-frac decides the held-out share.
    let pairs: String = (0..40)
        .map(|i| {
            format!(
                "{i:03}\t{}\n",
                format!("{i:03}").chars().rev().collect::<String>()
            )
        })
        .collect();
    let file = p(&d.file("pairs.tsv", pairs));
    let from_file = [
        ("--pairs", file.as_str()),
        ("--iters", "2"),
        ("--hidden", "8"),
        ("--out", out.as_str()),
    ];
    refuses(
        &["seq2seq", "train"],
        &from_file,
        &d.path("out"),
        &[("--val-frac", NOT_A_FRACTION, "[0, 1)")],
    );
    let o = recur(&command(&["seq2seq", "train"], &base, &[]));
    assert_ok(&o);
    assert!(
        stdout(&o).contains("held-out exact match"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn seq2seq_without_held_out_pairs_still_reports_its_training_loss() {
    let d = TempDir::new("flags-seq2seq-no-test");
    let out = d.arg("out");
    let o = recur(&[
        "seq2seq",
        "train",
        "--task",
        "reverse",
        "--lengths",
        "3-5",
        "--train-size",
        "40",
        "--test-size",
        "0",
        "--iters",
        "2",
        "--hidden",
        "8",
        "--out",
        &out,
    ]);
    assert_ok(&o);
    let text = stdout(&o);
    assert!(
        text.contains("training loss") && text.contains("no held-out pairs"),
        "a run without held-out pairs should say so and give its loss: {text:?}"
    );
    assert!(d.path("out").join("model.safetensors").is_file());
}

#[test]
fn translate_checks_its_search_settings() {
    let d = TempDir::new("flags-translate");
    let out = d.arg("out");
    let o = recur(&[
        "seq2seq",
        "train",
        "--task",
        "reverse",
        "--lengths",
        "3-5",
        "--train-size",
        "40",
        "--test-size",
        "0",
        "--iters",
        "2",
        "--hidden",
        "8",
        "--out",
        &out,
    ]);
    assert_ok(&o);
    let base = [("--checkpoint", out.as_str()), ("--input", "abc")];
    refuses(
        &["seq2seq", "translate"],
        &base,
        &d.path("none"),
        &[
            ("--beam", &["0", "1000000000000"], "between 1 and"),
            ("--max-len", &["0", "1000000000000"], "between 1 and"),
            ("--length-alpha", &["-1", "NaN", "inf"], ">= 0"),
        ],
    );
    assert_ok(&recur(&command(
        &["seq2seq", "translate"],
        &base,
        &[("--beam", "3"), ("--length-alpha", "0.7")],
    )));
}

#[test]
fn forecast_train_checks_every_number() {
    let d = TempDir::new("flags-forecast");
    let out = d.arg("out");
    let base = [
        ("--synthetic", "noisy-sine"),
        ("--length", "400"),
        ("--iters", "3"),
        ("--lookback", "8"),
        ("--hidden", "4"),
        ("--out", out.as_str()),
    ];
    refuses(
        &["forecast", "train"],
        &base,
        &d.path("out"),
        &[
            ("--lr", NOT_POSITIVE, "positive"),
            ("--val-frac", NOT_A_FRACTION, "[0, 1)"),
            ("--test-frac", NOT_A_FRACTION, "[0, 1)"),
            ("--horizon", &["0"], "at least 1"),
            ("--lookback", &["0"], "at least 1"),
            ("--stride", &["0"], "at least 1"),
            ("--batch", &["0"], "at least 1"),
            ("--hidden", &["0"], "at least 1"),
            ("--layers", &["0"], "at least 1"),
            ("--iters", &["0"], "at least 1"),
            ("--length", &["0", "1000000000000"], "between 1 and"),
        ],
    );
    let o = recur(&command(
        &["forecast", "train"],
        &base,
        &[("--val-frac", "0.6"), ("--test-frac", "0.5")],
    ));
    assert_fails(&o, &["--val-frac", "--test-frac", "below 1"]);
    assert!(!d.path("out").exists());
}

#[test]
fn bench_checks_every_size() {
    let base = [
        ("--hidden", "4"),
        ("--batch", "2"),
        ("--seq-len", "4"),
        ("--iters", "1"),
        ("--vocab", "5"),
        ("--threads", "1"),
    ];
    let nowhere = Path::new("/nonexistent-recur-bench-output");
    refuses(
        &["bench"],
        &base,
        nowhere,
        &[
            // --vocab 0 divided by zero.
            ("--vocab", &["0", "100000"], "between 1 and"),
            ("--hidden", &["0"], "at least 1"),
            ("--batch", &["0"], "at least 1"),
            ("--seq-len", &["0"], "at least 1"),
            ("--iters", &["0"], "at least 1"),
            ("--layers", &["0"], "at least 1"),
        ],
    );
    let o = recur(&command(&["bench"], &base, &[("--vocab", "3")]));
    assert_ok(&o);
    assert!(stdout(&o).contains("V=3"), "{}", stdout(&o));
}

#[test]
fn negative_counts_name_their_flag_in_every_command() {
    // Without `allow_hyphen_values`, clap read `--hidden -3` as an unknown
    // short flag "-3" and did not say which flag's value was wrong.
    for cmd in [
        &["seq2seq", "train", "--task", "reverse"][..],
        &["forecast", "train", "--synthetic", "noisy-sine"],
        &["bench"],
    ] {
        let mut args = cmd.to_vec();
        args.extend(["--hidden", "-3"]);
        assert_fails(&recur(&args), &["--hidden", "-3"]);
    }
    let mut args = vec!["forecast", "train", "--synthetic", "noisy-sine"];
    args.extend(["--season", "-1"]);
    assert_fails(&recur(&args), &["--season", "-1"]);
}

#[test]
fn sample_length_is_bounded() {
    let d = TempDir::new("flags-sample");
    let (corpus, out) = (corpus(&d), d.arg("out"));
    assert_ok(&recur(&[
        "train",
        "--corpus",
        &corpus,
        "--out",
        &out,
        "--iters",
        "2",
        "--hidden",
        "8",
        "--sample-len",
        "0",
    ]));
    // A huge --length asked the allocator for petabytes and aborted.
    let o = recur(&[
        "sample",
        "--checkpoint",
        &out,
        "--length",
        "1000000000000000",
    ]);
    assert_fails(&o, &["--length", "between 0 and"]);
}
