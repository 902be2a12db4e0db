//! Checkpoints as safetensors files.
//!
//! - `model.safetensors`: the weights under PyTorch names (`rnn.weight_ih_l0`,
//!   `rnn.weight_hh_l0`, `rnn.bias_ih_l0`, `rnn.bias_hh_l0`, `fc.weight`,
//!   `fc.bias`) as f32, with the model configuration and vocabulary in the
//!   metadata. `torch.nn.Module.load_state_dict(safetensors.torch.load_file(...))`
//!   takes it for an `nn.RNN` named `rnn` and an `nn.Linear` named `fc`.
//! - `state.safetensors`: what `--resume` needs beyond the weights (optimizer
//!   moments, carried hidden state, word order, iteration, RNG position).
//!
//! Files are written deterministically (sorted header) and atomically: to a
//! temporary file in the same folder, synced, then renamed over the target,
//! so an interrupted save never leaves a broken checkpoint.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use safetensors::{Dtype, SafeTensors};

use crate::cell::CellKind;
use crate::data::CharVocab;
use crate::data::pairs::PairVocab;
use crate::data::series::Normalizer;
use crate::error::{Error, Result};
use crate::model::forecaster::{ForecastConfig, Forecaster, check_parts};
use crate::model::seq2seq::{Seq2Seq, Seq2SeqConfig};
use crate::model::{Net, NetConfig, ParamLayout};

/// Format version written into every file.
pub const FORMAT: &str = "recur-1";

