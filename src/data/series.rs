//! Numeric time series for forecasting: CSV tables with named columns,
//! built-in synthetic series, chronological splits, normalization fitted on
//! the training part only, and lookback/horizon windows.

use std::path::Path;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use serde::{Deserialize, Serialize};

use super::timeline::looks_like_time;
use crate::error::{Error, Result};

/// Named numeric columns of equal length, and an optional time column kept
/// as text (for plots).
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    /// Column names, in file order (the time column excluded).
    pub names: Vec<String>,
    /// `columns[c][t]`.
    pub columns: Vec<Vec<f64>>,
    /// The time column's cells, if one was named.
    pub time: Option<Vec<String>>,
}

impl Table {
    /// The column called `name`, or an error listing the columns.
    pub fn column(&self, name: &str) -> Result<&[f64]> {
        self.names
            .iter()
            .position(|n| n == name)
            .map(|i| &self.columns[i][..])
            .ok_or_else(|| {
                Error::Data(format!(
                    "no column '{name}'; the columns are {}",
                    self.names.join(", ")
                ))
            })
    }

    /// Rows.
    pub fn len(&self) -> usize {
        self.columns.first().map_or(0, Vec::len)
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Read a CSV file with a header. Every cell of every column but `time` must
/// be a number; a missing or non-numeric cell is an error naming its line
/// and column, unless `fill_forward`, which repeats the previous value (a
/// column's first cell must still be a number).
pub fn read_csv(path: &Path, time: Option<&str>, fill_forward: bool) -> Result<Table> {
    let text = read_file(path)?;
    parse_csv(&text, &path.display().to_string(), time, fill_forward)
}

/// [`read_csv`] on text; `name` labels errors.
pub fn parse_csv(text: &str, name: &str, time: Option<&str>, fill_forward: bool) -> Result<Table> {
    parse(text, name, None, time, fill_forward)
}

/// Read only the named `columns` of a CSV file (and its `time` column):
/// other columns are ignored, not parsed, so a column of notes does not
/// get in the way. A selected name that the header holds twice, or that is
/// the time column, is an error naming it.
pub fn read_csv_columns(
    path: &Path,
    columns: &[String],
    time: Option<&str>,
    fill_forward: bool,
) -> Result<Table> {
    let text = read_file(path)?;
    parse_csv_columns(
        &text,
        &path.display().to_string(),
        columns,
        time,
        fill_forward,
    )
}

/// [`read_csv_columns`] on text; `name` labels errors.
pub fn parse_csv_columns(
    text: &str,
    name: &str,
    columns: &[String],
    time: Option<&str>,
    fill_forward: bool,
) -> Result<Table> {
    parse(text, name, Some(columns), time, fill_forward)
}

fn read_file(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => {
            Error::Data(format!("{}: no such file; check the path", path.display()))
        }
        std::io::ErrorKind::InvalidData => {
            Error::Data(format!("{}: not valid UTF-8", path.display()))
        }
        _ => Error::io(path, e),
    })
}

/// Where `column` is in `header`: an error if it is missing or named twice.
fn position(header: &[String], column: &str, name: &str, what: &str) -> Result<usize> {
    let mut at = header.iter().enumerate().filter(|(_, h)| *h == column);
    match (at.next(), at.next()) {
        (Some((i, _)), None) => Ok(i),
        (Some((i, _)), Some((j, _))) => Err(Error::Data(format!(
            "{name}: the header names column '{column}' twice (columns {} and {}); give each column its own name",
            i + 1,
            j + 1
        ))),
        (None, _) => Err(Error::Data(format!(
            "{name}: no {what}'{column}'; the columns are {}",
            header.join(", ")
        ))),
    }
}

