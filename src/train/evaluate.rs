//! Mean losses of a language model: over running text (state carried
//! across windows) and over separate words.

use crate::backend::Backend;
use crate::cell::SeqInput;
use crate::data::{CharStreams, CharVocab, WordBatch};
use crate::error::{Error, Result};
use crate::layer::loss::Target;
use crate::model::{Batch, Net, NetWorkspace};

/// Summed loss and character count of `net` over `tokens`, read as `b`
/// streams of `t`-character windows with the state carried across windows.
pub fn corpus_loss<K: Backend<f32>>(
    net: &Net<f32, K>,
    tokens: &[u32],
    t: usize,
    b: usize,
    ws: &mut NetWorkspace<f32, K>,
) -> Result<(f64, usize)> {
    let streams = CharStreams::new(tokens, t, b, "text")?;
    let (mut inputs, mut targets) = (vec![0; t * b], vec![0; t * b]);
    let mut sum = 0.0;
    // The state carried from window to window stays on the backend.
    let (k, mut state) = (net.backend(), K::Buf::default());
    k.resize(&mut state, net.config().state_len(b));
    for w in 0..streams.windows() {
        streams.window(w, &mut inputs, &mut targets);
        let batch = Batch::new(SeqInput::Tokens(&inputs), t, b);
        let target = Target::Classes(&targets);
        sum += net.loss_from(&batch, Some(K::view(&state)), target, ws)? * (t * b) as f64;
        k.copy(ws.final_state(), K::view_mut(&mut state));
    }
    net.backend().check()?;
    Ok((sum, streams.windows() * t * b))
}

/// Mean loss (nats/char) of a language model over `text`, every character
/// after the first predicted from all before it (batch 1, state carried
/// across chunks of 256 characters).
pub fn evaluate_text<K: Backend<f32>>(
    net: &Net<f32, K>,
    vocab: &CharVocab,
    text: &str,
) -> Result<f64> {
    let tokens = vocab.encode(text)?;
    if tokens.len() < 2 {
        return Err(Error::Data(
            "the text needs at least two characters to evaluate".into(),
        ));
    }
    let mut ws = net.workspace();
    let (k, mut state) = (net.backend(), K::Buf::default());
    k.resize(&mut state, net.config().state_len(1));
    let mut sum = 0.0;
    let n = tokens.len() - 1;
    for start in (0..n).step_by(256) {
        let len = 256.min(n - start);
        let (x, y) = (
            &tokens[start..start + len],
            &tokens[start + 1..start + 1 + len],
        );
        let batch = Batch::new(SeqInput::Tokens(x), len, 1);
        sum +=
            net.loss_from(&batch, Some(K::view(&state)), Target::Classes(y), &mut ws)? * len as f64;
        k.copy(ws.final_state(), K::view_mut(&mut state));
    }
    k.check()?;
    Ok(sum / n as f64)
}

/// Mean loss (nats/char, the end marker included) of a word model over
/// `words`, each word its own sequence after the start marker, 32 words
/// per batch.
pub fn evaluate_words<S: AsRef<str>, K: Backend<f32>>(
    net: &Net<f32, K>,
    vocab: &CharVocab,
    words: &[S],
) -> Result<f64> {
    let seqs = crate::data::prepare_sequences(words, vocab)?;
    let (mut ws, mut batch) = (net.workspace(), WordBatch::default());
    let (sum, count) = words_loss(net, &seqs, 32, &mut ws, &mut batch)?;
    Ok(sum / count.max(1) as f64)
}

/// Summed loss and target count of `net` over the word sequences `seqs`
/// (`(inputs, targets)` each), `b` per batch in their order; `batch` is
/// the reusable padded batch.
pub(crate) fn words_loss<K: Backend<f32>>(
    net: &Net<f32, K>,
    seqs: &[(Vec<u32>, Vec<u32>)],
    b: usize,
    ws: &mut NetWorkspace<f32, K>,
    batch: &mut WordBatch,
) -> Result<(f64, usize)> {
    let (mut sum, mut count) = (0.0, 0);
    for chunk in seqs.chunks(b) {
        batch.fill(&chunk.iter().collect::<Vec<_>>());
        let n = batch.target_count();
        let input = Batch {
            lengths: Some(&batch.lengths),
            ..Batch::new(SeqInput::Tokens(&batch.inputs), batch.t, batch.b)
        };
        sum += net.loss_batch(&input, Target::Classes(&batch.targets), ws)? * n as f64;
        count += n;
    }
    net.backend().check()?;
    Ok((sum, count))
}
