//! Time columns: how a CSV's time cells are written (ISO dates and
//! date-times, months, plain numbers), the step between its rows, and the
//! cells that continue it past its end, so that forecasts carry times.
//!
//! Recognised forms: numbers (`2020`, `-1.25`); `YYYY-MM` (months);
//! `YYYY-MM-DD`; `YYYY-MM-DD HH:MM` and `YYYY-MM-DD HH:MM:SS`, with a space
//! or a `T` before the clock and an optional trailing `Z`; `/` may stand
//! for `-` in the date. The step is the most common difference between
//! consecutive rows: seconds (days, hours, minutes), calendar months (the
//! same day of each month, or each month's last day) or units of a number.
//! Continued cells are written the way the column writes its cells.

use std::collections::HashMap;

use crate::error::{Error, Result};

/// A time column that can be continued past its last row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Timeline {
    format: Format,
    last: Value,
    step: Step,
}

/// How a column's cells are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    /// Numbers with `decimals` digits after the point.
    Number { decimals: u32 },
    /// Dates, with or without a clock.
    Calendar(Calendar),
}

/// How a calendar cell is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Calendar {
    /// `-` or `/` between year, month and day.
    sep: u8,
    /// What the cell gives: a month, a day, or a clock to the minute or second.
    precision: Precision,
    /// ` ` or `T` between the date and the clock.
    clock_sep: u8,
    /// A trailing `Z`.
    zulu: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Precision {
    Month,
    Day,
    Minute,
    Second,
}

/// A cell's value: a number scaled by `10^decimals`, or a moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Value {
    Units(i64),
    Moment(Moment),
}

/// Days since 1970-01-01 and seconds into the day.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Moment {
    days: i64,
    secs: i64,
}

/// The difference between two consecutive cells.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Step {
    /// Of a number, scaled by `10^decimals`.
    Units(i64),
    /// Of a moment, in seconds.
    Seconds(i64),
    /// Whole calendar months, on the same day of the month or (with
    /// `month_end`) on each month's last day.
    Months { n: i64, month_end: bool },
}

const DAY: i64 = 86_400;

impl Timeline {
    /// The column of `cells` (one per data row, in order), or an error that
    /// says why it cannot be continued: fewer than two rows, a cell in no
    /// recognised form or in another form than the first, or times that do
    /// not increase.
    pub fn infer(cells: &[String]) -> Result<Self> {
        let [first, _, ..] = cells else {
            return Err(Error::Data(
                "it has one row, so there is no step between rows".into(),
            ));
        };
        let (format, values) = if number_parts(first).is_some() {
            numbers(cells)?
        } else if let Some((calendar, _)) = parse_calendar(first) {
            let mut values = Vec::with_capacity(cells.len());
            for (i, cell) in cells.iter().enumerate() {
                match parse_calendar(cell) {
                    Some((c, m)) if c == calendar => values.push(Value::Moment(m)),
                    _ => return Err(unlike(i, cell, first)),
                }
            }
            (Format::Calendar(calendar), values)
        } else {
            return Err(Error::Data(format!(
                "'{first}' is neither a number nor a date written YYYY-MM-DD (with HH:MM or HH:MM:SS after it, or as YYYY-MM)"
            )));
        };
        let mut seen: HashMap<Step, (usize, usize)> = HashMap::new();
        for (i, pair) in values.windows(2).enumerate() {
            let entry = seen.entry(step_between(pair[0], pair[1])).or_insert((0, i));
            entry.0 += 1;
        }
        let (step, _) = seen
            .into_iter()
            .max_by_key(|&(_, (count, first))| (count, std::cmp::Reverse(first)))
            .expect("two rows give one step");
        let line = Timeline {
            format,
            last: values[values.len() - 1],
            step,
        };
        let forward = match step {
            Step::Units(u) => u > 0,
            Step::Seconds(s) => s > 0,
            Step::Months { n, .. } => n > 0,
        };
        if !forward {
            return Err(Error::Data(format!(
                "its most common step between rows is {}: the times do not increase",
                line.step()
            )));
        }
        Ok(line)
    }

    /// The step between rows in words: "1 day", "15 minutes", "1 month",
    /// "3 months (month ends)", "0.5".
    pub fn step(&self) -> String {
        match (self.step, self.format) {
            (Step::Units(u), Format::Number { decimals }) => write_number(u, decimals),
            (Step::Months { n, month_end }, _) => {
                let ends = if month_end { " (month ends)" } else { "" };
                format!("{}{ends}", plural(n, "month"))
            }
            (Step::Seconds(s), _) => {
                let units = [(DAY, "day"), (3600, "hour"), (60, "minute"), (1, "second")];
                let (size, unit) = units
                    .into_iter()
                    .find(|(size, _)| s % size == 0)
                    .unwrap_or((1, "second"));
                plural(s / size, unit)
            }
            (Step::Units(u), _) => u.to_string(),
        }
    }