/// A tensor to write: name, shape and the raw values.
#[derive(Clone, Copy, Debug)]
pub enum TensorData<'a> {
    /// 32-bit floats.
    F32(&'a [f32]),
    /// 32-bit unsigned integers.
    U32(&'a [u32]),
    /// 32-bit float zeros, as many as the shape holds.
    Zeros,
}

/// Write a safetensors file atomically with sorted metadata.
pub fn write_safetensors(
    path: &Path,
    tensors: &[(&str, Vec<usize>, TensorData<'_>)],
    metadata: &BTreeMap<String, String>,
) -> Result<()> {
    let mut header = serde_json::Map::new();
    header.insert(
        "__metadata__".into(),
        serde_json::to_value(metadata).map_err(|e| Error::Checkpoint(e.to_string()))?,
    );
    let mut offset = 0usize;
    let mut body = Vec::new();
    for (name, shape, data) in tensors {
        let (dtype, bytes): (&str, Vec<u8>) = match data {
            TensorData::F32(v) => ("F32", v.iter().flat_map(|x| x.to_le_bytes()).collect()),
            TensorData::U32(v) => ("U32", v.iter().flat_map(|x| x.to_le_bytes()).collect()),
            TensorData::Zeros => ("F32", vec![0; 4 * shape.iter().product::<usize>()]),
        };
        header.insert(
            name.to_string(),
            serde_json::json!({"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + bytes.len()]}),
        );
        offset += bytes.len();
        body.extend(bytes);
    }
    let mut head = serde_json::to_vec(&header).map_err(|e| Error::Checkpoint(e.to_string()))?;
    head.resize(head.len().next_multiple_of(8), b' ');
    let mut file = Vec::with_capacity(8 + head.len() + body.len());
    file.extend((head.len() as u64).to_le_bytes());
    file.extend(head);
    file.extend(body);
    write_atomic(path, &file)
}

/// Write `bytes` to `path` through a temporary file and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp: PathBuf = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io(path, e)
    })
}

/// A parsed safetensors file: its bytes, kept for the tensor views.
pub struct Loaded {
    path: PathBuf,
    bytes: Vec<u8>,
    metadata: BTreeMap<String, String>,
}

impl Loaded {
    /// Read and validate a safetensors file.
    pub fn open(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::Checkpoint(format!(
                "{}: no checkpoint there; train one first (recur train --out DIR) or check the path",
                path.display()
            )),
            _ => Error::io(path, e),
        })?;
        Self::from_bytes(bytes, path)
    }

    /// Validate a safetensors file already in memory; `name` (usually the
    /// path it came from) names it in error messages. Nothing is read from
    /// disk, so a fuzzer can drive every loader through this.
    pub fn from_bytes(bytes: Vec<u8>, name: impl AsRef<Path>) -> Result<Self> {
        let path = name.as_ref();
        let corrupt = |e: &dyn std::fmt::Display| {
            Error::Checkpoint(format!(
                "{}: not a readable checkpoint ({e}); the file is truncated or corrupt, use another checkpoint or train again",
                path.display()
            ))
        };
        SafeTensors::deserialize(&bytes).map_err(|e| corrupt(&e))?;
        let (_, meta) = SafeTensors::read_metadata(&bytes).map_err(|e| corrupt(&e))?;
        let metadata: BTreeMap<String, String> = meta
            .metadata()
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect();
        if let Some(format) = metadata.get("recur.format") {
            check_format(path, format)?;
        }
        Ok(Loaded {
            path: path.to_path_buf(),
            bytes,
            metadata,
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A metadata value, or an error naming the missing key.
    pub fn meta(&self, key: &str) -> Result<&str> {
        self.metadata.get(key).map(String::as_str).ok_or_else(|| {
            Error::Checkpoint(format!(
                "{}: metadata '{key}' is missing; this is not a recur checkpoint (or is from an incompatible version)",
                self.path.display()
            ))
        })
    }

    /// Whether the file has metadata `key`.
    pub fn has_meta(&self, key: &str) -> bool {
        self.metadata.contains_key(key)
    }

    /// A metadata value parsed from JSON.
    pub fn meta_json<T: serde::de::DeserializeOwned>(&self, key: &str) -> Result<T> {
        serde_json::from_str(self.meta(key)?).map_err(|e| {
            Error::Checkpoint(format!(
                "{}: metadata '{key}' is unreadable: {e}",
                self.path.display()
            ))
        })
    }

    fn tensor_bytes(&self, name: &str, dtype: Dtype, shape: &[usize]) -> Result<&[u8]> {
        let st =
            SafeTensors::deserialize(&self.bytes).map_err(|e| Error::Checkpoint(e.to_string()))?;
        let view = st.tensor(name).map_err(|_| {
            Error::Checkpoint(format!(
                "{}: tensor '{name}' is missing",
                self.path.display()
            ))
        })?;
        if view.dtype() != dtype {
            return Err(Error::Checkpoint(format!(
                "{}: tensor '{name}' is {:?}, expected {dtype:?}",
                self.path.display(),
                view.dtype()
            )));
        }
        if view.shape() != shape {
            return Err(Error::Checkpoint(format!(
                "{}: tensor '{name}' has shape {:?} but the model configuration needs {shape:?}; the checkpoint's weights do not match its configuration",
                self.path.display(),
                view.shape()
            )));
        }
        let start = view.data().as_ptr() as usize - self.bytes.as_ptr() as usize;
        Ok(&self.bytes[start..start + view.data().len()])
    }

    /// An f32 tensor of whatever shape the file gives, with that shape.
    pub fn f32_any(&self, name: &str) -> Result<(Vec<usize>, Vec<f32>)> {
        let st =
            SafeTensors::deserialize(&self.bytes).map_err(|e| Error::Checkpoint(e.to_string()))?;
        let shape = st
            .tensor(name)
            .map_err(|_| {
                Error::Checkpoint(format!(
                    "{}: tensor '{name}' is missing",
                    self.path.display()
                ))
            })?
            .shape()
            .to_vec();
        Ok((shape.clone(), self.f32(name, &shape)?))
    }

    /// An f32 tensor of the given shape.
    pub fn f32(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
        let b = self.tensor_bytes(name, Dtype::F32, shape)?;
        Ok(b.chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    }

    /// A u32 tensor of the given shape.
    pub fn u32(&self, name: &str, shape: &[usize]) -> Result<Vec<u32>> {
        let b = self.tensor_bytes(name, Dtype::U32, shape)?;
        Ok(b.chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    }

    /// An error unless every tensor of `layout` is in the file as f32 with
    /// its shape: checked before a model is allocated, so that a
    /// configuration edited to describe another model is refused at the
    /// first tensor it does not match, whatever size it asks for.
    pub fn check_layout(&self, layout: &ParamLayout) -> Result<()> {
        for s in layout.specs() {
            self.tensor_bytes(&s.name, Dtype::F32, &s.shape)?;
        }
        Ok(())
    }

    /// A weight tensor of the given shape; an error naming it if any value
    /// is NaN or infinite.
    pub fn weights(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
        let values = self.f32(name, shape)?;
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            return Err(Error::Checkpoint(format!(
                "{}: tensor '{name}' holds a non-finite value ({} at index {i}); the run diverged or the file is corrupt, use an earlier checkpoint or train again (with a lower --lr)",
                self.path.display(),
                values[i]
            )));
        }
        Ok(values)
    }

    /// Fill `params` with every tensor of `layout`, checking each one's
    /// shape and values.
    pub fn load_params(&self, layout: &ParamLayout, params: &mut [f32]) -> Result<()> {
        for s in layout.specs() {
            let values = self.weights(&s.name, &s.shape)?;
            if let Some(wrong) = s.off_block_value(&values) {
                return Err(Error::Checkpoint(format!(
                    "{}: {} {wrong}; such a weight has zeros there",
                    self.path.display(),
                    s.name
                )));
            }
            params[s.range()].copy_from_slice(&values);
        }
        Ok(())
    }

    /// An error unless the file holds a model of kind `want` (`None`: any
    /// language model); a model of another kind is named with the command
    /// that reads it.
    fn expect_kind(&self, want: Option<&str>) -> Result<&str> {
        if self.meta("recur.model").is_err() && self.meta("recur.train_config").is_ok() {
            return Err(Error::Checkpoint(format!(
                "{}: this is a run's resume state, not a model; pass model.safetensors or the run folder",
                self.path.display()
            )));
        }
        let kind = self.meta("recur.model")?;
        let is_lm = CellKind::names().contains(&kind);
        let wanted = match want {
            Some(w) => kind == w,
            None => is_lm,
        };
        if wanted {
            return Ok(kind);
        }
        let what = match kind {
            "seq2seq" => "a sequence-to-sequence model; use `recur seq2seq translate` with it",
            "forecast" => "a forecasting model; use `recur forecast predict` with it",
            _ if is_lm => {
                "a character language model; use `recur sample`, `recur eval` or `recur viz` with it"
            }
            _ => "a model kind this recur does not know",
        };
        Err(Error::Checkpoint(format!(
            "{}: this is {what} (recur.model = '{kind}')",
            self.path.display()
        )))
    }
}

/// Refuse a file written in another format than [`FORMAT`]: a newer one
/// by name, so the user knows to upgrade.
fn check_format(path: &Path, format: &str) -> Result<()> {
    if format == FORMAT {
        return Ok(());
    }
    let version = |f: &str| f.strip_prefix("recur-").and_then(|v| v.parse::<u32>().ok());
    let message = match (version(format), version(FORMAT)) {
        (Some(theirs), Some(ours)) if theirs > ours => format!(
            "made by a newer recur (format {format}); this recur reads {FORMAT}: upgrade recur to read it"
        ),
        _ => format!("in an unknown format '{format}'; this recur reads {FORMAT}"),
    };
    Err(Error::Checkpoint(format!(
        "{}: this checkpoint was {message}",
        path.display()
    )))
}

/// The metadata every model file carries: the format, the model kind, its
/// configuration (JSON) and each named vocabulary, plus `extra`.
fn model_meta(
    kind: &str,
    config: String,
    vocabs: &[(&str, &CharVocab)],
    extra: &[(&str, String)],
) -> BTreeMap<String, String> {
    let mut meta = BTreeMap::new();
    meta.insert("format".into(), "pt".into());
    meta.insert("recur.format".into(), FORMAT.into());
    meta.insert("recur.model".into(), kind.into());
    meta.insert("recur.config".into(), config);
    for (name, v) in vocabs {
        meta.insert(
            format!("recur.{name}"),
            serde_json::to_string(&v.to_strings()).expect("vocab serializes"),
        );
    }
    for (k, v) in extra {
        meta.insert(format!("recur.{k}"), v.clone());
    }
    meta
}

/// Every tensor of a flat buffer under its layout name.
fn layout_tensors<'a>(
    layout: &'a ParamLayout,
    params: &'a [f32],
) -> Vec<(String, Vec<usize>, TensorData<'a>)> {
    layout
        .specs()
        .iter()
        .map(|s| {
            (
                s.name.clone(),
                s.shape.clone(),
                TensorData::F32(&params[s.range()]),
            )
        })
        .collect()
}

/// A checkpoint file before it is written: named tensors and metadata.
pub struct Contents<'a> {
    /// Name, shape and values of every tensor.
    pub tensors: Vec<(String, Vec<usize>, TensorData<'a>)>,
    /// The `__metadata__` strings.
    pub meta: BTreeMap<String, String>,
}

impl Contents<'_> {
    /// Add `recur.KEY` metadata.
    pub fn with_meta(mut self, extra: &[(&str, String)]) -> Self {
        for (k, v) in extra {
            self.meta.insert(format!("recur.{k}"), v.clone());
        }
        self
    }

    /// Write the file atomically.
    pub fn write(&self, path: &Path) -> Result<()> {
        let tensors: Vec<_> = self
            .tensors
            .iter()
            .map(|(n, s, d)| (n.as_str(), s.clone(), *d))
            .collect();
        write_safetensors(path, &tensors, &self.meta)
    }
}

/// A language model and its vocabulary as a file's contents.
pub fn model_contents<'a>(net: &'a Net<f32>, vocab: &CharVocab) -> Contents<'a> {
    let config = net.config();
    let json = serde_json::to_string(config).expect("config serializes");
    let opening = vocab.opening().map(|c| {
        (
            "opening",
            serde_json::to_string(&c).expect("a char serializes"),
        )
    });
    let meta = model_meta(
        config.cell.name(),
        json,
        &[("vocab", vocab)],
        opening.as_slice(),
    );
    let mut tensors = layout_tensors(net.layout(), &net.params);
    // PyTorch's nn.RNN has a second bias; recur's single bh is bias_ih.
    for name in single_biases(net) {
        tensors.push((
            name.replace("bias_ih", "bias_hh"),
            vec![config.hidden_size],
            TensorData::Zeros,
        ));
    }
    Contents { tensors, meta }
}

