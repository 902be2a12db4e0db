//! Helpers for the tests that run the `recur` binary on bad or oversized
//! input: a temporary folder, running the binary (with extra environment),
//! and the clean-failure assertion (non-zero exit, one `error:` line with
//! the given keywords, no panic).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A temporary folder, removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(test: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("recur-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// Write `bytes` to `name` in the folder and return its path as a string.
    pub fn file(&self, name: &str, bytes: impl AsRef<[u8]>) -> String {
        let p = self.path(name);
        std::fs::write(&p, bytes).expect("write temp file");
        s(&p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A path as a string argument.
pub fn s(path: &Path) -> String {
    path.to_str().expect("UTF-8 temp path").to_string()
}

/// Run `recur args` with the environment `env` added.
pub fn recur_env(env: &[(&str, &str)], args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_recur"))
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("run the recur binary")
}

/// Run `recur args`.
pub fn recur(args: &[&str]) -> Output {
    recur_env(&[], args)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Assert the command succeeded (and did not panic).
#[track_caller]
pub fn assert_ok(o: &Output) {
    assert!(
        o.status.success() && !stderr(o).contains("panicked"),
        "expected success, got {:?}\nstderr:\n{}",
        o.status,
        stderr(o)
    );
}

/// Assert the command failed cleanly: non-zero exit, exactly one `error:`
/// line containing every keyword, no panic. Returns that line.
#[track_caller]
pub fn assert_fails(o: &Output, keywords: &[&str]) -> String {
    let err = stderr(o);
    assert!(
        !o.status.success(),
        "expected a failure, got {:?}\nstderr:\n{err}",
        o.status
    );
    assert!(!err.contains("panicked"), "the binary panicked:\n{err}");
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(lines.len(), 1, "expected one 'error:' line:\n{err}");
    for k in keywords {
        assert!(
            lines[0].contains(k),
            "the error should mention {k:?}:\n{err}"
        );
    }
    lines[0].to_string()
}

/// Train a small language model (hidden 8, a few iterations) on `text`
/// into `dir/run` with `flags` added; returns the run folder.
pub fn train_small(dir: &TempDir, text: &str, flags: &[&str]) -> String {
    let corpus = dir.file("corpus.txt", text);
    let run = s(&dir.path("run"));
    let mut args = vec![
        "train",
        "--corpus",
        &corpus,
        "--out",
        &run,
        "--hidden",
        "8",
        "--iters",
        "3",
        "--sample-len",
        "0",
        "--eval-every",
        "0",
    ];
    args.extend(flags);
    assert_ok(&recur(&args));
    run
}

/// A few hundred characters of repetitive English.
pub fn small_text() -> String {
    "the quick brown fox jumps over the lazy dog. pack my box with five dozen liquor jugs.\n"
        .repeat(8)
}