/// Parse `text`: the `wanted` columns (all but the time column if `None`).
fn parse(
    text: &str,
    name: &str,
    wanted: Option<&[String]>,
    time: Option<&str>,
    fill_forward: bool,
) -> Result<Table> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| Error::Data(format!("{name}: unreadable header: {e}")))?
        .iter()
        .map(String::from)
        .collect();
    if header.is_empty() || header.iter().all(String::is_empty) {
        return Err(Error::Data(format!(
            "{name}: the file has no header line; the first line must name the columns"
        )));
    }
    let time_idx = time
        .map(|t| position(&header, t, name, "time column "))
        .transpose()?;
    let names: Vec<String> = match wanted {
        None => header
            .iter()
            .enumerate()
            .filter(|(i, _)| Some(*i) != time_idx)
            .map(|(_, h)| h.clone())
            .collect(),
        Some(cols) => {
            let mut names: Vec<String> = Vec::new();
            for c in cols {
                if !names.contains(c) {
                    names.push(c.clone());
                }
            }
            names
        }
    };
    let mut picked = Vec::with_capacity(names.len());
    for n in &names {
        let i = position(&header, n, name, "column ")?;
        if Some(i) == time_idx {
            return Err(Error::Config(format!(
                "{name}: column '{n}' is the --time column; it cannot also be a target or a feature"
            )));
        }
        picked.push(i);
    }
    let mut columns = vec![Vec::new(); names.len()];
    let mut times = time_idx.map(|_| Vec::new());
    for (row, record) in reader.records().enumerate() {
        let line = row + 2;
        let record = record.map_err(|e| Error::Data(format!("{name}:{line}: {e}")))?;
        if record.len() != header.len() {
            return Err(Error::Data(format!(
                "{name}:{line}: {} cells, the header names {}",
                record.len(),
                header.len()
            )));
        }
        if let (Some(t), Some(i)) = (times.as_mut(), time_idx) {
            t.push(record[i].to_string());
        }
        for (column, &i) in columns.iter_mut().zip(&picked) {
            let cell = &record[i];
            let value = match cell.parse::<f64>() {
                Ok(v) if v.is_finite() => v,
                _ if fill_forward && !column.is_empty() => column[column.len() - 1],
                _ => {
                    return Err(bad_cell(
                        name,
                        line,
                        &header[i],
                        cell,
                        column.is_empty(),
                        fill_forward,
                    ));
                }
            };
            column.push(value);
        }
    }
    let rows = times
        .as_ref()
        .map(Vec::len)
        .or(columns.first().map(Vec::len));
    if rows.is_none_or(|n| n == 0) {
        return Err(Error::Data(format!(
            "{name}: no data rows under the header"
        )));
    }
    Ok(Table {
        names,
        columns,
        time: times,
    })
}

/// The error for `cell`, in column `column` on line `line`, which is not a
/// number: it says what helps. A date or time belongs to `--time`;
/// `--fill-forward` repeats the previous value, so it is offered only below
/// a column's first data row (`first` says whether this is it), and where
/// it was given for a first row, the message says why it could not help.
fn bad_cell(
    name: &str,
    line: usize,
    column: &str,
    cell: &str,
    first: bool,
    fill_forward: bool,
) -> Error {
    let at = format!("{name}:{line}: column '{column}'");
    let message = if looks_like_time(cell) {
        format!(
            "{at} holds '{cell}', a date or time, not a number; a time column goes to --time {column}, not to --target or --features"
        )
    } else if !first {
        let what = if cell.is_empty() {
            "is empty".to_string()
        } else {
            format!("'{cell}' is not a number")
        };
        format!(
            "{at} {what}; give a number there, or pass --fill-forward to repeat the previous value"
        )
    } else {
        let no_fill = if fill_forward {
            " (--fill-forward repeats the value above a cell, and the first data row has none)"
        } else {
            ""
        };
        if cell.is_empty() {
            format!("{at} is empty in the first data row; give a number there{no_fill}")
        } else {
            format!(
                "{at} '{cell}' is not a number in the first data row; --target and --features take numeric columns (if this one is, give a number there{no_fill})"
            )
        }
    };
    Error::Data(message)
}

