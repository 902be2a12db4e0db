//! A crash never costs a run: training killed with SIGKILL at random
//! moments and resumed ends with the same bytes as a run never interrupted;
//! a folder that holds a run is never overwritten silently; two runs never
//! share a folder; a resume keeps the run's own target and accepts the
//! command that started it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

#[path = "common/cli.rs"]
mod cli;
use cli::{TempDir, assert_fails, assert_ok, p, recur, stderr};

/// About 4 KB of text drawn from a small vocabulary of words.
fn corpus(dir: &TempDir) -> PathBuf {
    let words = [
        "the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "pack", "my", "box",
        "with", "five", "dozen", "liquor", "jugs",
    ];
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let text: Vec<&str> = (0..800)
        .map(|_| words[rng.random_range(0..words.len())])
        .collect();
    let path = dir.path("corpus.txt");
    std::fs::write(&path, text.join(" ")).unwrap();
    path
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

/// `args` without the flag `flag` and its value.
fn without(args: &[String], flag: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut skip = false;
    for a in args {
        if skip {
            skip = false;
        } else if a == flag {
            skip = true;
        } else {
            out.push(a.clone());
        }
    }
    out
}

/// The names of temporary files left in `dir`.
fn temporaries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp-"))
        .collect()
}

/// The `iter` of every line of a JSON-lines log.
fn logged_iters(log: &Path) -> Vec<u64> {
    std::fs::read_to_string(log)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["iter"]
                .as_u64()
                .unwrap()
        })
        .collect()
}

/// Run `command` (which names `--out out --log log`) uninterrupted into
/// `reference`, then again into `out`, killed with SIGKILL `kills` times at
/// seeded random moments and each time restarted as a user would (the same
/// command with `--resume` where a save exists, every other time without
/// `--iters` to check the saved target is kept; `--overwrite` where only a
/// model file was saved), and check that the final model file is
/// byte-identical to the reference, no temporary file is left and the log
/// holds each iteration once, as the reference's does.
fn killed_runs_end_like_an_uninterrupted_one(
    command: &[String],
    out: &Path,
    log: &Path,
    reference: &Path,
    kills: usize,
    seed: u64,
) {
    let reference_log = reference.with_extension("jsonl");
    let reference_args: Vec<String> = command
        .iter()
        .map(|a| match a {
            a if a == &p(out) => p(reference),
            a if a == &p(log) => p(&reference_log),
            a => a.clone(),
        })
        .collect();
    let started = Instant::now();
    assert_ok(&recur(&reference_args));
    let duration = started.elapsed().as_secs_f64();
    let expected = std::fs::read(reference.join("model.safetensors")).unwrap();

    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut finished = false;
    let (mut resumed_without_target, mut killed) = (0, 0);
    for k in 0..kills {
        let mut args = command.to_vec();
        if out.join("state.safetensors").exists() {
            if k % 2 == 1 {
                args = without(&args, "--iters");
                resumed_without_target += 1;
            }
            args.push("--resume".into());
        } else if out.join("model.safetensors").exists() {
            args.push("--overwrite".into());
        }
        let mut child = Command::new(env!("CARGO_BIN_EXE_recur"))
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Each attempt gets a random share of the run's time: the kills
        // land in start-up, training, validation and saves alike.
        let delay = rng.random_range(0.0..duration / 8.0);
        std::thread::sleep(Duration::from_secs_f64(delay));
        if let Some(status) = child.try_wait().unwrap() {
            let o = child.wait_with_output().unwrap();
            assert!(status.success(), "attempt {k}: {}", stderr(&o));
            finished = true;
            break;
        }
        child.kill().unwrap();
        child.wait().unwrap();
        killed += 1;
    }
    assert!(
        killed >= kills * 3 / 4,
        "only {killed} of {kills} attempts were killed"
    );
    if !finished {
        let mut args = without(command, "--iters");
        args.push("--resume".into());
        assert_ok(&recur(&args));
    }
    assert!(resumed_without_target > 0 || finished);
    let got = std::fs::read(out.join("model.safetensors")).unwrap();
    assert!(
        got == expected,
        "the resumed run's model differs from the uninterrupted run's"
    );
    assert!(temporaries(out).is_empty(), "{:?}", temporaries(out));
    assert_eq!(logged_iters(log), logged_iters(&reference_log));

    // Resuming the finished run says so, changes nothing and succeeds.
    let mut args = without(command, "--iters");
    args.push("--resume".into());
    let o = recur(&args);
    assert_ok(&o);
    assert!(stderr(&o).contains("finished"), "{}", stderr(&o));
    assert_eq!(
        std::fs::read(out.join("model.safetensors")).unwrap(),
        expected
    );
}

