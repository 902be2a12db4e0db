//! `recur.Seq2Seq`: an encoder-decoder over characters (GRU, LSTM or
//! vanilla RNN, optionally bidirectional, with or without attention) that
//! trains on (source, target) pairs or on a built-in task, translates with
//! greedy or beam search, hands out its attention as numpy, and reads and
//! writes the checkpoints of `recur seq2seq`.

use std::path::PathBuf;

use numpy::ndarray::Array2;
use numpy::{IntoPyArray, PyArray2};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString};
use recur::cell::CellKind;
use recur::checkpoint::save_seq2seq;
use recur::data::pairs::{Pair, PairVocab, hold_out};
use recur::data::tasks::{Task, split};
use recur::decode::{DecodeOptions, translate};
use recur::layer::attention::Score;
use recur::model::seq2seq::{Seq2Seq as Model, Seq2SeqConfig};
use recur::optim::{Clip, OptimizerKind, Schedule};
use recur::train::seq2seq::{Seq2SeqTrainConfig, Seq2SeqTrainer};

use crate::errors::OrPy;
use crate::progress::{Watch, accuracy_record};
use crate::runs::{Length, length, run_dir};

/// A sequence-to-sequence model over characters: an encoder reads the
/// source, a decoder writes the target one character at a time, looking
/// back at the source through attention. Its vocabularies come from the
/// first data it is fitted on.
#[pyclass(module = "recur", name = "Seq2Seq")]
pub struct Seq2Seq {
    /// The model's shape (vocabulary sizes filled in at the first fit).
    shape: Seq2SeqConfig,
    /// Seed of the initial weights, the batch order, teacher forcing and
    /// a task's pairs.
    seed: u64,
    /// The model and its vocabularies, once fitted or loaded.
    model: Option<(Model<f32>, PairVocab)>,
}

/// The attention score called `name` (None or "none": no attention).
fn score(name: Option<&str>) -> PyResult<Option<Score>> {
    match name {
        None | Some("none") => Ok(None),
        Some("bahdanau") => Ok(Some(Score::Bahdanau)),
        Some("luong-dot") => Ok(Some(Score::LuongDot)),
        Some("luong-general") => Ok(Some(Score::LuongGeneral)),
        Some(other) => Err(PyValueError::new_err(format!(
            "unknown attention '{other}': use \"luong-general\", \"luong-dot\", \"bahdanau\" or None"
        ))),
    }
}

/// The pairs of a Python iterable of `(source, target)` str pairs (tuples
/// or lists; a `zip` will do); an empty side is an error naming the pair.
fn pairs_from(data: &Bound<'_, PyAny>) -> PyResult<Vec<Pair>> {
    let items = match data.try_iter() {
        Ok(items) if !data.is_instance_of::<PyString>() => items,
        _ => {
            return Err(PyTypeError::new_err(format!(
                "pairs must be a list of (source, target) str tuples, not {}",
                data.get_type().name()?
            )));
        }
    };
    let mut pairs = Vec::new();
    for (i, item) in items.enumerate() {
        let item = item?;
        let pair = item.extract::<(String, String)>().or_else(|_| {
            match item.extract::<Vec<String>>() {
                Ok(v) if v.len() == 2 && !item.is_instance_of::<PyString>() => {
                    let mut v = v.into_iter();
                    Ok((v.next().unwrap_or_default(), v.next().unwrap_or_default()))
                }
                _ => Err(PyTypeError::new_err(format!(
                    "pairs[{i}] must be a (source, target) pair of str, not {}",
                    item.repr()?
                ))),
            }
        })?;
        let (source, target) = pair;
        let empty = match (source.is_empty(), target.is_empty()) {
            (true, _) => "source",
            (_, true) => "target",
            _ => {
                pairs.push(Pair::new(source, target));
                continue;
            }
        };
        return Err(PyValueError::new_err(format!(
            "pairs[{i}]: the {empty} is empty; both sides need text"
        )));
    }
    if pairs.is_empty() {
        return Err(PyValueError::new_err(
            "no pairs: give a list of (source, target) str tuples",
        ));
    }
    Ok(pairs)
}