/// The header and the first data row of a CSV file (an empty row if it has
/// none), without reading further: enough to see which columns look like
/// times.
pub fn read_csv_head(path: &Path) -> Result<(Vec<String>, Vec<String>)> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_path(path)
        .map_err(|e| Error::Data(format!("{}: {e}", path.display())))?;
    let unreadable = |e: csv::Error| Error::Data(format!("{}: {e}", path.display()));
    let header = reader
        .headers()
        .map_err(unreadable)?
        .iter()
        .map(String::from)
        .collect();
    let first = match reader.records().next() {
        Some(record) => record
            .map_err(unreadable)?
            .iter()
            .map(String::from)
            .collect(),
        None => Vec::new(),
    };
    Ok((header, first))
}

/// Column names from a comma-separated list given to `flag` (`--target`,
/// `--features`): trimmed; an empty name or a name given twice is an error
/// naming it.
pub fn column_list(flag: &str, list: &str) -> Result<Vec<String>> {
    let mut names: Vec<String> = Vec::new();
    for n in list.split(',').map(str::trim) {
        if n.is_empty() {
            return Err(Error::Config(format!(
                "{flag} '{list}' has an empty column name; give names separated by commas"
            )));
        }
        if names.iter().any(|m| m == n) {
            return Err(Error::Config(format!(
                "{flag} names column '{n}' twice; give each column once"
            )));
        }
        names.push(n.to_string());
    }
    Ok(names)
}

/// A built-in series.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Synthetic {
    /// `sin(2πt/25) + N(0, 0.1²)`.
    NoisySine,
    /// Three sines of periods 24, 55 and 140, a linear trend, a little noise.
    SinesTrend,
    /// The Mackey-Glass delay equation with τ = 17, sampled every step.
    MackeyGlass,
}

impl Synthetic {
    /// Every built-in series.
    pub const ALL: [Synthetic; 3] = [
        Synthetic::NoisySine,
        Synthetic::SinesTrend,
        Synthetic::MackeyGlass,
    ];

    /// The name the CLI knows it by (`noisy-sine`, ...), also the name of
    /// its one column.
    pub fn name(self) -> &'static str {
        match self {
            Synthetic::NoisySine => "noisy-sine",
            Synthetic::SinesTrend => "sines-trend",
            Synthetic::MackeyGlass => "mackey-glass",
        }
    }

    /// The series called `name`.
    pub fn from_name(name: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|s| s.name() == name)
            .ok_or_else(|| {
                Error::Config(format!(
                    "no built-in series '{name}': use noisy-sine, sines-trend or mackey-glass"
                ))
            })
    }

    /// Variance of the noise in the series (0 where there is none).
    pub fn noise_variance(self) -> f64 {
        match self {
            Synthetic::NoisySine => 0.01,
            Synthetic::SinesTrend => 0.0025,
            Synthetic::MackeyGlass => 0.0,
        }
    }

    /// `n` values, reproducible from `seed`.
    pub fn generate(self, n: usize, seed: u64) -> Vec<f64> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        match self {
            Synthetic::NoisySine => {
                let noise = Normal::new(0.0, 0.1).expect("valid normal");
                (0..n)
                    .map(|t| {
                        (std::f64::consts::TAU * t as f64 / 25.0).sin() + noise.sample(&mut rng)
                    })
                    .collect()
            }
            Synthetic::SinesTrend => {
                let noise = Normal::new(0.0, 0.05).expect("valid normal");
                (0..n)
                    .map(|t| {
                        let t = t as f64;
                        let s = |p: f64, a: f64| a * (std::f64::consts::TAU * t / p).sin();
                        s(24.0, 1.0)
                            + s(55.0, 0.5)
                            + s(140.0, 0.8)
                            + 0.002 * t
                            + noise.sample(&mut rng)
                    })
                    .collect()
            }
            Synthetic::MackeyGlass => mackey_glass(n, 17, seed),
        }
    }
}

