//! Parallel text for sequence-to-sequence models: one `source<TAB>target`
//! pair per line.

use std::path::Path;

use super::corpus::read_text;
use super::vocab::{CharVocab, END, START};
use crate::backend::IGNORE;
use crate::check;
use crate::error::{Error, Result};

/// A source sequence and the target it should become.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Pair {
    /// What the encoder reads.
    pub source: String,
    /// What the decoder should write.
    pub target: String,
}

impl Pair {
    /// A pair from two strings.
    pub fn new(source: impl Into<String>, target: impl Into<String>) -> Self {
        Pair {
            source: source.into(),
            target: target.into(),
        }
    }
}

/// `(S, T)`: the most steps a batch of `pairs` can take: the longest
/// source, and the longest target with its END marker.
pub fn longest_steps(pairs: &[Pair]) -> (usize, usize) {
    pairs.iter().fold((0, 0), |(s, t), p| {
        (
            s.max(p.source.chars().count()),
            t.max(p.target.chars().count() + 1),
        )
    })
}

/// Read a pairs file (UTF-8, one `source<TAB>target` per line; blank lines
/// are skipped; a trailing `\r` is dropped).
pub fn read_pairs(path: &Path) -> Result<Vec<Pair>> {
    parse_pairs(&read_text(path)?, &path.display().to_string())
}

/// Parse pairs from text; `name` labels errors (a file name). A line without
/// a tab, or with an empty side, is an error naming the line.
pub fn parse_pairs(text: &str, name: &str) -> Result<Vec<Pair>> {
    let mut pairs = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            continue;
        }
        let n = i + 1;
        let Some((source, target)) = line.split_once('\t') else {
            return Err(Error::Data(format!(
                "{name}:{n}: no tab on this line; each line must be source<TAB>target"
            )));
        };
        if source.is_empty() || target.is_empty() {
            let side = if source.is_empty() {
                "source"
            } else {
                "target"
            };
            return Err(Error::Data(format!(
                "{name}:{n}: the {side} is empty; both sides of the tab need text"
            )));
        }
        pairs.push(Pair::new(source, target));
    }
    if pairs.is_empty() {
        return Err(Error::Data(format!(
            "{name}: no pairs; give lines of source<TAB>target"
        )));
    }
    Ok(pairs)
}

/// Split `pairs` into training pairs and the last `frac` of them held out
/// (rounded; at least one pair stays for training). `frac` is `--val-frac`
/// and must be in `[0, 1)`.
pub fn hold_out(mut pairs: Vec<Pair>, frac: f64) -> Result<(Vec<Pair>, Vec<Pair>)> {
    check::fraction("--val-frac", frac)?;
    let n_test = ((pairs.len() as f64 * frac).round() as usize).min(pairs.len().saturating_sub(1));
    let test = pairs.split_off(pairs.len() - n_test);
    Ok((pairs, test))
}

/// The source and target vocabularies of a pair set; the target's has the
/// START and END markers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PairVocab {
    /// Characters of the sources.
    pub src: CharVocab,
    /// Characters of the targets, plus START and END.
    pub tgt: CharVocab,
}

impl PairVocab {
    /// The vocabularies of `pairs`.
    pub fn from_pairs(pairs: &[Pair]) -> Result<Self> {
        let src: String = pairs.iter().map(|p| p.source.as_str()).collect();
        let mut tgt: String = pairs.iter().map(|p| p.target.as_str()).collect();
        if tgt.contains(START) || tgt.contains(END) {
            return Err(Error::Data(
                "targets may not contain the control characters U+0002 / U+0003".into(),
            ));
        }
        tgt.push(START);
        tgt.push(END);
        Ok(PairVocab {
            src: CharVocab::from_text(&src)?,
            tgt: CharVocab::from_text(&tgt)?,
        })
    }

    /// START's id in the target vocabulary.
    pub fn start(&self) -> u32 {
        self.tgt.id(START).expect("built with markers")
    }

    /// END's id in the target vocabulary.
    pub fn end(&self) -> u32 {
        self.tgt.id(END).expect("built with markers")
    }
}

/// Token buffers of a padded batch of pairs, time-major: `src (S, B)`,
/// `tgt_in (T, B)` = START + target, `tgt_out (T, B)` = target + END
/// (`IGNORE` at padding), with the lengths.
#[derive(Clone, Debug, Default)]
pub struct PairBuffers {
    /// B.
    pub b: usize,
    /// `(S, B)` source ids (0 at padding).
    pub src: Vec<u32>,
    /// `(B)`.
    pub src_lengths: Vec<usize>,
    /// `(T, B)` decoder inputs.
    pub tgt_in: Vec<u32>,
    /// `(T, B)` decoder targets.
    pub tgt_out: Vec<u32>,
    /// `(B)` target lengths including END.
    pub tgt_lengths: Vec<usize>,
}

