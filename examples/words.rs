//! The notebook's word model: train a character RNN on a word list, then
//! make up new words.
//!
//! `cargo run --release --example words [names.txt]` (one word per line;
//! without a file, a few dozen names).

use recur::prelude::*;

fn main() -> Result<()> {
    let words: Vec<String> = match std::env::args().nth(1) {
        Some(path) => recur::data::read_words(std::path::Path::new(&path))?,
        None => "emma olivia ava isabella sophia mia amelia harper evelyn abigail emily \
                 ella elizabeth camila luna sofia avery mila aria scarlett penelope layla \
                 chloe victoria madison eleanor grace nora riley zoey hannah hazel lily \
                 ellie violet lillian zoe stella aurora natalie emilia everly leah"
            .split_whitespace()
            .map(String::from)
            .collect(),
    };
    let mut model = CharRnn::for_words(&words, 64, 0)?;
    // 300 passes, the words shuffled every pass; the loss every 100.
    model.train_words(&words, 300, 100)?;
    println!("loss on the list: {:.3} nats/char", model.loss(&words)?);
    for seed in 0..10 {
        println!("{}", model.sample("", 20, 0.8, seed)?);
    }
    println!("after 'el': {}", model.predict("el", 10)?);
    Ok(())
}