/// Save a language model and its vocabulary; `extra` metadata is added
/// (e.g. the training iteration).
pub fn save_model(
    path: &Path,
    net: &Net<f32>,
    vocab: &CharVocab,
    extra: &[(&str, String)],
) -> Result<()> {
    model_contents(net, vocab).with_meta(extra).write(path)
}

/// A sequence-to-sequence model and its two vocabularies as a file's
/// contents.
pub fn seq2seq_contents<'a>(model: &'a Seq2Seq<f32>, vocab: &PairVocab) -> Contents<'a> {
    let json = serde_json::to_string(model.config()).expect("config serializes");
    let meta = model_meta(
        "seq2seq",
        json,
        &[("src_vocab", &vocab.src), ("tgt_vocab", &vocab.tgt)],
        &[],
    );
    let tensors = layout_tensors(model.layout(), &model.params);
    Contents { tensors, meta }
}

/// Save a sequence-to-sequence model with its two vocabularies.
pub fn save_seq2seq(
    path: &Path,
    model: &Seq2Seq<f32>,
    vocab: &PairVocab,
    extra: &[(&str, String)],
) -> Result<()> {
    seq2seq_contents(model, vocab).with_meta(extra).write(path)
}

/// A forecaster as a file's contents: the network, its settings, the
/// column names and the normalization statistics (fitted on the training
/// part).
pub fn forecaster_contents<'a>(
    f: &'a Forecaster,
    features: &[String],
    targets: &[String],
) -> Contents<'a> {
    let config = serde_json::to_string(f.net.config()).expect("config serializes");
    let extra = [
        ("forecast", json(&f.config)),
        ("features", json(&features)),
        ("targets", json(&targets)),
        ("feature_norm", json(&f.features)),
        ("target_norm", json(&f.targets)),
    ];
    let meta = model_meta("forecast", config, &[], &extra);
    let tensors = layout_tensors(f.net.layout(), &f.net.params);
    Contents { tensors, meta }
}

