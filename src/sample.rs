//! Generating text: temperature, top-k, greedy (argmax); whole words from
//! a word-list model ([`sample_words`], in `sample/words.rs`).

use rand::{Rng, RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::backend::random::Draw;
use crate::backend::{Backend, View, ViewMut, to_host};
use crate::cell::SeqInput;
use crate::check;
use crate::data::CharVocab;
use crate::data::vocab::{END, START};
use crate::error::{Error, Result};
use crate::model::{Batch, Net, NetConfig, NetWorkspace, Readout, VanillaRnn};

mod words;
pub use words::{MAX_WORDS, Novelty, novelty, sample_words, sample_words_with_prefix};

/// How the next character is chosen from the model's output.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SampleOptions {
    /// Divides the logits: below 1 sharper, above 1 more random. Must be > 0.
    pub temperature: f64,
    /// Sample only among the k most likely characters.
    pub top_k: Option<usize>,
    /// Always take the most likely character (ignores temperature and top-k).
    pub greedy: bool,
}

impl Default for SampleOptions {
    fn default() -> Self {
        SampleOptions {
            temperature: 1.0,
            top_k: None,
            greedy: false,
        }
    }
}

impl SampleOptions {
    /// Check the settings: temperature positive and finite, top-k at least 1.
    pub fn validate(&self) -> Result<()> {
        if !(self.temperature.is_finite() && self.temperature > 0.0) {
            return Err(Error::Config(format!(
                "--temperature must be a positive number, got {} (use --greedy for argmax)",
                self.temperature
            )));
        }
        if self.top_k == Some(0) {
            return Err(Error::Config("--top-k must be at least 1".into()));
        }
        Ok(())
    }
}

/// Index of the largest value (the first on ties).
pub fn argmax(values: &[f32]) -> usize {
    values
        .iter()
        .enumerate()
        .fold(0, |best, (i, &v)| if v > values[best] { i } else { best })
}

/// Choose the next token from `logits (V)`. `probs` is scratch space.
pub fn pick<R: Rng>(
    logits: &[f32],
    opts: &SampleOptions,
    rng: &mut R,
    probs: &mut Vec<f64>,
) -> u32 {
    if opts.greedy {
        return argmax(logits) as u32;
    }
    let v = logits.len();
    // Threshold for top-k: the k-th largest logit.
    let cutoff = match opts.top_k {
        Some(k) if k < v => {
            probs.clear();
            probs.extend(logits.iter().map(|&x| x as f64));
            let (_, kth, _) = probs.select_nth_unstable_by(k - 1, |a, b| b.total_cmp(a));
            *kth
        }
        _ => f64::NEG_INFINITY,
    };
    let max = logits.iter().fold(f32::NEG_INFINITY, |m, &x| m.max(x)) as f64;
    probs.clear();
    probs.extend(logits.iter().map(|&x| {
        let x = x as f64;
        if x >= cutoff {
            ((x - max) / opts.temperature).exp()
        } else {
            0.0
        }
    }));
    let total: f64 = probs.iter().sum();
    let mut u = rng.random::<f64>() * total;
    for (i, &p) in probs.iter().enumerate() {
        if u < p {
            return i as u32;
        }
        u -= p;
    }
    // Rounding left u just above the last bucket: take the last possible one.
    probs.iter().rposition(|&p| p > 0.0).unwrap_or(0) as u32
}

/// The tokens a sample starts from: the START marker of a word model,
/// then [`lead`] (an empty one starts from a newline, or the first
/// vocabulary character if there is no newline), once the
/// settings are checked (a language model's read-out, one output per
/// vocabulary character, the options, the length).
fn start_context(
    vocab: &CharVocab,
    prime: &str,
    config: &NetConfig,
    opts: &SampleOptions,
    length: usize,
) -> Result<Vec<u32>> {
    opts.validate()?;
    check::between("the sample length", length, 0, MAX_LENGTH)?;
    if config.readout != Readout::ManyToMany {
        return Err(Error::Config(
            "sampling needs a many-to-many (language) model".into(),
        ));
    }
    if config.output_size != vocab.len() {
        return Err(Error::Config(format!(
            "the model has {} outputs but the vocabulary {} characters: sample with the vocabulary saved with the model",
            config.output_size,
            vocab.len()
        )));
    }
    let mut context = Vec::new();
    if let Some(start) = vocab.id(START) {
        context.push(start);
    }
    context.extend(vocab.encode(&lead(vocab, prime))?);
    if context.is_empty() {
        context.push(vocab.id('\n').unwrap_or(0));
    }
    Ok(context)
}