/// `dx/dt = β x(t-τ) / (1 + x(t-τ)^10) - γ x(t)` with β = 0.2, γ = 0.1,
/// integrated with 10 Euler substeps per unit of time from a history of
/// 1.2 (plus a seeded nudge), after a burn-in of 500.
fn mackey_glass(n: usize, tau: usize, seed: u64) -> Vec<f64> {
    const SUB: usize = 10;
    let (beta, gamma, dt) = (0.2, 0.1, 1.0 / SUB as f64);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let nudge = Normal::new(0.0, 0.01).expect("valid normal");
    let lag = tau * SUB;
    let burn = 500 * SUB;
    let mut x: Vec<f64> = (0..=lag).map(|_| 1.2 + nudge.sample(&mut rng)).collect();
    for _ in 0..burn + n * SUB {
        let (now, past) = (x[x.len() - 1], x[x.len() - 1 - lag]);
        x.push(now + dt * (beta * past / (1.0 + past.powi(10)) - gamma * now));
    }
    x[x.len() - n * SUB..]
        .iter()
        .step_by(SUB)
        .copied()
        .collect()
}

/// Where a series is cut, chronologically: `[0, train)`, `[train, val)`,
/// `[val, len)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Split {
    /// End of the training part.
    pub train: usize,
    /// End of the validation part.
    pub val: usize,
    /// Length of the series.
    pub len: usize,
}

impl Split {
    /// Cut `len` steps into fractions `val_frac` and `test_frac` at the end.
    pub fn new(len: usize, val_frac: f64, test_frac: f64) -> Result<Self> {
        if !(0.0..1.0).contains(&val_frac)
            || !(0.0..1.0).contains(&test_frac)
            || val_frac + test_frac >= 1.0
        {
            return Err(Error::Config(format!(
                "validation ({val_frac}) and test ({test_frac}) fractions must be in [0, 1) and leave room for training"
            )));
        }
        let test = (len as f64 * test_frac).round() as usize;
        let val = (len as f64 * val_frac).round() as usize;
        Ok(Split {
            train: len - test - val,
            val: len - test,
            len,
        })
    }
}

/// Per-column mean and standard deviation, fitted on the training part.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Normalizer {
    /// Means.
    pub mean: Vec<f64>,
    /// Standard deviations (1 where a column is constant).
    pub std: Vec<f64>,
}

impl Normalizer {
    /// Whether it holds finite statistics (positive deviations) for `n`
    /// columns: what a loaded checkpoint must have before it is used.
    pub fn fits(&self, n: usize) -> bool {
        self.mean.len() == n
            && self.std.len() == n
            && self.mean.iter().all(|m| m.is_finite())
            && self.std.iter().all(|s| s.is_finite() && *s > 0.0)
    }

    /// Fit on rows `[0, train)` of each column.
    pub fn fit(columns: &[Vec<f64>], train: usize) -> Self {
        let (mut mean, mut std) = (Vec::new(), Vec::new());
        for c in columns {
            let part = &c[..train.min(c.len())];
            let n = part.len().max(1) as f64;
            let m = part.iter().sum::<f64>() / n;
            let v = part.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / n;
            mean.push(m);
            std.push(if v > 0.0 { v.sqrt() } else { 1.0 });
        }
        Normalizer { mean, std }
    }

    /// Column `c`'s value in normalized units.
    pub fn forward(&self, c: usize, x: f64) -> f64 {
        (x - self.mean[c]) / self.std[c]
    }

    /// Back to the original units.
    pub fn inverse(&self, c: usize, z: f64) -> f64 {
        z * self.std[c] + self.mean[c]
    }
}

/// Windows of a multivariate series: `lookback` steps of every feature in,
/// the next `horizon` values of every target out, starting every `stride`
/// steps within `[from, to)` (a window never reaches past `to`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Windows {
    /// Number of windows N.
    pub n: usize,
    /// `(N, L, F)`, batch-major.
    pub x: Vec<f32>,
    /// `(N, horizon · targets)`.
    pub y: Vec<f32>,
}