/// The training and held-out pairs of `task` (with `lengths`) or of
/// `pairs` (the last `val_frac` held out).
fn training_pairs(
    pairs: Option<&Bound<'_, PyAny>>,
    task: Option<&str>,
    lengths: Option<(usize, usize)>,
    (train_size, test_size, val_frac): (usize, usize, f64),
    seed: u64,
) -> PyResult<(Vec<Pair>, Vec<Pair>)> {
    match (pairs, task) {
        (Some(_), Some(_)) => Err(PyValueError::new_err("give pairs or task=, not both")),
        (None, Some(name)) => {
            let mut task: Task = name.parse().or_py()?;
            if let Some((lo, hi)) = lengths {
                task = task.with_lengths(lo, hi).or_py()?;
            }
            split(task, train_size, test_size, seed).or_py()
        }
        (Some(p), None) => {
            if lengths.is_some() {
                return Err(PyValueError::new_err(
                    "lengths applies to the built-in reverse and sort tasks (task=)",
                ));
            }
            hold_out(pairs_from(p)?, val_frac).or_py()
        }
        (None, None) => Err(PyValueError::new_err(
            "give pairs (a list of (source, target) str tuples) or task=\"reverse\", \"sort\", \"add\" or \"dates\"",
        )),
    }
}

impl Seq2Seq {
    /// The fitted model and vocabularies, or an error saying to fit first.
    fn fitted(&self) -> PyResult<&(Model<f32>, PairVocab)> {
        crate::runs::fitted(&self.model, "fit(pairs) or fit(task=...)")
    }

    /// The model of a loaded checkpoint.
    pub fn from_checkpoint(model: Model<f32>, vocab: PairVocab) -> Self {
        Seq2Seq {
            shape: model.config().clone(),
            seed: 42,
            model: Some((model, vocab)),
        }
    }
}