/// Save a forecaster (see [`forecaster_contents`]).
pub fn save_forecaster(
    path: &Path,
    f: &Forecaster,
    features: &[String],
    targets: &[String],
) -> Result<()> {
    forecaster_contents(f, features, targets).write(path)
}

/// Metadata naming the time column a forecaster's series was read with
/// (`--time`), for [`Contents::with_meta`]: `forecast predict` then finds
/// it without being told again. Read it back with [`forecaster_time`].
pub fn time_meta(column: &str) -> (&'static str, String) {
    ("time", json(column))
}

/// The time column a forecaster was trained with, if its file names one
/// (see [`time_meta`]; files written before it name none).
pub fn forecaster_time(file: &Loaded) -> Result<Option<String>> {
    if !file.metadata.contains_key("recur.time") {
        return Ok(None);
    }
    file.meta_json("recur.time").map(Some)
}

/// A metadata value as JSON.
fn json<T: serde::Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).expect("metadata serializes")
}

/// Load a forecaster saved by [`save_forecaster`], with its feature and
/// target column names.
pub fn load_forecaster(path: &Path) -> Result<(Forecaster, Vec<String>, Vec<String>)> {
    load_forecaster_from(Loaded::open(path)?)
}

/// [`load_forecaster`] from a file's bytes; `name` names it in errors.
pub fn load_forecaster_bytes(
    bytes: Vec<u8>,
    name: impl AsRef<Path>,
) -> Result<(Forecaster, Vec<String>, Vec<String>)> {
    load_forecaster_from(Loaded::from_bytes(bytes, name)?)
}

