//! Greedy decoding of a whole padded batch where the model lives, for
//! training without teacher forcing: each step's most likely token is
//! chosen on the backend and fed to the next step as a one-hot row, and the
//! tokens come back to the host once, at the end (one round trip on a
//! device, instead of one per step and sequence).

use super::{DecodeWorkspace, PairBatch, Seq2Seq, bridge, gather};
use crate::backend::random::Draw;
use crate::backend::{Backend, Cpu, View, ViewMut};
use crate::cell::SeqInput;
use crate::error::Result;
use crate::model::stack::Batch;
use crate::tensor::Scalar;

/// Buffers of [`Seq2Seq::greedy_batch`], reused.
#[derive(Clone, Debug)]
#[derive_where::derive_where(Default)]
pub struct GreedyWorkspace<S: Scalar, K: Backend<S> = Cpu> {
    /// The encoder's and decoder's workspaces, the attention's and the
    /// output layer's buffers.
    steps: DecodeWorkspace<S, K>,
    /// Each sequence's encoder outputs `(S, E)` (with attention).
    keys: Vec<K::Buf>,
    /// The decoder state the next step starts from (state layout for B).
    state: K::Buf,
    /// The next step's input: one-hot rows `(B, V_target)`.
    onehot: K::Buf,
    /// The chosen tokens, time-major `(T, B)`, as values.
    tokens: K::Buf,
}

impl<S: Scalar, K: Backend<S>> Seq2Seq<S, K> {
    /// The decoder inputs the model would feed itself on `batch`: `(T, B)`
    /// token ids shaped like `batch.tgt_in`, whose first step is
    /// `batch.tgt_in`'s (the start markers) and whose step `s + 1` is, in
    /// every sequence, the most likely token (the first on ties) after
    /// the greedy choices before it. Sources are encoded as one padded
    /// batch; every step of every sequence is decoded (past a sequence's
    /// target length the choices are of no use to training, which masks
    /// them). No dropout.
    pub fn greedy_batch(
        &self,
        batch: &PairBatch<'_>,
        ws: &mut GreedyWorkspace<S, K>,
    ) -> Result<Vec<u32>> {
        self.check(batch)?;
        let (s, t) = batch.steps();
        let (b, v) = (batch.b, self.config.tgt_vocab);
        let (k, params) = (&self.backend, K::view(&self.params));
        let enc = Batch {
            lengths: Some(batch.src_lengths),
            ..Batch::new(SeqInput::Tokens(batch.src), s, b)
        };
        let GreedyWorkspace {
            steps,
            keys,
            state,
            onehot,
            tokens,
        } = ws;
        self.encoder
            .forward(k, params, &enc, &mut steps.enc, None)?;
        k.resize(state, steps.enc.final_state().len());
        bridge(
            k,
            &self.config,
            b,
            steps.enc.final_state(),
            K::view_mut(state),
            false,
        );
        keys.resize_with(b, K::Buf::default);
        if self.attn.is_some() {
            let e = self.config.encoder().output_size();
            for (r, key) in keys.iter_mut().enumerate() {
                gather(k, steps.enc.outputs(), s, b, e, r, key);
            }
        }
        let mut first = vec![S::zero(); b * v];
        for (r, &token) in batch.tgt_in[..b].iter().enumerate() {
            first[r * v + token as usize] = S::one();
        }
        *onehot = k.upload(&first);
        k.resize(tokens, t * b);
        let greedy = Draw {
            temperature: 1.0,
            top_k: 0,
            greedy: true,
        };
        // Each sequence attends over its own keys, up to its length.
        let rows: Vec<_> = keys
            .iter()
            .zip(batch.src_lengths)
            .map(|(key, &n)| (K::view(key), n))
            .collect();
        for step in 1..t {
            let input = K::view(onehot);
            let from = Some(K::view(state));
            self.decoder
                .forward_one_hot(k, params, input, (1, b), from, &mut steps.dec)?;
            k.copy(steps.dec.final_state(), K::view_mut(state));
            self.attend_step(&rows, s, steps);
            for r in 0..b {
                let at = step * b + r;
                k.sample_token(
                    K::view(&steps.ys).sub(r * v..(r + 1) * v),
                    greedy,
                    (0, 0),
                    K::view_mut(tokens).sub(at..at + 1),
                    K::view_mut(onehot).sub(r * v..(r + 1) * v),
                );
            }
        }
        let mut host = vec![S::zero(); t * b];
        if t > 1 {
            k.download(K::view(tokens).sub(b..t * b), &mut host[b..]);
        }
        k.check()?;
        let mut out: Vec<u32> = host.iter().map(|x| x.f64() as u32).collect();
        out[..b].copy_from_slice(&batch.tgt_in[..b]);
        Ok(out)
    }
}
