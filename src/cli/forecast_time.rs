//! The time column of `forecast train` and `forecast predict`: which one
//! predict reads (`--time`, else the one the checkpoint remembers), a hint
//! when a column that looks like dates is left out, and the labels of
//! forecast rows (the column continued at its step past the file's end).

use std::path::Path;

use recur::data::series::read_csv_head;
use recur::data::timeline::{Timeline, looks_like_time};

/// A note naming a column of `csv` that is in none of the `used` lists and
/// whose first cell looks like a date or time: `--time` would use it
/// (`what_for`).
pub fn hint_time_column(csv: &Path, used: &[&[String]], what_for: &str) {
    let Ok((header, first)) = read_csv_head(csv) else {
        return; // reading the series reports what is wrong with the file
    };
    let found = header
        .iter()
        .zip(&first)
        .find(|(h, cell)| !used.iter().any(|u| u.contains(h)) && looks_like_time(cell));
    if let Some((h, _)) = found {
        eprintln!("note: column '{h}' looks like dates or times; pass --time {h} {what_for}");
    }
}

/// The time column `forecast predict` reads from `csv`: `--time` if given,
/// else the one the checkpoint `remembered` where the file has it (a note
/// says when it does not; rows are then numbered).
pub fn predict_time(
    flag: Option<&str>,
    remembered: Option<String>,
    csv: Option<&Path>,
) -> Option<String> {
    if let Some(t) = flag {
        return Some(t.to_string());
    }
    let (t, csv) = (remembered?, csv?);
    match read_csv_head(csv) {
        Ok((header, _)) if !header.contains(&t) => {
            eprintln!(
                "note: {} has no column '{t}', the time column the model was trained with; forecast rows carry row numbers (name another with --time)",
                csv.display()
            );
            None
        }
        _ => Some(t),
    }
}

/// Labels for rows `0..rows` of a series whose time column `name` holds
/// `cells`: the cells themselves, then (past the file's end) the column
/// continued at its most common step, with a note saying so; one more row
/// is labelled where possible, for the plot's last tick. `None`, with a
/// note, where rows past the end are needed and the column cannot be
/// continued: the rows then carry row numbers.
pub fn row_labels(name: &str, mut cells: Vec<String>, rows: usize) -> Option<Vec<String>> {
    let len = cells.len();
    if rows < len {
        return Some(cells);
    }
    match Timeline::infer(&cells).and_then(|line| Ok((line.next(rows + 1 - len)?, line.step()))) {
        Ok((more, step)) => {
            if rows > len {
                eprintln!("note: rows past the end of the series continue '{name}' every {step}");
            }
            cells.extend(more);
            Some(cells)
        }
        Err(_) if rows == len => Some(cells),
        Err(e) => {
            eprintln!(
                "note: forecast rows carry row numbers: the time column '{name}' cannot be continued past the end of the series ({e})"
            );
            None
        }
    }
}
