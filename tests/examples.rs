//! The programs in `examples/` run and do what their docs say (cargo builds
//! them for the tests; each runs in seconds).

use std::path::PathBuf;
use std::process::Command;

/// `target/<profile>/examples/NAME`, beside this test's own binary.
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let dir = exe
        .parent()
        .and_then(|d| d.parent())
        .expect("target/<profile>");
    dir.join("examples").join(name)
}

/// Run an example without arguments; its standard output.
fn run(name: &str) -> String {
    let path = example(name);
    let o = Command::new(&path).output().unwrap_or_else(|e| {
        panic!(
            "{}: {e} (`cargo test` builds the examples; `--test examples` alone does not)",
            path.display()
        )
    });
    let (out, err) = (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr),
    );
    assert!(o.status.success(), "{name} failed:\n{out}\n{err}");
    out
}

#[test]
fn the_character_model_learns_and_samples() {
    let out = run("char_model");
    // "iteration 300: training 0.412, validation 0.180 nats/char".
    let last = out
        .lines()
        .rev()
        .find_map(|l| l.split("validation ").nth(1))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no validation line in {out}"));
    assert!(last < 1.0, "validation {last}:\n{out}");
    assert!(
        out.lines().last().unwrap_or("").chars().count() >= 100,
        "{out}"
    );
}

#[test]
fn the_translator_reverses_unseen_strings() {
    let out = run("seq2seq");
    // "held-out exact match: 100.0%" (measured; the test asks for 80%).
    let acc: f64 = out
        .lines()
        .find_map(|l| l.strip_prefix("held-out exact match: "))
        .and_then(|v| v.trim_end_matches('%').parse().ok())
        .unwrap_or_else(|| panic!("no accuracy in {out}"));
    assert!(acc >= 80.0, "{out}");
    // "kzcfp -> pfczk (beam 1, want pfczk)": at least one right by beam.
    assert!(
        out.lines()
            .filter(|l| l.contains("(beam 4,"))
            .any(|l| l.split(" -> ").nth(1).is_some_and(|rest| {
                let got = rest.split(' ').next().unwrap_or("");
                rest.ends_with(&format!("want {got})"))
            })),
        "{out}"
    );
}

#[test]
fn the_forecaster_beats_repeating_the_last_value() {
    let out = run("forecaster");
    // "test MSE ... (72x the network's)" (measured 72x).
    let ratio: f64 = out
        .lines()
        .find_map(|l| l.split('(').nth(1))
        .and_then(|r| r.split('x').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no ratio in {out}"));
    assert!(ratio >= 10.0, "{out}");
    assert!(out.contains("the next 5 values: "), "{out}");
}

#[test]
fn the_classifier_and_the_word_model_run() {
    assert!(!run("classifier").is_empty());
    assert!(!run("words").is_empty());
}
