//! Pictures a newcomer can read: `--text` is the text and `--file` a file
//! in every `viz` command; a word-list model is pictured from a word list;
//! legends sit beside the data, never on it; a probability picture marks
//! the actual next character even when it is not a row, keeps its title
//! whole and wraps long texts; a forecast piped into `head` still draws
//! its picture.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use image::{Rgb, RgbImage};
use recur::viz::heatmap::CELL;
use recur::viz::{forecast, legend, loss, probs, tsne};

fn temp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("recur-pictures-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn recur<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_recur"))
        .args(args)
        .output()
        .unwrap()
}

#[track_caller]
fn ok(o: &Output) {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

fn s(p: &Path) -> String {
    p.to_str().unwrap().to_string()
}

fn png(path: &Path) -> RgbImage {
    image::open(path).unwrap().to_rgb8()
}

/// Whether any pixel in `xs × ys` has exactly `colour`.
fn has(
    img: &RgbImage,
    xs: std::ops::Range<u32>,
    ys: std::ops::Range<u32>,
    colour: [u8; 3],
) -> bool {
    xs.flat_map(|x| ys.clone().map(move |y| (x, y)))
        .any(|(x, y)| *img.get_pixel(x, y) == Rgb(colour))
}

#[test]
fn text_is_the_text_and_file_is_a_file_in_every_viz_command() {
    let d = temp("flags");
    let corpus = "the input.txt file holds the lazy dog, and more text. ".repeat(30);
    let (_, run) = common::train_lm(&d, &corpus, &["--iters", "20", "--hidden", "8"]);
    let run = s(&run);
    let content = "the lazy dog and more text";
    std::fs::write(d.join("input.txt"), content).unwrap();
    let file = s(&d.join("input.txt"));
    let out = |name: &str| s(&d.join(name));
    let probs_of = |flag: &str, value: &str, name: &str| {
        ok(&recur(&[
            "viz",
            "probs",
            "--checkpoint",
            &run,
            flag,
            value,
            "--out",
            &out(name),
        ]));
        png(&d.join(name))
    };
    // --text input.txt draws the nine characters "input.txt".
    let literal = probs_of("--text", "input.txt", "literal.png");
    let at = probs::layout(12, "input.txt".len() - 1, true, false);
    assert_eq!(literal.dimensions(), (at.width, at.height));
    // --file input.txt draws what the file holds, as --text with it would.
    let read = probs_of("--file", &file, "read.png");
    let given = probs_of("--text", content, "given.png");
    assert_eq!(read, given);
    assert_ne!(read.dimensions(), literal.dimensions());
    // The same in t-SNE and the activation viewer.
    ok(&recur(&[
        "viz",
        "tsne",
        "--checkpoint",
        &run,
        "--text",
        "input.txt",
        "--out",
        &out("t.png"),
    ]));
    ok(&recur(&[
        "viz",
        "activations",
        "--checkpoint",
        &run,
        "--text",
        "input.txt",
        "--out",
        &out("a.html"),
    ]));
    let page = std::fs::read_to_string(d.join("a.html")).unwrap();
    assert!(page.contains(r#""text":["i","n","p","u","t",".","t","x","t"]"#));
    ok(&recur(&[
        "viz",
        "activations",
        "--checkpoint",
        &run,
        "--file",
        &file,
        "--out",
        &out("f.html"),
    ]));
    let page = std::fs::read_to_string(d.join("f.html")).unwrap();
    assert!(page.contains(r#""text":["t","h","e"," ","l","a","z","y""#));
    // Exactly one of the two.
    for cmd in ["probs", "tsne", "activations"] {
        let both = recur(&[
            "viz",
            cmd,
            "--checkpoint",
            &run,
            "--text",
            "the",
            "--file",
            &file,
            "--out",
            &out("x.png"),
        ]);
        let err = String::from_utf8_lossy(&both.stderr);
        assert!(
            !both.status.success() && err.contains("cannot be used with"),
            "{cmd}: {err}"
        );
        let neither = recur(&["viz", cmd, "--checkpoint", &run, "--out", &out("x.png")]);
        let err = String::from_utf8_lossy(&neither.stderr);
        assert!(
            !neither.status.success() && err.contains("--text") && err.contains("--file"),
            "{cmd}: {err}"
        );
    }
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn a_word_list_model_is_pictured_from_a_word_list() {
    let d = temp("words");
    let words = d.join("names.txt");
    std::fs::write(&words, "anna\nbob\ncarla\ndavid\nemma\nfrank\n".repeat(5)).unwrap();
    let run = d.join("run");
    ok(&recur(&[
        "train",
        "--words",
        &s(&words),
        "--hidden",
        "16",
        "--batch",
        "6",
        "--optimizer",
        "adam",
        "--lr",
        "0.01",
        "--epochs",
        "30",
        "--sample-len",
        "0",
        "--out",
        &s(&run),
    ]));
    let (run, words) = (s(&run), s(&words));
    // t-SNE: the states after each letter of the 30 words (130 letters).
    let t = d.join("t.png");
    let o = recur(&[
        "viz",
        "tsne",
        "--checkpoint",
        &run,
        "--file",
        &words,
        "--labels",
        "10",
        "--out",
        &s(&t),
    ]);
    ok(&o);
    assert!(String::from_utf8_lossy(&o.stderr).contains("130 states"));
    assert_eq!(png(&t).dimensions(), tsne::SIZE);
    // Probabilities: START and each letter of every word, END predicted.
    let few = d.join("few.txt");
    std::fs::write(&few, "anna\nbob\n").unwrap();
    let p = d.join("p.png");
    ok(&recur(&[
        "viz",
        "probs",
        "--checkpoint",
        &run,
        "--file",
        &s(&few),
        "--out",
        &s(&p),
    ]));
    let at = probs::layout(12, 5 + 4, true, true);
    assert_eq!(png(&p).dimensions(), (at.width, at.height));
    // The viewer: each word from its START marker (▸), END shown as ■.
    let page = d.join("a.html");
    ok(&recur(&[
        "viz",
        "activations",
        "--checkpoint",
        &run,
        "--file",
        &s(&few),
        "--out",
        &s(&page),
    ]));
    let page = std::fs::read_to_string(&page).unwrap();
    assert!(
        page.contains(r#""text":["▸","a","n","n","a","\n▸","b","o","b"]"#),
        "{}",
        &page[page.find("const DATA").unwrap()..][..200]
    );
    assert!(
        page.contains(r#"["■","#),
        "END is not among the predictions"
    );
    assert!(
        !page.contains("\\u0003"),
        "END drawn as a control character"
    );
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn word_markers_and_white_space_are_drawn_as_visible_glyphs() {
    use recur::data::vocab::{END, START};
    use recur::viz::glyph;
    assert_eq!(
        [START, END, '\n', ' ', '\t', '\u{7}', 'a'].map(glyph),
        ["▸", "■", "⏎", "␣", "⇥", "?", "a"]
    );
}

/// A model over a text whose characters come in threes, so that the one
/// row shown with `--top-k 1` misses most next characters.
fn probs_model(d: &Path) -> String {
    let text = "abc abd abe cab dab eab ".repeat(40);
    let (_, run) = common::train_lm(d, &text, &["--iters", "30", "--hidden", "8"]);
    s(&run)
}

#[test]
fn the_actual_next_character_is_outlined_in_other_when_it_is_not_a_row() {
    let d = temp("other");
    let run = probs_model(&d);
    let text = "abc abd abe cab";
    let p = d.join("p.png");
    ok(&recur(&[
        "viz",
        "probs",
        "--checkpoint",
        &run,
        "--text",
        text,
        "--top-k",
        "1",
        "--out",
        &s(&p),
    ]));
    let img = png(&p);
    let at = probs::layout(1, text.len() - 1, true, false);
    assert_eq!(img.dimensions(), (at.width, at.height));
    let outlined = |row: usize, col: usize| {
        let (x, y) = at.cell(row, col);
        let (x, y) = (x as u32, y as u32);
        // The outline's left side (the previous cell's right side ends at x).
        has(
            &img,
            x + 1..x + 3,
            y + CELL / 2 - 2..y + CELL / 2 + 2,
            [255, 0, 0],
        )
    };
    let mut in_other = 0;
    for col in 0..text.len() - 1 {
        let (shown, other) = (outlined(0, col), outlined(1, col));
        assert!(
            shown ^ other,
            "column {col}: one outline, in the row or in other"
        );
        in_other += usize::from(other);
    }
    assert!(in_other >= 5, "{in_other}");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn a_short_text_keeps_its_title_and_a_long_one_wraps() {
    let d = temp("title");
    let run = probs_model(&d);
    let short = d.join("short.png");
    ok(&recur(&[
        "viz",
        "probs",
        "--checkpoint",
        &run,
        "--text",
        "ab",
        "--out",
        &s(&short),
    ]));
    // The title's lines end inside the picture: its right edge is white.
    let img = png(&short);
    let (w, _) = img.dimensions();
    // Six characters in the vocabulary: all are rows, no "other".
    let at = probs::layout(6, 1, false, false);
    assert_eq!(img.dimensions(), (at.width, at.height));
    let title_h = at.cell(0, 0).1 as u32 - 28;
    assert!(has(&img, 0..w / 2, 0..title_h, [0, 0, 0]), "no title");
    for x in w - 6..w {
        for y in 0..title_h {
            assert_eq!(
                *img.get_pixel(x, y),
                Rgb([255, 255, 255]),
                "title cut at ({x}, {y})"
            );
        }
    }
    // 120 characters: two panels of 60 columns, not a 3,452-pixel strip.
    let long = d.join("long.png");
    let text = "abc abd abe cab dab eab ".repeat(5);
    assert_eq!(text.len(), 120);
    ok(&recur(&[
        "viz",
        "probs",
        "--checkpoint",
        &run,
        "--text",
        &text,
        "--out",
        &s(&long),
    ]));
    let at = probs::layout(6, 119, false, false);
    assert_eq!((at.panels, at.per_panel), (2, 60));
    assert_eq!(png(&long).dimensions(), (at.width, at.height));
    assert!(at.width < 2_000);
    let _ = std::fs::remove_dir_all(&d);
}

/// The left edge of the legend strip of a picture `width` wide.
fn strip(width: u32) -> u32 {
    width - legend::WIDTH
}

#[test]
fn the_tsne_legend_sits_beside_the_points() {
    let d = temp("tsne");
    // Points in the four corners and the middle; the classes' legend would
    // cover the top-right corner if it were inside the plot.
    let coords = [
        0.0, 0.0, 10.0, 0.0, 0.0, 10.0, 10.0, 10.0, 5.0, 5.0, 5.0, 5.1,
    ];
    let chars = ['x', 'x', 'x', 'e', ' ', '\n'];
    let out = d.join("t.png");
    tsne::draw(&out, &coords, &chars, 0, "corners").unwrap();
    let img = png(&out);
    assert_eq!(img.dimensions(), tsne::SIZE);
    let (w, h) = tsne::SIZE;
    let colour = |k: usize| {
        let c = tsne::COLOURS[k];
        [c.0, c.1, c.2]
    };
    let vowel = colour(5);
    // The top-right point (a vowel) is drawn, uncovered, near the plot's
    // top-right corner, left of the strip.
    assert!(has(
        &img,
        strip(w) - 60..strip(w),
        tsne::TITLE_H..tsne::TITLE_H + 60,
        vowel
    ));
    // The legend is in the strip: its swatches, and nothing else, there.
    assert!(has(&img, strip(w)..w, tsne::TITLE_H..h / 2, vowel));
    for k in [0, 1, 6] {
        assert!(
            has(&img, strip(w)..w, tsne::TITLE_H..h / 2, colour(k)),
            "{k}"
        );
    }
    assert_eq!(tsne::CLASSES[tsne::class_of('x')], "consonant");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn loss_and_forecast_legends_sit_beside_the_curves_and_ticks_are_whole() {
    let d = temp("curves");
    // A flat curve across the whole chart at mid height: an in-chart legend
    // (plotters puts it at the right, mid height) would cover its end.
    let log = d.join("run.jsonl");
    let lines: String = (1..=50)
        .map(|i| {
            let y = 2.0 + 0.001 * f64::from(i % 2);
            format!(
                "{{\"iter\":{},\"train_loss\":{y},\"elapsed_s\":{i}}}\n",
                i * 100
            )
        })
        .collect();
    std::fs::write(&log, lines).unwrap();
    let out = d.join("loss.png");
    loss::draw(std::slice::from_ref(&log), loss::Axis::Iterations, &out).unwrap();
    let img = png(&out);
    assert_eq!(img.dimensions(), loss::SIZE);
    let (w, h) = loss::SIZE;
    // plotters' first palette colour, as the first run's.
    let red = [230, 25, 75];
    assert!(
        has(&img, strip(w) - 60..strip(w) - 30, 0..h, red),
        "the curve's end is covered"
    );
    assert!(has(&img, strip(w)..w, 0..h, red), "no legend in the strip");
    assert_eq!(
        loss::tick_label(loss::Axis::Iterations, 5000.0, 500.0),
        "500"
    );
    assert_eq!(
        loss::tick_label(loss::Axis::Iterations, 5000.0, 5000.0),
        "5000"
    );
    assert_eq!(loss::tick_label(loss::Axis::Seconds, 4.0, 2.5), "2.5");

    let out = d.join("f.png");
    let history: Vec<f64> = (0..100).map(|i| (f64::from(i) * 0.2).sin()).collect();
    let forecast: Vec<f64> = vec![0.0; 20];
    forecast::draw(&out, "wave", None, 0, &history, 100, &[], &forecast).unwrap();
    let img = png(&out);
    assert_eq!(img.dimensions(), forecast::SIZE);
    let (w, h) = forecast::SIZE;
    let red = [255, 0, 0];
    assert!(
        has(&img, strip(w) - 60..strip(w) - 30, 0..h, red),
        "the forecast's end is covered"
    );
    assert!(has(&img, strip(w)..w, 0..h, red), "no legend in the strip");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn a_forecast_piped_into_head_draws_its_picture_and_exits_quietly() {
    let d = temp("pipe");
    let run = d.join("run");
    ok(&recur(&[
        "forecast",
        "train",
        "--synthetic",
        "noisy-sine",
        "--length",
        "1500",
        "--iters",
        "50",
        "--horizon",
        "3",
        "--out",
        &s(&run),
    ]));
    let plot = d.join("p.png");
    let mut child = Command::new(env!("CARGO_BIN_EXE_recur"))
        .args([
            "forecast",
            "predict",
            "--checkpoint",
            &s(&run),
            "--synthetic",
            "noisy-sine",
        ])
        .args([
            "--length",
            "1500",
            "--from",
            "1400",
            "--steps",
            "50",
            "--plot",
            &s(&plot),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The reader goes away before anything is printed, as `head -0` would.
    drop(child.stdout.take());
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{:?}: {err}", o.status);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(png(&plot).dimensions(), forecast::SIZE);
    let _ = std::fs::remove_dir_all(&d);
}
