//! End-to-end tests of the `recur` binary: every bad input fails with a
//! non-zero exit status and a one-line `error: ...` message that names the
//! problem (never a panic), and the good paths (train, sample, eval, resume,
//! gradcheck, --help) work and are reproducible.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use recur::checkpoint::{Loaded, TensorData, write_safetensors};

/// Small, fast training settings (no sample, no mid-run validation).
const FAST: &[&str] = &[
    "--iters",
    "5",
    "--hidden",
    "8",
    "--sample-len",
    "0",
    "--eval-every",
    "0",
];

/// A temporary folder, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(test: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("recur-cli-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// Write `bytes` to `name` in the folder and return its path.
    fn file(&self, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, bytes).expect("write temp file");
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn recur<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_recur"))
        .args(args)
        .output()
        .expect("run the recur binary")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn p(path: &Path) -> String {
    path.to_str().expect("UTF-8 temp path").to_string()
}

/// `args` followed by `extra`, as owned strings.
fn with(args: &[&str], extra: &[&str]) -> Vec<String> {
    args.iter().chain(extra).map(|s| s.to_string()).collect()
}

/// Assert that the command failed cleanly: non-zero exit, exactly one
/// `error:` line, which contains every keyword, and no panic. Returns that
/// line.
#[track_caller]
fn assert_fails(o: &Output, keywords: &[&str]) -> String {
    let err = stderr(o);
    assert!(
        !o.status.success(),
        "expected a failure, got {:?}\nstdout:\n{}\nstderr:\n{err}",
        o.status,
        stdout(o)
    );
    assert!(!err.contains("panicked"), "the binary panicked:\n{err}");
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(
        lines.len(),
        1,
        "expected exactly one line starting with 'error:' in stderr:\n{err}"
    );
    let line = lines[0];
    for k in keywords {
        assert!(
            line.contains(k),
            "the error line should mention {k:?}:\n{line}\n(full stderr:\n{err})"
        );
    }
    line.to_string()
}

#[track_caller]
fn assert_ok(o: &Output) {
    assert!(
        o.status.success(),
        "expected success, got {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        stdout(o),
        stderr(o)
    );
    assert!(!stderr(o).contains("panicked"), "{}", stderr(o));
}

/// A few hundred characters of repetitive English, enough for T=25.
fn small_corpus() -> String {
    "the quick brown fox jumps over the lazy dog. pack my box with five dozen liquor jugs.\n"
        .repeat(8)
}

/// Train a small model into `out` on `corpus` (FAST settings).
fn train_small(corpus: &Path, out: &Path) {
    let o = recur(&with(
        &["train", "--corpus", &p(corpus), "--out", &p(out)],
        FAST,
    ));
    assert_ok(&o);
    assert!(out.join("model.safetensors").is_file());
    assert!(out.join("state.safetensors").is_file());
}