    /// The `n` cells after the last one, one step apart, written like the
    /// column's cells; an error if they would leave the years 0 to 9999
    /// (or the range of the numbers).
    pub fn next(&self, n: usize) -> Result<Vec<String>> {
        (1..=n as i64)
            .map(|k| {
                self.after(k).ok_or_else(|| {
                    Error::Data(format!(
                        "{k} steps of {} after the last row leave the range it can write",
                        self.step()
                    ))
                })
            })
            .collect()
    }

    /// The cell `k` steps after the last one.
    fn after(&self, k: i64) -> Option<String> {
        match (self.format, self.last, self.step) {
            (Format::Number { decimals }, Value::Units(v), Step::Units(u)) => {
                Some(write_number(v.checked_add(u.checked_mul(k)?)?, decimals))
            }
            (Format::Calendar(c), Value::Moment(m), Step::Seconds(s)) => {
                let secs = (m.days.checked_mul(DAY)? + m.secs).checked_add(s.checked_mul(k)?)?;
                write_calendar(
                    c,
                    Moment {
                        days: secs.div_euclid(DAY),
                        secs: secs.rem_euclid(DAY),
                    },
                )
            }
            (Format::Calendar(c), Value::Moment(m), Step::Months { n, month_end }) => {
                let (y, mo, d) = civil_from_days(m.days);
                let index = (y * 12 + mo - 1).checked_add(n.checked_mul(k)?)?;
                let (y, mo) = (index.div_euclid(12), index.rem_euclid(12) + 1);
                if !(0..=9999).contains(&y) {
                    return None;
                }
                let last = days_in_month(y, mo);
                let d = if month_end { last } else { d.min(last) };
                write_calendar(
                    c,
                    Moment {
                        days: days_from_civil(y, mo, d),
                        secs: m.secs,
                    },
                )
            }
            _ => None,
        }
    }
}

/// Whether `cell` is a date or date-time in one of the recognised forms
/// (numbers are not counted: a number may as well be a measurement).
pub fn looks_like_time(cell: &str) -> bool {
    parse_calendar(cell).is_some()
}

fn unlike(i: usize, cell: &str, first: &str) -> Error {
    Error::Data(format!(
        "data row {}: '{cell}' is not written like the first cell '{first}'",
        i + 1
    ))
}

fn plural(n: i64, unit: &str) -> String {
    if n == 1 {
        format!("1 {unit}")
    } else {
        format!("{n} {unit}s")
    }
}

/// The difference from `a` to `b`.
fn step_between(a: Value, b: Value) -> Step {
    match (a, b) {
        (Value::Units(a), Value::Units(b)) => Step::Units(b.saturating_sub(a)),
        (Value::Moment(a), Value::Moment(b)) => {
            let ((ya, ma, da), (yb, mb, db)) = (civil_from_days(a.days), civil_from_days(b.days));
            let months = (yb * 12 + mb) - (ya * 12 + ma);
            let ends = da == days_in_month(ya, ma) && db == days_in_month(yb, mb);
            if months != 0 && a.secs == b.secs && (da == db || ends) {
                Step::Months {
                    n: months,
                    month_end: ends,
                }
            } else {
                Step::Seconds((b.days - a.days) * DAY + b.secs - a.secs)
            }
        }
        _ => Step::Units(0),
    }
}