/// [`load_forecaster`] from a parsed file.
pub fn load_forecaster_from(file: Loaded) -> Result<(Forecaster, Vec<String>, Vec<String>)> {
    file.expect_kind(Some("forecast"))?;
    let config: NetConfig = file.meta_json("recur.config")?;
    let settings: ForecastConfig = file.meta_json("recur.forecast")?;
    let features: Vec<String> = file.meta_json("recur.features")?;
    let targets: Vec<String> = file.meta_json("recur.targets")?;
    let feature_norm: Normalizer = file.meta_json("recur.feature_norm")?;
    let target_norm: Normalizer = file.meta_json("recur.target_norm")?;
    check_parts(
        &settings,
        &config,
        (&feature_norm, &target_norm),
        features.len(),
        targets.len(),
    )
    .map_err(|e| {
        Error::Checkpoint(format!(
            "{}: the forecaster's metadata is inconsistent: {e}; use another checkpoint or train again",
            file.path().display()
        ))
    })?;
    let net = load_net(&file, config)?;
    let f = Forecaster {
        net,
        features: feature_norm,
        targets: target_norm,
        config: settings,
    };
    Ok((f, features, targets))
}

/// A network of `config` with its weights from `file`: the layout the
/// configuration implies is checked against the file's tensors before
/// anything is allocated, every tensor's values after.
fn load_net(file: &Loaded, config: NetConfig) -> Result<Net<f32>> {
    let layout = Net::<f32>::layout_of(config.clone()).map_err(|e| bad_config(file, e))?;
    file.check_layout(&layout)?;
    let mut net = Net::<f32>::zeros(config).map_err(|e| bad_config(file, e))?;
    file.load_params(&layout, &mut net.params)?;
    Ok(net)
}

