//! Every committed fuzz input replayed through the fuzz targets' own bodies
//! (fuzz/src/lib.rs), without any fuzzing tools: the hand-written seeds
//! (fuzz/seeds, all valid), the minimized corpus the fuzzer grew
//! (fuzz/corpus) and the inputs that once failed (fuzz/regressions). Each
//! must come back `Ok` or as a clear one-line error; a panic fails the test
//! and names the file.

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

/// What `body` made of the file at `path`: `Ok(None)` for success,
/// `Ok(Some(message))` for an error, `Err` for a panic or an unclear error.
fn replay_one(body: Target, path: &Path) -> Result<Option<String>, String> {
    let bytes = std::fs::read(path).expect("readable input");
    match catch_unwind(AssertUnwindSafe(|| body(&bytes))) {
        Ok(Ok(())) => Ok(None),
        Ok(Err(e)) => {
            let message = e.to_string();
            if message.trim().is_empty() || message.contains('\n') {
                Err(format!("{}: unclear error {message:?}", path.display()))
            } else {
                Ok(Some(message))
            }
        }
        Err(_) => Err(format!("{}: panicked", path.display())),
    }
}

/// Replays every committed input of `target`; the seeds must all succeed.
fn replay(target: &str, body: Target) {
    let seeds = inputs("seeds", target);
    assert!(!seeds.is_empty(), "no seeds for {target}");
    let mut failures = Vec::new();
    for path in &seeds {
        match replay_one(body, path) {
            Ok(None) => {}
            Ok(Some(e)) => failures.push(format!("{}: a valid seed fails: {e}", path.display())),
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

#[test]
fn checkpoint_inputs() {
    replay("checkpoint", targets::checkpoint);
}
