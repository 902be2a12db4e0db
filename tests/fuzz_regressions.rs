//! Every committed fuzz input replayed through the fuzz targets' own bodies
//! (fuzz/src/lib.rs), without any fuzzing tools: the hand-written seeds
//! (fuzz/seeds, all valid), the minimized corpus the fuzzer grew
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
    let seeds = inputs("seeds", target);
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

#[test]
fn checkpoint_inputs() {
    replay("checkpoint", targets::checkpoint);
}
