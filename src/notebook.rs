//! [`CharRnn`]: the vanilla RNN the way a classroom notebook uses it: build
//! it from a word list, `train_words`, `predict`, `sample` new words.
//!
//! ```
//! use recur::CharRnn;
//! let words = ["hello"];
//! let mut model = CharRnn::for_words(&words, 32, 0).unwrap();
//! let losses = model.train_words(&words, 150, 50).unwrap(); // prints every 50 epochs
//! assert!(losses[149] < 0.05 && losses[149] < losses[0]);
//! assert_eq!(model.predict("h", 10).unwrap(), "ello");
//! assert_eq!(model.sample("", 20, 0.5, 1).unwrap(), "hello");
//! ```

use crate::backend::Activation;
use crate::cell::SeqInput;
use crate::data::words::word_vocab;
use crate::data::{CharVocab, WordBatch, prepare_sequences};
use crate::error::{Error, Result};
use crate::layer::loss::Target;
use crate::model::{Init, RnnConfig, VanillaRnn};
use crate::optim::{Clip, Optimizer, OptimizerKind};
use crate::sample::{SampleOptions, generate};

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

/// Words per update in [`CharRnn::train_words`].
const WORDS_PER_STEP: usize = 32;

/// A character-level vanilla RNN with its vocabulary and optimizer.
pub struct CharRnn {
    /// The network (`Wxh`, `Whh`, `bh`, `Why`, `by`).
    pub rnn: VanillaRnn<f32>,
    /// Its characters, with the start/end-of-word markers.
    pub vocab: CharVocab,
    optimizer: Optimizer<f32>,
    clip: Clip,
    /// Shuffles the words every epoch; seeded with the model's seed.
    rng: ChaCha8Rng,
}

impl CharRnn {
    /// A model for these words: tanh, hidden size `hidden`, PyTorch's init,
    /// Adam (lr 0.01) with gradients clipped to ±5. `seed` decides the
    /// initial weights and the order of the words in training.
    pub fn for_words<S: AsRef<str>>(words: &[S], hidden: usize, seed: u64) -> Result<Self> {
        let vocab = word_vocab(words)?;
        let config = RnnConfig {
            activation: Activation::Tanh,
            ..RnnConfig::char_lm(vocab.len(), hidden)
        };
        let rnn = VanillaRnn::new(config, Init::Uniform, seed)?;
        CharRnn::from_model(rnn, vocab, seed)
    }

    /// The notebook's training on a model built elsewhere (any cell, size
    /// and depth, e.g. a trained or loaded one): `net` with its vocabulary
    /// `vocab`, which must have the word markers (see
    /// [`crate::data::words::word_vocab`]). Adam (lr 0.01), gradients
    /// clipped to ±5; `seed` orders the words.
    pub fn from_model(net: VanillaRnn<f32>, vocab: CharVocab, seed: u64) -> Result<Self> {
        if !vocab.has_markers() {
            return Err(Error::Vocab(
                "this model reads running text; word training needs a model built for words (its vocabulary has start and end markers)".into(),
            ));
        }
        let optimizer = Optimizer::new(
            OptimizerKind::from_name("adam", 0.0)?,
            0.01,
            net.params.len(),
        )?;
        Ok(CharRnn {
            rnn: net,
            vocab,
            optimizer,
            clip: Clip::Elementwise(5.0),
            rng: ChaCha8Rng::seed_from_u64(seed),
        })
    }

    /// The network and its vocabulary.
    pub fn into_model(self) -> (VanillaRnn<f32>, CharVocab) {
        (self.rnn, self.vocab)
    }

    /// Use another optimizer and learning rate (state starts afresh).
    pub fn set_optimizer(&mut self, kind: OptimizerKind, lr: f64) -> Result<()> {
        self.optimizer = Optimizer::new(kind, lr, self.rnn.params.len())?;
        Ok(())
    }

    /// Train for `epochs` passes over `words`, 32 words per update, the
    /// words shuffled afresh every epoch (by a generator seeded with the
    /// model's seed, so a run is reproducible; a sorted list trains as well
    /// as a shuffled one); print the loss every `print_interval` epochs
    /// (0: never). Returns each epoch's mean loss in nats per character.
    pub fn train_words<S: AsRef<str>>(
        &mut self,
        words: &[S],
        epochs: usize,
        print_interval: usize,
    ) -> Result<Vec<f64>> {
        let seqs = prepare_sequences(words, &self.vocab)?;
        let mut ws = self.rnn.workspace();
        let mut grads = self.rnn.zero_grads();
        let mut batch = WordBatch::default();
        let mut losses = Vec::with_capacity(epochs);
        let mut order: Vec<usize> = (0..seqs.len()).collect();
        for epoch in 1..=epochs {
            let (mut sum, mut chars) = (0.0, 0);
            order.shuffle(&mut self.rng);
            for group in order.chunks(WORDS_PER_STEP) {
                batch.fill(&group.iter().map(|&i| &seqs[i]).collect::<Vec<_>>());
                grads.fill(0.0);
                let x = SeqInput::Tokens(&batch.inputs);
                let loss = self.rnn.loss_and_grad(
                    x,
                    None,
                    batch.t,
                    batch.b,
                    Target::Classes(&batch.targets),
                    &mut ws,
                    &mut grads,
                )?;
                if !self.clip.apply(&mut grads) {
                    return Err(Error::Diverged(format!(
                        "training diverged in epoch {epoch}: a gradient is not finite; lower the learning rate"
                    )));
                }
                self.optimizer.step(&mut self.rnn.params, &grads);
                let n = batch.target_count();
                sum += loss * n as f64;
                chars += n;
            }
            let mean = sum / chars.max(1) as f64;
            if print_interval > 0 && epoch % print_interval == 0 {
                println!("epoch {epoch}: loss {mean:.4} nats/char");
            }
            losses.push(mean);
        }
        Ok(losses)
    }

    /// Mean loss over `words` (nats per character, the end marker
    /// included), each word its own sequence, without training.
    pub fn loss<S: AsRef<str>>(&self, words: &[S]) -> Result<f64> {
        crate::train::evaluate_words(&self.rnn, &self.vocab, words)
    }

    /// Continue `seed_text` (read after the start-of-word marker) with up to
    /// `length` most likely characters, stopping at the end of the word.
    /// Returns only the new characters.
    pub fn predict(&self, seed_text: &str, length: usize) -> Result<String> {
        let greedy = SampleOptions {
            greedy: true,
            ..SampleOptions::default()
        };
        generate(&self.rnn, &self.vocab, seed_text, length, &greedy, 0)
    }

    /// Sample a new word: start after the start-of-word marker and
    /// `prefix`, draw characters at `temperature` (lower: safer choices)
    /// until the end-of-word marker or `max_len` characters. Returns the
    /// word with its prefix; the same `seed` gives the same word.
    pub fn sample(
        &self,
        prefix: &str,
        max_len: usize,
        temperature: f64,
        seed: u64,
    ) -> Result<String> {
        let opts = SampleOptions {
            temperature,
            ..SampleOptions::default()
        };
        let rest = generate(&self.rnn, &self.vocab, prefix, max_len, &opts, seed)?;
        Ok(format!("{prefix}{rest}"))
    }
}
