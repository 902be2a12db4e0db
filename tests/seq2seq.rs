//! Sequence-to-sequence: decoding properties and a short training run.

use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use recur::cell::CellKind;
use recur::data::pairs::{Pair, PairBuffers, PairVocab};
use recur::data::tasks::{Task, split};
use recur::decode::{DecodeOptions, translate};
use recur::layer::attention::Score;
use recur::model::Init;
use recur::model::seq2seq::{PairBatch, Seq2Seq, Seq2SeqConfig};
use recur::optim::{Clip, Optimizer, OptimizerKind};

fn config(vocab: &PairVocab, attention: Option<Score>) -> Seq2SeqConfig {
    Seq2SeqConfig {
        cell: CellKind::Gru,
        src_vocab: vocab.src.len(),
        tgt_vocab: vocab.tgt.len(),
        embed: 16,
        hidden: 32,
        layers: 1,
        bidirectional: true,
        attention,
        attention_size: 32,
    }
}

/// Beam search keeps the greedy hypothesis in play, so it never ends with a
/// lower model log-probability than greedy decoding.
#[test]
fn beam_search_never_scores_worse_than_greedy() {
    let (pairs, _) = split(Task::Dates, 200, 0, 1).unwrap();
    let vocab = PairVocab::from_pairs(&pairs).unwrap();
    for (seed, attention) in [
        (1, Some(Score::Bahdanau)),
        (2, Some(Score::LuongGeneral)),
        (3, None),
    ] {
        let model = Seq2Seq::<f32>::new(config(&vocab, attention), Init::Uniform, seed).unwrap();
        for p in pairs.iter().take(25) {
            let greedy = translate(
                &model,
                &vocab,
                &p.source,
                &DecodeOptions {
                    max_len: 12,
                    ..Default::default()
                },
            )
            .unwrap();
            for beam in [2, 3, 5] {
                let opts = DecodeOptions {
                    beam,
                    max_len: 12,
                    length_alpha: 0.0,
                };
                let b = translate(&model, &vocab, &p.source, &opts).unwrap();
                assert!(
                    b.log_prob >= greedy.log_prob - 1e-9,
                    "beam {beam}: {} < greedy {}",
                    b.log_prob,
                    greedy.log_prob
                );
            }
            if attention.is_some() {
                assert_eq!(greedy.attention.len(), greedy.tokens.len());
                for row in &greedy.attention {
                    assert_eq!(row.len(), p.source.chars().count());
                    assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-4);
                }
            }
        }
    }
}

/// A small attention model learns to reverse short strings in seconds.
#[test]
fn attention_model_learns_to_reverse() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let word = |rng: &mut ChaCha8Rng| -> String {
        (0..rng.random_range(3..=6))
            .map(|_| char::from(b'a' + rng.random_range(0..6u8)))
            .collect()
    };
    let mut pairs: Vec<Pair> = (0..3000)
        .map(|_| word(&mut rng))
        .map(|w| Pair::new(w.clone(), w.chars().rev().collect::<String>()))
        .collect();
    let test = pairs.split_off(2800);
    let vocab = PairVocab::from_pairs(&pairs).unwrap();
    let mut model =
        Seq2Seq::<f32>::new(config(&vocab, Some(Score::LuongGeneral)), Init::Uniform, 4).unwrap();
    let mut opt = Optimizer::new(
        OptimizerKind::Adam {
            beta1: 0.9,
            beta2: 0.999,
        },
        // At 1e-2 a loss spike now and then left the seed here at 173/200
        // or 200/200 by the rounding of its products; at 5e-3 six seeds
        // reached 200/200 with either of two product kernels.
        5e-3,
        model.params.len(),
    )
    .unwrap();
    let (mut ws, mut grads, mut buf) = (
        model.workspace(),
        model.zero_grads(),
        PairBuffers::default(),
    );
    for _ in 0..15 {
        pairs.shuffle(&mut rng);
        for chunk in pairs.chunks(32) {
            buf.fill(&chunk.iter().collect::<Vec<_>>(), &vocab).unwrap();
            let batch = PairBatch {
                b: buf.b,
                src: &buf.src,
                src_lengths: &buf.src_lengths,
                tgt_in: &buf.tgt_in,
                tgt_lengths: &buf.tgt_lengths,
            };
            grads.fill(0.0);
            model
                .loss_and_grad(&batch, &buf.tgt_out, &mut ws, &mut grads)
                .unwrap();
            Clip::GlobalNorm(5.0).apply(&mut grads);
            opt.step(&mut model.params, &grads);
        }
    }
    let opts = DecodeOptions {
        max_len: 10,
        ..Default::default()
    };
    let right = test
        .iter()
        .filter(|p| translate(&model, &vocab, &p.source, &opts).unwrap().text == p.target)
        .count();
    assert!(
        right >= 180,
        "{right}/200 held-out strings reversed exactly"
    );
}

/// Padding changes nothing: a pair trained alone gives the same loss and
/// gradients as the same pair inside a batch with a longer one whose
/// targets are ignored.
#[test]
fn padding_changes_neither_loss_nor_gradients() {
    use recur::IGNORE;
    let pairs = [Pair::new("abc", "xy"), Pair::new("abcdea", "yxxyz")];
    let vocab = PairVocab::from_pairs(&pairs).unwrap();
    for attention in [
        None,
        Some(Score::LuongDot),
        Some(Score::LuongGeneral),
        Some(Score::Bahdanau),
    ] {
        let model = Seq2Seq::<f64>::new(
            Seq2SeqConfig {
                hidden: 4,
                embed: 3,
                attention_size: 5,
                ..config(&vocab, attention)
            },
            Init::Uniform,
            9,
        )
        .unwrap();
        let mut ws = model.workspace();
        let run = |which: &[&Pair], ignore_second: bool, ws: &mut _| {
            let mut buf = PairBuffers::default();
            buf.fill(which, &vocab).unwrap();
            if ignore_second {
                for (i, t) in buf.tgt_out.iter_mut().enumerate() {
                    if i % 2 == 1 {
                        *t = IGNORE;
                    }
                }
            }
            let batch = PairBatch {
                b: buf.b,
                src: &buf.src,
                src_lengths: &buf.src_lengths,
                tgt_in: &buf.tgt_in,
                tgt_lengths: &buf.tgt_lengths,
            };
            let mut grads = model.zero_grads();
            let loss = model
                .loss_and_grad(&batch, &buf.tgt_out, ws, &mut grads)
                .unwrap();
            (loss, grads)
        };
        let (l1, g1) = run(&[&pairs[0]], false, &mut ws);
        let (l2, g2) = run(&[&pairs[0], &pairs[1]], true, &mut ws);
        assert!((l1 - l2).abs() < 1e-12, "{attention:?}: loss {l1} vs {l2}");
        for (a, b) in g1.iter().zip(&g2) {
            assert!((a - b).abs() < 1e-12, "{attention:?}: gradient {a} vs {b}");
        }
    }
}
