//! The notebook API (`CharRnn`): word lists train the same in any order,
//! and new words can be sampled.

use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use recur::CharRnn;

/// `n` made-up words of two or three consonant-vowel syllables, sorted.
/// Words starting with b to m use the vowels a and e, the others i, o and
/// u: sorted, each half of the list speaks its own dialect.
fn sorted_words(n: usize) -> Vec<String> {
    let cons = "bdklmnprst".as_bytes();
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let mut words: Vec<String> = (0..n)
        .map(|_| {
            let first = cons[rng.random_range(0..cons.len())];
            let vows = if first <= b'm' { "ae" } else { "iou" }.as_bytes();
            let mut w = String::new();
            for k in 0..rng.random_range(2..4) {
                let c = if k == 0 {
                    first
                } else {
                    cons[rng.random_range(0..cons.len())]
                };
                w.push(c as char);
                w.push(vows[rng.random_range(0..vows.len())] as char);
            }
            w
        })
        .collect();
    words.sort();
    words
}

#[test]
fn a_sorted_word_list_trains_as_well_as_a_shuffled_one() {
    let sorted = sorted_words(600);
    let mut shuffled = sorted.clone();
    shuffled.shuffle(&mut ChaCha8Rng::seed_from_u64(9));
    // Train on the list as given, then measure on all of it.
    let final_loss = |words: &[String]| {
        let mut model = CharRnn::for_words(words, 32, 3).unwrap();
        model.train_words(words, 4, 0).unwrap();
        model.loss(&sorted).unwrap()
    };
    let (a, b) = (final_loss(&sorted), final_loss(&shuffled));
    // In order, each update sees words of one initial letter only and the
    // model chases the last few letters it saw; shuffled each epoch, the
    // order of the file does not matter.
    assert!((a - b).abs() < 0.03 * b, "sorted {a:.4} vs shuffled {b:.4}");
}

#[test]
fn sampled_words_come_from_the_training_language() {
    let words = sorted_words(400);
    let mut model = CharRnn::for_words(&words, 32, 1).unwrap();
    model.train_words(&words, 8, 0).unwrap();
    let samples: Vec<String> = (0..20)
        .map(|seed| model.sample("", 12, 0.8, seed).unwrap())
        .collect();
    // Same seed, same word; different seeds, different words.
    assert_eq!(samples[3], model.sample("", 12, 0.8, 3).unwrap());
    let distinct: std::collections::BTreeSet<_> = samples.iter().collect();
    assert!(distinct.len() >= 10, "{samples:?}");
    for w in &samples {
        assert!(w.chars().all(|c| "bdklmnprstaeiou".contains(c)), "{w:?}");
    }
    let non_empty = samples.iter().filter(|w| w.len() >= 4).count();
    assert!(non_empty >= 15, "{samples:?}");
    // Most samples alternate consonants and vowels, as every training word does.
    let alternating = samples
        .iter()
        .filter(|w| {
            w.chars()
                .enumerate()
                .all(|(i, c)| "aeiou".contains(c) == (i % 2 == 1))
        })
        .count();
    assert!(alternating >= 14, "{samples:?}");
    let primed = model.sample("ka", 12, 0.8, 0).unwrap();
    assert!(primed.starts_with("ka"), "{primed}");
}
