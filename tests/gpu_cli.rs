//! The command line on the GPU (`--device gpu`): a run trained on the GPU
//! resumes to the same bytes as one never interrupted; a run moves between
//! devices through its folder; sampling draws on the GPU; `recur devices` lists the adapter; no
//! adapter is a clear error; `recur bench --device gpu` reports kernel
//! dispatches and one host round trip per iteration.
//!
//! Runs on lavapipe in CI (see `common/gpu.rs` for when it skips); the
//! models are tiny because the software driver is slow.

#![cfg(feature = "gpu")]

use std::process::Command;

#[path = "common/cli.rs"]
mod cli;
#[path = "common/gpu.rs"]
mod gpu;
use cli::{TempDir, assert_fails, assert_ok, p, recur, stdout};

/// About 2 KB of text from a small vocabulary.
fn corpus(dir: &TempDir) -> String {
    let words = [
        "arma", "virumque", "cano", "troiae", "qui", "primus", "ab", "oris",
    ];
    let text: Vec<&str> = (0..300)
        .map(|i| words[(i * 7 + i / 5) % words.len()])
        .collect();
    p(&dir.file("corpus.txt", text.join(" ")))
}

/// `recur train` on a small LSTM with `extra` flags.
fn train(corpus: &str, out: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "train",
        "--corpus",
        corpus,
        "--model",
        "lstm",
        "--hidden",
        "16",
        "--seq-len",
        "8",
        "--batch",
        "4",
        "--optimizer",
        "adam",
        "--lr",
        "0.01",
        "--eval-every",
        "3",
        "--sample-len",
        "0",
        "--out",
        out,
    ];
    args.extend_from_slice(extra);
    recur(&args)
}

