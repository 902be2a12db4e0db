//! Where a forecasting series comes from: a built-in series (one column,
//! named after it) or chosen columns of a CSV file; and the check that a
//! trained model gets the kind of series it was trained on.

use std::fmt;
use std::path::Path;

use super::series::{Synthetic, read_csv_columns};
use crate::check;
use crate::error::{Error, Result};

/// The longest built-in series (`--length`).
pub const MAX_LENGTH: usize = 1_000_000;

/// A series to train on or forecast from.
#[derive(Clone, Copy, Debug)]
pub enum Source<'a> {
    /// A built-in series of `length` steps drawn with `seed`.
    Synthetic {
        /// Which one.
        kind: Synthetic,
        /// Steps (`--length`).
        length: usize,
        /// Seed of its noise.
        seed: u64,
    },
    /// A CSV file with a header.
    Csv {
        /// The file.
        path: &'a Path,
        /// A time column kept as text (`--time`).
        time: Option<&'a str>,
        /// Fill missing or non-numeric cells with the previous value.
        fill_forward: bool,
    },
}

/// Feature and target columns of a series, and its time column.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// `features[f][t]`.
    pub features: Vec<Vec<f64>>,
    /// `targets[k][t]`.
    pub targets: Vec<Vec<f64>>,
    /// The time column's cells, if the source has one.
    pub time: Option<Vec<String>>,
}

impl Source<'_> {
    /// The columns called `features` and `targets`. A built-in series has
    /// one column, named after it: asking it for another (a model trained
    /// on CSV columns) is an error, and so is asking a CSV file for the
    /// column of a built-in series it lacks. Only the named columns of a CSV
    /// file are read.
    pub fn read(&self, features: &[String], targets: &[String]) -> Result<Series> {
        let wanted: Vec<String> = features.iter().chain(targets).cloned().collect();
        match *self {
            Source::Synthetic { kind, length, seed } => {
                check::between("--length", length, 1, MAX_LENGTH)?;
                if builtin(&wanted) != Some(kind) {
                    let hint = match builtin(&wanted) {
                        Some(s) => format!("give --synthetic {}", s.name()),
                        None => "give its CSV file with --csv instead of --synthetic".into(),
                    };
                    return Err(Error::Config(format!(
                        "this model was trained on {}, not the built-in {} series; {hint}",
                        trained_on(&wanted),
                        kind.name()
                    )));
                }
                let series = kind.generate(length, seed);
                Ok(Series {
                    features: features.iter().map(|_| series.clone()).collect(),
                    targets: targets.iter().map(|_| series.clone()).collect(),
                    time: None,
                })
            }
            Source::Csv {
                path,
                time,
                fill_forward,
            } => {
                let table = read_csv_columns(path, &wanted, time, fill_forward).map_err(|e| {
                    match builtin(&wanted) {
                        Some(s) => Error::Data(format!(
                            "{e} (this model was trained on the built-in {0} series: give --synthetic {0})",
                            s.name()
                        )),
                        None => e,
                    }
                })?;
                let pick = |names: &[String]| -> Result<Vec<Vec<f64>>> {
                    names
                        .iter()
                        .map(|n| table.column(n).map(<[f64]>::to_vec))
                        .collect()
                };
                Ok(Series {
                    features: pick(features)?,
                    targets: pick(targets)?,
                    time: table.time.clone(),
                })
            }
        }
    }
}

/// The built-in series whose one column is all of `names`, if any.
fn builtin(names: &[String]) -> Option<Synthetic> {
    let first = names.first()?;
    let s = Synthetic::from_name(first).ok()?;
    names.iter().all(|n| n == first).then_some(s)
}

/// "the built-in noisy-sine series" or "CSV columns load, temp".
fn trained_on(names: &[String]) -> String {
    match builtin(names) {
        Some(s) => format!("the built-in {} series", s.name()),
        None => {
            let mut unique: Vec<&str> = Vec::new();
            for n in names {
                if !unique.contains(&n.as_str()) {
                    unique.push(n);
                }
            }
            format!("CSV columns {}", unique.join(", "))
        }
    }
}

impl fmt::Display for Source<'_> {
    /// "noisy-sine (4000 steps, noise variance 0.01)" or the file's path.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Synthetic { kind, length, .. } => write!(
                f,
                "{} ({length} steps, noise variance {})",
                kind.name(),
                kind.noise_variance()
            ),
            Source::Csv { path, .. } => write!(f, "{}", path.display()),
        }
    }
}