/// A configuration the model constructors refuse, as a checkpoint error.
fn bad_config(file: &Loaded, e: Error) -> Error {
    Error::Checkpoint(format!(
        "{}: the configuration in the metadata (recur.config) does not describe a usable model: {e}",
        file.path().display()
    ))
}

/// Load a model saved by [`save_seq2seq`], checking type and shapes.
pub fn load_seq2seq(path: &Path) -> Result<(Seq2Seq<f32>, PairVocab)> {
    load_seq2seq_from(Loaded::open(path)?)
}

/// [`load_seq2seq`] from a file's bytes; `name` names it in errors.
pub fn load_seq2seq_bytes(
    bytes: Vec<u8>,
    name: impl AsRef<Path>,
) -> Result<(Seq2Seq<f32>, PairVocab)> {
    load_seq2seq_from(Loaded::from_bytes(bytes, name)?)
}

/// [`load_seq2seq`] from a parsed file.
pub fn load_seq2seq_from(file: Loaded) -> Result<(Seq2Seq<f32>, PairVocab)> {
    file.expect_kind(Some("seq2seq"))?;
    let config: Seq2SeqConfig = file.meta_json("recur.config")?;
    let src = CharVocab::from_strings(&file.meta_json::<Vec<String>>("recur.src_vocab")?)?;
    let tgt = CharVocab::from_strings(&file.meta_json::<Vec<String>>("recur.tgt_vocab")?)?;
    if src.len() != config.src_vocab || tgt.len() != config.tgt_vocab || !tgt.has_markers() {
        return Err(Error::Checkpoint(format!(
            "{}: the vocabularies do not match the model's configuration",
            file.path().display()
        )));
    }
    let layout = Seq2Seq::<f32>::layout_of(config.clone()).map_err(|e| bad_config(&file, e))?;
    file.check_layout(&layout)?;
    let mut model = Seq2Seq::<f32>::new(config, crate::model::Init::Classic, 0)
        .map_err(|e| bad_config(&file, e))?;
    file.load_params(&layout, &mut model.params)?;
    Ok((model, PairVocab { src, tgt }))
}

/// Names of the vanilla RNN's single biases (`rnn.bias_ih_l{k}[_reverse]`),
/// which PyTorch's `nn.RNN` splits in two. (minGRU, minLSTM and sLSTM have
/// one bias too, and no PyTorch layer to match.)
fn single_biases(net: &Net<f32>) -> Vec<String> {
    if !matches!(net.config().cell, CellKind::Rnn(_)) {
        return Vec::new();
    }
    net.layout()
        .specs()
        .iter()
        .filter(|s| s.name.starts_with("rnn.bias_ih"))
        .map(|s| s.name.clone())
        .collect()
}

/// A loaded language model: weights, vocabulary and the file's metadata.
pub struct ModelCheckpoint {
    /// The model.
    pub net: Net<f32>,
    /// Its vocabulary.
    pub vocab: CharVocab,
    /// The parsed file, for further metadata.
    pub file: Loaded,
}

/// Load a model saved by [`save_model`] (or PyTorch weights with recur's
/// metadata), checking the model type, the configuration, the vocabulary
/// and every tensor's shape.
pub fn load_model(path: &Path) -> Result<ModelCheckpoint> {
    load_model_from(Loaded::open(path)?)
}

/// [`load_model`] from a file's bytes; `name` names it in errors.
pub fn load_model_bytes(bytes: Vec<u8>, name: impl AsRef<Path>) -> Result<ModelCheckpoint> {
    load_model_from(Loaded::from_bytes(bytes, name)?)
}

