//! The checkpoint loaders refuse what they cannot trust, from the file's
//! bytes, before allocating anything: configurations larger than the
//! weights in the file, NaN or infinite weights (named), files from a newer
//! recur, and models of another kind (naming the command that reads them).
//! Every case runs on all three loaders: language model, seq2seq,
//! forecaster.

use std::path::PathBuf;

use recur::cell::CellKind;
use recur::checkpoint::{
    Loaded, load_forecaster_bytes, load_model_bytes, load_seq2seq_bytes, save_forecaster,
    save_model, save_seq2seq,
};
use recur::data::CharVocab;
use recur::data::pairs::{Pair, PairVocab};
use recur::data::series::Normalizer;
use recur::layer::attention::Score;
use recur::model::seq2seq::{Seq2Seq, Seq2SeqConfig};
use recur::model::{Init, Net, NetConfig, Readout};
use recur::train::forecast::{ForecastConfig, Forecaster, RegressionLoss};

/// A file path unique to this test process and `name`, for a save.
fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "recur-loaders-{name}-{}.safetensors",
        std::process::id()
    ))
}

/// Save with `save` to a temporary file and return the file's bytes.
fn saved(name: &str, save: impl FnOnce(&std::path::Path)) -> Vec<u8> {
    let path = temp(name);
    save(&path);
    let bytes = std::fs::read(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    bytes
}

/// A small LSTM language model's file; `edit` may change the weights first.
fn lm(name: &str, edit: impl FnOnce(&mut Net<f32>)) -> Vec<u8> {
    let vocab = CharVocab::from_text("abcde").unwrap();
    let config = NetConfig::char_lm(CellKind::Lstm, vocab.len(), 4);
    let mut net = Net::<f32>::new(config, Init::Uniform, 1).unwrap();
    edit(&mut net);
    saved(name, |p| save_model(p, &net, &vocab, &[]).unwrap())
}

/// A small encoder-decoder's file; `edit` may change the weights first.
fn seq2seq(name: &str, edit: impl FnOnce(&mut Seq2Seq<f32>)) -> Vec<u8> {
    let vocab = PairVocab::from_pairs(&[Pair::new("abc", "cba")]).unwrap();
    let config = Seq2SeqConfig {
        cell: CellKind::Gru,
        src_vocab: vocab.src.len(),
        tgt_vocab: vocab.tgt.len(),
        embed: 3,
        hidden: 4,
        layers: 1,
        bidirectional: false,
        attention: Some(Score::LuongGeneral),
        attention_size: 4,
    };
    let mut model = Seq2Seq::<f32>::new(config, Init::Uniform, 1).unwrap();
    edit(&mut model);
    saved(name, |p| save_seq2seq(p, &model, &vocab, &[]).unwrap())
}

/// A small forecaster's file (one series, horizon 1); `edit` may change
/// the weights first.
fn forecaster(name: &str, edit: impl FnOnce(&mut Net<f32>)) -> Vec<u8> {
    let net_config = NetConfig {
        readout: Readout::ManyToOne,
        ..NetConfig::char_lm(CellKind::Lstm, 1, 4)
    };
    let mut net = Net::<f32>::new(net_config, Init::Uniform, 1).unwrap();
    edit(&mut net);
    let norm = || Normalizer {
        mean: vec![0.0],
        std: vec![1.0],
    };
    let f = Forecaster {
        net,
        features: norm(),
        targets: norm(),
        config: ForecastConfig {
            cell: CellKind::Lstm,
            hidden: 4,
            layers: 1,
            lookback: 8,
            horizon: 1,
            stride: 1,
            batch: 4,
            lr: 1e-3,
            iters: 1,
            loss: RegressionLoss::Mse,
            val_frac: 0.1,
            test_frac: 0.1,
            season: 0,
            seed: 1,
            every_step: false,
            bidirectional: false,
        },
    };
    let names = ["y".to_string()];
    saved(name, |p| save_forecaster(p, &f, &names, &names).unwrap())
}

/// The file with its safetensors header passed through `edit`.
fn edit_header(bytes: &[u8], edit: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let mut header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    edit(&mut header);
    let mut head = serde_json::to_vec(&header).unwrap();
    head.resize(head.len().next_multiple_of(8), b' ');
    let mut out = (head.len() as u64).to_le_bytes().to_vec();
    out.extend(head);
    out.extend(&bytes[8 + n..]);
    out
}

/// The file with metadata `key` set to `value`.
fn with_meta(bytes: &[u8], key: &str, value: &str) -> Vec<u8> {
    edit_header(bytes, |h| {
        h["__metadata__"][key] = serde_json::Value::String(value.to_string());
    })
}

/// The file with field `field` of the JSON metadata `key` set to `value`.
fn with_json_field(bytes: &[u8], key: &str, field: &str, value: serde_json::Value) -> Vec<u8> {
    edit_header(bytes, |h| {
        let text = h["__metadata__"][key].as_str().unwrap().to_string();
        let mut json: serde_json::Value = serde_json::from_str(&text).unwrap();
        json[field] = value;
        h["__metadata__"][key] = serde_json::Value::String(json.to_string());
    })
}

/// The three loaders, as "load these bytes, give the error message or
/// nothing".
type Loader = fn(Vec<u8>) -> Option<String>;

fn load_lm(b: Vec<u8>) -> Option<String> {
    load_model_bytes(b, "model.safetensors")
        .err()
        .map(|e| e.to_string())
}

fn load_s2s(b: Vec<u8>) -> Option<String> {
    load_seq2seq_bytes(b, "model.safetensors")
        .err()
        .map(|e| e.to_string())
}

fn load_fc(b: Vec<u8>) -> Option<String> {
    load_forecaster_bytes(b, "model.safetensors")
        .err()
        .map(|e| e.to_string())
}

/// The error `load` gives for `bytes`, which must be one containing every
/// keyword.
#[track_caller]
fn refused(load: Loader, bytes: Vec<u8>, keywords: &[&str]) -> String {
    let Some(msg) = load(bytes) else {
        panic!("the checkpoint loaded; expected an error mentioning {keywords:?}")
    };
    for k in keywords {
        assert!(msg.contains(k), "the error should mention {k:?}: {msg}");
    }
    msg
}

#[test]
fn the_three_loaders_read_what_was_saved() {
    assert_eq!(load_lm(lm("ok-lm", |_| {})), None);
    assert_eq!(load_s2s(seq2seq("ok-s2s", |_| {})), None);
    assert_eq!(load_fc(forecaster("ok-fc", |_| {})), None);
}

#[test]
fn configurations_larger_than_the_weights_in_the_file_are_refused_before_allocating() {
    // Each of these, believed, asks for gigabytes to exabytes (or
    // overflows); the file holds a few hundred weights. They are refused by
    // the first tensor that does not match, or by the limits on sizes.
    let huge = |v: u64| serde_json::Value::from(v);
    let cases: [(Loader, Vec<u8>, &str); 3] = [
        (load_lm, lm("big-lm", |_| {}), "hidden_size"),
        (load_s2s, seq2seq("big-s2s", |_| {}), "hidden"),
        (load_fc, forecaster("big-fc", |_| {}), "hidden_size"),
    ];
    for (load, bytes, hidden) in cases {
        for (field, value) in [
            ("layers", 1_000_000_000_000u64),
            (hidden, 100_000),
            (hidden, 1_000_000_000_000),
            (hidden, u64::MAX),
        ] {
            let edited = with_json_field(&bytes, "recur.config", field, huge(value));
            refused(load, edited, &["model.safetensors", "configuration"]);
        }
    }
    let s2s = seq2seq("big-s2s-embed", |_| {});
    let edited = with_json_field(&s2s, "recur.config", "embed", huge(1 << 40));
    refused(
        load_s2s,
        edited,
        &["'encoder.embedding.weight'", "configuration"],
    );
}

#[test]
fn non_finite_weights_are_refused_with_the_tensor_name() {
    let lm_nan = lm("nan-lm", |n| {
        let at = n.layout().get("rnn.weight_hh_l0").unwrap().offset + 3;
        n.params[at] = f32::NAN;
    });
    refused(load_lm, lm_nan, &["'rnn.weight_hh_l0'", "NaN"]);
    let lm_inf = lm("inf-lm", |n| {
        let at = n.layout().get("fc.bias").unwrap().offset;
        n.params[at] = f32::INFINITY;
    });
    refused(load_lm, lm_inf, &["'fc.bias'", "inf"]);
    let s2s_nan = seq2seq("nan-s2s", |m| {
        let at = m.layout().get("attention.w").unwrap().offset;
        m.params[at] = f32::NAN;
    });
    refused(load_s2s, s2s_nan, &["'attention.w'"]);
    let fc_inf = forecaster("inf-fc", |n| {
        let at = n.layout().get("fc.weight").unwrap().offset;
        n.params[at] = f32::NEG_INFINITY;
    });
    refused(load_fc, fc_inf, &["'fc.weight'", "-inf"]);
}

#[test]
fn files_from_a_newer_recur_are_refused_with_the_advice_to_upgrade() {
    let cases: [(Loader, Vec<u8>); 3] = [
        (load_lm, lm("newer-lm", |_| {})),
        (load_s2s, seq2seq("newer-s2s", |_| {})),
        (load_fc, forecaster("newer-fc", |_| {})),
    ];
    for (load, bytes) in cases {
        let newer = with_meta(&bytes, "recur.format", "recur-2");
        refused(
            load,
            newer,
            &["newer recur", "recur-2", "recur-1", "upgrade"],
        );
        let unknown = with_meta(&bytes, "recur.format", "tensorflow-7");
        refused(load, unknown, &["unknown format", "tensorflow-7"]);
    }
    // The resume state is read through the same parser.
    let state = with_meta(&lm("newer-state", |_| {}), "recur.format", "recur-9");
    let err = Loaded::from_bytes(state, "state.safetensors")
        .err()
        .unwrap();
    assert!(err.to_string().contains("newer recur"), "{err}");
}

#[test]
fn a_model_of_another_kind_is_named_with_the_command_that_reads_it() {
    let (lm, s2s, fc) = (
        lm("kind-lm", |_| {}),
        seq2seq("kind-s2s", |_| {}),
        forecaster("kind-fc", |_| {}),
    );
    let msg = refused(load_lm, s2s.clone(), &["seq2seq translate"]);
    assert!(!msg.contains("missing field"), "{msg}");
    refused(load_lm, fc.clone(), &["forecast predict"]);
    refused(load_s2s, lm.clone(), &["recur sample"]);
    refused(load_s2s, fc, &["forecast predict"]);
    refused(load_fc, lm, &["recur sample"]);
    refused(load_fc, s2s, &["seq2seq translate"]);
}

#[test]
fn forecaster_metadata_that_does_not_fit_its_network_is_refused() {
    let bytes = forecaster("fit-fc", |_| {});
    // A horizon of 0 made `forecast predict` loop for ever.
    for (field, value) in [("horizon", 0u64), ("lookback", 0), ("horizon", 3)] {
        let edited = with_json_field(&bytes, "recur.forecast", field, value.into());
        refused(load_fc, edited, &["forecaster's metadata is inconsistent"]);
    }
    let two_means = with_json_field(
        &bytes,
        "recur.feature_norm",
        "mean",
        serde_json::json!([0.0, 1.0]),
    );
    refused(load_fc, two_means, &["normalization"]);
    let zero_std = with_json_field(&bytes, "recur.target_norm", "std", serde_json::json!([0.0]));
    refused(load_fc, zero_std, &["normalization"]);
    let two_targets = with_meta(&bytes, "recur.targets", r#"["y","z"]"#);
    refused(load_fc, two_targets, &["2 targets"]);
}

/// A language model's file keeps its training text's first character (the
/// sampler's start for an empty prime); a file without one loads with
/// none; one that names a character outside the vocabulary is refused.
#[test]
fn a_language_models_opening_is_saved_checked_and_optional() {
    let opening = |b: Vec<u8>| {
        load_model_bytes(b, "model.safetensors")
            .unwrap()
            .vocab
            .opening()
    };
    let bytes = lm("opening", |_| {});
    assert_eq!(opening(bytes.clone()), Some('a'));
    assert_eq!(
        opening(with_meta(&bytes, "recur.opening", "\"d\"")),
        Some('d')
    );
    let without = edit_header(&bytes, |h| {
        h["__metadata__"]
            .as_object_mut()
            .unwrap()
            .remove("recur.opening")
            .unwrap();
    });
    assert_eq!(opening(without), None);
    let outside = with_meta(&bytes, "recur.opening", "\"z\"");
    refused(
        load_lm,
        outside,
        &["'z'", "not in the vocabulary", "corrupt"],
    );
    let unreadable = with_meta(&bytes, "recur.opening", "\"ab\"");
    refused(load_lm, unreadable, &["recur.opening", "unreadable"]);
}
