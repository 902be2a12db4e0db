//! How much memory a model or a training run needs, estimated from its
//! sizes alone (see [`crate::memory`] for the limit and the check).

use super::config::{NetConfig, Readout};
use super::seq2seq::Seq2SeqConfig;
use super::stack::StackConfig;
use crate::error::{Error, Result};
use crate::layer::attention::Score;
use crate::memory::{ENV, Footprint, human, limit};

/// Training a network on blocks of `t` steps of `b` sequences split into
/// `shards` shards (see `train::shard`) with an optimizer keeping `moments`
/// buffers: the weights, one gradient buffer per shard, the moments and the
/// activations of a block (see [`crate::model::StackWorkspace`]).
///
/// ```
/// use recur::model::memory::net_training;
/// use recur::model::NetConfig;
/// use recur::cell::CellKind;
/// // A 100,000-unit LSTM: 4·H·(65 + H + 2) + 65·(H + 1) ≈ 4·10¹⁰ parameters.
/// let config = NetConfig::char_lm(CellKind::Lstm, 65, 100_000);
/// let need = net_training(&config, 25, 1, 1, 1);
/// assert!(need.bytes() > 3.0 * 4e10 * 4.0); // weights, gradients, one moment
/// ```
pub fn net_training(
    config: &NetConfig,
    t: usize,
    b: usize,
    shards: usize,
    moments: usize,
) -> Footprint {
    let params = count(config.param_count());
    let (t, b) = (t as f64, b as f64);
    let rows = match config.readout {
        Readout::ManyToMany => t * b,
        Readout::ManyToOne => b,
    };
    let head = 2.0 * rows * config.output_size as f64;
    Footprint::new()
        .add("parameters", params)
        .add(
            "gradients",
            params * shards.clamp(1, (b as usize).max(1)) as f64,
        )
        .add("optimizer moments", params * moments as f64)
        .add(
            "activations",
            stack_activations(&config.stack(), t, b) + head,
        )
}

/// Training an encoder-decoder on batches of `b` pairs with sources of
/// up to `s` and targets of up to `t` steps, with an optimizer keeping
/// `moments` buffers.
pub fn seq2seq_training(
    config: &Seq2SeqConfig,
    s: usize,
    t: usize,
    b: usize,
    moments: usize,
) -> Footprint {
    let params = count(config.param_count());
    let (s, t, b) = (s as f64, t as f64, b as f64);
    // The decoder's hidden size is the encoder's output size E.
    let e = config.encoder_output_size() as f64;
    let hd = e;
    let v = config.tgt_vocab as f64;
    let attention = match config.attention {
        None => 0.0,
        Some(score) => {
            // α (T, S) and the keys per pair; the additive score keeps
            // its (T, S, A) pre-activations; context, concatenation and
            // combined outputs (T, B, E + Hd) with their gradients.
            let a = match score {
                Score::Bahdanau => config.attention_size as f64,
                _ => 0.0,
            };
            b * (t * s * (1.0 + a) + s * (hd + a) + t * a) + 4.0 * t * b * (e + hd)
        }
    };
    let activations = stack_activations(&config.encoder(), s, b)
        + stack_activations(&config.decoder(), t, b)
        + attention
        + 2.0 * s * b * e
        + 2.0 * t * b * v;
    Footprint::new()
        .add("parameters", params)
        .add("gradients", params)
        .add("optimizer moments", params * moments as f64)
        .add("activations", activations)
}

/// A parameter count as f64; an overflowing one as infinity.
fn count(n: Option<usize>) -> f64 {
    n.map_or(f64::INFINITY, |n| n as f64)
}

/// Values a [`crate::model::StackWorkspace`] holds for a block of `t`
/// steps of `b` sequences, forward and backward: per cell (layer and
/// direction) the input projections, gates and their gradients
/// `4 · (T, B, G)`, states `2 · (T+1, B, H)` and `2 · (T, B, H)`; per
/// layer the outputs, dropout masks and inputs `3 · (T, B, dirs·H)`; the
/// embedded inputs and their gradient, and the backward's scratch.
fn stack_activations(c: &StackConfig, t: f64, b: f64) -> f64 {
    let (g, h, dirs, l) = (
        c.cell.rows(c.hidden_size) as f64,
        c.hidden_size as f64,
        c.directions() as f64,
        c.layers as f64,
    );
    let input = c.embed.unwrap_or(c.input_size) as f64;
    let per_cell = 4.0 * t * b * g + 2.0 * (t + 1.0) * b * h + 2.0 * t * b * h;
    let per_layer = 3.0 * t * b * dirs * h;
    let embedded = 2.0 * t * b * c.embed.unwrap_or(0) as f64;
    let scratch = t * b * (dirs * h + input.max(dirs * h));
    l * dirs * per_cell + l * per_layer + embedded + scratch
}

