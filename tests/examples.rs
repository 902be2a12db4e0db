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
fn the_classifier_and_the_word_model_run() {
    assert!(!run("classifier").is_empty());
    assert!(!run("words").is_empty());
}