/// The text a sample after `prime` reads before it draws: `prime`, or for
/// an empty prime the [opening](CharVocab::opening) of the model's
/// training text where it is known (and the vocabulary has no START
/// marker). A model trained on running text sees a zero state only at
/// the start of a pass, at that character; from a zero state at any other
/// character a small model can fall into a loop it never met in training
/// (a vanilla RNN of the default command did: capitals without end).
/// Printing a sample, print this before what [`generate`] returns.
pub fn lead(vocab: &CharVocab, prime: &str) -> String {
    match vocab.opening() {
        Some(c) if prime.is_empty() && vocab.id(START).is_none() => c.to_string(),
        _ => prime.to_string(),
    }
}

/// The most characters [`generate`] writes in one call.
pub const MAX_LENGTH: usize = 10_000_000;

/// Generate `length` (at most [`MAX_LENGTH`]) characters after `prime` (an
/// empty prime starts from the training text's opening, see [`lead`], else
/// from a newline, or the first vocabulary character if there is no
/// newline). Returns only the generated characters. A word model (vocabulary with
/// markers) starts after its START marker and stops at END.
pub fn generate(
    rnn: &VanillaRnn<f32>,
    vocab: &CharVocab,
    prime: &str,
    length: usize,
    opts: &SampleOptions,
    seed: u64,
) -> Result<String> {
    let context = start_context(vocab, prime, rnn.config(), opts, length)?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut ws = rnn.workspace();
    let mut cursor = Cursor::after(rnn, &context, &mut ws)?;
    let out = cursor.draw(rnn, &mut ws, length, vocab.id(END), opts, &mut rng)?;
    Ok(vocab.decode(&out))
}

/// A sample in progress on the CPU: the recurrent state after the tokens
/// read so far, `h (state_len)`, and the logits of the next token,
/// `logits (V)`.
#[derive(Clone, Debug)]
struct Cursor {
    h: Vec<f32>,
    logits: Vec<f32>,
    /// Scratch space for [`pick`].
    probs: Vec<f64>,
}

impl Cursor {
    /// Read `context (T)` from the zero state.
    fn after(net: &Net<f32>, context: &[u32], ws: &mut NetWorkspace<f32>) -> Result<Self> {
        net.forward(SeqInput::Tokens(context), None, context.len(), 1, ws)?;
        let v = net.config().output_size;
        let outputs = ws.outputs();
        Ok(Cursor {
            h: ws.final_state().to_vec(),
            logits: outputs[outputs.len() - v..].to_vec(),
            probs: Vec::with_capacity(v),
        })
    }

    /// Draw up to `length` tokens, each fed back into the model, stopping
    /// before the first `end` (which is not returned).
    fn draw<R: Rng>(
        &mut self,
        net: &Net<f32>,
        ws: &mut NetWorkspace<f32>,
        length: usize,
        end: Option<u32>,
        opts: &SampleOptions,
        rng: &mut R,
    ) -> Result<Vec<u32>> {
        let mut out = Vec::with_capacity(length);
        for _ in 0..length {
            let next = pick(&self.logits, opts, rng, &mut self.probs);
            if Some(next) == end {
                break;
            }
            out.push(next);
            net.forward(SeqInput::Tokens(&[next]), Some(&self.h), 1, 1, ws)?;
            self.h.copy_from_slice(ws.final_state());
            self.logits.copy_from_slice(ws.outputs());
        }
        Ok(out)
    }
}