/// The parameter count of a model's configuration, or an error if it
/// overflows `usize` (sizes no model can have).
pub(crate) fn param_count(count: Option<usize>) -> Result<usize> {
    count.ok_or_else(|| {
        Error::Config(
            "the model's sizes are too large: its parameter count overflows; use smaller sizes"
                .into(),
        )
    })
}

/// Refuse `n` parameters in `S` that cannot fit in memory, before their
/// buffer is allocated.
pub(crate) fn check_params<S>(n: usize) -> Result<()> {
    let bytes = n as f64 * std::mem::size_of::<S>() as f64;
    let (limit, source) = limit()?;
    if bytes > limit as f64 {
        return Err(Error::Config(format!(
            "a model of {n} parameters needs {} for its weights alone, more than the {} limit ({source}); use smaller sizes, or set {ENV} to change the limit",
            human(bytes),
            human(limit as f64)
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cell::CellKind;
    use crate::model::seq2seq::Seq2Seq;
    use crate::model::{Init, Net};

    const CELLS: [CellKind; 3] = [
        CellKind::Rnn(crate::backend::Activation::Tanh),
        CellKind::Lstm,
        CellKind::Gru,
    ];

    #[test]
    fn parameter_counts_match_the_layouts_the_models_build() {
        for cell in CELLS {
            for (layers, bidirectional, embed) in [(1, false, None), (3, true, Some(5))] {
                for readout in [Readout::ManyToMany, Readout::ManyToOne] {
                    let config = NetConfig {
                        layers,
                        bidirectional,
                        embed,
                        readout,
                        output_size: 6,
                        ..NetConfig::char_lm(cell, 7, 4)
                    };
                    let net = Net::<f32>::zeros(config.clone()).unwrap();
                    assert_eq!(config.param_count(), Some(net.layout().len()), "{config:?}");
                }
            }
            for attention in [
                None,
                Some(Score::LuongDot),
                Some(Score::LuongGeneral),
                Some(Score::Bahdanau),
            ] {
                let config = Seq2SeqConfig {
                    cell,
                    src_vocab: 7,
                    tgt_vocab: 9,
                    embed: 3,
                    hidden: 4,
                    layers: 2,
                    bidirectional: true,
                    attention,
                    attention_size: 5,
                };
                let model = Seq2Seq::<f32>::new(config.clone(), Init::Uniform, 0).unwrap();
                assert_eq!(
                    config.param_count(),
                    Some(model.layout().len()),
                    "{config:?}"
                );
            }
        }
    }

    #[test]
    fn absurd_sizes_overflow_to_none_and_are_refused_before_building() {
        let mut config = NetConfig::char_lm(CellKind::Lstm, 65, usize::MAX / 2);
        assert_eq!(config.param_count(), None);
        assert!(Net::<f32>::zeros(config.clone()).is_err());
        config.hidden_size = 8;
        config.layers = usize::MAX;
        assert_eq!(config.param_count(), None);
        assert!(Net::<f32>::zeros(config).is_err());
        // Counted fine, but a layout of 10¹⁵ layers' names would not fit.
        let config = NetConfig {
            layers: 1_000_000_000_000_000,
            ..NetConfig::char_lm(CellKind::Gru, 65, 1)
        };
        assert!(config.param_count().is_some());
        let msg = Net::<f32>::layout_of(config).unwrap_err().to_string();
        assert!(msg.contains("at most 1000"), "{msg}");
        // 4·10¹² weights: the layout is a few names, the buffer no machine has.
        let config = NetConfig::char_lm(CellKind::Lstm, 65, 1 << 20);
        let layout = Net::<f32>::layout_of(config.clone()).unwrap();
        assert_eq!(Some(layout.len()), config.param_count());
        let msg = Net::<f32>::zeros(config).unwrap_err().to_string();
        assert!(msg.contains("parameters") && msg.contains(ENV), "{msg}");
        let need = net_training(&NetConfig::char_lm(CellKind::Lstm, 65, 8), 25, 4, 2, 2);
        assert!(need.bytes().is_finite() && need.bytes() > 0.0);
    }

    #[test]
    fn estimates_grow_with_what_the_flags_control() {
        let lm = NetConfig::char_lm(CellKind::Lstm, 65, 128);
        let base = net_training(&lm, 25, 8, 1, 2).bytes();
        assert!(net_training(&lm, 250, 8, 1, 2).bytes() > base);
        assert!(net_training(&lm, 25, 80, 1, 2).bytes() > base);
        assert!(net_training(&lm, 25, 8, 4, 2).bytes() > base);
        let s2s = Seq2SeqConfig {
            cell: CellKind::Gru,
            src_vocab: 30,
            tgt_vocab: 30,
            embed: 32,
            hidden: 128,
            layers: 1,
            bidirectional: false,
            attention: Some(Score::Bahdanau),
            attention_size: 128,
        };
        let base = seq2seq_training(&s2s, 20, 21, 32, 2).bytes();
        assert!(seq2seq_training(&s2s, 2000, 2001, 32, 2).bytes() > 100.0 * base);
    }
}
