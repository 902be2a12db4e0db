//! [`CharVocab`]: the characters (Unicode scalar values, not bytes) a model
//! reads and writes, each mapped to a token id.

use std::collections::{BTreeSet, HashMap};

use crate::error::{Error, Result};

/// Start-of-word marker for word lists (U+0002, START OF TEXT).
pub const START: char = '\u{2}';
/// End-of-word marker for word lists (U+0003, END OF TEXT).
pub const END: char = '\u{3}';

/// A character vocabulary: sorted distinct characters and their ids, and
/// the character its text opens with.
///
/// ```
/// let v = recur::CharVocab::from_text("hello").unwrap();
/// assert_eq!(v.len(), 4);
/// assert_eq!(v.decode(&v.encode("hole").unwrap()), "hole");
/// assert!(v.encode("help!").is_err()); // 'p' and '!' are unknown
/// ```
#[derive(Clone, Debug)]
pub struct CharVocab {
    chars: Vec<char>,
    index: HashMap<char, u32>,
    /// The first character of the text the vocabulary was built from.
    opening: Option<char>,
}

/// Two vocabularies are equal when they give the same characters the same
/// ids, whatever their texts open with.
impl PartialEq for CharVocab {
    fn eq(&self, other: &Self) -> bool {
        self.chars == other.chars
    }
}

impl Eq for CharVocab {}

impl CharVocab {
    /// The distinct characters of `text`, sorted (so the ids are
    /// reproducible); its [`opening`](CharVocab::opening) is the text's
    /// first character.
    pub fn from_text(text: &str) -> Result<Self> {
        let chars = text.chars().collect::<BTreeSet<_>>().into_iter().collect();
        Ok(Self {
            opening: text.chars().next(),
            ..Self::from_chars(chars)?
        })
    }

    /// A vocabulary of exactly these distinct characters, in this order.
    pub fn from_chars(chars: Vec<char>) -> Result<Self> {
        if chars.is_empty() {
            return Err(Error::Data(
                "the vocabulary is empty: the text has no characters".into(),
            ));
        }
        let mut index = HashMap::with_capacity(chars.len());
        for (i, &c) in chars.iter().enumerate() {
            if index.insert(c, i as u32).is_some() {
                return Err(Error::Vocab(format!(
                    "character {c:?} appears twice in the vocabulary"
                )));
            }
        }
        Ok(CharVocab {
            chars,
            index,
            opening: None,
        })
    }

    /// The same vocabulary, its text opening with `opening` (which must be
    /// one of its characters), or with no known opening.
    pub fn with_opening(self, opening: Option<char>) -> Result<Self> {
        if let Some(c) = opening
            && self.id(c).is_none()
        {
            return Err(Error::Vocab(format!(
                "the opening character {c:?} is not in the vocabulary"
            )));
        }
        Ok(Self { opening, ..self })
    }

    /// The first character of the text the vocabulary was built from, if
    /// known. A language model trained on that text starts each pass there
    /// from a zero state: it is the one character a sample from a zero
    /// state is sure to have been trained on.
    pub fn opening(&self) -> Option<char> {
        self.opening
    }

    /// Number of characters V.
    pub fn len(&self) -> usize {
        self.chars.len()
    }

    /// Whether the vocabulary is empty (never, once built).
    pub fn is_empty(&self) -> bool {
        self.chars.is_empty()
    }

    /// The characters in id order.
    pub fn chars(&self) -> &[char] {
        &self.chars
    }

    /// The id of `c`, if known.
    pub fn id(&self, c: char) -> Option<u32> {
        self.index.get(&c).copied()
    }

    /// The character of `id`.
    pub fn char(&self, id: u32) -> Option<char> {
        self.chars.get(id as usize).copied()
    }

    /// Whether this vocabulary carries the word-list markers.
    pub fn has_markers(&self) -> bool {
        self.id(START).is_some() && self.id(END).is_some()
    }

    /// Token ids of `text`; characters outside the vocabulary are an error
    /// that names them.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let mut out = Vec::with_capacity(text.len());
        let mut unknown = BTreeSet::new();
        for c in text.chars() {
            match self.id(c) {
                Some(i) => out.push(i),
                None => {
                    unknown.insert(c);
                }
            }
        }
        if unknown.is_empty() {
            return Ok(out);
        }
        let shown: Vec<String> = unknown.iter().take(12).map(|c| format!("{c:?}")).collect();
        let more = if unknown.len() > 12 {
            format!(" and {} more", unknown.len() - 12)
        } else {
            String::new()
        };
        Err(Error::Vocab(format!(
            "{} character(s) are not in the model's vocabulary: {}{more}; the model knows only the {} characters it was trained on",
            unknown.len(),
            shown.join(", "),
            self.len()
        )))
    }

    /// The text of `ids` (unknown ids are skipped; markers are dropped).
    pub fn decode(&self, ids: &[u32]) -> String {
        ids.iter()
            .filter_map(|&i| self.char(i))
            .filter(|&c| c != START && c != END)
            .collect()
    }

    /// The characters as one-character strings, for JSON.
    pub fn to_strings(&self) -> Vec<String> {
        self.chars.iter().map(|c| c.to_string()).collect()
    }

    /// Rebuild from [`CharVocab::to_strings`].
    pub fn from_strings(items: &[String]) -> Result<Self> {
        let mut chars = Vec::with_capacity(items.len());
        for s in items {
            let mut it = s.chars();
            match (it.next(), it.next()) {
                (Some(c), None) => chars.push(c),
                _ => {
                    return Err(Error::Vocab(format!(
                        "vocabulary entry {s:?} is not a single character"
                    )));
                }
            }
        }
        Self::from_chars(chars)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn characters_not_bytes() {
        let v = CharVocab::from_text("héé€").unwrap();
        assert_eq!(v.len(), 3);
        assert_eq!(v.decode(&v.encode("€hé").unwrap()), "€hé");
    }

    #[test]
    fn unknown_characters_are_named() {
        let v = CharVocab::from_text("abc").unwrap();
        let e = v.encode("abz!").unwrap_err().to_string();
        assert!(e.contains("'z'") && e.contains("'!'"), "{e}");
    }

    #[test]
    fn strings_round_trip() {
        let v = CharVocab::from_text("a\n\tb").unwrap();
        assert_eq!(CharVocab::from_strings(&v.to_strings()).unwrap(), v);
    }

    #[test]
    fn the_opening_is_the_texts_first_character_and_is_no_part_of_equality() {
        let v = CharVocab::from_text("ba\nc").unwrap();
        assert_eq!(v.opening(), Some('b'));
        let listed = CharVocab::from_chars(vec!['\n', 'a', 'b', 'c']).unwrap();
        assert_eq!(listed.opening(), None);
        assert_eq!(listed, v);
        assert_eq!(listed.with_opening(Some('c')).unwrap().opening(), Some('c'));
        let e = v.with_opening(Some('z')).unwrap_err().to_string();
        assert!(e.contains("'z'"), "{e}");
    }
}
