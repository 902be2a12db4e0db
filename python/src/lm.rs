//! `recur.CharRNN`: a character-level language model (vanilla RNN, LSTM or
//! GRU, stacked, with an optional embedding) that trains on running text or
//! on a word list, samples, evaluates, saves the CLI's checkpoints and
//! hands its insides to numpy.

use std::path::PathBuf;
use std::time::Duration;

use numpy::PyArrayDyn;
use pyo3::exceptions::{PyIndexError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString};
use recur::backend::Activation;
use recur::cell::{CellKind, SeqInput};
use recur::checkpoint::save_model;
use recur::data::words::word_vocab;
use recur::model::{Init, Net, NetConfig};
use recur::notebook::CharRnn as Notebook;
use recur::optim::{Clip, OptimizerKind, Schedule};
use recur::sample::{SampleOptions, generate, sample_words_with_prefix};
use recur::train::{
    TrainConfig, TrainData, Trainer, evaluate_text, evaluate_words, parse_duration,
};
use recur::{CharVocab, Target};

use crate::arrays::{named, to_array};
use crate::errors::OrPy;
use crate::progress::{Watch, record};
use crate::runs::{Length, length, run_dir};
use crate::words::WordSample;

/// The model's shape and how it starts, before it has seen its data.
#[derive(Clone, Debug)]
struct Shape {
    cell: CellKind,
    hidden: usize,
    layers: usize,
    embed: Option<usize>,
    dropout: f64,
    forget_bias: Option<f64>,
    init: Init,
    seed: u64,
}

/// A character-level language model: a vanilla RNN (`model="rnn"`), an
/// LSTM or a GRU, `layers` deep, over one-hot characters or an `embed`-sized
/// embedding. It learns its vocabulary from the first data it is fitted
/// on (running text, or a list of words).
#[pyclass(module = "recur", name = "CharRNN")]
pub struct CharRnn {
    shape: Shape,
    /// The network and its vocabulary, once fitted or loaded.
    model: Option<(Net<f32>, CharVocab)>,
    /// The word list it was last trained on, for telling new samples.
    words: Option<Vec<String>>,
}

/// Running text or a list of words, from Python.
fn train_data(data: &Bound<'_, PyAny>) -> PyResult<TrainData> {
    if let Ok(text) = data.cast::<PyString>() {
        return Ok(TrainData::Corpus(text.extract::<String>()?));
    }
    match data.extract::<Vec<String>>() {
        Ok(words) if !data.is_instance_of::<PyString>() => Ok(TrainData::Words(words)),
        _ => Err(PyTypeError::new_err(format!(
            "data must be a str (running text) or a list of str (words), not {}",
            data.get_type().name()?
        ))),
    }
}

/// The clipping `clip` (elementwise) and `clip_norm` (global norm) ask for.
fn clipping(clip: Option<f64>, clip_norm: Option<f64>) -> PyResult<Clip> {
    match (clip, clip_norm) {
        (Some(_), Some(_)) => Err(PyValueError::new_err(
            "give clip (each gradient value clamped) or clip_norm (the global norm bounded), not both; clip=None turns the first off",
        )),
        (_, Some(c)) => Ok(Clip::GlobalNorm(c)),
        (Some(c), None) => Ok(Clip::Elementwise(c)),
        (None, None) => Ok(Clip::None),
    }
}

impl Shape {
    /// The CLI's training settings for a model of this shape.
    fn train_config(&self) -> TrainConfig {
        TrainConfig {
            cell: self.cell,
            hidden: self.hidden,
            layers: self.layers,
            embed: self.embed,
            dropout: self.dropout,
            forget_bias: self.forget_bias,
            init: self.init,
            seed: self.seed,
            ..TrainConfig::default()
        }
    }
}

impl CharRnn {
    /// The fitted network and vocabulary, or an error saying to fit first.
    fn fitted(&self) -> PyResult<&(Net<f32>, CharVocab)> {
        crate::runs::fitted(&self.model, "fit(text) or train_words(words)")
    }

    /// The model of a loaded checkpoint.
    pub fn from_checkpoint(net: Net<f32>, vocab: CharVocab) -> Self {
        let c = net.config().clone();
        CharRnn {
            shape: Shape {
                cell: c.cell,
                hidden: c.hidden_size,
                layers: c.layers,
                embed: c.embed,
                dropout: c.dropout,
                forget_bias: None,
                init: Init::Uniform,
                seed: 42,
            },
            model: Some((net, vocab)),
            words: None,
        }
    }

