//! Decoding a sequence-to-sequence model: greedy and beam search, stopping
//! at the end marker or a maximum length, with the attention weights of the
//! chosen output.

use crate::backend::{Backend, to_host};
use crate::check;
use crate::data::pairs::PairVocab;
use crate::error::{Error, Result};
use crate::model::seq2seq::{DecodeWorkspace, Encoded, Seq2Seq, select_rows};

/// One decoded output.
#[derive(Clone, Debug, PartialEq)]
pub struct Translation {
    /// The output text (markers dropped).
    pub text: String,
    /// Its token ids, END included when it was produced.
    pub tokens: Vec<u32>,
    /// Model log-probability of `tokens`.
    pub log_prob: f64,
    /// Per output token, its attention over the source `(S)` (empty rows
    /// without attention).
    pub attention: Vec<Vec<f32>>,
}

/// How to search.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DecodeOptions {
    /// Beam width; 1 is greedy.
    pub beam: usize,
    /// Stop after this many tokens.
    pub max_len: usize,
    /// Rank finished hypotheses by `log p / len^alpha` (0: raw log p).
    pub length_alpha: f64,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        DecodeOptions {
            beam: 1,
            max_len: 100,
            length_alpha: 0.0,
        }
    }
}

/// The widest beam [`translate`] searches.
pub const MAX_BEAM: usize = 1000;
/// The longest output [`translate`] writes.
pub const MAX_LEN: usize = 100_000;

impl DecodeOptions {
    /// Check the settings: `--beam` in 1..=[`MAX_BEAM`], `--max-len` in
    /// 1..=[`MAX_LEN`], `--length-alpha` a finite number >= 0.
    pub fn validate(&self) -> Result<()> {
        check::between("--beam", self.beam, 1, MAX_BEAM)?;
        check::between("--max-len", self.max_len, 1, MAX_LEN)?;
        check::non_negative("--length-alpha", self.length_alpha)
    }
}

/// A partial output.
#[derive(Clone, Debug)]
struct Hyp {
    tokens: Vec<u32>,
    log_prob: f64,
    attention: Vec<Vec<f32>>,
    done: bool,
}

impl Hyp {
    fn score(&self, alpha: f64) -> f64 {
        self.log_prob / (self.tokens.len().max(1) as f64).powf(alpha)
    }
}

/// Log-softmax of one row of logits.
fn log_softmax(row: &[f32]) -> Vec<f64> {
    let max = row.iter().fold(f32::NEG_INFINITY, |m, &x| m.max(x)) as f64;
    let sum: f64 = row.iter().map(|&x| (x as f64 - max).exp()).sum();
    row.iter().map(|&x| x as f64 - max - sum.ln()).collect()
}

/// Translate `input` (characters of the source vocabulary).
pub fn translate<K: Backend<f32>>(
    model: &Seq2Seq<f32, K>,
    vocab: &PairVocab,
    input: &str,
    opts: &DecodeOptions,
) -> Result<Translation> {
    opts.validate()?;
    let src = vocab.src.encode(input)?;
    let mut ws = DecodeWorkspace::default();
    let enc = model.encode(&src, &mut ws)?;
    let greedy = search(model, vocab, &enc, 1, opts, &mut ws)?;
    model.backend().check()?;
    if opts.beam == 1 {
        return Ok(finish(greedy, vocab));
    }
    let beam = search(model, vocab, &enc, opts.beam, opts, &mut ws)?;
    // Beam search can prune the greedy path; keep whichever ranks higher, so
    // a wider beam is never worse than greedy.
    let best = if beam.score(opts.length_alpha) >= greedy.score(opts.length_alpha) {
        beam
    } else {
        greedy
    };
    Ok(finish(best, vocab))
}

fn finish(h: Hyp, vocab: &PairVocab) -> Translation {
    Translation {
        text: vocab.tgt.decode(&h.tokens),
        tokens: h.tokens,
        log_prob: h.log_prob,
        attention: h.attention,
    }
}

/// Beam search of width `k` (greedy for 1).
fn search<K: Backend<f32>>(
    model: &Seq2Seq<f32, K>,
    vocab: &PairVocab,
    enc: &Encoded<f32, K>,
    k: usize,
    opts: &DecodeOptions,
    ws: &mut DecodeWorkspace<f32, K>,
) -> Result<Hyp> {
    // The hypotheses are ranked on the host: each step's logits, states and
    // attention weights come back.
    let kb = model.backend();
    let (start, end) = (vocab.start(), vocab.end());
    let n = model.config().encoder_output_size();
    let mut beams = vec![Hyp {
        tokens: Vec::new(),
        log_prob: 0.0,
        attention: Vec::new(),
        done: false,
    }];
    let mut states = to_host(kb, K::view(&enc.state));
    for _ in 0..opts.max_len {
        let live: Vec<usize> = (0..beams.len()).filter(|&i| !beams[i].done).collect();
        if live.is_empty() {
            break;
        }
        let tokens: Vec<u32> = live
            .iter()
            .map(|&i| *beams[i].tokens.last().unwrap_or(&start))
            .collect();
        let live_states = select_rows(&states, beams.len(), n, &live);
        model.decode_step(enc, &tokens, &live_states, ws)?;
        let v = model.config().tgt_vocab;
        let logits = to_host(kb, ws.logits());
        let lps: Vec<Vec<f64>> = logits.chunks_exact(v).map(log_softmax).collect();
        // Candidates: finished beams carry over; live ones extend by each token.
        let mut cands: Vec<(f64, usize, Option<u32>)> = Vec::new();
        for (i, h) in beams.iter().enumerate().filter(|(_, h)| h.done) {
            cands.push((h.score(opts.length_alpha), i, None));
        }
        for (row, &i) in live.iter().enumerate() {
            let lp = &lps[row];
            let mut order: Vec<usize> = (0..v).collect();
            order.sort_by(|&a, &b| lp[b].total_cmp(&lp[a]));
            for &tok in order.iter().take(k) {
                let h = &beams[i];
                let len = (h.tokens.len() + 1) as f64;
                cands.push((
                    (h.log_prob + lp[tok]) / len.powf(opts.length_alpha),
                    i,
                    Some(tok as u32),
                ));
            }
        }
        cands.sort_by(|a, b| b.0.total_cmp(&a.0));
        cands.truncate(k);
        let new_state = to_host(kb, ws.state());
        let mut next = Vec::with_capacity(k);
        let mut rows = Vec::with_capacity(k);
        for &(_, i, tok) in &cands {
            let mut h = beams[i].clone();
            match tok {
                None => rows.push(usize::MAX),
                Some(tok) => {
                    let row = live
                        .iter()
                        .position(|&j| j == i)
                        .expect("extended from a live beam");
                    h.log_prob += lps[row][tok as usize];
                    h.tokens.push(tok);
                    let attention = ws.attention(row).map(|a| to_host(kb, a));
                    h.attention.push(attention.unwrap_or_default());
                    h.done = tok == end;
                    rows.push(row);
                }
            }
            next.push(h);
        }
        // States of the new beams: from this step's rows (finished beams keep
        // a placeholder row; they are never extended again).
        let fill: Vec<usize> = rows
            .iter()
            .map(|&r| if r == usize::MAX { 0 } else { r })
            .collect();
        states = select_rows(&new_state, live.len(), n, &fill);
        beams = next;
    }
    beams
        .into_iter()
        .max_by(|a, b| {
            a.score(opts.length_alpha)
                .total_cmp(&b.score(opts.length_alpha))
        })
        .ok_or_else(|| Error::Config("beam search produced no hypothesis".into()))
}