fn bytes(dir: &TempDir, file: &str) -> Vec<u8> {
    std::fs::read(dir.path(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

#[test]
fn a_gpu_run_resumed_ends_with_the_bytes_of_one_never_interrupted() {
    if gpu::gpu().is_none() {
        return;
    }
    let dir = TempDir::new("gpu-resume");
    let text = corpus(&dir);
    assert_ok(&train(
        &text,
        &dir.arg("whole"),
        &["--device", "gpu", "--iters", "6"],
    ));
    assert_ok(&train(
        &text,
        &dir.arg("split"),
        &["--device", "gpu", "--iters", "3"],
    ));
    assert_ok(&train(
        &text,
        &dir.arg("split"),
        &["--device", "gpu", "--iters", "6", "--resume"],
    ));
    for file in ["state.safetensors", "model.safetensors"] {
        assert!(
            bytes(&dir, &format!("whole/{file}")) == bytes(&dir, &format!("split/{file}")),
            "{file}: a resumed GPU run differs from an uninterrupted one"
        );
    }
    // And the GPU's run is not the CPU's (the test would pass vacuously if
    // --device were ignored).
    assert_ok(&train(&text, &dir.arg("cpu"), &["--iters", "6"]));
    assert!(bytes(&dir, "cpu/model.safetensors") != bytes(&dir, "whole/model.safetensors"));
}

#[test]
fn bf16_products_off_the_cpu_are_refused() {
    if gpu::gpu().is_none() {
        return;
    }
    let dir = TempDir::new("gpu-bf16");
    let text = corpus(&dir);
    let out = dir.arg("run");
    let o = train(
        &text,
        &out,
        &["--device", "gpu", "--iters", "2", "--precision", "bf16"],
    );
    // (Mesa may print lines of its own to stderr: look for ours.)
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{err}");
    assert!(
        err.contains("error: --precision bf16 runs on the CPU: leave out --device"),
        "{err}"
    );
    assert!(
        !std::path::Path::new(&out)
            .join("model.safetensors")
            .exists()
    );
}

/// The loss `recur eval` prints.
fn nats(o: &std::process::Output) -> f64 {
    assert_ok(o);
    let out = stdout(o);
    out.split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no loss in {out:?}"))
}

#[test]
fn a_run_moves_between_devices_and_both_evaluate_it_alike() {
    if gpu::gpu().is_none() {
        return;
    }
    let dir = TempDir::new("gpu-move");
    let text = corpus(&dir);
    let out = dir.arg("run");
    assert_ok(&train(&text, &out, &["--device", "gpu", "--iters", "3"]));
    assert_ok(&train(&text, &out, &["--iters", "5", "--resume"]));
    assert_ok(&train(
        &text,
        &out,
        &["--device", "gpu", "--iters", "7", "--resume"],
    ));
    let eval = |device: &str| {
        nats(&recur(&[
            "eval",
            "--checkpoint",
            &out,
            "--corpus",
            &text,
            "--device",
            device,
        ]))
    };
    let (on_cpu, on_gpu) = (eval("cpu"), eval("gpu"));
    assert!(on_cpu.is_finite() && on_cpu > 0.0, "{on_cpu}");
    assert!(
        (on_cpu - on_gpu).abs() <= 1e-4 * on_cpu,
        "eval: {on_cpu} on the CPU, {on_gpu} on the GPU"
    );
}

#[test]
fn sample_on_the_gpu_draws_greedily_what_the_cpu_draws() {
    if gpu::gpu().is_none() {
        return;
    }
    let dir = TempDir::new("gpu-sample");
    let text = corpus(&dir);
    let out = dir.arg("run");
    assert_ok(&train(&text, &out, &["--iters", "4"]));
    let sample = |device: &str, extra: &[&str]| {
        let mut args = vec![
            "sample",
            "--checkpoint",
            &out,
            "--length",
            "30",
            "--prime",
            "arma ",
            "--device",
            device,
        ];
        args.extend_from_slice(extra);
        let o = recur(&args);
        assert_ok(&o);
        stdout(&o)
    };
    assert_eq!(sample("gpu", &["--greedy"]), sample("cpu", &["--greedy"]));
    let drawn = sample("gpu", &["--seed", "3"]);
    assert_eq!(
        drawn,
        sample("gpu", &["--seed", "3"]),
        "a seed gives one text"
    );
    assert!(
        drawn.starts_with("arma ") && drawn.trim_end().chars().count() >= 30,
        "{drawn:?}"
    );
}

#[test]
fn devices_lists_the_adapter_that_device_gpu_takes() {
    let Some(gpu) = gpu::gpu() else { return };
    let o = recur(&["devices"]);
    assert_ok(&o);
    let out = stdout(&o);
    let name = &gpu.adapter().name;
    let line = out
        .lines()
        .find(|l| l.starts_with('*'))
        .unwrap_or_else(|| panic!("no adapter marked in {out}"));
    assert!(
        line.contains(name.as_str()),
        "{name} not on the marked line: {out}"
    );
}

#[cfg(target_os = "linux")]
#[test]
fn no_adapter_is_a_clear_error() {
    if gpu::gpu().is_none() {
        return;
    }
    let dir = TempDir::new("gpu-none");
    let text = corpus(&dir);
    // The Vulkan loader finds no driver at all.
    let o = Command::new(env!("CARGO_BIN_EXE_recur"))
        .args([
            "train",
            "--device",
            "gpu",
            "--corpus",
            &text,
            "--iters",
            "1",
            "--out",
            &dir.arg("x"),
        ])
        .env("VK_ICD_FILENAMES", "/nonexistent.json")
        .output()
        .expect("run recur");
    assert_fails(&o, &["no GPU adapter", "--device cpu"]);
    assert!(!dir.path("x").exists(), "a failed start left a run folder");
    let o = recur(&[
        "train",
        "--gpu",
        "0",
        "--corpus",
        &text,
        "--out",
        &dir.arg("y"),
    ]);
    assert_fails(&o, &["--gpu", "--device gpu"]);
}

#[test]
fn bench_counts_dispatches_and_round_trips_per_iteration() {
    if gpu::gpu().is_none() {
        return;
    }
    let o = recur(&[
        "bench",
        "--device",
        "gpu",
        "--model",
        "gru",
        "--hidden",
        "8",
        "--batch",
        "2",
        "--seq-len",
        "3",
        "--vocab",
        "5",
        "--iters",
        "2",
    ]);
    assert_ok(&o);
    let out = stdout(&o);
    let line = out
        .lines()
        .find(|l| l.contains("kernel dispatches"))
        .unwrap_or_else(|| panic!("{out}"));
    let number = |after: &str| -> f64 {
        let at = line
            .find(after)
            .unwrap_or_else(|| panic!("no {after:?} in {line}"));
        let before: Vec<&str> = line[..at].split_whitespace().collect();
        before
            .last()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{line}"))
    };
    // Forward and backward over 3 steps take dozens of kernels; the host
    // reads back the losses and the clip's verdicts of both timed
    // iterations together, once.
    assert!(number("kernel dispatches") >= 20.0, "{line}");
    assert_eq!(number("host round trips"), 0.5, "{line}");
}
