//! What a newcomer from the numpy notebooks does first works: a word-list
//! model evaluates on its word list.

use std::process::{Command, Output};

fn recur(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_recur"))
        .args(args)
        .output()
        .unwrap()
}

#[track_caller]
fn ok(o: &Output) -> String {
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn a_word_list_model_evaluates_on_a_word_list() {
    let d = std::env::temp_dir().join(format!("recur-newcomer-eval-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    let words = d.join("names.txt");
    std::fs::write(&words, "anna\nbob\ncarla\ndavid\nemma\nfrank\n".repeat(5)).unwrap();
    let run = d.join("run");
    let (w, r) = (words.to_str().unwrap(), run.to_str().unwrap());
    ok(&recur(&[
        "train",
        "--words",
        w,
        "--hidden",
        "16",
        "--batch",
        "6",
        "--optimizer",
        "adam",
        "--lr",
        "0.01",
        "--epochs",
        "30",
        "--sample-len",
        "0",
        "--out",
        r,
    ]));
    let out = ok(&recur(&["eval", "--checkpoint", r, "--corpus", w]));
    let nats: f64 = out.split_whitespace().next().unwrap().parse().unwrap();
    // 30 words of 6 names: well below uniform guessing over 17 symbols.
    assert!(nats.is_finite() && nats < 0.5 * (17f64).ln(), "{out}");
    assert!(out.contains("30 words"), "{out}");
    let _ = std::fs::remove_dir_all(&d);
}