/// Sign, whole part and fraction digits of a plain decimal number.
fn number_parts(cell: &str) -> Option<(bool, &str, &str)> {
    let (negative, body) = match cell.as_bytes().first()? {
        b'-' => (true, &cell[1..]),
        b'+' => (false, &cell[1..]),
        _ => (false, cell),
    };
    let (whole, fraction) = body.split_once('.').unwrap_or((body, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    (!whole.is_empty() && digits(whole) && digits(fraction)).then_some((negative, whole, fraction))
}

/// Every cell as a number scaled by `10^decimals`, `decimals` the most any
/// cell writes.
fn numbers(cells: &[String]) -> Result<(Format, Vec<Value>)> {
    let mut parts = Vec::with_capacity(cells.len());
    for (i, cell) in cells.iter().enumerate() {
        parts.push(number_parts(cell).ok_or_else(|| unlike(i, cell, &cells[0]))?);
    }
    let decimals = parts.iter().map(|p| p.2.len()).max().unwrap_or(0);
    let too_long = || Error::Data("its numbers have too many digits to continue exactly".into());
    if decimals > 9 {
        return Err(too_long());
    }
    let scale = 10_i64.pow(decimals as u32);
    let mut values = Vec::with_capacity(cells.len());
    for (negative, whole, fraction) in parts {
        let padded = format!("{fraction:0<decimals$}");
        let whole: i64 = whole.parse().map_err(|_| too_long())?;
        let fraction: i64 = if padded.is_empty() {
            0
        } else {
            padded.parse().map_err(|_| too_long())?
        };
        let v = whole
            .checked_mul(scale)
            .and_then(|w| w.checked_add(fraction))
            .ok_or_else(too_long)?;
        values.push(Value::Units(if negative { -v } else { v }));
    }
    let format = Format::Number {
        decimals: decimals as u32,
    };
    Ok((format, values))
}

/// A number scaled by `10^decimals`, written with that many decimals.
fn write_number(v: i64, decimals: u32) -> String {
    if decimals == 0 {
        return v.to_string();
    }
    let scale = 10_u64.pow(decimals);
    let sign = if v < 0 { "-" } else { "" };
    let a = v.unsigned_abs();
    format!(
        "{sign}{}.{:0width$}",
        a / scale,
        a % scale,
        width = decimals as usize
    )
}

/// `cell` as a calendar form and the moment it names.
fn parse_calendar(cell: &str) -> Option<(Calendar, Moment)> {
    let b = cell.as_bytes();
    let (b, zulu) = match b.split_last() {
        Some((b'Z', body)) => (body, true),
        _ => (b, false),
    };
    let num = |from: usize, to: usize| -> Option<i64> {
        let s = b.get(from..to)?;
        s.iter()
            .all(u8::is_ascii_digit)
            .then(|| s.iter().fold(0, |n, d| n * 10 + i64::from(d - b'0')))
    };
    let at = |i: usize| b.get(i).copied();
    let (y, sep, m) = (num(0, 4)?, at(4)?, num(5, 7)?);
    if !matches!(sep, b'-' | b'/') || !(1..=12).contains(&m) {
        return None;
    }
    let mut c = Calendar {
        sep,
        precision: Precision::Month,
        clock_sep: b' ',
        zulu,
    };
    let (mut d, mut secs) = (1, 0);
    match b.len() {
        7 => {}
        10 | 16 | 19 => {
            d = num(8, 10)?;
            if at(7)? != sep || d < 1 || d > days_in_month(y, m) {
                return None;
            }
            c.precision = Precision::Day;
            if b.len() > 10 {
                c.clock_sep = at(10)?;
                let (h, mi) = (num(11, 13)?, num(14, 16)?);
                let s = if b.len() == 19 { num(17, 19)? } else { 0 };
                let colons = at(13)? == b':' && (b.len() == 16 || at(16)? == b':');
                if !matches!(c.clock_sep, b' ' | b'T') || !colons || h > 23 || mi > 59 || s > 59 {
                    return None;
                }
                c.precision = if b.len() == 19 {
                    Precision::Second
                } else {
                    Precision::Minute
                };
                secs = h * 3600 + mi * 60 + s;
            }
        }
        _ => return None,
    }
    if zulu && c.precision < Precision::Minute {
        return None;
    }
    let days = days_from_civil(y, m, d);
    Some((c, Moment { days, secs }))
}

/// `m` written in the form `c`; `None` outside the years 0 to 9999, or if
/// the form cannot show it (a clock on a day-only column).
fn write_calendar(c: Calendar, m: Moment) -> Option<String> {
    let (y, mo, d) = civil_from_days(m.days);
    if !(0..=9999).contains(&y) {
        return None;
    }
    let sep = c.sep as char;
    let (h, mi, s) = (m.secs / 3600, m.secs / 60 % 60, m.secs % 60);
    let z = if c.zulu { "Z" } else { "" };
    let t = c.clock_sep as char;
    match c.precision {
        Precision::Month => (d == 1 && m.secs == 0).then(|| format!("{y:04}{sep}{mo:02}")),
        Precision::Day => (m.secs == 0).then(|| format!("{y:04}{sep}{mo:02}{sep}{d:02}")),
        Precision::Minute => {
            (s == 0).then(|| format!("{y:04}{sep}{mo:02}{sep}{d:02}{t}{h:02}:{mi:02}{z}"))
        }
        Precision::Second => Some(format!(
            "{y:04}{sep}{mo:02}{sep}{d:02}{t}{h:02}:{mi:02}:{s:02}{z}"
        )),
    }
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400; // [0, 399]
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1; // [0, 365], from March 1
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // [0, 146096]
    era * 146_097 + doe - 719_468
}

/// The date `z` days after 1970-01-01 (Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cells(c: &[&str]) -> Vec<String> {
        c.iter().map(|s| s.to_string()).collect()
    }

    fn next(c: &[&str], n: usize) -> Vec<String> {
        Timeline::infer(&cells(c)).unwrap().next(n).unwrap()
    }

    fn why_not(c: &[&str]) -> String {
        Timeline::infer(&cells(c)).unwrap_err().to_string()
    }

    #[test]
    fn civil_dates_round_trip() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        for z in [-800_000, -1, 0, 59, 10_956, 11_016, 19_782, 2_932_896] {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z, "{y}-{m}-{d}");
        }
    }

    #[test]
    fn days_continue_across_months_leap_days_and_years() {
        assert_eq!(
            next(&["2020-02-26", "2020-02-27", "2020-02-28"], 3),
            ["2020-02-29", "2020-03-01", "2020-03-02"]
        );
        assert_eq!(
            next(&["2021-12-30", "2021-12-31"], 2),
            ["2022-01-01", "2022-01-02"]
        );
        // Weekly, and the most common step wins over a gap.
        assert_eq!(
            next(&["2024/01/01", "2024/01/08", "2024/01/29", "2024/02/05"], 1),
            ["2024/02/12"]
        );
    }

    #[test]
    fn clocks_continue_by_the_hour_minute_and_second() {
        let hourly = ["2021-03-01 22:00", "2021-03-01 23:00"];
        assert_eq!(next(&hourly, 2), ["2021-03-02 00:00", "2021-03-02 01:00"]);
        assert_eq!(Timeline::infer(&cells(&hourly)).unwrap().step(), "1 hour");
        let quarter = ["2021-03-01T10:30:00Z", "2021-03-01T10:45:00Z"];
        assert_eq!(next(&quarter, 1), ["2021-03-01T11:00:00Z"]);
        assert_eq!(
            Timeline::infer(&cells(&quarter)).unwrap().step(),
            "15 minutes"
        );
        assert_eq!(
            next(&["2021-03-01 00:00:58", "2021-03-01 00:00:59"], 1),
            ["2021-03-01 00:01:00"]
        );
    }

    #[test]
    fn months_keep_their_day_or_month_end() {
        assert_eq!(next(&["2023-11", "2023-12"], 2), ["2024-01", "2024-02"]);
        assert_eq!(
            next(&["2023-12-15", "2024-01-15"], 2),
            ["2024-02-15", "2024-03-15"]
        );
        let ends = ["2023-11-30", "2023-12-31", "2024-01-31"];
        assert_eq!(next(&ends, 2), ["2024-02-29", "2024-03-31"]);
        assert_eq!(
            Timeline::infer(&cells(&ends)).unwrap().step(),
            "1 month (month ends)"
        );
        let quarters = ["2023-03-31", "2023-06-30", "2023-09-30"];
        assert_eq!(next(&quarters, 2), ["2023-12-31", "2024-03-31"]);
    }

    #[test]
    fn numbers_continue_with_their_decimals() {
        assert_eq!(next(&["0", "5", "10"], 2), ["15", "20"]);
        assert_eq!(next(&["1.5", "2", "2.5"], 2), ["3.0", "3.5"]);
        assert_eq!(next(&["-0.2", "-0.1"], 3), ["0.0", "0.1", "0.2"]);
        assert_eq!(
            Timeline::infer(&cells(&["-0.2", "-0.1"])).unwrap().step(),
            "0.1"
        );
        assert_eq!(next(&["1999", "2000"], 1), ["2001"]);
    }

    #[test]
    fn columns_that_cannot_be_continued_say_why() {
        assert!(why_not(&["day0", "day1"]).contains("neither a number nor a date"));
        assert!(why_not(&["2020-01-01"]).contains("one row"));
        assert!(why_not(&["2020-01-01", "2020-01-02 10:00"]).contains("not written like"));
        assert!(why_not(&["1", "x"]).contains("data row 2"));
        assert!(why_not(&["2020-01-02", "2020-01-01"]).contains("do not increase"));
        assert!(why_not(&["3", "3"]).contains("do not increase"));
        assert!(why_not(&["0.0000000001", "1"]).contains("too many digits"));
        // Not dates: out-of-range fields, a Z without a clock.
        for cell in [
            "2020-13",
            "2021-02-29",
            "2020-01-01 24:00",
            "2020-01-01Z",
            "20-01-01",
        ] {
            assert!(!looks_like_time(cell), "{cell}");
        }
        assert!(looks_like_time("2021-02-28 23:59:59") && looks_like_time("2020/02"));
        let late = Timeline::infer(&cells(&["9999-12-30", "9999-12-31"])).unwrap();
        assert!(late.next(1).is_err());
    }
}
