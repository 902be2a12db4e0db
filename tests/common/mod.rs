//! Helpers shared by the integration tests that need a trained model.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Write `text` to `dir/corpus.txt`, train a language model on it into
/// `dir/run` with `recur train ... --sample-len 0 <flags>`, and return the
/// corpus and run paths.
pub fn train_lm(dir: &Path, text: &str, flags: &[&str]) -> (PathBuf, PathBuf) {
    let corpus = dir.join("corpus.txt");
    std::fs::write(&corpus, text).unwrap();
    let run = dir.join("run");
    let o = Command::new(env!("CARGO_BIN_EXE_recur"))
        .args([
            "train",
            "--corpus",
            corpus.to_str().unwrap(),
            "--out",
            run.to_str().unwrap(),
            "--sample-len",
            "0",
        ])
        .args(flags)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    (corpus, run)
}
