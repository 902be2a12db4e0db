//! Pictures: each command writes a valid PNG (decoded back: expected size,
//! not one colour) or a well-formed SVG, and bad input gets a clear error.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use recur::viz::loss::{self, Axis, SIZE};

fn temp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("recur-viz-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[track_caller]
fn assert_picture(path: &Path, size: (u32, u32)) {
    let img = image::open(path).unwrap().to_rgb8();
    assert_eq!(img.dimensions(), size);
    let first = *img.get_pixel(0, 0);
    assert!(
        img.pixels().any(|p| *p != first),
        "the picture is a single colour"
    );
}

#[track_caller]
fn assert_svg(path: &Path) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(
        text.trim_start().starts_with("<svg") && text.trim_end().ends_with("</svg>"),
        "not a whole SVG document"
    );
    assert!(text.contains("<text"), "no labels");
}

fn write_log(path: &Path, offset: f64) {
    let lines: String = (1..=20)
        .map(|i| {
            let val = if i % 5 == 0 { format!(",\"val_loss\":{}", 3.0 - 0.05 * i as f64 + offset) } else { String::new() };
            format!("{{\"iter\":{},\"train_loss\":{},\"smooth_loss\":3.0{val},\"chars_per_sec\":1000,\"elapsed_s\":{}}}\n", i * 10, 3.5 - 0.08 * i as f64 + offset, i as f64 * 0.5)
        })
        .collect();
    std::fs::write(path, lines).unwrap();
}

#[test]
fn loss_curves_png_and_svg() {
    let d = temp("loss");
    let (a, b) = (d.join("run-a.jsonl"), d.join("run-b.jsonl"));
    write_log(&a, 0.0);
    write_log(&b, 0.3);
    loss::draw(
        &[a.clone(), b.clone()],
        Axis::Iterations,
        &d.join("loss.png"),
    )
    .unwrap();
    assert_picture(&d.join("loss.png"), SIZE);
    loss::draw(std::slice::from_ref(&a), Axis::Seconds, &d.join("loss.svg")).unwrap();
    assert_svg(&d.join("loss.svg"));
    // Errors name the problem.
    std::fs::write(
        d.join("bad.jsonl"),
        "{\"iter\":1,\"train_loss\":2}\nnot json\n",
    )
    .unwrap();
    let e = loss::draw(&[d.join("bad.jsonl")], Axis::Iterations, &d.join("x.png"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("bad.jsonl:2"), "{e}");
    let e = loss::draw(&[a], Axis::Iterations, &d.join("x.jpg"))
        .unwrap_err()
        .to_string();
    assert!(e.contains(".png or .svg"), "{e}");
    let e = loss::draw(
        &[d.join("missing.jsonl")],
        Axis::Iterations,
        &d.join("x.png"),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("missing.jsonl"), "{e}");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn probability_heatmap_from_the_cli() {
    let d = temp("probs");
    let text = "the quick brown fox jumps over the lazy dog. ".repeat(20);
    let (_, run) = common::train_lm(&d, &text, &["--iters", "50", "--hidden", "16"]);
    let bin = env!("CARGO_BIN_EXE_recur");
    let png = d.join("probs.png");
    let o = Command::new(bin)
        .args([
            "viz",
            "probs",
            "--checkpoint",
            run.to_str().unwrap(),
            "--text",
            "the lazy dog",
            "--top-k",
            "8",
            "--out",
            png.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let at = recur::viz::probs::layout(8, "the lazy dog".len() - 1, true, false);
    assert_picture(&png, (at.width, at.height));
    let svg = d.join("probs.svg");
    let o = Command::new(bin)
        .args([
            "viz",
            "probs",
            "--checkpoint",
            run.to_str().unwrap(),
            "--text",
            "the fox",
            "--top-k",
            "0",
            "--out",
            svg.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_svg(&svg);
    let o = Command::new(bin)
        .args([
            "viz",
            "probs",
            "--checkpoint",
            run.to_str().unwrap(),
            "--text",
            "the QUICK",
            "--out",
            png.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("'Q'") && !err.contains("panicked"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn tsne_pictures_are_reproducible() {
    let d = temp("tsne");
    let text = "The quick brown fox, 12 times: jumps over the lazy dog!\n".repeat(20);
    let flags = [
        "--iters", "40", "--hidden", "16", "--model", "lstm", "--layers", "2",
    ];
    let (corpus, run) = common::train_lm(&d, &text, &flags);
    let bin = env!("CARGO_BIN_EXE_recur");
    let draw = |out: &Path, seed: &str| {
        let o = Command::new(bin)
            .args([
                "viz",
                "tsne",
                "--checkpoint",
                run.to_str().unwrap(),
                "--file",
                corpus.to_str().unwrap(),
                "--layer",
                "1",
            ])
            .args([
                "--points",
                "300",
                "--labels",
                "20",
                "--seed",
                seed,
                "--out",
                out.to_str().unwrap(),
            ])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    let (a, b, c) = (d.join("a.png"), d.join("b.png"), d.join("c.png"));
    draw(&a, "7");
    draw(&b, "7");
    draw(&c, "8");
    assert_picture(&a, recur::viz::tsne::SIZE);
    assert!(
        std::fs::read(&a).unwrap() == std::fs::read(&b).unwrap(),
        "same inputs and seed, different pictures"
    );
    assert!(
        std::fs::read(&a).unwrap() != std::fs::read(&c).unwrap(),
        "the seed has no effect"
    );
    draw(&d.join("a.svg"), "7");
    assert_svg(&d.join("a.svg"));
    let o = Command::new(bin)
        .args([
            "viz",
            "tsne",
            "--checkpoint",
            run.to_str().unwrap(),
            "--file",
            corpus.to_str().unwrap(),
            "--layer",
            "2",
            "--out",
        ])
        .arg(d.join("x.png"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("--layer 2"), "{err}");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn character_classes() {
    use recur::viz::tsne::{CLASSES, class_of};
    let name = |c| CLASSES[class_of(c)];
    assert_eq!(
        ['\n', ' ', '7', ',', 'Q', 'e', 'x', 'é'].map(name),
        [
            "newline",
            "space",
            "digit",
            "punctuation",
            "upper-case",
            "vowel",
            "consonant",
            "vowel"
        ]
    );
}
