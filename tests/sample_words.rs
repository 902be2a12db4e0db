//! `recur sample --count N [--words FILE]`: N whole words from a word-list
//! model, one per line, the new ones marked against the training list and
//! counted; the misuses fail with one clear `error:` line.

#[path = "common/cli.rs"]
mod cli;

use std::collections::BTreeSet;

use cli::{TempDir, assert_fails, assert_ok, recur, stderr, stdout};

const NAMES: &str = "anna\nbob\ncarla\ndavid\nemma\nfrank\ngreta\nhanna\nivan\njulia\nkarl\nlena\n";

/// A word model trained on [`NAMES`] (saved in `d/run`, the list in
/// `d/names.txt`): a fraction of a second, enough to relearn some names.
fn word_model(d: &TempDir) -> (String, String) {
    d.file("names.txt", NAMES);
    let (words, run) = (d.arg("names.txt"), d.arg("run"));
    assert_ok(&recur(&[
        "train",
        "--words",
        &words,
        "--hidden",
        "16",
        "--batch",
        "4",
        "--optimizer",
        "adam",
        "--lr",
        "0.01",
        "--epochs",
        "60",
        "--seed",
        "1",
        "--sample-len",
        "0",
        "--eval-every",
        "0",
        "--out",
        &run,
    ]));
    (words, run)
}

/// `recur sample --checkpoint run` plus `extra`, which must succeed.
fn sample(run: &str, extra: &[&str]) -> (String, String) {
    let mut args = vec!["sample", "--checkpoint", run];
    args.extend(extra);
    let o = recur(&args);
    assert_ok(&o);
    (stdout(&o), stderr(&o))
}

#[test]
fn count_prints_that_many_words_reproducibly() {
    let d = TempDir::new("sample-words-count");
    let (_, run) = word_model(&d);
    let (out, _) = sample(&run, &["--count", "10", "--seed", "3"]);
    assert_eq!(out.lines().count(), 10, "{out:?}");
    assert!(!out.contains(['\u{2}', '\u{3}']), "no markers: {out:?}");
    let letters: BTreeSet<char> = NAMES.chars().collect();
    assert!(out.chars().all(|c| letters.contains(&c)), "{out:?}");
    assert_eq!(out, sample(&run, &["--count", "10", "--seed", "3"]).0);
    assert_ne!(out, sample(&run, &["--count", "10", "--seed", "4"]).0);
    // Without --count a word model still prints one word, as before.
    let (one, _) = sample(&run, &["--seed", "3"]);
    assert_eq!(one.lines().count(), 1, "{one:?}");
}

#[test]
fn words_marks_the_new_ones_and_counts_them() {
    let d = TempDir::new("sample-words-novelty");
    let (words, run) = word_model(&d);
    let flags = ["--count", "20", "--seed", "3", "--temperature", "0.7"];
    let (out, err) = sample(&run, &[&flags[..], &["--words", &words]].concat());
    let list: BTreeSet<&str> = NAMES.lines().collect();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 20, "{out}");
    let mut new = 0;
    for line in &lines {
        match line.strip_suffix("  (new)") {
            Some(word) => {
                new += 1;
                let word = word.trim_end();
                assert!(!list.contains(word), "{word:?} is in the list: {out}");
            }
            None => assert!(list.contains(line), "{line:?} is unmarked: {out}"),
        }
    }
    // The model has learnt some names and made up others: both kinds show.
    assert!(new > 0 && new < 20, "{out}");
    let expected = format!(
        "{new} of 20 words are new ({:.0}%); {} are in {words}",
        100.0 * new as f64 / 20.0,
        20 - new
    );
    assert_eq!(err.lines().last(), Some(expected.as_str()), "{err}");
    // The same words as without --words, only marked.
    let (plain, _) = sample(&run, &flags);
    let unmarked: Vec<&str> = lines
        .iter()
        .map(|l| l.strip_suffix("  (new)").map_or(*l, str::trim_end))
        .collect();
    assert_eq!(plain.lines().collect::<Vec<_>>(), unmarked);
}

#[test]
fn prime_starts_every_word_and_length_caps_it() {
    let d = TempDir::new("sample-words-prime");
    let (_, run) = word_model(&d);
    let (out, _) = sample(&run, &["--count", "8", "--prime", "em", "--seed", "5"]);
    assert_eq!(out.lines().count(), 8, "{out:?}");
    assert!(out.lines().all(|w| w.starts_with("em")), "{out:?}");
    let (out, _) = sample(&run, &["--count", "8", "--length", "2", "--seed", "5"]);
    assert_eq!(out.lines().count(), 8, "{out:?}");
    assert!(out.lines().all(|w| w.chars().count() <= 2), "{out:?}");
    // A hot sample of a small model runs on past most names: some are cut.
    let (out, _) = sample(
        &run,
        &[
            "--count",
            "30",
            "--length",
            "3",
            "--temperature",
            "3",
            "--seed",
            "5",
        ],
    );
    assert!(out.lines().any(|w| w.chars().count() == 3), "{out:?}");
}

#[test]
fn misuses_fail_with_one_clear_line() {
    let d = TempDir::new("sample-words-errors");
    let (words, run) = word_model(&d);
    let corpus = d.file("corpus.txt", "some running text, not a list. ".repeat(20));
    let text_run = d.arg("text-run");
    assert_ok(&recur(&[
        "train",
        "--corpus",
        corpus.to_str().unwrap(),
        "--hidden",
        "8",
        "--iters",
        "3",
        "--sample-len",
        "0",
        "--eval-every",
        "0",
        "--out",
        &text_run,
    ]));
    let sample = |ckpt: &str, extra: &[&str]| {
        let mut args = vec!["sample", "--checkpoint", ckpt];
        args.extend(extra);
        recur(&args)
    };
    let missing = d.arg("no-such-list.txt");
    for (ckpt, extra, keywords) in [
        (
            &text_run,
            &["--count", "5"][..],
            &["--count", "word-list", "--length"][..],
        ),
        (&run, &["--words", &words], &["--words", "--count"]),
        (
            &run,
            &["--count", "5", "--device", "gpu"],
            &["--count", "--device gpu"],
        ),
        (
            &run,
            &["--count", "0"],
            &["--count", "between 1 and 1000000", "got 0"],
        ),
        (&run, &["--count", "-3"], &["--count"]),
        (
            &run,
            &["--count", "5", "--length", "0"],
            &["--length", "between 1 and"],
        ),
        (
            &run,
            &["--count", "5", "--length", "20000"],
            &["--length", "10000"],
        ),
        (
            &run,
            &["--count", "5", "--words", &missing],
            &["no-such-list.txt"],
        ),
        (
            &run,
            &["--count", "5", "--prime", "xyz"],
            &["'x'", "'y'", "'z'"],
        ),
    ] {
        let o = sample(ckpt, extra);
        assert_fails(&o, keywords);
        assert!(stdout(&o).is_empty(), "{extra:?}: nothing printed");
    }
}
