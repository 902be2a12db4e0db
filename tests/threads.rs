//! The thread count never changes a result: the same command and seed give
//! byte-identical checkpoints with any `--threads` (and with the default,
//! all cores), and a resumed run may use another count. The batch, not the
//! thread count, decides how work is split and summed.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

#[path = "common/cli.rs"]
mod cli;
use cli::{safetensors_parts, val_losses};

/// A temporary folder, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(test: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("recur-threads-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `recur args`, with `RAYON_NUM_THREADS` set to `pool` when given.
fn recur(args: &[&str], pool: Option<usize>) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_recur"));
    c.args(args);
    if let Some(n) = pool {
        c.env("RAYON_NUM_THREADS", n.to_string());
    }
    c.output().unwrap()
}

#[track_caller]
fn assert_ok(o: &Output) {
    assert!(
        o.status.success(),
        "expected success:\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// `head` followed by the words of `flags`.
fn argv<'a>(head: &[&'a str], flags: &'a str) -> Vec<&'a str> {
    head.iter()
        .copied()
        .chain(flags.split_whitespace())
        .collect()
}

/// Some 3 KB of text over a small vocabulary.
fn text() -> String {
    let words = [
        "the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog", "and", "runs",
    ];
    (0..600)
        .map(|i| words[(i * 7 + i / 5) % words.len()])
        .collect::<Vec<_>>()
        .join(" ")
}

/// The bytes of `out/model.safetensors` after `recur train <args> --out
/// out` with each of `--threads 1, 2, 3` and without `--threads` (all
/// cores); each run gets a fresh folder.
fn models_by_thread_count(d: &TempDir, name: &str, args: &[&str]) -> Vec<(String, Vec<u8>)> {
    let mut models = Vec::new();
    for threads in [Some("1"), Some("2"), Some("3"), None] {
        let label = threads.map_or("default".to_string(), |t| format!("--threads {t}"));
        let out = d.path(&format!("{name}-{}", threads.unwrap_or("all")));
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--out", p(&out), "--sample-len", "0"]);
        if let Some(t) = threads {
            all.extend(["--threads", t]);
        }
        assert_ok(&recur(&all, None));
        models.push((label, std::fs::read(out.join("model.safetensors")).unwrap()));
    }
    models
}

#[track_caller]
fn assert_all_equal(what: &str, models: &[(String, Vec<u8>)]) {
    let (first, bytes) = &models[0];
    for (label, other) in &models[1..] {
        assert!(
            other == bytes,
            "{what}: the model trained with {label} differs from the one with {first}"
        );
    }
}

#[test]
fn corpus_runs_give_the_same_bytes_with_any_thread_count() {
    let d = TempDir::new("corpus");
    let corpus = d.path("corpus.txt");
    std::fs::write(&corpus, text()).unwrap();
    // 4 and 5 streams (one shard; 5 splits unevenly over 2 or 3 threads)
    // and 37 (three uneven shards) of a small model; 20 streams of a large
    // LSTM (one shard whose products are split over the threads).
    for (batch, model) in [
        ("4", "--hidden 12"),
        ("5", "--hidden 12"),
        ("37", "--hidden 12"),
        ("20", "--model lstm --hidden 256"),
    ] {
        let flags = format!("{model} --seq-len 8 --batch {batch} --iters 12 --eval-every 6");
        let args = argv(&["train", "--corpus", p(&corpus)], &flags);
        let models = models_by_thread_count(&d, &format!("b{batch}"), &args);
        assert_all_equal(&format!("{model} --batch {batch}"), &models);
    }
}

#[test]
fn validation_leaves_training_alone_and_reads_the_same_with_any_thread_count() {
    // Validation runs in the training shards' workspaces (three shards of
    // a 37-stream batch): it must not disturb the states they carry.
    let d = TempDir::new("validation");
    let corpus = d.path("corpus.txt");
    std::fs::write(&corpus, text()).unwrap();
    let mut runs = Vec::new();
    for (name, eval, threads) in [
        ("often", "3", "1"),
        ("often3", "3", "3"),
        ("never", "0", "2"),
    ] {
        let out = d.path(name);
        let log = d.path(&format!("{name}.jsonl"));
        let flags = format!(
            "--hidden 12 --seq-len 8 --batch 37 --iters 12 --eval-every {eval} --threads {threads}"
        );
        let mut args = argv(&["train", "--corpus", p(&corpus)], &flags);
        args.extend(["--out", p(&out), "--log", p(&log), "--sample-len", "0"]);
        assert_ok(&recur(&args, None));
        // The tensors: the header's metadata records --eval-every.
        let file = std::fs::read(out.join("model.safetensors")).unwrap();
        let (_, tensors) = safetensors_parts(&file);
        runs.push((name, tensors.to_vec(), val_losses(&log)));
    }
    assert!(
        runs[0].1 == runs[2].1,
        "validating every 3 iterations changed the model"
    );
    assert!(
        runs[0].1 == runs[1].1,
        "the model depends on the thread count"
    );
    assert_eq!(runs[0].2.len(), 4, "validations at 3, 6, 9 and 12");
    assert_eq!(
        runs[0].2, runs[1].2,
        "validation losses differ between 1 and 3 threads"
    );
    // The last one is the same model on the same text, however often before.
    assert_eq!(runs[2].2, runs[0].2[3..], "the final validation differs");
}

#[test]
fn word_list_runs_give_the_same_bytes_with_any_thread_count() {
    let d = TempDir::new("words");
    let list = d.path("words.txt");
    let words: Vec<String> = (0..120)
        .map(|i| format!("w{}{}", ["ab", "cde", "f", "ghij"][i % 4], i % 13))
        .collect();
    std::fs::write(&list, words.join("\n")).unwrap();
    // 23 words a batch: two shards, and short last batches each epoch.
    let flags = "--model gru --hidden 10 --batch 23 --iters 15 --eval-every 5";
    let args = argv(&["train", "--words", p(&list)], flags);
    assert_all_equal("--words", &models_by_thread_count(&d, "w", &args));
}

#[test]
fn lstm_with_dropout_gives_the_same_bytes_with_any_thread_count() {
    let d = TempDir::new("dropout");
    let corpus = d.path("corpus.txt");
    std::fs::write(&corpus, text()).unwrap();
    let flags = "--model lstm --layers 2 --dropout 0.3 --hidden 10 --seq-len 6 --batch 20 \
                 --optimizer adam --lr 0.01 --iters 10 --eval-every 5";
    let args = argv(&["train", "--corpus", p(&corpus)], flags);
    assert_all_equal("LSTM with dropout", &models_by_thread_count(&d, "l", &args));
}

#[test]
fn a_run_resumed_with_another_thread_count_ends_with_the_same_bytes() {
    let d = TempDir::new("resume");
    let corpus = d.path("corpus.txt");
    std::fs::write(&corpus, text()).unwrap();
    let (whole, split) = (d.path("whole"), d.path("split"));
    let flags = "--model gru --hidden 8 --seq-len 5 --batch 20 --eval-every 4 --sample-len 0";
    let run = |out: &Path, more: &str| {
        let args = argv(&["train", "--corpus", p(&corpus), "--out", p(out)], flags);
        assert_ok(&recur(&argv(&args, more), None));
    };
    run(&whole, "--iters 16 --threads 2");
    run(&split, "--iters 8 --threads 1");
    run(&split, "--iters 16 --threads 3 --resume");
    assert!(
        std::fs::read(whole.join("model.safetensors")).unwrap()
            == std::fs::read(split.join("model.safetensors")).unwrap(),
        "a run resumed with --threads 3 ended with other bytes than one run with --threads 2"
    );
}

#[test]
fn an_absurd_thread_count_is_refused() {
    let d = TempDir::new("absurd");
    let out = d.path("run");
    let o = recur(&["train", "--threads", "100000", "--out", p(&out)], None);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.starts_with("error: --threads 100000"),
        "{err}"
    );
    assert!(!out.join("model.safetensors").exists());
}

