//! Parallel text for sequence-to-sequence models: one `source<TAB>target`
//! pair per line.

use std::path::Path;

use super::corpus::read_text;
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

#[cfg(test)]
mod tests {
    use super::*;

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
