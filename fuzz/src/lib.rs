//! The bodies of recur's fuzz targets, one function per target.
//!
//! Each takes the fuzzer's bytes, hands them to one of recur's parsers of
//! untrusted input through its public byte- or text-level entry point, and
//! carries the result on through what the CLI does with it next, asserting
//! the invariants the rest of recur relies on. Bad input must come back as an
//! `Err` with a clear one-line message ([`check`]); a panic (failed
//! assertion, out-of-bounds index, overflow), a hang or an allocation above
//! the fuzzer's limit is a bug.
//!
//! The same file is compiled into `tests/fuzz_regressions.rs`, which replays
//! every committed corpus and regression input without any fuzzing tools.

use recur::Result;
use recur::checkpoint::{load_forecaster_bytes, load_model_bytes, load_seq2seq_bytes};
use recur::data::pairs::{Pair, PairBuffers, PairVocab, parse_pairs};
use recur::data::series::{Normalizer, Split, Table, parse_csv, parse_csv_columns, windows};
use recur::data::vocab::{END, START};
use recur::data::words::{word_vocab, words_in};
use recur::data::{
    CharStreams, CharVocab, WordBatch, parse_text, prepare_sequences, split_train_val,
};
use recur::decode::{DecodeOptions, translate};
use recur::sample::{SampleOptions, generate};

/// The file name the parsers put in their messages.
const NAME: &str = "fuzz-input";

/// Whether `result` is `Ok`; panics unless an error is a clear one-line
/// message (not empty, no control characters: no newline, no terminal
/// escape from the file's contents).
pub fn check(result: Result<()>) -> bool {
    match result {
        Ok(()) => true,
        Err(e) => {
            let message = e.to_string();
            assert!(
                !message.trim().is_empty() && !message.contains(char::is_control),
                "unclear error message: {message:?}"
            );
            false
        }
    }
}

/// A corpus (`recur train --corpus`, `eval`, `viz`): UTF-8 text, its
/// vocabulary (and the vocabulary's JSON form kept in checkpoints), the
/// tokens, the train/validation split and the char-rnn windows.
pub fn text(data: &[u8]) -> Result<()> {
    let text = parse_text(data.to_vec(), NAME)?;
    let vocab = CharVocab::from_text(&text)?;
    assert_eq!(
        CharVocab::from_strings(&vocab.to_strings())?,
        vocab,
        "the vocabulary survives its checkpoint form"
    );
    let tokens = vocab.encode(&text)?;
    assert_eq!(tokens.len(), text.chars().count());
    if !text.contains([START, END]) {
        assert_eq!(vocab.decode(&tokens), text, "decode inverts encode");
    }
    let (train, val) = split_train_val(&tokens, 0.1)?;
    assert_eq!(train.len() + val.len(), tokens.len());
    let (t, b) = (4, 2);
    let streams = CharStreams::new(train, t, b, "corpus")?;
    let (mut x, mut y) = (vec![0; t * b], vec![0; t * b]);
    for w in 0..streams.windows().min(64) {
        streams.window(w, &mut x, &mut y);
    }
    Ok(())
}

/// A word list (`recur train --words`): one word per line, the word
/// vocabulary with its markers, each word's sequences and padded batches.
pub fn words(data: &[u8]) -> Result<()> {
    let text = parse_text(data.to_vec(), NAME)?;
    let words = words_in(&text, NAME)?;
    for w in &words {
        assert!(!w.is_empty() && w.trim() == w && !w.contains('\n'), "{w:?}");
    }
    let vocab = word_vocab(&words)?;
    assert!(vocab.has_markers());
    let seqs = prepare_sequences(&words, &vocab)?;
    for ((x, y), w) in seqs.iter().zip(&words) {
        assert_eq!(x.len(), y.len());
        assert_eq!(&vocab.decode(y), w, "the targets spell the word");
    }
    let mut batch = WordBatch::default();
    for chunk in seqs.chunks(4) {
        batch.fill(&chunk.iter().collect::<Vec<_>>());
        assert_eq!(batch.inputs.len(), batch.t * batch.b);
        assert_eq!(batch.target_count(), batch.lengths.iter().sum::<usize>());
    }
    Ok(())
}

/// A pairs file (`recur seq2seq train --pairs`): `source<TAB>target` lines,
/// both vocabularies, and padded batches.
pub fn pairs(data: &[u8]) -> Result<()> {
    let text = parse_text(data.to_vec(), NAME)?;
    let pairs = parse_pairs(&text, NAME)?;
    for p in &pairs {
        assert!(!p.source.is_empty() && !p.target.is_empty(), "{p:?}");
    }
    let vocab = PairVocab::from_pairs(&pairs)?;
    let mut buf = PairBuffers::default();
    for chunk in pairs.chunks(4) {
        buf.fill(&chunk.iter().collect::<Vec<&Pair>>(), &vocab)?;
        let s = buf.src_lengths.iter().max().copied().unwrap_or(0);
        let t = buf.tgt_lengths.iter().max().copied().unwrap_or(0);
        assert_eq!(buf.src.len(), s * buf.b);
        assert_eq!(buf.tgt_in.len(), t * buf.b);
        assert_eq!(buf.tgt_out.len(), t * buf.b);
    }
    Ok(())
}