/// Cut windows from `features[f][t]` / `targets[k][t]` (already normalized).
pub fn windows(
    features: &[Vec<f64>],
    targets: &[Vec<f64>],
    from: usize,
    to: usize,
    lookback: usize,
    horizon: usize,
    stride: usize,
) -> Windows {
    cut(
        features,
        targets,
        (from, to),
        (lookback, horizon, stride),
        false,
    )
}

/// [`windows`] with targets at every step: `y (N, L, horizon · targets)`,
/// step `t` of a window holding the `horizon` values after it.
pub fn windows_every_step(
    features: &[Vec<f64>],
    targets: &[Vec<f64>],
    from: usize,
    to: usize,
    lookback: usize,
    horizon: usize,
    stride: usize,
) -> Windows {
    cut(
        features,
        targets,
        (from, to),
        (lookback, horizon, stride),
        true,
    )
}

fn cut(
    features: &[Vec<f64>],
    targets: &[Vec<f64>],
    (from, to): (usize, usize),
    (lookback, horizon, stride): (usize, usize, usize),
    every: bool,
) -> Windows {
    let mut w = Windows::default();
    if lookback == 0 || horizon == 0 || stride == 0 {
        return w;
    }
    let mut start = from;
    while start + lookback + horizon <= to {
        for t in start..start + lookback {
            w.x.extend(features.iter().map(|f| f[t] as f32));
        }
        let first = if every { start } else { start + lookback - 1 };
        for t in first..start + lookback {
            for h in 0..horizon {
                w.y.extend(targets.iter().map(|k| k[t + 1 + h] as f32));
            }
        }
        w.n += 1;
        start += stride;
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_with_time_column_and_errors_naming_line_and_column() {
        let t = parse_csv(
            "date,load,temp\n2024-01-01,1.5,3\n2024-01-02,2.5,4\n",
            "f.csv",
            Some("date"),
            false,
        )
        .unwrap();
        assert_eq!(t.names, vec!["load", "temp"]);
        assert_eq!(t.column("temp").unwrap(), &[3.0, 4.0]);
        assert_eq!(t.time.as_deref().unwrap(), &["2024-01-01", "2024-01-02"]);
        assert!(
            t.column("wind")
                .unwrap_err()
                .to_string()
                .contains("load, temp")
        );
        let e = parse_csv("a,b\n1,2\n3,x\n", "f.csv", None, false)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("f.csv:3") && e.contains("column 'b'") && e.contains("'x'"),
            "{e}"
        );
        let e = parse_csv("a,b\n1,2\n3,\n", "f.csv", None, false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("f.csv:3") && e.contains("empty"), "{e}");
        let e = parse_csv("a,b\n1,2\n3\n", "f.csv", None, false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("f.csv:3"), "{e}");
        assert!(parse_csv("a,b\n", "f.csv", None, false).is_err());
    }

    #[test]
    fn only_the_selected_columns_are_read() {
        let text = "date,note,y,x,x\nmon,checked,1,2,3\ntue,,4,5,6\n";
        let cols = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
        let t = parse_csv_columns(text, "f.csv", &cols(&["y", "y"]), Some("date"), false).unwrap();
        assert_eq!(t.names, vec!["y"]);
        assert_eq!(t.column("y").unwrap(), &[1.0, 4.0]);
        assert_eq!(t.time.as_deref().unwrap(), &["mon", "tue"]);
        let e = |names: &[&str], time| {
            parse_csv_columns(text, "f.csv", &cols(names), time, false)
                .unwrap_err()
                .to_string()
        };
        let twice = e(&["y", "x"], None);
        assert!(
            twice.contains("'x' twice") && twice.contains("columns 4 and 5"),
            "{twice}"
        );
        assert!(e(&["date"], Some("date")).contains("--time"));
        let missing = e(&["z"], None);
        assert!(missing.contains("no column 'z'") && missing.contains("date, note, y, x, x"));
        assert!(e(&["note"], None).contains("f.csv:2: column 'note' 'checked' is not a number"));
        // Reading every column still parses every one.
        assert!(parse_csv(text, "f.csv", Some("date"), false).is_err());
    }

    #[test]
    fn column_lists_refuse_empty_and_repeated_names() {
        assert_eq!(column_list("--target", " a, b ").unwrap(), vec!["a", "b"]);
        let e = column_list("--target", "y,y").unwrap_err().to_string();
        assert!(e.contains("--target") && e.contains("'y' twice"), "{e}");
        assert!(
            column_list("--features", "a,,b")
                .unwrap_err()
                .to_string()
                .contains("empty")
        );
    }

    #[test]
    fn built_in_series_are_known_by_name() {
        for s in Synthetic::ALL {
            assert_eq!(Synthetic::from_name(s.name()).unwrap(), s);
        }
        assert!(Synthetic::from_name("sine").is_err());
    }

    #[test]
    fn fill_forward_repeats_the_previous_value() {
        let t = parse_csv("a\n1\n\nNaN\n4\n", "f.csv", None, true).unwrap();
        assert_eq!(t.column("a").unwrap(), &[1.0, 1.0, 4.0]);
        // A column's first cell has nothing to repeat.
        assert!(parse_csv("a\nx\n1\n", "f.csv", None, true).is_err());
    }

    #[test]
    fn chronological_split_and_normalization_from_training_only() {
        let s = Split::new(100, 0.1, 0.2).unwrap();
        assert_eq!((s.train, s.val, s.len), (70, 80, 100));
        let col: Vec<f64> = (0..100).map(|t| t as f64).collect();
        let norm = Normalizer::fit(std::slice::from_ref(&col), s.train);
        assert!(
            (norm.mean[0] - 34.5).abs() < 1e-12,
            "the mean must use rows 0..70 only"
        );
        assert!((norm.inverse(0, norm.forward(0, 90.0)) - 90.0).abs() < 1e-12);
        assert!(Split::new(10, 0.6, 0.5).is_err());
    }

    #[test]
    fn windows_stay_inside_their_part() {
        let f = vec![(0..20).map(f64::from).collect::<Vec<_>>()];
        let w = windows(&f, &f, 0, 10, 3, 2, 1);
        assert_eq!(w.n, 6); // starts 0..=5: the last target is row 9
        assert_eq!(&w.x[..3], &[0.0, 1.0, 2.0]);
        assert_eq!(&w.y[..2], &[3.0, 4.0]);
        assert_eq!(&w.y[w.y.len() - 2..], &[8.0, 9.0]);
        assert_eq!(windows(&f, &f, 10, 20, 3, 1, 3).n, 3);
        let e = windows_every_step(&f, &f, 0, 10, 3, 2, 1);
        assert_eq!(e.n, 6);
        assert_eq!(&e.y[..6], &[1.0, 2.0, 2.0, 3.0, 3.0, 4.0]); // steps 0, 1, 2 of the first window
    }

    #[test]
    fn synthetic_series_are_reproducible_and_sane() {
        for s in [
            Synthetic::NoisySine,
            Synthetic::SinesTrend,
            Synthetic::MackeyGlass,
        ] {
            let a = s.generate(600, 1);
            assert_eq!(a, s.generate(600, 1));
            assert_ne!(a, s.generate(600, 2));
            assert!(a.iter().all(|x| x.is_finite()));
        }
        let mg = Synthetic::MackeyGlass.generate(2000, 3);
        let (lo, hi) = mg
            .iter()
            .fold((f64::MAX, f64::MIN), |(a, b), &x| (a.min(x), b.max(x)));
        assert!(
            lo > 0.2 && hi < 1.5 && hi - lo > 0.5,
            "Mackey-Glass range {lo}..{hi}"
        );
    }
}