/// The bytes of `out/model.safetensors` after `recur args --out out` with a
/// pool of 1 and of 3 threads (these commands have no `--threads`: large
/// matrix products use every core). The sizes are chosen so that products
/// are large enough to be split over threads.
fn models_by_pool(d: &TempDir, name: &str, args: &[&str]) -> Vec<(String, Vec<u8>)> {
    [1, 3]
        .iter()
        .map(|&pool| {
            let out = d.path(&format!("{name}-{pool}"));
            let mut all = args.to_vec();
            all.extend(["--out", p(&out)]);
            assert_ok(&recur(&all, Some(pool)));
            let bytes = std::fs::read(out.join("model.safetensors")).unwrap();
            (format!("{pool} thread(s)"), bytes)
        })
        .collect()
}

#[test]
fn seq2seq_and_forecast_give_the_same_bytes_with_any_thread_count() {
    let d = TempDir::new("others");
    let s2s = "seq2seq train --task reverse --lengths 8-12 --train-size 128 --test-size 8 \
               --hidden 256 --batch 64 --iters 3 --eval-every 0";
    let s2s = argv(&[], s2s);
    assert_all_equal("seq2seq", &models_by_pool(&d, "s", &s2s));
    let fc = "forecast train --synthetic noisy-sine --length 600 --hidden 256 --batch 64 --iters 3";
    let fc = argv(&[], fc);
    assert_all_equal("forecast", &models_by_pool(&d, "f", &fc));
}

/// Rewrite the metadata value `key` of the safetensors file `path`.
fn edit_metadata(path: &Path, key: &str, edit: impl Fn(&str) -> String) {
    let bytes = std::fs::read(path).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let mut header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    let meta = &mut header["__metadata__"][key];
    *meta = serde_json::Value::String(edit(meta.as_str().unwrap()));
    let mut text = serde_json::to_string(&header).unwrap();
    while !text.len().is_multiple_of(8) {
        text.push(' ');
    }
    let mut out = (text.len() as u64).to_le_bytes().to_vec();
    out.extend(text.as_bytes());
    out.extend(&bytes[8 + n..]);
    std::fs::write(path, out).unwrap();
}

#[test]
fn a_run_saved_when_threads_changed_results_is_refused_clearly() {
    let d = TempDir::new("legacy");
    let corpus = d.path("corpus.txt");
    std::fs::write(&corpus, text()).unwrap();
    let out = d.path("run");
    let head = ["train", "--corpus", p(&corpus), "--out", p(&out)];
    let flags = "--hidden 8 --seq-len 5 --batch 4 --sample-len 0";
    assert_ok(&recur(&argv(&argv(&head, flags), "--iters 4"), None));
    // What a run saved by the version whose split followed --threads holds.
    edit_metadata(&out.join("state.safetensors"), "recur.train_config", |c| {
        format!("{},\"shards\":2}}", c.strip_suffix('}').unwrap())
    });
    let o = recur(&argv(&argv(&head, flags), "--iters 8 --resume"), None);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{err}");
    let line = err.lines().find(|l| l.starts_with("error:")).unwrap_or("");
    for word in ["--threads", "--overwrite", "samples"] {
        assert!(line.contains(word), "should mention {word}: {err}");
    }
}