/// A forecasting CSV (`recur forecast train/predict --csv`). The first byte
/// picks the options: bits 0-1 the time column (none, `date`, `t`), bit 2
/// `--fill-forward`, bits 3-4 the columns asked for (`y`; `y,x`; `x,y,x`;
/// none); the rest is the file, which is read as UTF-8 text. Both readers
/// run: every column (`parse_csv`) and only the asked-for columns
/// (`parse_csv_columns`, what the CLI uses), and must agree on the columns
/// both read. Each table then goes through a chronological split,
/// normalization and windows.
pub fn csv(data: &[u8]) -> Result<()> {
    let (flags, body) = data.split_first().unwrap_or((&0, &[]));
    let time = match flags & 3 {
        1 => Some("date"),
        2 => Some("t"),
        _ => None,
    };
    let fill_forward = flags & 4 != 0;
    let wanted: &[&str] = match (flags >> 3) & 3 {
        0 => &["y"],
        1 => &["y", "x"],
        2 => &["x", "y", "x"],
        _ => &[],
    };
    let wanted: Vec<String> = wanted.iter().map(|s| s.to_string()).collect();
    let Ok(text) = std::str::from_utf8(body) else {
        return Ok(()); // read_csv refuses it before parsing
    };
    let all = parse_csv(text, NAME, time, fill_forward);
    let some = parse_csv_columns(text, NAME, &wanted, time, fill_forward);
    if let Ok(table) = &all {
        check_table(table)?;
    }
    let some = some?;
    check_table(&some)?;
    if let Ok(all) = &all {
        for name in &some.names {
            assert_eq!(some.column(name)?, all.column(name)?, "column {name}");
        }
        assert_eq!(some.time, all.time);
    }
    Ok(())
}

/// The invariants of a parsed table, and what forecasting does with it.
fn check_table(table: &Table) -> Result<()> {
    if table.names.is_empty() {
        return Ok(()); // only a time column: nothing to forecast
    }
    let len = table.len();
    assert!(len > 0);
    assert_eq!(table.names.len(), table.columns.len());
    for (name, column) in table.names.iter().zip(&table.columns) {
        assert_eq!(column.len(), len);
        assert!(column.iter().all(|v| v.is_finite()), "{name}: {column:?}");
    }
    if let Some(times) = &table.time {
        assert_eq!(times.len(), len);
    }
    let split = Split::new(len, 0.2, 0.2)?;
    let norm = Normalizer::fit(&table.columns, split.train);
    let z: Vec<Vec<f64>> = table
        .columns
        .iter()
        .enumerate()
        .map(|(c, col)| col.iter().map(|&x| norm.forward(c, x)).collect())
        .collect();
    let (lookback, horizon) = (2, 1);
    let w = windows(&z, &z, 0, split.train, lookback, horizon, 1);
    assert_eq!(w.x.len(), w.n * lookback * z.len());
    assert_eq!(w.y.len(), w.n * horizon * z.len());
    Ok(())
}

/// A checkpoint (`model.safetensors`, hand-edited or corrupt): the
/// safetensors header, the metadata (configuration, vocabularies, column
/// names, normalization) and the tensor shapes, through each of the three
/// model loaders; a model that loads then does a little of what the CLI does
/// with it (`sample`, `seq2seq translate`, `forecast predict`).
pub fn checkpoint(data: &[u8]) -> Result<()> {
    let lm = load_model_bytes(data.to_vec(), NAME);
    let s2s = load_seq2seq_bytes(data.to_vec(), NAME);
    let fc = load_forecaster_bytes(data.to_vec(), NAME);
    let loaded = [lm.is_ok(), s2s.is_ok(), fc.is_ok()];
    assert!(
        loaded.iter().filter(|&&ok| ok).count() <= 1,
        "one file, one kind of model: {loaded:?}"
    );
    if let Ok((model, vocab)) = s2s {
        let input: String = vocab.src.chars().iter().take(3).collect();
        let opts = DecodeOptions {
            beam: 2,
            max_len: 8,
            length_alpha: 0.5,
        };
        let out = translate(&model, &vocab, &input, &opts)?;
        assert!(out.tokens.len() <= opts.max_len);
        return Ok(());
    }
    if let Ok((f, features, targets)) = fc {
        let lookback = f.config.lookback;
        if lookback > 1024 {
            return Ok(()); // predict would need that many rows of CSV history
        }
        let history = |n: usize| -> Vec<Vec<f64>> {
            (0..n)
                .map(|c| (0..lookback).map(|t| (c + t) as f64 * 0.25).collect())
                .collect()
        };
        let feature_rows = history(features.len());
        let target_rows = if features == targets {
            feature_rows.clone()
        } else {
            history(targets.len())
        };
        // Past the horizon, predictions are fed back: only when the features are the targets.
        let steps = if features == targets {
            3
        } else {
            f.config.horizon.clamp(1, 3)
        };
        let out = f.predict(&feature_rows, &target_rows, steps)?;
        assert_eq!(out.len(), steps);
        assert!(out.iter().all(|row| row.len() == targets.len()));
        return Ok(());
    }
    let ckpt = lm?;
    let opts = SampleOptions::default();
    let text = generate(&ckpt.net, &ckpt.vocab, "", 8, &opts, 0)?;
    assert!(text.chars().count() <= 8);
    Ok(())
}
