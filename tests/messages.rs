//! Messages that used to mislead: a checkpoint of another kind names the
//! command that reads it, NaN weights are refused by name instead of
//! sampling newlines or drawing a panic, t-SNE's flags are described as
//! they are, and the activation viewer is never written into a picture.

mod support;

use recur::checkpoint::{load_model, save_model};
use support::{TempDir, assert_fails, assert_ok, recur, s, small_text, train_small};

#[test]
fn sample_and_eval_on_a_seq2seq_checkpoint_name_seq2seq_translate() {
    let d = TempDir::new("messages-seq2seq");
    let run = s(&d.path("s2s"));
    assert_ok(&recur(&[
        "seq2seq",
        "train",
        "--task",
        "reverse",
        "--lengths",
        "3-5",
        "--train-size",
        "40",
        "--test-size",
        "4",
        "--hidden",
        "8",
        "--embed",
        "4",
        "--iters",
        "2",
        "--eval-every",
        "0",
        "--out",
        &run,
    ]));
    let corpus = d.file("corpus.txt", small_text());
    for o in [
        recur(&["sample", "--checkpoint", &run, "--length", "5"]),
        recur(&["eval", "--checkpoint", &run, "--corpus", &corpus]),
    ] {
        let line = assert_fails(&o, &["sequence-to-sequence", "recur seq2seq translate"]);
        assert!(!line.contains("missing field"), "{line}");
    }
}

#[test]
fn nan_weights_are_refused_by_sample_eval_and_viz_with_the_tensor_name() {
    let d = TempDir::new("messages-nan");
    let run = train_small(&d, &small_text(), &[]);
    let model = d.path("run").join("model.safetensors");
    let mut ckpt = load_model(&model).unwrap();
    let at = ckpt.net.layout().get("rnn.weight_hh_l0").unwrap().offset;
    ckpt.net.params[at] = f32::NAN;
    save_model(&model, &ckpt.net, &ckpt.vocab, &[]).unwrap();
    let corpus = s(&d.path("corpus.txt"));
    let png = s(&d.path("p.png"));
    for o in [
        recur(&["sample", "--checkpoint", &run, "--length", "20"]),
        recur(&["eval", "--checkpoint", &run, "--corpus", &corpus]),
        recur(&[
            "viz",
            "probs",
            "--checkpoint",
            &run,
            "--text",
            "the fox",
            "--out",
            &png,
        ]),
    ] {
        assert_fails(&o, &["'rnn.weight_hh_l0'", "NaN"]);
    }
}

#[test]
fn tsne_describes_its_layers_and_points_flags() {
    let d = TempDir::new("messages-tsne");
    let run = train_small(&d, &small_text(), &[]);
    let text = s(&d.path("corpus.txt"));
    let out = s(&d.path("t.png"));
    let tsne = |flag: &str, value: &str| {
        recur(&[
            "viz",
            "tsne",
            "--checkpoint",
            &run,
            "--file",
            &text,
            flag,
            value,
            "--out",
            &out,
        ])
    };
    let line = assert_fails(
        &tsne("--layer", "5"),
        &["--layer 5", "the model has 1 layer: 0"],
    );
    assert!(!line.contains(".."), "{line}");
    let line = assert_fails(&tsne("--points", "0"), &["--points 0", "at least 5 points"]);
    assert!(!line.contains("characters"), "{line}");
}

#[test]
fn tsne_names_the_layers_of_a_deeper_model() {
    let d = TempDir::new("messages-tsne-deep");
    let run = train_small(&d, &small_text(), &["--layers", "2"]);
    let o = recur(&[
        "viz",
        "tsne",
        "--checkpoint",
        &run,
        "--file",
        &s(&d.path("corpus.txt")),
        "--layer",
        "2",
        "--out",
        &s(&d.path("t.png")),
    ]);
    assert_fails(&o, &["the model has 2 layers: 0 to 1"]);
}

#[test]
fn the_activation_viewer_is_not_written_into_a_picture() {
    let d = TempDir::new("messages-activations");
    let run = train_small(&d, &small_text(), &[]);
    let text = s(&d.path("corpus.txt"));
    for name in ["a.png", "a.svg", "page"] {
        let out = d.path(name);
        let o = recur(&[
            "viz",
            "activations",
            "--checkpoint",
            &run,
            "--file",
            &text,
            "--out",
            &s(&out),
        ]);
        assert_fails(&o, &[name, ".html"]);
        assert!(!out.exists(), "{name} was written");
    }
    let page = d.path("page.HTML");
    assert_ok(&recur(&[
        "viz",
        "activations",
        "--checkpoint",
        &run,
        "--file",
        &text,
        "--out",
        &s(&page),
    ]));
    assert!(page.is_file());
}

#[test]
fn the_cli_refuses_a_checkpoint_from_a_newer_recur() {
    let d = TempDir::new("messages-format");
    let run = train_small(&d, &small_text(), &[]);
    let model = d.path("run").join("model.safetensors");
    let mut bytes = std::fs::read(&model).unwrap();
    // "recur-1" → "recur-2" in the header: the same length, still valid.
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let at = bytes[8..8 + n]
        .windows(9)
        .position(|w| w == b"\"recur-1\"")
        .expect("the format is in the header");
    bytes[8 + at + 7] = b'2';
    std::fs::write(&model, bytes).unwrap();
    let o = recur(&["sample", "--checkpoint", &run, "--length", "5"]);
    assert_fails(&o, &["newer recur", "recur-2", "upgrade"]);
}