#[test]
fn language_model_killed_20_times_resumes_to_the_same_bytes() {
    let d = TempDir::new("kill_lm");
    let corpus = corpus(&d);
    let (out, log) = (d.path("run"), d.path("run.jsonl"));
    let mut command = strings(&["train", "--corpus", &p(&corpus), "--model", "lstm"]);
    command.extend(strings(&[
        "--hidden",
        "64",
        "--batch",
        "4",
        "--iters",
        "400",
        "--eval-every",
        "10",
        "--log-every",
        "10",
        "--threads",
        "1",
        "--sample-len",
        "0",
        "--out",
        &p(&out),
        "--log",
        &p(&log),
    ]));
    killed_runs_end_like_an_uninterrupted_one(&command, &out, &log, &d.path("reference"), 20, 7);
}

#[test]
fn seq2seq_killed_20_times_resumes_to_the_same_bytes() {
    let d = TempDir::new("kill_s2s");
    let (out, log) = (d.path("run"), d.path("run.jsonl"));
    let command = strings(&[
        "seq2seq",
        "train",
        "--task",
        "reverse",
        "--train-size",
        "300",
        "--test-size",
        "20",
        "--hidden",
        "32",
        "--embed",
        "8",
        "--iters",
        "150",
        "--eval-every",
        "5",
        "--out",
        &p(&out),
        "--log",
        &p(&log),
    ]);
    killed_runs_end_like_an_uninterrupted_one(&command, &out, &log, &d.path("reference"), 20, 11);
}

/// A small, fast `recur train` into `out`; `extra` flags replace the
/// defaults of the same name.
fn train(corpus: &Path, out: &Path, extra: &[&str]) -> Output {
    let mut args = strings(&["train", "--corpus", &p(corpus), "--out", &p(out)]);
    for (flag, value) in [
        ("--hidden", "8"),
        ("--iters", "20"),
        ("--eval-every", "10"),
        ("--sample-len", "0"),
    ] {
        if !extra.contains(&flag) {
            args.extend(strings(&[flag, value]));
        }
    }
    args.extend(strings(extra));
    recur(&args)
}

#[test]
fn a_folder_holding_a_run_is_never_overwritten_silently() {
    let d = TempDir::new("overwrite");
    let corpus = corpus(&d);
    let out = d.path("run");
    assert_ok(&train(&corpus, &out, &[]));
    let before = std::fs::read(out.join("model.safetensors")).unwrap();
    let o = train(&corpus, &out, &["--hidden", "12"]);
    assert_fails(&o, &["already holds", "--resume", "--overwrite"]);
    assert_eq!(
        std::fs::read(out.join("model.safetensors")).unwrap(),
        before
    );
    assert_ok(&train(&corpus, &out, &["--hidden", "12", "--overwrite"]));
    assert_ne!(
        std::fs::read(out.join("model.safetensors")).unwrap(),
        before
    );

    let s2s = |extra: &[&str]| {
        let mut args = strings(&[
            "seq2seq",
            "train",
            "--task",
            "reverse",
            "--train-size",
            "50",
            "--test-size",
            "5",
            "--hidden",
            "8",
            "--embed",
            "4",
            "--iters",
            "3",
            "--out",
            &p(&d.path("s2s")),
        ]);
        args.extend(strings(extra));
        recur(&args)
    };
    assert_ok(&s2s(&[]));
    assert_fails(&s2s(&[]), &["already holds", "--resume", "--overwrite"]);
    assert_ok(&s2s(&["--overwrite"]));

    let forecast = |extra: &[&str]| {
        let mut args = strings(&[
            "forecast",
            "train",
            "--synthetic",
            "noisy-sine",
            "--length",
            "400",
            "--hidden",
            "4",
            "--iters",
            "3",
            "--out",
            &p(&d.path("fc")),
        ]);
        args.extend(strings(extra));
        recur(&args)
    };
    assert_ok(&forecast(&[]));
    let before = std::fs::read(d.path("fc").join("model.safetensors")).unwrap();
    let o = forecast(&["--seed", "5"]);
    assert_fails(&o, &["already holds", "--overwrite"]);
    assert_eq!(
        std::fs::read(d.path("fc").join("model.safetensors")).unwrap(),
        before
    );
    assert_ok(&forecast(&["--seed", "5", "--overwrite"]));
}