/// [`generate`] on backend `k`'s model with every draw on the backend: the
/// prime runs as one block, then each step samples its token where the
/// logits are ([`Backend::sample_token`], with the counter-based generator
/// keyed by `seed`) and feeds it back as a one-hot row; the tokens come back
/// to the host once, at the end. The same seed gives the same text on every
/// backend (up to float rounding at the edge of a draw), though not the
/// text [`generate`] gives: it draws from another generator.
pub fn generate_on<K: Backend<f32>>(
    net: &Net<f32, K>,
    vocab: &CharVocab,
    prime: &str,
    length: usize,
    opts: &SampleOptions,
    seed: u64,
) -> Result<String> {
    let context = start_context(vocab, prime, net.config(), opts, length)?;
    let (k, v) = (net.backend(), vocab.len());
    let mut ws = net.workspace();
    let batch = Batch::new(SeqInput::Tokens(&context), context.len(), 1);
    net.forward_batch(&batch, &mut ws, None)?;
    let buf = |n| {
        let mut b = K::Buf::default();
        k.resize(&mut b, n);
        b
    };
    let (mut state, mut onehot, mut tokens) = (buf(net.config().state_len(1)), buf(v), buf(length));
    k.copy(ws.final_state(), K::view_mut(&mut state));
    let draw = Draw {
        temperature: opts.temperature as f32,
        top_k: opts.top_k.unwrap_or(0),
        greedy: opts.greedy,
    };
    for step in 0..length {
        let outputs = ws.outputs();
        let logits = outputs.sub(outputs.len() - v..outputs.len());
        let token = K::view_mut(&mut tokens).sub(step..step + 1);
        k.sample_token(
            logits,
            draw,
            (seed, step as u32),
            token,
            K::view_mut(&mut onehot),
        );
        net.forward_one_hot(K::view(&onehot), (1, 1), Some(K::view(&state)), &mut ws)?;
        k.copy(ws.final_state(), K::view_mut(&mut state));
    }
    let drawn = to_host(k, K::view(&tokens));
    k.check()?;
    let end = vocab.id(END);
    let out: Vec<u32> = drawn
        .iter()
        .map(|&t| t as u32)
        .take_while(|&t| Some(t) != end)
        .collect();
    Ok(vocab.decode(&out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_vocabulary_of_another_size_is_refused() {
        let vocab = CharVocab::from_text("abc").unwrap();
        let net =
            VanillaRnn::new(crate::RnnConfig::char_lm(5, 4), crate::Init::Uniform, 0).unwrap();
        let e = generate(&net, &vocab, "", 10, &SampleOptions::default(), 0).unwrap_err();
        assert!(e.to_string().contains("5 outputs"), "{e}");
    }

    #[test]
    fn an_empty_prime_reads_the_opening_where_it_is_known() {
        let vocab = CharVocab::from_text("ba\nc").unwrap();
        let mut net =
            VanillaRnn::new(crate::RnnConfig::char_lm(4, 6), crate::Init::Uniform, 3).unwrap();
        // Weights large enough that the start shows in the text.
        net.params.iter_mut().for_each(|w| *w *= 50.0);
        let opts = SampleOptions::default();
        let from = |v: &CharVocab, prime: &str| generate(&net, v, prime, 40, &opts, 5).unwrap();
        assert_eq!(lead(&vocab, ""), "b");
        assert_eq!(lead(&vocab, "ca"), "ca");
        assert_eq!(from(&vocab, ""), from(&vocab, "b"));
        let unknown = vocab.clone().with_opening(None).unwrap();
        assert_eq!(lead(&unknown, ""), "");
        assert_eq!(from(&unknown, ""), from(&vocab, "\n"));
        assert_ne!(from(&vocab, "b"), from(&vocab, "\n"));
    }

    #[test]
    fn greedy_takes_the_argmax() {
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let opts = SampleOptions {
            greedy: true,
            ..Default::default()
        };
        assert_eq!(pick(&[0.1, 3.0, 2.9], &opts, &mut rng, &mut Vec::new()), 1);
    }

    #[test]
    fn top_k_never_picks_outside_the_k_best() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let opts = SampleOptions {
            top_k: Some(2),
            temperature: 5.0,
            greedy: false,
        };
        let logits = [1.0, 0.0, 0.9, 0.8, 0.95];
        for _ in 0..500 {
            let p = pick(&logits, &opts, &mut rng, &mut Vec::new());
            assert!(p == 0 || p == 4, "picked {p}");
        }
    }

    #[test]
    fn low_temperature_concentrates() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let opts = SampleOptions {
            temperature: 0.05,
            ..Default::default()
        };
        let hits = (0..200)
            .filter(|_| pick(&[1.0, 0.5, 0.0], &opts, &mut rng, &mut Vec::new()) == 0)
            .count();
        assert!(hits > 195);
    }
}
