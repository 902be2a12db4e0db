//! Helpers for tests that run the `recur` binary and check its errors
//! (include with `#[path = "common/cli.rs"] mod cli;`).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A temporary folder, removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    /// A fresh folder for `test`.
    pub fn new(test: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("recur-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    /// `name` inside the folder.
    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// `name` inside the folder, as a string argument.
    pub fn arg(&self, name: &str) -> String {
        p(&self.path(name))
    }

    /// Write `bytes` to `name` in the folder and return its path.
    pub fn file(&self, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, bytes).expect("write temp file");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A path as a string argument.
pub fn p(path: &Path) -> String {
    path.to_str().expect("UTF-8 temp path").to_string()
}

/// Run `recur args`, killing it (and failing the test) if it has not
/// finished within two minutes: a hang is a defect, not a slow test.
pub fn recur<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_recur"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the recur binary");
    let start = Instant::now();
    while child.try_wait().expect("wait for recur").is_none() {
        if start.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            let shown: Vec<String> = args
                .iter()
                .map(|a| a.as_ref().to_string_lossy().into_owned())
                .collect();
            panic!("recur {shown:?} did not finish in two minutes (a hang)");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("collect recur's output")
}

/// Standard output as text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Standard error as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Assert that the command failed cleanly: non-zero exit, exactly one
/// `error:` line, which contains every keyword, and no panic. Returns that
/// line.
#[track_caller]
pub fn assert_fails(o: &Output, keywords: &[&str]) -> String {
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

/// Assert that the command succeeded without a panic.
#[track_caller]
pub fn assert_ok(o: &Output) {
    assert!(
        o.status.success(),
        "expected success, got {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        stdout(o),
        stderr(o)
    );
    assert!(!stderr(o).contains("panicked"), "{}", stderr(o));
}

/// `args` followed by `extra`, as owned strings.
pub fn with(args: &[&str], extra: &[&str]) -> Vec<String> {
    args.iter().chain(extra).map(|s| s.to_string()).collect()
}

/// The validation losses a run's `--log` file holds, in order.
pub fn val_losses(log: &Path) -> Vec<f64> {
    std::fs::read_to_string(log)
        .expect("read the log")
        .lines()
        .filter_map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("a JSON line");
            v.get("val_loss").and_then(|x| x.as_f64())
        })
        .collect()
}

/// A safetensors file's header (tensor names to dtype, shape and offsets,
/// and `__metadata__`) and its data section.
pub fn safetensors_parts(bytes: &[u8]) -> (serde_json::Value, &[u8]) {
    let len = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")) as usize;
    let header = serde_json::from_slice(&bytes[8..8 + len]).expect("a JSON header");
    (header, &bytes[8 + len..])
}