/// Copy the model checkpoint `src` to `dst`, passing every metadata value
/// through `edit(key, value)`.
fn rewrite_model(src: &Path, dst: &Path, edit: impl Fn(&str, &str) -> String) {
    let f = Loaded::open(src).expect("open a valid checkpoint");
    let config = f.meta("recur.config").unwrap().to_string();
    let field = |name: &str| -> usize {
        let key = format!("\"{name}\":");
        let rest = &config[config.find(&key).expect(name) + key.len()..];
        let end = rest.find(|c: char| !c.is_ascii_digit()).unwrap();
        rest[..end].parse().unwrap()
    };
    let (v, h) = (field("input_size"), field("hidden_size"));
    let shapes: [(&str, Vec<usize>); 6] = [
        ("rnn.weight_ih_l0", vec![h, v]),
        ("rnn.weight_hh_l0", vec![h, h]),
        ("rnn.bias_ih_l0", vec![h]),
        ("rnn.bias_hh_l0", vec![h]),
        ("fc.weight", vec![v, h]),
        ("fc.bias", vec![v]),
    ];
    let values: Vec<Vec<f32>> = shapes
        .iter()
        .map(|(name, shape)| f.f32(name, shape).expect("tensor"))
        .collect();
    let tensors: Vec<(&str, Vec<usize>, TensorData<'_>)> = shapes
        .iter()
        .zip(&values)
        .map(|((name, shape), data)| (*name, shape.clone(), TensorData::F32(data)))
        .collect();
    let mut meta = BTreeMap::new();
    for key in [
        "format",
        "recur.format",
        "recur.model",
        "recur.config",
        "recur.vocab",
        "recur.iter",
    ] {
        meta.insert(key.to_string(), edit(key, f.meta(key).unwrap()));
    }
    write_safetensors(dst, &tensors, &meta).expect("write checkpoint");
}

// ---------------------------------------------------------------------------
// Bad corpora
// ---------------------------------------------------------------------------

#[test]
fn train_missing_corpus_file() {
    let d = TempDir::new("missing_corpus");
    let missing = d.path("no-such-corpus.txt");
    let o = recur(&with(
        &[
            "train",
            "--corpus",
            &p(&missing),
            "--out",
            &p(&d.path("out")),
        ],
        FAST,
    ));
    assert_fails(&o, &["no-such-corpus.txt", "no such file"]);
    assert!(!d.path("out").exists(), "nothing should be written");
}

#[test]
fn train_missing_word_list() {
    let d = TempDir::new("missing_words");
    let o = recur(&with(
        &[
            "train",
            "--words",
            &p(&d.path("no-such-words.txt")),
            "--out",
            &p(&d.path("out")),
        ],
        FAST,
    ));
    assert_fails(&o, &["no-such-words.txt"]);
}

#[test]
fn train_empty_and_whitespace_corpus() {
    let d = TempDir::new("empty_corpus");
    for (name, text) in [("empty.txt", ""), ("blank.txt", "  \n\t\n   \r\n")] {
        let corpus = d.file(name, text);
        let o = recur(&with(
            &[
                "train",
                "--corpus",
                &p(&corpus),
                "--out",
                &p(&d.path("out")),
            ],
            FAST,
        ));
        assert_fails(&o, &[name, "empty"]);
    }
}

#[test]
fn train_blank_word_list() {
    let d = TempDir::new("blank_words");
    let words = d.file("blank-words.txt", "\n   \n\n");
    let o = recur(&with(
        &["train", "--words", &p(&words), "--out", &p(&d.path("out"))],
        FAST,
    ));
    assert_fails(&o, &["blank-words.txt"]);
}

#[test]
fn train_corpus_shorter_than_seq_len() {
    let d = TempDir::new("short_corpus");
    let corpus = d.file("short.txt", "abcde");
    let o = recur(&with(
        &[
            "train",
            "--corpus",
            &p(&corpus),
            "--seq-len",
            "25",
            "--out",
            &p(&d.path("out")),
        ],
        FAST,
    ));
    let line = assert_fails(&o, &["5 characters", "--seq-len"]);
    assert!(line.contains("26"), "should say seq-len + 1 = 26: {line}");
}

#[test]
fn train_corpus_with_invalid_utf8() {
    let d = TempDir::new("bad_utf8");
    let corpus = d.file("latin1.txt", b"caf\xe9 na\xefve \xff\xfe text\n".repeat(10));
    let o = recur(&with(
        &[
            "train",
            "--corpus",
            &p(&corpus),
            "--out",
            &p(&d.path("out")),
        ],
        FAST,
    ));
    let line = assert_fails(&o, &["latin1.txt", "UTF-8"]);
    assert!(line.contains("offset 3"), "should give the offset: {line}");
}

// ---------------------------------------------------------------------------
// Bad settings
// ---------------------------------------------------------------------------

#[test]
fn train_zero_sizes() {
    let d = TempDir::new("zero_sizes");
    let corpus = d.file("corpus.txt", small_corpus());
    for flag in ["--hidden", "--seq-len", "--batch"] {
        // FAST has --hidden 8 and clap rejects a repeated flag: build the
        // arguments here.
        let mut args: Vec<String> = [
            "train",
            "--corpus",
            &p(&corpus),
            "--out",
            &p(&d.path("out")),
            "--iters",
            "5",
            "--sample-len",
            "0",
            "--eval-every",
            "0",
        ]
        .map(String::from)
        .to_vec();
        if flag != "--hidden" {
            args.extend(["--hidden".into(), "8".into()]);
        }
        args.extend([flag.to_string(), "0".into()]);
        let o = recur(&args);
        assert_fails(&o, &[flag, "at least 1"]);
        assert!(
            !d.path("out").exists(),
            "{flag} 0: nothing should be written"
        );
    }
}

#[test]
fn train_negative_and_nan_learning_rate() {
    let d = TempDir::new("bad_lr");
    let corpus = d.file("corpus.txt", small_corpus());
    // clap parses f64 with Rust's FromStr, which accepts "NaN", "nan" and
    // "inf": the training configuration has to reject them itself.
    for lr in ["-0.1", "0", "NaN", "nan", "inf"] {
        let o = recur(&with(
            &[
                "train",
                "--corpus",
                &p(&corpus),
                "--out",
                &p(&d.path("out")),
                "--lr",
                lr,
            ],
            FAST,
        ));
        assert_fails(&o, &["--lr", "positive"]);
        assert!(
            !d.path("out").exists(),
            "--lr {lr}: nothing should be written"
        );
    }
    // Not a number at all: clap's own error (it names the flag).
    let o = recur(&with(
        &["train", "--corpus", &p(&corpus), "--lr", "fast"],
        FAST,
    ));
    assert_fails(&o, &["--lr", "fast"]);
}

#[test]
fn train_other_bad_settings() {
    let d = TempDir::new("bad_settings");
    let corpus = d.file("corpus.txt", small_corpus());
    let out = p(&d.path("out"));
    let base = ["train", "--corpus", &p(&corpus), "--out", &out];
    for (extra, keywords) in [
        (&["--optimizer", "adamw"][..], &["adamw", "sgd"][..]),
        (&["--clip", "0"], &["clip", "positive"]),
        (&["--clip-norm", "-1"], &["clip", "positive"]),
        (&["--val-frac", "1"], &["--val-frac"]),
        (&["--val-frac", "-0.5"], &["--val-frac"]),
        (&["--log-every", "0"], &["--log-every"]),
        (&["--batch", "1000"], &["--batch"]),
    ] {
        let args: Vec<&str> = base.iter().chain(extra).copied().collect();
        let o = recur(&with(&args, FAST));
        assert_fails(&o, keywords);
    }
}

#[test]
fn negative_values_name_their_flag() {
    // `--lr -0.1` reaches recur's own check ("--lr must be a positive
    // number"), but values clap does not take for negative numbers are
    // read as unknown short flags: `--lr -inf` gives "unexpected argument
    // '-i' found", `--hidden -3` gives "unexpected argument '-3' found".
    // The message should name the flag whose value is wrong.
    let d = TempDir::new("negative_values");
    let corpus = d.file("corpus.txt", small_corpus());
    let out = p(&d.path("out"));
    let corpus_arg = p(&corpus);
    let mut unclear = Vec::new();
    for (args, flag) in [
        (&["train", "--lr", "-inf"][..], "--lr"),
        (&["train", "--clip", "-inf"], "--clip"),
        (&["train", "--hidden", "-3"], "--hidden"),
        (&["train", "--iters", "-5"], "--iters"),
    ] {
        let mut args: Vec<&str> = args.to_vec();
        args.extend(["--corpus", &corpus_arg, "--out", &out, "--sample-len", "0"]);
        let o = recur(&args);
        let line = assert_fails(&o, &[]);
        if !line.contains(flag) {
            unclear.push(format!("{args:?} -> {line}"));
        }
    }
    let run = d.path("run");
    train_small(&corpus, &run);
    let o = recur(&["sample", "--checkpoint", &p(&run), "--temperature", "-inf"]);
    let line = assert_fails(&o, &[]);
    if !line.contains("--temperature") {
        unclear.push(format!("sample --temperature -inf -> {line}"));
    }
    assert!(
        unclear.is_empty(),
        "these messages do not name the flag:\n{}",
        unclear.join("\n")
    );
}

#[test]
fn train_zero_iterations() {
    // Observed for both: "error: the run has already done 0 of 0
    // iterations; ask for more (--iters) to continue". --iters 0 is named
    // (if oddly, for a fresh run); --epochs 0 is told to change --iters.
    let d = TempDir::new("zero_iters");
    let corpus = d.file("corpus.txt", small_corpus());
    let out = p(&d.path("out"));
    let o = recur(&[
        "train",
        "--corpus",
        &p(&corpus),
        "--out",
        &out,
        "--hidden",
        "8",
        "--iters",
        "0",
        "--sample-len",
        "0",
    ]);
    assert_fails(&o, &["--iters"]);
    let o = recur(&[
        "train",
        "--corpus",
        &p(&corpus),
        "--out",
        &out,
        "--hidden",
        "8",
        "--epochs",
        "0",
        "--sample-len",
        "0",
    ]);
    assert_fails(&o, &["--epochs"]);
}

#[test]
fn train_out_is_an_existing_file() {
    let d = TempDir::new("out_is_file");
    let corpus = d.file("corpus.txt", small_corpus());
    let not_a_dir = d.file("plain.txt", "x");
    let o = recur(&with(
        &["train", "--corpus", &p(&corpus), "--out", &p(&not_a_dir)],
        FAST,
    ));
    // Observed: the whole run trains, then fails at the first save with
    // "error: .../plain.txt: File exists (os error 17)". The message
    // should say that --out must be a folder (and ideally fail before
    // training).
    let line = assert_fails(&o, &["plain.txt"]);
    assert!(
        line.contains("--out") || line.contains("folder") || line.contains("directory"),
        "the message should say that --out is not a folder: {line}"
    );
    assert_eq!(
        std::fs::read(&not_a_dir).unwrap(),
        b"x",
        "the file is untouched"
    );
}

// ---------------------------------------------------------------------------
// Bad checkpoints
// ---------------------------------------------------------------------------

#[test]
fn sample_nonexistent_checkpoint() {
    let d = TempDir::new("no_checkpoint");
    // A missing file, a missing folder, and an empty run folder.
    let empty = d.path("empty-run");
    std::fs::create_dir_all(&empty).unwrap();
    for (path, key) in [
        (
            d.path("missing-model.safetensors"),
            "missing-model.safetensors",
        ),
        (d.path("missing-run"), "missing-run"),
        (empty.clone(), "empty-run"),
    ] {
        let o = recur(&["sample", "--checkpoint", &p(&path), "--length", "5"]);
        assert_fails(&o, &[key, "no checkpoint"]);
    }
}

#[test]
fn sample_truncated_checkpoint() {
    let d = TempDir::new("truncated_ckpt");
    let corpus = d.file("corpus.txt", small_corpus());
    let run = d.path("run");
    train_small(&corpus, &run);
    let bytes = std::fs::read(run.join("model.safetensors")).unwrap();
    for (name, cut) in [
        ("half.safetensors", bytes.len() / 2),
        ("header-cut.safetensors", 40),
        ("four-bytes.safetensors", 4),
        ("zero-bytes.safetensors", 0),
        ("one-byte-short.safetensors", bytes.len() - 1),
    ] {
        let f = d.file(name, &bytes[..cut]);
        let o = recur(&["sample", "--checkpoint", &p(&f), "--length", "5"]);
        assert_fails(&o, &[name, "truncated or corrupt"]);
    }
}

#[test]
fn sample_corrupt_checkpoint() {
    let d = TempDir::new("corrupt_ckpt");
    // Deterministic pseudo-random garbage (xorshift).
    let mut x: u64 = 0x9e3779b97f4a7c15;
    let garbage: Vec<u8> = (0..4096)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    // A plausible header length followed by a header that is not JSON.
    let mut bad_json = 16u64.to_le_bytes().to_vec();
    bad_json.extend(b"{not json at all");
    // Valid JSON but not a safetensors header.
    let mut wrong_json = 8u64.to_le_bytes().to_vec();
    wrong_json.extend(b"[1,2,3] ");
    for (name, bytes) in [
        ("random.safetensors", garbage),
        (
            "text.safetensors",
            b"this is a text file, not a checkpoint\n".to_vec(),
        ),
        ("bad-json.safetensors", bad_json),
        ("wrong-json.safetensors", wrong_json),
    ] {
        let f = d.file(name, bytes);
        let o = recur(&["sample", "--checkpoint", &p(&f), "--length", "5"]);
        assert_fails(&o, &[name, "corrupt"]);
        let o = recur(&["eval", "--checkpoint", &p(&f), "--corpus", &p(&f)]);
        assert_fails(&o, &[name, "corrupt"]);
    }
}

#[test]
fn sample_checkpoint_of_another_model_type() {
    let d = TempDir::new("lstm_ckpt");
    let corpus = d.file("corpus.txt", small_corpus());
    let run = d.path("run");
    train_small(&corpus, &run);
    let lstm = d.path("lstm.safetensors");
    rewrite_model(&run.join("model.safetensors"), &lstm, |k, v| {
        if k == "recur.model" {
            "lstm".into()
        } else {
            v.into()
        }
    });
    let o = recur(&["sample", "--checkpoint", &p(&lstm), "--length", "5"]);
    assert_fails(&o, &["lstm.safetensors", "'lstm'", "rnn"]);
}

#[test]
fn sample_checkpoint_whose_shapes_mismatch_its_config() {
    let d = TempDir::new("shape_ckpt");
    let corpus = d.file("corpus.txt", small_corpus());
    let run = d.path("run");
    train_small(&corpus, &run);
    let src = run.join("model.safetensors");
    // Sanity check: an unchanged rewrite still loads.
    let same = d.path("same.safetensors");
    rewrite_model(&src, &same, |_, v| v.into());
    assert_ok(&recur(&[
        "sample",
        "--checkpoint",
        &p(&same),
        "--length",
        "5",
        "--seed",
        "1",
    ]));
    // Config says H=16, the tensors are H=8.
    let bad = d.path("h16.safetensors");
    rewrite_model(&src, &bad, |k, v| {
        if k == "recur.config" {
            assert!(v.contains("\"hidden_size\":8"), "{v}");
            v.replace("\"hidden_size\":8", "\"hidden_size\":16")
        } else {
            v.into()
        }
    });
    let o = recur(&["sample", "--checkpoint", &p(&bad), "--length", "5"]);
    assert_fails(&o, &["h16.safetensors", "shape", "[8, "]);
    // Config with hidden_size 0.
    let zero = d.path("h0.safetensors");
    rewrite_model(&src, &zero, |k, v| {
        if k == "recur.config" {
            v.replace("\"hidden_size\":8", "\"hidden_size\":0")
        } else {
            v.into()
        }
    });
    let o = recur(&["sample", "--checkpoint", &p(&zero), "--length", "5"]);
    assert_fails(&o, &["h0.safetensors"]);
    // A vocabulary that does not fit the input/output sizes.
    let vocab = d.path("vocab.safetensors");
    rewrite_model(&src, &vocab, |k, v| {
        if k == "recur.vocab" {
            "[\"a\",\"b\"]".into()
        } else {
            v.into()
        }
    });
    let o = recur(&["sample", "--checkpoint", &p(&vocab), "--length", "5"]);
    assert_fails(&o, &["vocab.safetensors", "vocabulary"]);
    // Unreadable config JSON.
    let json = d.path("json.safetensors");
    rewrite_model(&src, &json, |k, v| {
        if k == "recur.config" {
            "{oops".into()
        } else {
            v.into()
        }
    });
    let o = recur(&["sample", "--checkpoint", &p(&json), "--length", "5"]);
    assert_fails(&o, &["json.safetensors", "recur.config"]);
}

#[test]
fn sample_state_file_holds_the_same_model() {
    // The state file carries the model too (a resume reads it alone), so
    // sampling from it gives what the model file gives.
    let d = TempDir::new("state_as_model");
    let corpus = d.file("corpus.txt", small_corpus());
    let run = d.path("run");
    train_small(&corpus, &run);
    let sample = |file: &str| {
        let o = recur(&[
            "sample",
            "--checkpoint",
            &p(&run.join(file)),
            "--length",
            "40",
            "--seed",
            "3",
        ]);
        assert_ok(&o);
        stdout(&o)
    };
    assert_eq!(sample("state.safetensors"), sample("model.safetensors"));
}

// ---------------------------------------------------------------------------
// --resume without a run
// ---------------------------------------------------------------------------

#[test]
fn resume_without_a_saved_run() {
    let d = TempDir::new("resume_empty");
    let corpus = d.file("corpus.txt", small_corpus());
    let empty = d.path("empty-run");
    std::fs::create_dir_all(&empty).unwrap();
    for out in [&empty, &d.path("missing-run")] {
        let o = recur(&[
            "train",
            "--resume",
            "--corpus",
            &p(&corpus),
            "--out",
            &p(out),
            "--iters",
            "5",
            "--sample-len",
            "0",
        ]);
        assert_fails(&o, &["--resume", "state.safetensors"]);
    }
    assert!(
        std::fs::read_dir(&empty).unwrap().next().is_none(),
        "nothing is written into the empty folder"
    );
}

#[test]
fn resume_rejects_settings_and_other_data() {
    let d = TempDir::new("resume_mismatch");
    let corpus = d.file("corpus.txt", small_corpus());
    let run = d.path("run");
    train_small(&corpus, &run);
    let resume = |extra: &[&str]| {
        recur(&with(
            &[
                "train",
                "--resume",
                "--out",
                &p(&run),
                "--iters",
                "10",
                "--sample-len",
                "0",
            ],
            extra,
        ))
    };
    let o = resume(&["--corpus", &p(&corpus), "--hidden", "16", "--lr", "0.05"]);
    assert_fails(&o, &["--resume", "--hidden", "--lr", "16", "0.05"]);
    let other = d.file("other.txt", small_corpus().to_uppercase());
    let o = resume(&["--corpus", &p(&other)]);
    assert_fails(&o, &["--resume", "data"]);
    // Already at the requested iteration count.
    let o = recur(&[
        "train",
        "--resume",
        "--out",
        &p(&run),
        "--corpus",
        &p(&corpus),
        "--iters",
        "5",
        "--sample-len",
        "0",
    ]);
    assert_fails(&o, &["--iters"]);
}

// ---------------------------------------------------------------------------
// Characters outside the vocabulary
// ---------------------------------------------------------------------------

#[test]
fn sample_prime_outside_vocabulary() {
    let d = TempDir::new("prime_vocab");
    let corpus = d.file("corpus.txt", small_corpus());
    let run = d.path("run");
    train_small(&corpus, &run);
    let o = recur(&[
        "sample",
        "--checkpoint",
        &p(&run),
        "--prime",
        "the QUICK fox€",
        "--length",
        "5",
        "--seed",
        "1",
    ]);
    let line = assert_fails(&o, &["vocabulary"]);
    for c in ["'Q'", "'U'", "'I'", "'C'", "'K'", "'€'"] {
        assert!(line.contains(c), "should name {c}: {line}");
    }
    assert!(
        !line.contains("'t'"),
        "known characters are not listed: {line}"
    );
}

#[test]
fn eval_corpus_outside_vocabulary() {
    let d = TempDir::new("eval_vocab");
    let corpus = d.file("corpus.txt", small_corpus());
    let run = d.path("run");
    train_small(&corpus, &run);
    let other = d.file("other.txt", "the quick brown fox says ZZZ!\n");
    let o = recur(&["eval", "--checkpoint", &p(&run), "--corpus", &p(&other)]);
    let line = assert_fails(&o, &["vocabulary"]);
    assert!(line.contains("'Z'") && line.contains("'!'"), "{line}");
    // And the usual corpus problems apply to eval too.
    let o = recur(&[
        "eval",
        "--checkpoint",
        &p(&run),
        "--corpus",
        &p(&d.path("no-such-eval.txt")),
    ]);
    assert_fails(&o, &["no-such-eval.txt"]);
    let bad = d.file("bad-eval.txt", b"the \xff fox");
    let o = recur(&["eval", "--checkpoint", &p(&run), "--corpus", &p(&bad)]);
    assert_fails(&o, &["bad-eval.txt", "UTF-8"]);
    let one = d.file("one-char.txt", "t");
    let o = recur(&["eval", "--checkpoint", &p(&run), "--corpus", &p(&one)]);
    assert_fails(&o, &["two characters"]);
}

#[test]
fn sample_bad_options() {
    let d = TempDir::new("sample_opts");
    let corpus = d.file("corpus.txt", small_corpus());
    let run = d.path("run");
    train_small(&corpus, &run);
    for (extra, key) in [
        (&["--temperature", "0"][..], "--temperature"),
        (&["--temperature", "-1"], "--temperature"),
        (&["--temperature", "NaN"], "--temperature"),
        (&["--top-k", "0"], "--top-k"),
    ] {
        let o = recur(&with(
            &["sample", "--checkpoint", &p(&run), "--length", "5"],
            extra,
        ));
        assert_fails(&o, &[key]);
    }
}

// ---------------------------------------------------------------------------
// Good paths
// ---------------------------------------------------------------------------

#[test]
fn train_sample_eval_round_trip() {
    let d = TempDir::new("round_trip");
    let corpus = d.file("corpus.txt", small_corpus());
    let run = d.path("run");
    train_small(&corpus, &run);
    let sample = || {
        let o = recur(&[
            "sample",
            "--checkpoint",
            &p(&run),
            "--seed",
            "1",
            "--length",
            "40",
        ]);
        assert_ok(&o);
        stdout(&o)
    };
    let (a, b) = (sample(), sample());
    assert_eq!(a, b, "the same seed gives the same sample");
    assert!(a.trim_end_matches('\n').chars().count() >= 1, "{a:?}");
    // The file path works as well as the run folder.
    let o = recur(&[
        "sample",
        "--checkpoint",
        &p(&run.join("model.safetensors")),
        "--seed",
        "1",
        "--length",
        "40",
    ]);
    assert_ok(&o);
    assert_eq!(stdout(&o), a);
    // Greedy sampling with a prime starts with the prime.
    let o = recur(&[
        "sample",
        "--checkpoint",
        &p(&run),
        "--prime",
        "the ",
        "--greedy",
        "--length",
        "10",
    ]);
    assert_ok(&o);
    assert!(stdout(&o).starts_with("the "), "{}", stdout(&o));

    let o = recur(&["eval", "--checkpoint", &p(&run), "--corpus", &p(&corpus)]);
    assert_ok(&o);
    let out = stdout(&o);
    assert!(
        out.contains("nats/char") && out.contains("bits/char"),
        "{out}"
    );
    let nats: f64 = out.split_whitespace().next().unwrap().parse().unwrap();
    assert!(nats.is_finite() && nats > 0.0, "{out}");
}

#[test]
fn every_help_exits_zero() {
    for cmd in [
        &["--help"][..],
        &["train", "--help"],
        &["sample", "--help"],
        &["eval", "--help"],
        &["gradcheck", "--help"],
        &["bench", "--help"],
        &["help", "train"],
    ] {
        let o = recur(cmd);
        assert_ok(&o);
        assert!(stdout(&o).contains("Usage:"), "{cmd:?}: {}", stdout(&o));
    }
    let o = recur(&["--version"]);
    assert_ok(&o);
    assert!(stdout(&o).starts_with("recur "));
}

#[test]
fn usage_errors_are_clean() {
    for (args, key) in [
        (&[][..], "Usage"),
        (&["frobnicate"], "frobnicate"),
        (&["sample"], "--checkpoint"),
        (&["eval", "--checkpoint", "x"], "--corpus"),
        (&["train", "--hidden", "many"], "--hidden"),
        (&["train", "--corpus", "a", "--words", "b"], "--words"),
        (&["gradcheck", "--model", "transformer"], "transformer"),
    ] {
        let o = recur(args);
        assert!(!o.status.success(), "{args:?}");
        let err = stderr(&o);
        assert!(!err.contains("panicked"), "{err}");
        assert!(err.contains(key), "{args:?}: {err}");
        if !args.is_empty() {
            assert!(err.starts_with("error:"), "{args:?}: {err}");
        }
    }
}

#[test]
fn gradcheck_passes() {
    let o = recur(&["gradcheck"]);
    assert_ok(&o);
    let out = stdout(&o);
    assert!(out.contains("0 failed"), "{out}");
    assert!(!out.contains("FAIL"), "{out}");
    let o = recur(&["gradcheck", "--model", "rnn"]);
    assert_ok(&o);
}

#[test]
fn train_on_words_and_sample() {
    let d = TempDir::new("words");
    let words = d.file(
        "names.txt",
        "anna\nbob\ncarl\ndora\nemil\nfrida\ngustav\nhanna\nivan\njulia\n  \nkarl\nlena\n",
    );
    let run = d.path("run");
    let o = recur(&with(
        &[
            "train",
            "--words",
            &p(&words),
            "--out",
            &p(&run),
            "--batch",
            "4",
        ],
        FAST,
    ));
    assert_ok(&o);
    let sample = || {
        let o = recur(&[
            "sample",
            "--checkpoint",
            &p(&run),
            "--seed",
            "7",
            "--length",
            "30",
        ]);
        assert_ok(&o);
        stdout(&o)
    };
    let s = sample();
    assert_eq!(s, sample());
    assert!(
        !s.contains('\u{2}') && !s.contains('\u{3}'),
        "word markers are not printed: {s:?}"
    );
    let allowed: std::collections::BTreeSet<char> = "abcdefghijklmnoprstuv\n".chars().collect();
    assert!(s.chars().all(|c| allowed.contains(&c)), "{s:?}");
    // A word list with a prime from outside its letters fails cleanly.
    let o = recur(&["sample", "--checkpoint", &p(&run), "--prime", "xyz"]);
    assert_fails(&o, &["'x'", "'y'", "'z'"]);
}

#[test]
fn same_seed_gives_identical_model() {
    let d = TempDir::new("same_seed");
    let corpus = d.file("corpus.txt", small_corpus());
    let run = |name: &str, seed: &str| {
        let out = d.path(name);
        let o = recur(&with(
            &[
                "train",
                "--corpus",
                &p(&corpus),
                "--out",
                &p(&out),
                "--seed",
                seed,
            ],
            FAST,
        ));
        assert_ok(&o);
        (
            std::fs::read(out.join("model.safetensors")).unwrap(),
            std::fs::read(out.join("state.safetensors")).unwrap(),
        )
    };
    let a = run("a", "3");
    let b = run("b", "3");
    assert!(
        a.0 == b.0,
        "model.safetensors differs between identical runs"
    );
    assert!(
        a.1 == b.1,
        "state.safetensors differs between identical runs"
    );
    let c = run("c", "4");
    assert!(a.0 != c.0, "another seed gives another model");
}

/// Train `total` iterations straight, and `split` then `--resume` to
/// `total`, on `data` (`--corpus F` or `--words F`) with the model flags
/// `extra`; both runs must leave byte-identical files.
fn assert_resume_exact(d: &TempDir, data: [&str; 2], extra: &[&str], split: &str, total: &str) {
    let run = |out: &Path, iters: &str, resume: bool| {
        let mut args = vec![
            "train",
            data[0],
            data[1],
            "--out",
            out.to_str().unwrap(),
            "--iters",
            iters,
        ];
        args.extend(["--sample-len", "0"]);
        if resume {
            args.push("--resume");
        } else {
            args.extend(extra);
        }
        let o = recur(&args);
        assert_ok(&o);
        o
    };
    let (straight, parts) = (d.path("straight"), d.path("split"));
    run(&straight, total, false);
    run(&parts, split, false);
    let o = run(&parts, total, true);
    assert!(
        stderr(&o).contains(&format!("iterations {split}..{total}")),
        "{}",
        stderr(&o)
    );
    for file in ["model.safetensors", "state.safetensors"] {
        let a = std::fs::read(straight.join(file)).unwrap();
        let b = std::fs::read(parts.join(file)).unwrap();
        assert!(
            a == b,
            "{file}: {total} straight iterations differ from {split} + resume to {total}"
        );
    }
}

#[test]
fn resume_is_exact() {
    let d = TempDir::new("resume_exact");
    let corpus = p(&d.file("corpus.txt", small_corpus()));
    assert_resume_exact(
        &d,
        ["--corpus", &corpus],
        &["--hidden", "8", "--eval-every", "5"],
        "10",
        "20",
    );
}

#[test]
fn resume_is_exact_for_stacked_lstm_with_dropout() {
    // The carried state includes the LSTM's cell state, and dropout draws
    // from the run's random generator, which the save must restore.
    let d = TempDir::new("resume_lstm");
    let corpus = p(&d.file("corpus.txt", small_corpus()));
    let extra = [
        "--model",
        "lstm",
        "--layers",
        "2",
        "--dropout",
        "0.3",
        "--hidden",
        "8",
        "--batch",
        "2",
        "--seq-len",
        "10",
        "--eval-every",
        "5",
    ];
    assert_resume_exact(&d, ["--corpus", &corpus], &extra, "6", "12");
}

#[test]
fn gru_with_embedding_trains_and_samples() {
    let d = TempDir::new("gru_embed");
    let corpus = d.file("corpus.txt", small_corpus());
    let out = d.path("out");
    let o = recur(&[
        "train",
        "--corpus",
        &p(&corpus),
        "--out",
        &p(&out),
        "--model",
        "gru",
        "--embed",
        "4",
        "--hidden",
        "8",
        "--iters",
        "10",
        "--sample-len",
        "20",
    ]);
    assert_ok(&o);
    assert!(
        stderr(&o).contains("GRU with a 4-wide embedding"),
        "{}",
        stderr(&o)
    );
    let o = recur(&[
        "sample",
        "--checkpoint",
        &p(&out),
        "--prime",
        "the ",
        "--length",
        "30",
        "--seed",
        "3",
    ]);
    assert_ok(&o);
    assert!(stdout(&o).starts_with("the "), "{}", stdout(&o));
}

#[test]
fn resume_is_exact_for_word_lists() {
    let d = TempDir::new("resume_words");
    let names = "anna\nbob\ncarl\ndora\nemil\nfrida\ngustav\nhanna\nivan\njulia\nkarl\nlena\n";
    let words = p(&d.file("names.txt", names));
    let extra = [
        "--hidden",
        "8",
        "--batch",
        "3",
        "--eval-every",
        "5",
        "--optimizer",
        "adam",
        "--lr",
        "0.01",
    ];
    assert_resume_exact(&d, ["--words", &words], &extra, "7", "12");
}

// ---------------------------------------------------------------------------
// Divergence and the training log

#[test]
fn diverging_training_stops_with_advice() {
    let d = TempDir::new("diverge");
    let corpus = d.file("corpus.txt", small_corpus());
    let out = d.path("out");
    let o = recur(&[
        "train",
        "--corpus",
        &p(&corpus),
        "--out",
        &p(&out),
        "--optimizer",
        "adam",
        "--lr",
        "5",
        "--iters",
        "200",
        "--sample-len",
        "0",
        "--eval-every",
        "0",
    ]);
    assert_fails(&o, &["diverged", "--lr", "clip"]);
    assert!(
        !out.join("model.safetensors").exists(),
        "no checkpoint of a diverged model"
    );
}

#[test]
fn training_log_has_one_json_object_per_logged_step() {
    let d = TempDir::new("jsonl");
    let corpus = d.file("corpus.txt", small_corpus());
    let log = d.path("log.jsonl");
    let o = recur(&[
        "train",
        "--corpus",
        &p(&corpus),
        "--out",
        &p(&d.path("out")),
        "--hidden",
        "8",
        "--seq-len",
        "10",
        "--iters",
        "40",
        "--log-every",
        "10",
        "--eval-every",
        "20",
        "--val-frac",
        "0.2",
        "--sample-len",
        "0",
        "--log",
        &p(&log),
    ]);
    assert_ok(&o);
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let iters: Vec<u64> = lines.iter().map(|l| l["iter"].as_u64().unwrap()).collect();
    assert_eq!(iters, vec![10, 20, 30, 40]);
    for l in &lines {
        let loss = l["train_loss"].as_f64().unwrap();
        assert!(loss > 0.0 && loss < 5.0, "{l}");
        assert!(l["chars_per_sec"].as_f64().unwrap() > 0.0);
        assert!(l["elapsed_s"].as_f64().unwrap() >= 0.0);
        let at_eval = l["iter"].as_u64().unwrap() % 20 == 0;
        assert_eq!(
            l.get("val_loss").is_some(),
            at_eval,
            "val_loss only where validated: {l}"
        );
    }
}