/// A child process killed when the test ends, even by a failed assertion.
struct KillOnDrop(std::process::Child);

impl KillOnDrop {
    fn id(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_second_run_into_a_folder_in_use_is_refused() {
    let d = TempDir::new("lock");
    let corpus = corpus(&d);
    let out = d.path("run");
    let first = Command::new(env!("CARGO_BIN_EXE_recur"))
        .args([
            "train",
            "--corpus",
            &p(&corpus),
            "--hidden",
            "8",
            "--iters",
            "100000000",
            "--sample-len",
            "0",
            "--out",
            &p(&out),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = KillOnDrop(first);
    // Wait until the first run holds the folder.
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::fs::read_to_string(out.join(".lock")).unwrap_or_default() != first.id().to_string() {
        assert!(
            Instant::now() < deadline,
            "the first run never took the folder"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    for extra in [&[][..], &["--overwrite"], &["--resume"]] {
        let o = train(&corpus, &out, extra);
        if extra == ["--resume"] && stderr(&o).contains("no saved run") {
            // Refused before the lock because nothing was saved yet.
            assert_fails(&o, &["--resume"]);
            continue;
        }
        assert_fails(&o, &["in use", &first.id().to_string()]);
    }
    first.0.kill().unwrap();
    first.0.wait().unwrap();
    // The lock dies with its process, even killed.
    assert_ok(&train(&corpus, &out, &["--overwrite"]));
}

#[test]
fn stale_temporary_files_are_removed_and_foreign_models_refused() {
    let d = TempDir::new("stale");
    let corpus = corpus(&d);
    let out = d.path("run");
    assert_ok(&train(&corpus, &out, &["--iters", "10"]));
    std::fs::write(out.join(".model.safetensors.tmp-4194304"), b"half a file").unwrap();
    std::fs::write(out.join(".state.safetensors.tmp-12"), b"half a file").unwrap();
    assert_ok(&train(&corpus, &out, &["--iters", "20", "--resume"]));
    assert!(temporaries(&out).is_empty(), "{:?}", temporaries(&out));

    // A model file from another run (another seed) next to this run's state.
    let other = d.path("other");
    assert_ok(&train(&corpus, &other, &["--iters", "10", "--seed", "9"]));
    std::fs::copy(
        other.join("model.safetensors"),
        out.join("model.safetensors"),
    )
    .unwrap();
    let o = train(&corpus, &out, &["--iters", "30", "--resume"]);
    assert_fails(&o, &["model.safetensors", "another run"]);
    assert_eq!(
        std::fs::read(out.join("model.safetensors")).unwrap(),
        std::fs::read(other.join("model.safetensors")).unwrap(),
        "the foreign model is left as it was"
    );
}

#[test]
fn resume_accepts_the_original_command_and_keeps_its_target() {
    let d = TempDir::new("press_up");
    let corpus = corpus(&d);
    let out = d.path("run");
    let flags = [
        "--model",
        "gru",
        "--layers",
        "2",
        "--batch",
        "3",
        "--optimizer",
        "adam",
        "--lr",
        "0.002",
        "--clip-norm",
        "1",
        "--seed",
        "4",
    ];
    assert_ok(&train(&corpus, &out, &flags));
    // The same command with --resume and a higher target trains on.
    let mut again = flags.to_vec();
    again.extend(["--iters", "30", "--resume"]);
    assert_ok(&train(&corpus, &out, &again));
    // A different value is named, with both values.
    let mut changed = flags.to_vec();
    changed[3] = "3";
    changed.extend(["--iters", "40", "--resume"]);
    assert_fails(&train(&corpus, &out, &changed), &["--layers", "2", "3"]);
    // A lower target than what is done is refused.
    assert_fails(
        &train(&corpus, &out, &["--iters", "25", "--resume"]),
        &["--iters 25", "30"],
    );
}

#[test]
fn the_smoothed_loss_tracks_the_training_loss_from_the_first_line() {
    let d = TempDir::new("smooth");
    let corpus = corpus(&d);
    let log = d.path("log.jsonl");
    let o = train(
        &corpus,
        &d.path("run"),
        &[
            "--hidden",
            "32",
            "--iters",
            "100",
            "--log-every",
            "50",
            "--eval-every",
            "0",
            "--log",
            &p(&log),
        ],
    );
    assert_ok(&o);
    let text = std::fs::read_to_string(&log).unwrap();
    let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    let (train, smooth) = (
        first["train_loss"].as_f64().unwrap(),
        first["smooth_loss"].as_f64().unwrap(),
    );
    // Over the first 50 steps the smoothed loss is a (nearly uniformly)
    // weighted mean of the same losses the line's mean covers.
    assert!(
        (smooth - train).abs() < 0.02 * train,
        "smooth {smooth} vs train {train}"
    );
}

#[test]
fn a_log_that_is_a_folder_fails_before_training() {
    let d = TempDir::new("logdir");
    let corpus = corpus(&d);
    let out = d.path("run");
    let o = train(&corpus, &out, &["--log", &d.arg("")]);
    assert_fails(&o, &["--log", "folder"]);
    assert!(!stderr(&o).contains("training "), "{}", stderr(&o));
    assert!(!out.join("model.safetensors").exists());
}

/// Rewrite the safetensors file `path` in place, passing every metadata
/// value through `edit(key, value)`.
fn edit_metadata(path: &Path, edit: impl Fn(&str, &str) -> String) {
    use recur::checkpoint::{TensorData, write_safetensors};
    use safetensors::{Dtype, SafeTensors};
    let bytes = std::fs::read(path).unwrap();
    let (_, header) = SafeTensors::read_metadata(&bytes).unwrap();
    let meta: std::collections::BTreeMap<String, String> = header
        .metadata()
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| {
            let v = edit(&k, &v);
            (k, v)
        })
        .collect();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let tensors = st.tensors();
    let values = |d: &[u8]| -> (Vec<f32>, Vec<u32>) {
        let words = d.chunks_exact(4).map(|c| [c[0], c[1], c[2], c[3]]);
        (
            words.clone().map(f32::from_le_bytes).collect(),
            words.map(u32::from_le_bytes).collect(),
        )
    };
    let decoded: Vec<(Vec<f32>, Vec<u32>)> =
        tensors.iter().map(|(_, v)| values(v.data())).collect();
    let list: Vec<(&str, Vec<usize>, TensorData<'_>)> = tensors
        .iter()
        .zip(&decoded)
        .map(|((name, view), (f, u))| {
            let data = match view.dtype() {
                Dtype::U32 => TensorData::U32(u),
                _ => TensorData::F32(f),
            };
            (name.as_str(), view.shape().to_vec(), data)
        })
        .collect();
    write_safetensors(path, &list, &meta).unwrap();
}

#[test]
fn a_state_file_whose_settings_name_another_cell_is_refused() {
    let d = TempDir::new("other_cell");
    let corpus = corpus(&d);
    let out = d.path("run");
    assert_ok(&train(&corpus, &out, &["--model", "lstm", "--iters", "10"]));
    edit_metadata(&out.join("state.safetensors"), |k, v| {
        if k == "recur.train_config" {
            v.replace("\"Lstm\"", "\"Gru\"")
                .replace("\"lstm\"", "\"gru\"")
        } else {
            v.to_string()
        }
    });
    let o = train(&corpus, &out, &["--iters", "20", "--resume"]);
    assert_fails(&o, &["state.safetensors"]);
    assert!(!stderr(&o).contains("GRU"), "{}", stderr(&o));
}
