//! How much memory a model or a training run needs, estimated from its sizes
//! before anything is allocated, and the limit the estimate is checked
//! against, so that a run too large for the machine stops with an error
//! that names the flag to change instead of being killed half-way.
//!
//! The limit is `RECUR_MAX_MEMORY` when set (bytes, or a number with a `K`,
//! `M`, `G` or `T` suffix, powers of 1024), else the memory the machine has
//! available now (`MemAvailable` in `/proc/meminfo`), else 16 GiB.
//!
//! Estimates are in `f64` bytes: any sizes, however absurd (a hand-edited
//! checkpoint), give a finite or infinite figure, never an overflow.

use crate::error::{Error, Result};

/// The environment variable that overrides the memory limit.
pub const ENV: &str = "RECUR_MAX_MEMORY";

/// The limit when neither [`ENV`] nor `/proc/meminfo` gives one: 16 GiB.
pub const FALLBACK: u64 = 16 << 30;

/// Bytes of one `f32`, the precision models train and load in.
pub const F32: f64 = 4.0;

/// The memory limit in bytes and where it comes from (for messages).
pub fn limit() -> Result<(u64, &'static str)> {
    if let Ok(v) = std::env::var(ENV) {
        return parse_size(&v).map(|b| (b, ENV)).ok_or_else(|| {
            Error::Config(format!(
                "{ENV}={v}: give a size in bytes, or with a K, M, G or T suffix (e.g. {ENV}=8G)"
            ))
        });
    }
    Ok(match available() {
        Some(b) => (b, "the memory available now"),
        None => (FALLBACK, "the default limit"),
    })
}

/// `123`, `64K`, `512M`, `8G`, `1T` (powers of 1024; `KiB`/`GB` spellings
/// and a trailing `B` are accepted).
fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let digits = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (number, unit) = s.split_at(digits);
    let shift = match unit.trim().to_ascii_uppercase().trim_end_matches("IB") {
        "" | "B" => 0,
        "K" | "KB" => 10,
        "M" | "MB" => 20,
        "G" | "GB" => 30,
        "T" | "TB" => 40,
        _ => return None,
    };
    number.parse::<u64>().ok()?.checked_mul(1 << shift)
}

/// `MemAvailable` from `/proc/meminfo`, in bytes, where readable.
fn available() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// A size for people: `512 B`, `3.2 MiB`, `40.0 GiB`.
pub fn human(bytes: f64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    if !bytes.is_finite() {
        return "more than can be counted".into();
    }
    let mut v = bytes;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    match unit {
        0 => format!("{v:.0} B"),
        _ => format!("{v:.1} {}", UNITS[unit]),
    }
}

/// An estimate of the memory something needs, by part.
///
/// ```
/// use recur::memory::Footprint;
/// let need = Footprint::new().add("weights", 1e9).add_bytes("text", 2e6);
/// assert_eq!(need.bytes(), 4e9 + 2e6); // f32 values count 4 bytes
/// assert!(need.check_within((1 << 30, "a test limit"), "lower --hidden").is_err());
/// ```
#[derive(Clone, Debug, Default)]
pub struct Footprint {
    parts: Vec<(&'static str, f64)>,
}

impl Footprint {
    /// Nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add `values` f32 values under `part`.
    pub fn add(self, part: &'static str, values: f64) -> Self {
        self.add_bytes(part, values * F32)
    }

    /// Add `bytes` bytes under `part`.
    pub fn add_bytes(mut self, part: &'static str, bytes: f64) -> Self {
        self.parts.push((part, bytes));
        self
    }

    /// The parts, in bytes.
    pub fn parts(&self) -> &[(&'static str, f64)] {
        &self.parts
    }

    /// The total in bytes.
    pub fn bytes(&self) -> f64 {
        self.parts.iter().map(|p| p.1).sum()
    }

    /// An error if the estimate is over the limit: it says how much is
    /// needed and for what, the limit and where it comes from, and
    /// `advice` (the flags to change).
    pub fn check(&self, advice: &str) -> Result<()> {
        self.check_within(limit()?, advice)
    }

    /// [`Footprint::check`] against a given limit in bytes and its source.
    pub fn check_within(&self, (limit, source): (u64, &str), advice: &str) -> Result<()> {
        let need = self.bytes();
        if need <= limit as f64 {
            return Ok(());
        }
        let parts: Vec<String> = self
            .parts
            .iter()
            .filter(|p| p.1 > 0.0)
            .map(|(name, bytes)| format!("{name} {}", human(*bytes)))
            .collect();
        Err(Error::Config(format!(
            "this needs about {} of memory ({}), more than the {} limit ({source}); {advice}, or set {ENV} (e.g. {ENV}=64G) to change the limit",
            human(need),
            parts.join(", "),
            human(limit as f64),
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_binary_suffixes() {
        assert_eq!(parse_size("123"), Some(123));
        assert_eq!(parse_size("64K"), Some(64 << 10));
        assert_eq!(parse_size("8G"), Some(8 << 30));
        assert_eq!(parse_size("8gib"), Some(8 << 30));
        assert_eq!(parse_size("2 MB"), Some(2 << 20));
        assert_eq!(parse_size("1T"), Some(1 << 40));
        assert_eq!(parse_size("lots"), None);
        assert_eq!(parse_size("5X"), None);
        assert_eq!(parse_size("99999999999999999999T"), None);
    }

    #[test]
    fn human_sizes_read_well() {
        assert_eq!(human(512.0), "512 B");
        assert_eq!(human(3.5 * 1024.0 * 1024.0), "3.5 MiB");
        assert_eq!(human(f64::INFINITY), "more than can be counted");
    }
}
