//! Reading a corpus and cutting it into char-rnn batches: the token stream is
//! split into B contiguous streams, read T characters at a time, so that the
//! hidden state of stream b carries over from one window to the next
//! (truncated backpropagation through time).

use std::path::Path;

use crate::error::{Error, Result};

/// Read a UTF-8 text file: a missing file, invalid UTF-8 or a text with
/// nothing but white space is an error saying so.
pub fn read_text(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => {
            Error::Data(format!("{}: no such file; check the path", path.display()))
        }
        _ => Error::io(path, e),
    })?;
    parse_text(bytes, &path.display().to_string())
}

/// [`read_text`] on a file's bytes; `name` labels errors (a file name).
pub fn parse_text(bytes: Vec<u8>, name: &str) -> Result<String> {
    let text = String::from_utf8(bytes).map_err(|e| {
        Error::Data(format!(
            "{name}: not valid UTF-8 (bad byte at offset {}); recur reads UTF-8 text, convert the file first (e.g. iconv -t UTF-8)",
            e.utf8_error().valid_up_to()
        ))
    })?;
    if text.trim().is_empty() {
        return Err(Error::Data(format!(
            "{name}: the text is empty or only white space; give a file with some text to learn from"
        )));
    }
    Ok(text)
}

/// Split tokens into a training part and the last `val_frac` for
/// validation.
pub fn split_train_val(tokens: &[u32], val_frac: f64) -> Result<(&[u32], &[u32])> {
    if !(0.0..1.0).contains(&val_frac) {
        return Err(Error::Config(format!(
            "--val-frac must be in [0, 1), got {val_frac}"
        )));
    }
    let n_val = (tokens.len() as f64 * val_frac).round() as usize;
    Ok(tokens.split_at(tokens.len() - n_val))
}

/// A token stream cut into `B` contiguous streams read `T` at a time.
#[derive(Clone, Debug)]
pub struct CharStreams<'a> {
    tokens: &'a [u32],
    t: usize,
    b: usize,
    stream_len: usize,
}

impl<'a> CharStreams<'a> {
    /// Streams over `tokens`; an error if there is not at least one window
    /// of `t + 1` characters in each of the `b` streams.
    pub fn new(tokens: &'a [u32], t: usize, b: usize, what: &str) -> Result<Self> {
        if t == 0 || b == 0 {
            return Err(Error::Config(
                "--seq-len and --batch must be at least 1".into(),
            ));
        }
        let stream_len = tokens.len() / b;
        if stream_len < t + 1 {
            return Err(Error::Data(format!(
                "the {what} has {} characters, too few for {b} stream(s) of seq-len + 1 = {} characters; use a longer text or a smaller --seq-len / --batch",
                tokens.len(),
                t + 1
            )));
        }
        Ok(CharStreams {
            tokens,
            t,
            b,
            stream_len,
        })
    }

    /// Number of windows in one pass over the data.
    pub fn windows(&self) -> usize {
        (self.stream_len - 1) / self.t
    }

    /// Steps T per window.
    pub fn seq_len(&self) -> usize {
        self.t
    }

    /// Streams B.
    pub fn batch(&self) -> usize {
        self.b
    }

    /// Fill `inputs` and `targets` (both `(T, B)`, time-major) with window
    /// `w` (taken modulo [`CharStreams::windows`]).
    pub fn window(&self, w: usize, inputs: &mut [u32], targets: &mut [u32]) {
        let w = w % self.windows();
        for s in 0..self.b {
            let start = s * self.stream_len + w * self.t;
            for step in 0..self.t {
                inputs[step * self.b + s] = self.tokens[start + step];
                targets[step * self.b + s] = self.tokens[start + step + 1];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_contiguous_per_stream() {
        let tokens: Vec<u32> = (0..20).collect();
        let s = CharStreams::new(&tokens, 3, 2, "corpus").unwrap();
        assert_eq!(s.windows(), 3); // streams of 10: windows at 0, 3, 6
        let (mut x, mut y) = (vec![0; 6], vec![0; 6]);
        s.window(1, &mut x, &mut y);
        assert_eq!(x, vec![3, 13, 4, 14, 5, 15]);
        assert_eq!(y, vec![4, 14, 5, 15, 6, 16]);
    }

    #[test]
    fn too_short_is_an_error() {
        let tokens: Vec<u32> = (0..10).collect();
        assert!(CharStreams::new(&tokens, 10, 1, "corpus").is_err());
        assert!(CharStreams::new(&tokens, 9, 1, "corpus").is_ok());
    }
}
