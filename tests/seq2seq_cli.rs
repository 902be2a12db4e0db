//! The `recur seq2seq` commands end to end: training, translation, the
//! attention picture, and clear errors for bad input.

use std::path::PathBuf;
use std::process::{Command, Output};

fn recur(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_recur"))
        .args(args)
        .output()
        .expect("run recur")
}

fn temp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("recur-s2s-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[track_caller]
fn fails_with(o: &Output, words: &[&str]) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "expected failure: {err}");
    assert!(!err.contains("panicked"), "{err}");
    let line = err
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_else(|| panic!("no error line: {err}"));
    for w in words {
        assert!(line.contains(w), "{line:?} should mention {w:?}");
    }
}

/// Train a tiny reverse model into `dir` (seconds).
fn tiny_model(dir: &std::path::Path, attention: &str) {
    let o = recur(&[
        "seq2seq",
        "train",
        "--task",
        "reverse",
        "--train-size",
        "300",
        "--test-size",
        "20",
        "--iters",
        "30",
        "--hidden",
        "16",
        "--embed",
        "8",
        "--attention",
        attention,
        "--eval-every",
        "0",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("held-out exact match"));
}

#[test]
fn translate_draws_the_attention_as_a_png_of_the_expected_size() {
    let d = temp("png");
    tiny_model(&d.join("run"), "bahdanau");
    let png = d.join("att.png");
    let o = recur(&[
        "seq2seq",
        "translate",
        "--checkpoint",
        d.join("run").to_str().unwrap(),
        "--input",
        "abcd",
        "--beam",
        "3",
        "--max-len",
        "6",
        "--show-attention",
        png.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8_lossy(&o.stdout).trim_end().to_string();
    let rows = out.chars().count() + usize::from(out.chars().count() < 6); // plus END unless cut at max-len
    let img = image::open(&png).unwrap().to_rgb8();
    assert_eq!(img.dimensions(), recur::viz::heatmap::size(rows, 4));
    let first = *img.get_pixel(0, 0);
    assert!(
        img.pixels().any(|p| *p != first),
        "the picture is a single colour"
    );
    let svg = d.join("att.svg");
    let o = recur(&[
        "seq2seq",
        "translate",
        "--checkpoint",
        d.join("run").to_str().unwrap(),
        "--input",
        "ab",
        "--show-attention",
        svg.to_str().unwrap(),
    ]);
    assert!(o.status.success());
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.trim_start().starts_with("<svg") && text.trim_end().ends_with("</svg>"));
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn bad_input_gets_clear_errors() {
    let d = temp("errors");
    let no_tab = d.join("no_tab.tsv");
    std::fs::write(&no_tab, "abc\tcba\nnothing here\n").unwrap();
    fails_with(
        &recur(&[
            "seq2seq",
            "train",
            "--pairs",
            no_tab.to_str().unwrap(),
            "--iters",
            "1",
        ]),
        &["no_tab.tsv:2", "tab"],
    );
    let empty = d.join("empty.tsv");
    std::fs::write(&empty, "abc\tcba\nxyz\t\n").unwrap();
    fails_with(
        &recur(&[
            "seq2seq",
            "train",
            "--pairs",
            empty.to_str().unwrap(),
            "--iters",
            "1",
        ]),
        &["empty.tsv:2", "target is empty"],
    );
    fails_with(
        &recur(&["seq2seq", "train", "--task", "translate"]),
        &["translate", "reverse"],
    );
    let run = d.join("run");
    tiny_model(&run, "none");
    let ckpt = run.to_str().unwrap();
    fails_with(
        &recur(&[
            "seq2seq",
            "translate",
            "--checkpoint",
            ckpt,
            "--input",
            "abc7Z",
        ]),
        &["'7'", "'Z'"],
    );
    fails_with(
        &recur(&[
            "seq2seq",
            "translate",
            "--checkpoint",
            ckpt,
            "--input",
            "abc",
            "--show-attention",
            "x.png",
        ]),
        &["attention"],
    );
    fails_with(
        &recur(&[
            "seq2seq",
            "translate",
            "--checkpoint",
            ckpt,
            "--input",
            "abc",
            "--beam",
            "0",
        ]),
        &["--beam"],
    );
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn pairs_file_trains_and_translates() {
    let d = temp("pairs");
    let pairs = d.join("pairs.tsv");
    let lines: String = (0..200).map(|i| format!("{}\t{}\n", i, i * 2)).collect();
    std::fs::write(&pairs, lines).unwrap();
    let out = d.join("run");
    let o = recur(&[
        "seq2seq",
        "train",
        "--pairs",
        pairs.to_str().unwrap(),
        "--iters",
        "20",
        "--hidden",
        "16",
        "--embed",
        "8",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = recur(&[
        "seq2seq",
        "translate",
        "--checkpoint",
        out.to_str().unwrap(),
        "--input",
        "12",
        "--max-len",
        "5",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn resume_is_exact() {
    let d = temp("resume");
    let run = |out: &PathBuf, iters: &str, resume: bool| {
        let mut args = vec![
            "seq2seq",
            "train",
            "--task",
            "add",
            "--train-size",
            "200",
            "--test-size",
            "10",
            "--hidden",
            "16",
            "--embed",
            "8",
            "--teacher-forcing",
            "0.5",
            "--schedule",
            "constant",
            "--batch",
            "16",
            "--eval-every",
            "4",
            "--iters",
            iters,
            "--out",
            out.to_str().unwrap(),
        ];
        if resume {
            args.push("--resume");
        }
        let o = recur(&args);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    let (straight, split) = (d.join("straight"), d.join("split"));
    run(&straight, "12", false);
    run(&split, "6", false);
    run(&split, "12", true);
    for f in ["model.safetensors", "state.safetensors"] {
        assert!(
            std::fs::read(straight.join(f)).unwrap() == std::fs::read(split.join(f)).unwrap(),
            "{f} differs after resume"
        );
    }
    // Different settings on resume are refused.
    let o = recur(&[
        "seq2seq",
        "train",
        "--task",
        "add",
        "--train-size",
        "200",
        "--test-size",
        "10",
        "--hidden",
        "32",
        "--embed",
        "8",
        "--iters",
        "20",
        "--out",
        split.to_str().unwrap(),
        "--resume",
    ]);
    fails_with(&o, &["--resume"]);
    let _ = std::fs::remove_dir_all(&d);
}