impl PairBuffers {
    /// Encode `pairs` into the buffers (reusing them); characters outside
    /// the vocabularies are an error naming them.
    pub fn fill(&mut self, pairs: &[&Pair], vocab: &PairVocab) -> Result<()> {
        let b = pairs.len();
        let srcs = pairs
            .iter()
            .map(|p| vocab.src.encode(&p.source))
            .collect::<Result<Vec<_>>>()?;
        let tgts = pairs
            .iter()
            .map(|p| vocab.tgt.encode(&p.target))
            .collect::<Result<Vec<_>>>()?;
        let s = srcs.iter().map(Vec::len).max().unwrap_or(0);
        let t = tgts.iter().map(Vec::len).max().unwrap_or(0) + 1;
        self.b = b;
        self.src_lengths = srcs.iter().map(Vec::len).collect();
        self.tgt_lengths = tgts.iter().map(|x| x.len() + 1).collect();
        self.src.clear();
        self.tgt_in.clear();
        self.tgt_out.clear();
        for step in 0..s {
            self.src
                .extend(srcs.iter().map(|x| x.get(step).copied().unwrap_or(0)));
        }
        let (start, end) = (vocab.start(), vocab.end());
        for step in 0..t {
            for x in &tgts {
                let input = if step == 0 {
                    Some(start)
                } else {
                    x.get(step - 1).copied()
                };
                let out = match step.cmp(&x.len()) {
                    std::cmp::Ordering::Less => x[step],
                    std::cmp::Ordering::Equal => end,
                    std::cmp::Ordering::Greater => IGNORE,
                };
                self.tgt_in.push(input.unwrap_or(end));
                self.tgt_out.push(out);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hold_out_takes_the_last_fraction_and_checks_it() {
        let pairs: Vec<Pair> = (0..10).map(|i| Pair::new(format!("{i}"), "x")).collect();
        let (train, test) = hold_out(pairs.clone(), 0.2).unwrap();
        assert_eq!((train.len(), test.len()), (8, 2));
        assert_eq!(test[1].source, "9");
        assert_eq!(hold_out(pairs.clone(), 0.0).unwrap().1.len(), 0);
        assert_eq!(hold_out(pairs[..1].to_vec(), 0.9).unwrap().0.len(), 1);
        for bad in [1.0, 1.5, -0.5, f64::NAN, f64::INFINITY] {
            let e = hold_out(pairs.clone(), bad).unwrap_err().to_string();
            assert!(e.starts_with("--val-frac must be in [0, 1)"), "{e}");
        }
    }

    #[test]
    fn buffers_pad_and_mark() {
        let pairs = [Pair::new("ab", "x"), Pair::new("c", "yz")];
        let v = PairVocab::from_pairs(&pairs).unwrap();
        let mut buf = PairBuffers::default();
        buf.fill(&pairs.iter().collect::<Vec<_>>(), &v).unwrap();
        let (s, e) = (v.start(), v.end());
        let (x, y, z) = (
            v.tgt.id('x').unwrap(),
            v.tgt.id('y').unwrap(),
            v.tgt.id('z').unwrap(),
        );
        assert_eq!(buf.src_lengths, vec![2, 1]);
        assert_eq!(buf.tgt_lengths, vec![2, 3]);
        assert_eq!(buf.tgt_in, vec![s, s, x, y, e, z]);
        assert_eq!(buf.tgt_out, vec![x, y, e, z, IGNORE, e]);
        assert_eq!(buf.src.len(), 4);
    }

    #[test]
    fn parses_lines_and_skips_blanks() {
        let p = parse_pairs("abc\tcba\r\n\nhello\tolleh\n", "t").unwrap();
        assert_eq!(
            p,
            vec![Pair::new("abc", "cba"), Pair::new("hello", "olleh")]
        );
    }

    #[test]
    fn tabs_inside_the_target_stay() {
        assert_eq!(
            parse_pairs("a\tb\tc", "t").unwrap(),
            vec![Pair::new("a", "b\tc")]
        );
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse_pairs("a\tb\nno tab here\n", "f.tsv")
            .unwrap_err()
            .to_string();
        assert!(e.contains("f.tsv:2") && e.contains("no tab"), "{e}");
        let e = parse_pairs("a\tb\n\tx\n", "f.tsv").unwrap_err().to_string();
        assert!(
            e.contains("f.tsv:2") && e.contains("source is empty"),
            "{e}"
        );
        let e = parse_pairs("a\t\n", "f.tsv").unwrap_err().to_string();
        assert!(
            e.contains("f.tsv:1") && e.contains("target is empty"),
            "{e}"
        );
        assert!(parse_pairs("\n\n", "f.tsv").is_err());
    }
}