#[pymethods]
impl Seq2Seq {
    /// A model not yet trained (the defaults are `recur seq2seq train`'s):
    /// `cell` "gru", "lstm" or "rnn" for encoder and decoder, `hidden`
    /// units per encoder direction (the decoder has twice as many with a
    /// `bidirectional` encoder), `embed` the size of the character
    /// embeddings, `layers` of encoder and of decoder, `attention`
    /// "luong-general", "luong-dot", "bahdanau" or None, `attention_size`
    /// the hidden size of Bahdanau's score (default: `hidden`), `seed` the
    /// initial weights, the batch order, teacher forcing and a task's
    /// pairs.
    #[new]
    #[pyo3(
        signature = (cell="gru", hidden=128, embed=32, layers=1, bidirectional=false, attention=Some("luong-general"), attention_size=None, seed=42),
        text_signature = "(cell='gru', hidden=128, embed=32, layers=1, bidirectional=False, attention='luong-general', attention_size=None, seed=42)"
    )]
    #[allow(clippy::too_many_arguments)]
    fn new(
        cell: &str,
        hidden: usize,
        embed: usize,
        layers: usize,
        bidirectional: bool,
        attention: Option<&str>,
        attention_size: Option<usize>,
        seed: u64,
    ) -> PyResult<Self> {
        let cell: CellKind = cell.parse().or_py()?;
        let shape = Seq2SeqConfig {
            cell,
            src_vocab: 1,
            tgt_vocab: 1,
            embed,
            hidden,
            layers,
            bidirectional,
            attention: score(attention)?,
            attention_size: attention_size.unwrap_or(hidden),
        };
        // Sizes that cannot train are refused now, not at fit.
        Seq2SeqTrainConfig::default().validate(&shape).or_py()?;
        shape.validate().or_py()?;
        Ok(Seq2Seq {
            shape,
            seed,
            model: None,
        })
    }

    /// Train on `pairs`, a list of `(source, target)` str tuples (or any
    /// iterable of str pairs; the last `val_frac` of them held out to
    /// measure accuracy on), or on a
    /// built-in `task`: "reverse" (5-20 letters, `lengths=(min, max)` to
    /// change), "sort" (5-15 digits), "add" ("12+345" → "357") or "dates"
    /// ("3 March 2021" → "2021-03-03"), `train_size` training and
    /// `test_size` held-out pairs drawn with the model's seed (as `recur
    /// seq2seq train --task`). A model that was trained or loaded goes on
    /// from its weights (with a fresh optimizer); pairs may then use only
    /// its characters.
    ///
    /// Runs `iters` iterations of `batch` pairs, or `epochs` passes
    /// (default: 10 epochs, at least 2000 iterations), with `optimizer`
    /// ("adam", "rmsprop", "adagrad", "sgd") at `lr` following `schedule`
    /// ("cosine", down to 5% at the end, or "constant"), the gradients'
    /// global norm clipped to `clip_norm` (None: no clipping), teacher
    /// forcing on a `teacher_forcing` fraction of batches (the others are
    /// fed the model's own greedy outputs). The held-out exact-match
    /// accuracy (greedy decoding) is measured every `eval_every`
    /// iterations and at the end, a log record written every `log_every`.
    /// With `out` (a folder) the run is saved there at each measurement,
    /// as `recur seq2seq train --out` saves it (`overwrite=True` replaces
    /// a run already there; the CLI's `--resume` continues it).
    ///
    /// `progress=True` shows a tqdm bar (where tqdm is installed);
    /// `callback(record)` receives each log record as it is written;
    /// `on_step(iter, total, smooth_loss)` the progress (at most every 50
    /// ms). Ctrl-C stops the run within a second (after the iteration
    /// under way), keeps the weights trained so far and the last save, and
    /// raises KeyboardInterrupt. Returns the log records: dicts with
    /// `iter`, `train_loss`, `smooth_loss` (nats per target character),
    /// `accuracy` (None where not measured), `chars_per_sec` (target
    /// characters) and `elapsed_s`.
    #[pyo3(
        signature = (pairs=None, *, task=None, lengths=None, train_size=20000, test_size=500, val_frac=0.05, batch=32, optimizer="adam", lr=1e-3, clip_norm=Some(5.0), schedule="cosine", teacher_forcing=1.0, iters=None, epochs=None, eval_every=500, log_every=100, out=None, overwrite=false, progress=false, callback=None, on_step=None),
        text_signature = "(self, /, pairs=None, *, task=None, lengths=None, train_size=20000, test_size=500, val_frac=0.05, batch=32, optimizer='adam', lr=0.001, clip_norm=5.0, schedule='cosine', teacher_forcing=1.0, iters=None, epochs=None, eval_every=500, log_every=100, out=None, overwrite=False, progress=False, callback=None, on_step=None)"
    )]
    #[allow(clippy::too_many_arguments)]
    fn fit<'py>(
        &mut self,
        py: Python<'py>,
        pairs: Option<&Bound<'py, PyAny>>,
        task: Option<&str>,
        lengths: Option<(usize, usize)>,
        train_size: usize,
        test_size: usize,
        val_frac: f64,
        batch: usize,
        optimizer: &str,
        lr: f64,
        clip_norm: Option<f64>,
        schedule: &str,
        teacher_forcing: f64,
        iters: Option<u64>,
        epochs: Option<u64>,
        eval_every: u64,
        log_every: u64,
        out: Option<PathBuf>,
        overwrite: bool,
        progress: bool,
        callback: Option<Py<PyAny>>,
        on_step: Option<Py<PyAny>>,
    ) -> PyResult<Bound<'py, PyList>> {
        let sizes = (train_size, test_size, val_frac);
        let (train, test) = training_pairs(pairs, task, lengths, sizes, self.seed)?;
        let schedule = Schedule::from_name(schedule, Seq2SeqTrainConfig::COSINE_FLOOR).or_py()?;
        let d = Seq2SeqTrainConfig::default();
        // Accuracy needs whole outputs: decode at least the longest target.
        let longest = train.iter().chain(&test).map(|p| p.target.chars().count());
        let config = Seq2SeqTrainConfig {
            batch,
            optimizer: OptimizerKind::from_name(optimizer, 0.0).or_py()?,
            lr,
            clip: clip_norm.map_or(Clip::None, Clip::GlobalNorm),
            schedule,
            teacher_forcing,
            eval_every,
            log_every,
            max_len: d.max_len.max(longest.max().unwrap_or(0) + 1),
            seed: self.seed,
        };
        let length = length(iters, epochs)?;
        let per_epoch = train.len().div_ceil(batch.max(1)) as u64;
        let total = match length {
            Length::Iters(n) => n,
            Length::Epochs(e) => e.saturating_mul(per_epoch),
            // Ten passes, but never so few that a small set learns nothing.
            Length::Default => (10 * per_epoch).max(2000),
        };
        let shape = self.shape.clone();
        let model = self.model.clone();
        let mut trainer = py
            .detach(move || match model {
                Some(trained) => Seq2SeqTrainer::from_model(trained, config, train, test, total),
                None => Seq2SeqTrainer::new(shape, config, train, test, total),
            })
            .or_py()?;
        let dir = run_dir(out.as_deref(), overwrite)?;
        let at = (trainer.total_iters(), trainer.iter());
        let hooks = (callback, on_step);
        let mut watch = Watch::new(py, hooks, accuracy_record, progress, at)?;
        let ran = py.detach(|| trainer.run_until(dir.as_ref(), None, &mut |e, m| watch.see(e, m)));
        // The weights trained so far stay, however the run ended.
        let (model, vocab) = trainer.into_model();
        self.shape = model.config().clone();
        self.model = Some((model, vocab));
        watch.end(py, ran)
    }

    /// The model's output for `text` (characters of the sources it was
    /// trained on): greedy with `beam=1`, else beam search of that width,
    /// ranking finished outputs by log p / length^`length_alpha`, at most
    /// `max_len` characters. The same as `recur seq2seq translate` on the
    /// same checkpoint. With `attention=True`, returns `(text, weights)`:
    /// the attention as a float32 array `(T, S)`, row t the weights over
    /// the S source characters when writing output token t (the last row
    /// is the end marker's where the output ended; each row sums to 1).
    #[pyo3(signature = (text, beam=1, max_len=100, length_alpha=0.0, attention=false))]
    fn translate<'py>(
        &self,
        py: Python<'py>,
        text: &str,
        beam: usize,
        max_len: usize,
        length_alpha: f64,
        attention: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (model, vocab) = self.fitted()?;
        if attention && model.config().attention.is_none() {
            return Err(PyValueError::new_err(
                "attention=True needs a model trained with attention (this one has attention=None)",
            ));
        }
        let opts = DecodeOptions {
            beam,
            max_len,
            length_alpha,
        };
        let out = py.detach(|| translate(model, vocab, text, &opts)).or_py()?;
        let words = PyString::new(py, &out.text).into_any();
        if !attention {
            return Ok(words);
        }
        let (rows, cols) = (out.attention.len(), text.chars().count());
        let values: Vec<f32> = out.attention.into_iter().flatten().collect();
        let weights = Array2::from_shape_vec((rows, cols), values)
            .map_err(|e| PyValueError::new_err(e.to_string()))?
            .into_pyarray(py);
        Ok((words, weights).into_pyobject(py)?.into_any())
    }

    /// The attention of the translation of `text` (see `translate`): a
    /// float32 array `(T, S)`, one row per output token, one column per
    /// source character.
    #[pyo3(signature = (text, beam=1, max_len=100, length_alpha=0.0))]
    fn attention<'py>(
        &self,
        py: Python<'py>,
        text: &str,
        beam: usize,
        max_len: usize,
        length_alpha: f64,
    ) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let pair = self.translate(py, text, beam, max_len, length_alpha, true)?;
        Ok(pair.get_item(1)?.cast_into::<PyArray2<f32>>()?)
    }

    /// Write the model to `path` (a `.safetensors` file, or a folder,
    /// where it becomes `model.safetensors`): the file `recur seq2seq
    /// translate --checkpoint` reads.
    fn save(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        let (model, vocab) = self.fitted()?;
        let file = crate::runs::model_file(&path);
        py.detach(|| save_seq2seq(&file, model, vocab, &[])).or_py()
    }

    /// The source vocabulary: one str per token id.
    #[getter]
    fn source_vocab(&self) -> PyResult<Vec<String>> {
        Ok(self.fitted()?.1.src.to_strings())
    }

    /// The target vocabulary: one str per token id (the start and end
    /// markers, U+0002 and U+0003, included).
    #[getter]
    fn target_vocab(&self) -> PyResult<Vec<String>> {
        Ok(self.fitted()?.1.tgt.to_strings())
    }

    /// The model's settings: a dict with `cell`, `hidden`, `embed`,
    /// `layers`, `bidirectional`, `attention`, `attention_size`, and the
    /// vocabulary sizes `source_vocab_size`, `target_vocab_size` once
    /// fitted.
    #[getter]
    fn config<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = &self.shape;
        let d = PyDict::new(py);
        d.set_item("cell", s.cell.name())?;
        d.set_item("hidden", s.hidden)?;
        d.set_item("embed", s.embed)?;
        d.set_item("layers", s.layers)?;
        d.set_item("bidirectional", s.bidirectional)?;
        d.set_item("attention", s.attention.map(Score::name))?;
        d.set_item("attention_size", s.attention_size)?;
        if self.model.is_some() {
            d.set_item("source_vocab_size", s.src_vocab)?;
            d.set_item("target_vocab_size", s.tgt_vocab)?;
        }
        Ok(d)
    }

    fn __repr__(&self) -> String {
        let s = &self.shape;
        let attention = s
            .attention
            .map_or("None".into(), |a| format!("{:?}", a.name()));
        let state = match &self.model {
            Some(_) => format!("trained, {} → {} tokens", s.src_vocab, s.tgt_vocab),
            None => "not trained".into(),
        };
        format!(
            "Seq2Seq(cell={:?}, hidden={}, embed={}, layers={}, bidirectional={}, attention={attention}) <{state}>",
            s.cell.name(),
            s.hidden,
            s.embed,
            s.layers,
            if s.bidirectional { "True" } else { "False" },
        )
    }
}
