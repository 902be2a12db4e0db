//! Every committed fuzz input replayed through the fuzz targets' own bodies
//! (fuzz/src/lib.rs), without any fuzzing tools: the hand-written seeds
//! (fuzz/seeds, all valid; the checkpoint seeds are trained here by the
//! `recur` binary, not committed), the minimized corpus the fuzzer grew
//! (fuzz/corpus) and the inputs that once failed (fuzz/regressions). Each
//! must come back `Ok` or as a clear one-line error; a panic or an unclear
//! message fails the test and names the file.

#[path = "../fuzz/src/lib.rs"]
mod targets;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

/// A fuzz target's body.
type Target = fn(&[u8]) -> recur::Result<()>;

/// The files of `fuzz/KIND/TARGET`, sorted; none if the folder is absent.
fn inputs(kind: &str, target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join(kind)
        .join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("readable folder").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// Whether `body` succeeded on the file at `path`, or why the replay
/// failed (a panic, or an unclear error message: see `targets::check`).
fn replay_one(body: Target, path: &Path) -> Result<bool, String> {
    let bytes = std::fs::read(path).expect("readable input");
    catch_unwind(AssertUnwindSafe(|| targets::check(body(&bytes))))
        .map_err(|_| format!("{}: panicked", path.display()))
}

/// Replays every committed input of `target`; the seeds must all succeed.
fn replay(target: &str, body: Target) {
    replay_with(target, body, inputs("seeds", target));
}

/// Replays `seeds` (which must all succeed) and the committed corpus and
/// regression inputs of `target`.
fn replay_with(target: &str, body: Target, seeds: Vec<PathBuf>) {
    assert!(!seeds.is_empty(), "no seeds for {target}");
    let mut failures = Vec::new();
    for path in &seeds {
        match replay_one(body, path) {
            Ok(true) => {}
            Ok(false) => failures.push(format!("{}: a valid seed fails", path.display())),
            Err(e) => failures.push(e),
        }
    }
    for kind in ["corpus", "regressions"] {
        for path in inputs(kind, target) {
            if let Err(e) = replay_one(body, &path) {
                failures.push(e);
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn text_inputs() {
    replay("text", targets::text);
}

#[test]
fn word_list_inputs() {
    replay("words", targets::words);
}

#[test]
fn pairs_inputs() {
    replay("pairs", targets::pairs);
}

#[test]
fn csv_inputs() {
    replay("csv", targets::csv);
}

/// Train the checkpoint seeds (one of each kind of model file: language
/// models with one-hot and embedded input and a word model, seq2seq with
/// two attentions, forecasters from a CSV and a built-in series) into
/// `dir` with the `recur` binary, tiny and in a few iterations.
fn train_checkpoint_seeds(dir: &Path) -> Vec<PathBuf> {
    std::fs::create_dir_all(dir).unwrap();
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    let file = |name: &str, text: String| {
        let p = data.join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    };
    let text = file("text.txt", "abc def. ".repeat(80));
    let words = file("words.txt", "abc\nbad\ncab\n".to_string());
    let pairs = file("pairs.tsv", "ab\tba\naab\tbaa\nba\tab\n".to_string());
    let rows: String = (0..120)
        .map(|t| {
            format!(
                "{t},{:.4},{:.4}\n",
                (t as f64 * 0.3).sin(),
                (t as f64 * 0.1).cos()
            )
        })
        .collect();
    let csv = file("series.csv", format!("t,y,x\n{rows}"));
    let seeds: [(&str, Vec<&str>); 7] = [
        ("lm-rnn", vec!["train", "--corpus", &text, "--hidden", "4"]),
        (
            "lm-lstm",
            vec![
                "train", "--corpus", &text, "--model", "lstm", "--layers", "2", "--embed", "2",
                "--hidden", "3",
            ],
        ),
        (
            "lm-gru-words",
            vec![
                "train", "--words", &words, "--model", "gru", "--hidden", "3",
            ],
        ),
        (
            "s2s-gru",
            vec![
                "seq2seq",
                "train",
                "--pairs",
                &pairs,
                "--hidden",
                "4",
                "--embed",
                "2",
                "--attention",
                "bahdanau",
            ],
        ),
        (
            "s2s-lstm",
            vec![
                "seq2seq",
                "train",
                "--pairs",
                &pairs,
                "--cell",
                "lstm",
                "--layers",
                "2",
                "--bidirectional",
                "--hidden",
                "2",
                "--embed",
                "2",
            ],
        ),
        (
            "fc-lstm",
            vec![
                "forecast",
                "train",
                "--csv",
                &csv,
                "--time",
                "t",
                "--target",
                "y",
                "--features",
                "y,x",
                "--hidden",
                "3",
                "--lookback",
                "8",
            ],
        ),
        (
            "fc-rnn",
            vec![
                "forecast",
                "train",
                "--synthetic",
                "noisy-sine",
                "--length",
                "200",
                "--model",
                "rnn",
                "--hidden",
                "2",
                "--lookback",
                "8",
                "--every-step",
            ],
        ),
    ];
    seeds
        .iter()
        .map(|(name, args)| {
            let run = data.join(name);
            let o = std::process::Command::new(env!("CARGO_BIN_EXE_recur"))
                .args(args)
                .args([
                    "--iters",
                    "2",
                    "--overwrite",
                    "--out",
                    run.to_str().unwrap(),
                ])
                .args(if args[0] == "train" {
                    &["--sample-len", "0"][..]
                } else {
                    &[]
                })
                .output()
                .unwrap();
            assert!(
                o.status.success(),
                "{name}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            let seed = dir.join(format!("{name}.safetensors"));
            std::fs::copy(run.join("model.safetensors"), &seed).unwrap();
            seed
        })
        .collect()
}

/// The checkpoint seeds are trained afresh (model files are not committed);
/// with `RECUR_FUZZ_SEEDS=DIR` they are kept there for the fuzzer
/// (`scripts/fuzz.sh` does this before fuzzing the checkpoint target).
#[test]
fn checkpoint_inputs() {
    let (dir, keep) = match std::env::var_os("RECUR_FUZZ_SEEDS") {
        Some(d) => (PathBuf::from(d), true),
        None => (
            std::env::temp_dir().join(format!("recur-fuzz-seeds-{}", std::process::id())),
            false,
        ),
    };
    let seeds = train_checkpoint_seeds(&dir);
    let _ = std::fs::remove_dir_all(dir.join("data"));
    replay_with("checkpoint", targets::checkpoint, seeds);
    if !keep {
        let _ = std::fs::remove_dir_all(&dir);
    }
}