    /// Token ids of `text` in the model's vocabulary.
    fn encode(&self, text: &str) -> PyResult<Vec<u32>> {
        let (_, vocab) = self.fitted()?;
        let tokens = vocab.encode(text).or_py()?;
        if tokens.is_empty() {
            return Err(PyValueError::new_err("the text is empty"));
        }
        Ok(tokens)
    }
}

#[pymethods]
impl CharRnn {
    /// A model not yet trained: `model` is "rnn", "lstm", "gru", "mingru" or "minlstm"
    /// (`activation` "tanh" or "relu" for "rnn"), `hidden` units per layer,
    /// `layers` stacked, `embed` the size of a learned character embedding
    /// (None: one-hot input), `dropout` between layers in training,
    /// `forget_bias` the initial forget-gate bias (LSTM, minLSTM, sLSTM), `init` "uniform"
    /// (PyTorch's) or "classic" (min-char-rnn's small normal weights; the
    /// default for "rnn", "mingru" and "minlstm"), `seed` the initial weights and the data order.
    #[new]
    #[pyo3(signature = (model="lstm", hidden=128, layers=1, embed=None, dropout=0.0, activation="tanh", forget_bias=None, init=None, seed=42))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        model: &str,
        hidden: usize,
        layers: usize,
        embed: Option<usize>,
        dropout: f64,
        activation: &str,
        forget_bias: Option<f64>,
        init: Option<&str>,
        seed: u64,
    ) -> PyResult<Self> {
        let cell: CellKind = model.parse().or_py()?;
        let act: Activation = activation.parse().map_err(PyValueError::new_err)?;
        let cell = match cell {
            CellKind::Rnn(_) => CellKind::Rnn(act),
            _ if activation != "tanh" => {
                return Err(PyValueError::new_err(
                    "activation applies to model=\"rnn\" only",
                ));
            }
            other => other,
        };
        let init = match init {
            None => Init::default_for(cell),
            Some("uniform") => Init::Uniform,
            Some("classic") => Init::Classic,
            Some(other) => {
                return Err(PyValueError::new_err(format!(
                    "unknown init '{other}': use \"uniform\" (PyTorch's) or \"classic\" (min-char-rnn's)"
                )));
            }
        };
        let shape = Shape {
            cell,
            hidden,
            layers,
            embed,
            dropout,
            forget_bias,
            init,
            seed,
        };
        // Settings that cannot train are refused now, not at fit.
        shape.train_config().validate().or_py()?;
        Ok(CharRnn {
            shape,
            model: None,
            words: None,
        })
    }

    /// Train on `data`: running text (a str; char-rnn's B streams of
    /// `seq_len` characters, the state carried across windows) or a list
    /// of words (each its own sequence, shuffled batches). A model that
    /// was trained or loaded goes on from its weights (with a fresh
    /// optimizer); data may then use only its characters.
    ///
    /// Runs `iters` iterations, or `epochs` passes over the data (default:
    /// 1000 iterations), or for `time` (seconds, or a duration such as
    /// "30m"; then evaluates and saves at the end). `schedule` is
    /// "constant" or "cosine" (down to a tenth of `lr` at the end of the
    /// run), after a linear warm-up over the first `warmup` iterations.
    /// `precision="bf16"` rounds the operands of the training steps'
    /// matrix products to bf16 and sums them in f32 (as `recur train
    /// --precision bf16`: weights, optimizer state and validation stay
    /// f32). It holds out `val_frac` of the data to validate
    /// on every `eval_every` iterations (and at the end), logging every
    /// `log_every`. `optimizer` is "adam", "rmsprop", "adagrad" or "sgd"
    /// (with `momentum`); `clip` clamps every gradient value to
    /// ±clip, `clip_norm` bounds their global norm instead (`clip=None`
    /// and no `clip_norm`: no clipping). With `out` (a folder) the run is
    /// saved there at each validation, as `recur train --out` saves it
    /// (`overwrite=True` replaces a run already there).
    ///
    /// `progress=True` shows a tqdm bar (where tqdm is installed);
    /// `callback(record)` receives each log record as it is written;
    /// `on_step(iter, total, smooth_loss)` the progress (at most every 50
    /// ms). Ctrl-C stops the run within a second (after the iteration
    /// under way), keeps the weights trained so far and the last save,
    /// and raises KeyboardInterrupt. Returns the log records: dicts with
    /// `iter`, `train_loss`, `smooth_loss`, `val_loss` (None where not
    /// validated), `chars_per_sec`, `elapsed_s`.
    #[pyo3(
        signature = (data, *, batch=32, seq_len=64, optimizer="adam", lr=2e-3, momentum=0.0, iters=None, epochs=None, time=None, schedule="constant", warmup=0, precision="f32", val_frac=0.05, clip=Some(5.0), clip_norm=None, eval_every=None, log_every=None, out=None, overwrite=false, progress=false, callback=None, on_step=None),
        text_signature = "(self, /, data, *, batch=32, seq_len=64, optimizer='adam', lr=0.002, momentum=0.0, iters=None, epochs=None, time=None, schedule='constant', warmup=0, precision='f32', val_frac=0.05, clip=5.0, clip_norm=None, eval_every=None, log_every=None, out=None, overwrite=False, progress=False, callback=None, on_step=None)"
    )]
    #[allow(clippy::too_many_arguments)]
    fn fit<'py>(
        &mut self,
        py: Python<'py>,
        data: &Bound<'py, PyAny>,
        batch: usize,
        seq_len: usize,
        optimizer: &str,
        lr: f64,
        momentum: f64,
        iters: Option<u64>,
        epochs: Option<u64>,
        time: Option<&Bound<'py, PyAny>>,
        schedule: &str,
        warmup: u64,
        precision: &str,
        val_frac: f64,
        clip: Option<f64>,
        clip_norm: Option<f64>,
        eval_every: Option<u64>,
        log_every: Option<u64>,
        out: Option<PathBuf>,
        overwrite: bool,
        progress: bool,
        callback: Option<Py<PyAny>>,
        on_step: Option<Py<PyAny>>,
    ) -> PyResult<Bound<'py, PyList>> {
        let budget = time.map(duration).transpose()?;
        if budget.is_some() && (iters.is_some() || epochs.is_some()) {
            return Err(PyValueError::new_err(
                "give iters, epochs or time, not two of them",
            ));
        }
        let schedule = Schedule::from_name(schedule, TrainConfig::COSINE_FLOOR).or_py()?;
        let precision = precision.parse().or_py()?;
        let data = train_data(data)?;
        let words = match &data {
            TrainData::Words(w) => Some(w.clone()),
            TrainData::Corpus(_) => None,
        };
        let d = TrainConfig::default();
        let config = TrainConfig {
            seq_len,
            batch,
            optimizer: OptimizerKind::from_name(optimizer, momentum).or_py()?,
            lr,
            schedule,
            warmup,
            precision,
            clip: clipping(clip, clip_norm)?,
            val_frac,
            eval_every: eval_every.unwrap_or(d.eval_every),
            log_every: log_every.unwrap_or(d.log_every).max(1),
            ..self.shape.train_config()
        };
        let length = length(iters, epochs)?;
        let total = match length {
            Length::Iters(n) => n,
            _ => 1000,
        };
        let mut trainer = match &self.model {
            Some((net, vocab)) => {
                Trainer::from_model(config, data, (net.clone(), vocab.clone()), total).or_py()?
            }
            None => Trainer::new(config, data, total).or_py()?,
        };
        if let Length::Epochs(e) = length {
            let per = trainer.iters_per_epoch().or_py()?;
            trainer.set_total_iters(e.saturating_mul(per));
        }
        match budget {
            Some(limit) => trainer.set_time_budget(limit).or_py()?,
            None if warmup >= trainer.total_iters() => {
                return Err(PyValueError::new_err(format!(
                    "warmup={warmup} is not below the run's {} iterations: give a shorter warm-up or more iters",
                    trainer.total_iters()
                )));
            }
            None => {}
        }
        let dir = run_dir(out.as_deref(), overwrite)?;
        let (total, done) = (trainer.total_iters(), trainer.iter());
        let hooks = (callback, on_step);
        let mut watch = Watch::new(py, hooks, record, progress, (total, done))?;
        let ran = py
            .detach(|| trainer.run_until(dir.as_ref(), None, &mut |event| watch.see(event, None)));
        // The weights trained so far stay, however the run ended.
        self.model = Some(trainer.into_model());
        self.words = words;
        watch.end(py, ran)
    }

    /// The classroom notebook's training on a word list: `epochs` passes
    /// over `words`, 32 words per update, shuffled every epoch (by a
    /// generator seeded with the model's seed), Adam at `lr` (its moments
    /// start afresh each call), every gradient clipped to ±5; prints the
    /// mean loss every `print_every` epochs (0: never). A model not yet
    /// trained is built for these words (its vocabulary: their characters
    /// and the start and end markers). Ctrl-C stops after the epoch under
    /// way, keeping the weights. Returns each epoch's mean loss
    /// (nats/char).
    #[pyo3(signature = (words, epochs=100, lr=0.01, print_every=0))]
    fn train_words(
        &mut self,
        py: Python<'_>,
        words: Vec<String>,
        epochs: usize,
        lr: f64,
        print_every: usize,
    ) -> PyResult<Vec<f64>> {
        let (net, vocab) = match self.model.take() {
            Some(model) => model,
            None => {
                let vocab = word_vocab(&words).or_py()?;
                let s = &self.shape;
                let config = NetConfig {
                    layers: s.layers,
                    embed: s.embed,
                    ..NetConfig::char_lm(s.cell, vocab.len(), s.hidden)
                };
                let mut net = Net::new(config, s.init, s.seed).or_py()?;
                if let Some(v) = s.forget_bias {
                    net.set_forget_bias(v);
                }
                (net, vocab)
            }
        };
        let kept = (net.clone(), vocab.clone());
        let mut book = match Notebook::from_model(net, vocab, self.shape.seed) {
            Ok(book) => book,
            Err(e) => {
                self.model = Some(kept);
                return Err(crate::errors::to_py(e));
            }
        };
        let adam = OptimizerKind::from_name("adam", 0.0).or_py()?;
        let mut losses = Vec::with_capacity(epochs);
        let mut outcome = book.set_optimizer(adam, lr).or_py();
        for epoch in 1..=epochs {
            if outcome.is_err() {
                break;
            }
            outcome = py
                .detach(|| book.train_words(&words, 1, 0))
                .or_py()
                .and_then(|l| {
                    losses.extend(&l);
                    if print_every > 0 && epoch % print_every == 0 {
                        let line = format!("epoch {epoch}: loss {:.4} nats/char", l[0]);
                        py.import("builtins")?.call_method1("print", (line,))?;
                    }
                    py.check_signals()
                });
        }
        self.model = Some(book.into_model());
        self.words = Some(words);
        outcome.map(|()| losses)
    }

    /// `n` whole words from a model trained on a word list, each drawn
    /// from the start of a word to its end (starting with `prefix`, cut
    /// at `max_len` characters if the model has not ended it), characters
    /// chosen as in `sample`; the same seed gives the same words (and
    /// `recur sample --count n --seed` gives them from the same
    /// checkpoint). Each word is marked as new or as present in the
    /// training list: the one the model was last trained on, or `training`.
    #[pyo3(signature = (n=10, prefix="", temperature=1.0, top_k=None, greedy=false, seed=0, max_len=50, training=None))]
    #[allow(clippy::too_many_arguments)]
    fn sample_words(
        &self,
        py: Python<'_>,
        n: usize,
        prefix: &str,
        temperature: f64,
        top_k: Option<usize>,
        greedy: bool,
        seed: u64,
        max_len: usize,
        training: Option<Vec<String>>,
    ) -> PyResult<WordSample> {
        let (net, vocab) = self.fitted()?;
        let opts = SampleOptions {
            temperature,
            top_k,
            greedy,
        };
        let words = py
            .detach(|| sample_words_with_prefix(net, vocab, prefix, n, &opts, seed, max_len))
            .or_py()?;
        Ok(WordSample::from_words(
            words,
            training.as_deref().or(self.words.as_deref()),
        ))
    }

    /// The most likely continuation of `prefix`, up to `length`
    /// characters (a word-list model stops at the end of its word):
    /// greedy decoding. Returns only the new characters.
    #[pyo3(signature = (prefix, length=20))]
    fn predict(&self, py: Python<'_>, prefix: &str, length: usize) -> PyResult<String> {
        self.sample(py, length, prefix, 1.0, None, true, 0)
    }

    /// Each word as the notebook's `(inputs, targets)` token ids: `START
    /// w1 ... wn` and `w1 ... wn END`, in the model's vocabulary (see
    /// `vocab`).
    fn prepare_sequences(&self, words: Vec<String>) -> PyResult<Vec<(Vec<u32>, Vec<u32>)>> {
        let (_, vocab) = self.fitted()?;
        recur::prepare_sequences(&words, vocab).or_py()
    }

    /// The notebook's loss: the mean loss over `words` in nats per
    /// character (the end marker included), each word its own sequence,
    /// without training (as `evaluate(words)`).
    fn compute_loss(&self, py: Python<'_>, words: Vec<String>) -> PyResult<f64> {
        let (net, vocab) = self.fitted()?;
        py.detach(|| evaluate_words(net, vocab, &words)).or_py()
    }

    /// `length` characters generated after `prime` (an empty prime starts
    /// after the first character of the training text, which is not
    /// returned: a model sees a zero state only there in training; a
    /// checkpoint that kept no such character starts from a newline; a
    /// word-list model starts from the start of a
    /// word and stops at the end of its word). `temperature` below 1
    /// is safer, above 1 more surprising; `top_k` draws only among the k
    /// most likely; `greedy` always takes the most likely. The same seed
    /// gives the text `recur sample --seed` gives from the same checkpoint.
    #[pyo3(signature = (length=200, prime="", temperature=1.0, top_k=None, greedy=false, seed=0))]
    #[allow(clippy::too_many_arguments)]
    fn sample(
        &self,
        py: Python<'_>,
        length: usize,
        prime: &str,
        temperature: f64,
        top_k: Option<usize>,
        greedy: bool,
        seed: u64,
    ) -> PyResult<String> {
        recur::check::between("length", length, 0, recur::sample::MAX_LENGTH).or_py()?;
        let (net, vocab) = self.fitted()?;
        let opts = SampleOptions {
            temperature,
            top_k,
            greedy,
        };
        py.detach(|| generate(net, vocab, prime, length, &opts, seed))
            .or_py()
    }

    /// Mean loss in nats per character: of running text (a str), every
    /// character after the first predicted from all before it (as `recur
    /// eval --corpus`); or of a list of words (as `recur eval --words`).
    fn evaluate(&self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<f64> {
        let (net, vocab) = self.fitted()?;
        match train_data(data)? {
            TrainData::Corpus(text) => py.detach(|| evaluate_text(net, vocab, &text)).or_py(),
            TrainData::Words(words) => py.detach(|| evaluate_words(net, vocab, &words)).or_py(),
        }
    }

    /// Write the model to `path` (a `.safetensors` file, or a folder,
    /// where it becomes `model.safetensors`): the file `recur sample`,
    /// `recur eval` and `recur train --resume`-less fine-tuning read, and
    /// PyTorch's `load_state_dict` takes (see README).
    fn save(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        let (net, vocab) = self.fitted()?;
        let file = crate::runs::model_file(&path);
        py.detach(|| save_model(&file, net, vocab, &[])).or_py()
    }

    /// The hidden states of `layer` (negative counts from the last) at
    /// every character of `text`, read from a zero state: a float32
    /// array `(T, H)` (`(T, 2H)` for a bidirectional model), one row per
    /// character, ready for t-SNE and plots.
    #[pyo3(signature = (text, layer=-1))]
    fn hidden_states<'py>(
        &self,
        py: Python<'py>,
        text: &str,
        layer: i64,
    ) -> PyResult<Bound<'py, PyArrayDyn<f32>>> {
        let tokens = self.encode(text)?;
        let (net, _) = self.fitted()?;
        let layers = net.config().layers as i64;
        let l = if layer < 0 { layers + layer } else { layer };
        if !(0..layers).contains(&l) {
            return Err(PyIndexError::new_err(format!(
                "layer {layer} out of range: the model has {layers} layer(s) (0..{layers}, or -1 for the last)"
            )));
        }
        let t = tokens.len();
        let values = py.detach(|| -> recur::Result<Vec<f32>> {
            let mut ws = net.workspace();
            net.forward(SeqInput::Tokens(&tokens), None, t, 1, &mut ws)?;
            Ok(ws.layer_outputs(l as usize).to_vec())
        });
        let values = values.or_py()?;
        let width = values.len() / t;
        to_array(py, &[t, width], values)
    }

    /// The model's distribution of the next character after each prefix of
    /// `text` (read from a zero state): a float32 array `(T, V)` whose row
    /// t is P(character t+1 | characters 0..=t); the columns follow
    /// `vocab`.
    fn next_char_probs<'py>(
        &self,
        py: Python<'py>,
        text: &str,
    ) -> PyResult<Bound<'py, PyArrayDyn<f32>>> {
        let tokens = self.encode(text)?;
        let (net, vocab) = self.fitted()?;
        let t = tokens.len();
        let batch = recur::model::Batch::new(SeqInput::Tokens(&tokens), t, 1);
        let probs = py
            .detach(|| net.probabilities(&batch, &mut net.workspace()))
            .or_py()?;
        to_array(py, &[t, vocab.len()], probs)
    }

    /// The vocabulary: one str per token id (a word-list model's start
    /// and end markers included).
    #[getter]
    fn vocab(&self) -> PyResult<Vec<String>> {
        Ok(self.fitted()?.1.to_strings())
    }

    /// The parameters as a dict of float32 arrays under PyTorch's names
    /// (`rnn.weight_ih_l0`, ..., `fc.weight`, `fc.bias`), copies.
    fn parameters<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let (net, _) = self.fitted()?;
        named(py, net.layout(), &net.params, "")
    }

    /// The gradients of the mean loss (nats/char) of `text`, every
    /// character after the first predicted from those before it from a
    /// zero state, with respect to every parameter: a dict like
    /// `parameters()`. No dropout.
    fn gradients<'py>(&self, py: Python<'py>, text: &str) -> PyResult<Bound<'py, PyDict>> {
        let tokens = self.encode(text)?;
        if tokens.len() < 2 {
            return Err(PyValueError::new_err(
                "the text needs at least two characters: each is predicted from those before it",
            ));
        }
        let (net, _) = self.fitted()?;
        let t = tokens.len() - 1;
        let grads = py.detach(|| -> recur::Result<Vec<f32>> {
            let mut grads = net.zero_grads();
            let (x, y) = (&tokens[..t], &tokens[1..]);
            let target = Target::Classes(y);
            let mut ws = net.workspace();
            net.loss_and_grad(SeqInput::Tokens(x), None, t, 1, target, &mut ws, &mut grads)?;
            Ok(grads)
        });
        named(py, net.layout(), &grads.or_py()?, "")
    }

    /// The model's settings: a dict with `model`, `activation`, `hidden`,
    /// `layers`, `embed`, `dropout`, and `vocab_size` once fitted.
    #[getter]
    fn config<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = &self.shape;
        let d = PyDict::new(py);
        d.set_item("model", s.cell.name())?;
        if let CellKind::Rnn(a) = s.cell {
            let name = match a {
                Activation::Tanh => "tanh",
                Activation::Relu => "relu",
            };
            d.set_item("activation", name)?;
        }
        d.set_item("hidden", s.hidden)?;
        d.set_item("layers", s.layers)?;
        d.set_item("embed", s.embed)?;
        d.set_item("dropout", s.dropout)?;
        if let Some((_, vocab)) = &self.model {
            d.set_item("vocab_size", vocab.len())?;
        }
        Ok(d)
    }

    fn __repr__(&self) -> String {
        let s = &self.shape;
        let embed = s.embed.map(|e| format!(", embed={e}")).unwrap_or_default();
        let state = match &self.model {
            Some((_, v)) => format!("trained, {} tokens", v.len()),
            None => "not trained".into(),
        };
        format!(
            "CharRNN(model={:?}, hidden={}, layers={}{embed}, dropout={}) <{state}>",
            s.cell.name(),
            s.hidden,
            s.layers,
            s.dropout
        )
    }
}

/// A duration from Python: seconds (a number) or a string such as "30m".
fn duration(time: &Bound<'_, PyAny>) -> PyResult<Duration> {
    if let Ok(text) = time.extract::<String>() {
        return parse_duration(&text).or_py();
    }
    let secs: f64 = time.extract().map_err(|_| {
        PyValueError::new_err("time must be a number of seconds or a duration such as '30m'")
    })?;
    // The command line's reader checks the range (a bare number is seconds).
    parse_duration(&secs.to_string()).or_py()
}