/// [`load_model`] from a parsed file.
pub fn load_model_from(file: Loaded) -> Result<ModelCheckpoint> {
    let path = file.path().to_path_buf();
    let path = path.as_path();
    let kind = file.expect_kind(None)?.to_string();
    let config: NetConfig = file.meta_json("recur.config")?;
    if kind != config.cell.name() {
        return Err(Error::Checkpoint(format!(
            "{}: the file says it holds a '{kind}' model but its configuration describes an '{}' model; the checkpoint is inconsistent",
            path.display(),
            config.cell.name()
        )));
    }
    let vocab = CharVocab::from_strings(&file.meta_json::<Vec<String>>("recur.vocab")?)?;
    // Files from before the opening was saved start samples at a newline.
    let opening = match file.has_meta("recur.opening") {
        true => Some(file.meta_json::<char>("recur.opening")?),
        false => None,
    };
    let vocab = vocab
        .with_opening(opening)
        .map_err(|e| Error::Checkpoint(format!("{}: {e}; the file is corrupt", path.display())))?;
    if vocab.len() != config.input_size || vocab.len() != config.output_size {
        return Err(Error::Checkpoint(format!(
            "{}: the vocabulary has {} characters but the model's input/output sizes are {}/{}",
            path.display(),
            vocab.len(),
            config.input_size,
            config.output_size
        )));
    }
    let mut net = load_net(&file, config)?;
    // Weights from PyTorch may have a non-zero second bias: fold it into bh.
    let h = net.config().hidden_size;
    for name in single_biases(&net) {
        let extra = file.weights(&name.replace("bias_ih", "bias_hh"), &[h])?;
        let range = net
            .layout()
            .get(&name)
            .map(|s| s.range())
            .expect("listed from the layout");
        for (b, e) in net.params[range].iter_mut().zip(extra) {
            *b += e;
            if !b.is_finite() {
                return Err(Error::Checkpoint(format!(
                    "{}: '{name}' plus its second bias overflows; the file is corrupt",
                    path.display()
                )));
            }
        }
    }
    Ok(ModelCheckpoint { net, vocab, file })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leftovers(dir: &Path) -> Vec<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".tmp-"))
            .collect()
    }

    #[test]
    fn atomic_write_replaces_whole_files_and_cleans_up_on_failure() {
        let dir = std::env::temp_dir().join(format!("recur-atomic-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let target = dir.join("model.safetensors");
        write_atomic(&target, b"first").unwrap();
        write_atomic(&target, b"second").unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"second");
        // A save that cannot complete (the target is a folder) fails, leaves
        // what was there and no temporary file.
        let blocked = dir.join("blocked");
        std::fs::create_dir_all(blocked.join("inside")).unwrap();
        assert!(write_atomic(&blocked, b"new").is_err());
        assert!(blocked.join("inside").is_dir());
        assert!(leftovers(&dir).is_empty(), "{:?}", leftovers(&dir));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn safetensors_bytes_are_deterministic_and_readable() {
        let dir = std::env::temp_dir().join(format!("recur-st-{}", std::process::id()));
        let meta: BTreeMap<String, String> = [("b", "2"), ("a", "1")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let values = [1.5f32, -2.0, 3.25];
        let ids = [7u32, 9];
        let tensors = [
            ("w", vec![3], TensorData::F32(&values)),
            ("ids", vec![2], TensorData::U32(&ids)),
        ];
        let (p1, p2) = (dir.join("one.safetensors"), dir.join("two.safetensors"));
        write_safetensors(&p1, &tensors, &meta).unwrap();
        write_safetensors(&p2, &tensors, &meta).unwrap();
        assert_eq!(std::fs::read(&p1).unwrap(), std::fs::read(&p2).unwrap());
        let back = Loaded::open(&p1).unwrap();
        assert_eq!(back.f32("w", &[3]).unwrap(), values);
        assert_eq!(back.u32("ids", &[2]).unwrap(), ids);
        assert_eq!(back.meta("a").unwrap(), "1");
        assert!(back.f32("w", &[4]).is_err());
        let same = Loaded::from_bytes(std::fs::read(&p1).unwrap(), "in-memory").unwrap();
        assert_eq!(same.f32("w", &[3]).unwrap(), values);
        assert_eq!(same.path(), Path::new("in-memory"));
        assert!(Loaded::from_bytes(b"not a checkpoint".to_vec(), "junk").is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
