//! Built-in sequence-to-sequence tasks with seeded generators:
//!
//! - `reverse`: a string of 5-20 lowercase letters → the same reversed;
//! - `sort`: 5-15 digits → the same digits in ascending order;
//! - `add`: `a+b` with `0 <= a, b <= 999` → the sum;
//! - `dates`: a date between 1950 and 2049 written as people write them
//!   (`3 March 2021`, `03/03/21` day first, `Mar 3, 2021`, `March 3, 2021`,
//!   `3 Mar 2021`, `2021/03/03`) → ISO `2021-03-03`. Two-digit years pivot
//!   at 50: `21` is 2021, `57` is 1957.
//!
//! [`split`] draws a training set and a held-out set that share no source.

use std::collections::HashSet;

use rand::{Rng, RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::pairs::Pair;
use crate::check;
use crate::error::{Error, Result};
use crate::memory::Footprint;

/// The longest strings the reverse and sort tasks draw (`--lengths`): a
/// toy task, and 20,000 pairs of this length already take about 200 MB
/// once batched for training.
pub const MAX_LENGTH: usize = 1000;

/// A built-in task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Task {
    /// Reverse a string of `min..=max` letters (default 5-20).
    Reverse {
        /// Shortest string.
        min: usize,
        /// Longest string.
        max: usize,
    },
    /// Sort `min..=max` digits (default 5-15).
    Sort {
        /// Fewest digits.
        min: usize,
        /// Most digits.
        max: usize,
    },
    /// Add two integers given as text.
    Add,
    /// Normalize human-written dates to ISO form.
    Dates,
}

impl std::str::FromStr for Task {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "reverse" => Task::Reverse { min: 5, max: 20 },
            "sort" => Task::Sort { min: 5, max: 15 },
            "add" => Task::Add,
            "dates" => Task::Dates,
            other => {
                return Err(Error::Config(format!(
                    "unknown task '{other}': use reverse, sort, add or dates"
                )));
            }
        })
    }
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

fn days_in(month: usize, year: u32) -> u32 {
    match month {
        1 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        1 => 28,
        3 | 5 | 8 | 10 => 30,
        _ => 31,
    }
}

impl Task {
    /// The same task with sequence lengths `min..=max` (reverse and sort
    /// only).
    pub fn with_lengths(self, min: usize, max: usize) -> Result<Self> {
        if min == 0 || min > max {
            return Err(Error::Config(format!(
                "lengths {min}-{max}: give MIN-MAX with 1 <= MIN <= MAX"
            )));
        }
        if max > MAX_LENGTH {
            return Err(Error::Config(format!(
                "lengths {min}-{max}: the built-in tasks go up to {MAX_LENGTH} characters; for longer sequences give a --pairs file"
            )));
        }
        match self {
            Task::Reverse { .. } => Ok(Task::Reverse { min, max }),
            Task::Sort { .. } => Ok(Task::Sort { min, max }),
            _ => Err(Error::Config(
                "--lengths applies to the reverse and sort tasks".into(),
            )),
        }
    }

    /// The most characters a source or target of the task has.
    pub fn longest(self) -> usize {
        match self {
            Task::Reverse { max, .. } | Task::Sort { max, .. } => max,
            Task::Add => 7,
            Task::Dates => 18,
        }
    }

    /// One random example.
    pub fn example(self, rng: &mut impl Rng) -> Pair {
        match self {
            Task::Reverse { min, max } => {
                let n = rng.random_range(min..=max);
                let s: String = (0..n)
                    .map(|_| char::from(b'a' + rng.random_range(0..26u8)))
                    .collect();
                let r = s.chars().rev().collect::<String>();
                Pair::new(s, r)
            }
            Task::Sort { min, max } => {
                let n = rng.random_range(min..=max);
                let s: String = (0..n)
                    .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
                    .collect();
                let mut d: Vec<char> = s.chars().collect();
                d.sort_unstable();
                Pair::new(s, d.into_iter().collect::<String>())
            }
            Task::Add => {
                let (a, b) = (rng.random_range(0..1000u32), rng.random_range(0..1000u32));
                Pair::new(format!("{a}+{b}"), (a + b).to_string())
            }
            Task::Dates => {
                let year = rng.random_range(1950..2050u32);
                let month = rng.random_range(0..12usize);
                let day = rng.random_range(1..=days_in(month, year));
                let (name, abbr) = (MONTHS[month], &MONTHS[month][..3]);
                let m = month + 1;
                let source = match rng.random_range(0..6) {
                    0 => format!("{day} {name} {year}"),
                    1 => format!("{day:02}/{m:02}/{:02}", year % 100),
                    2 => format!("{abbr} {day}, {year}"),
                    3 => format!("{name} {day}, {year}"),
                    4 => format!("{day} {abbr} {year}"),
                    _ => format!("{year}/{m:02}/{day:02}"),
                };
                Pair::new(source, format!("{year}-{m:02}-{day:02}"))
            }
        }
    }
}

/// `n_train` training pairs and `n_test` held-out pairs of `task`, drawn
/// with `seed`; no held-out source appears in the training set (and the
/// held-out set has no repeats). An error if the task cannot supply that
/// many distinct sources.
pub fn split(
    task: Task,
    n_train: usize,
    n_test: usize,
    seed: u64,
) -> Result<(Vec<Pair>, Vec<Pair>)> {
    check::at_least_one("--train-size", n_train)?;
    // Each pair's two strings, about five times over: the pairs, the
    // trainer's copy, the vocabulary's scan, growth slack.
    let pairs = n_train as f64 + n_test as f64;
    let per_pair = 10.0 * (task.longest() as f64 + std::mem::size_of::<String>() as f64);
    Footprint::new()
        .add_bytes("pairs", pairs * per_pair)
        .check("lower --lengths, --train-size or --test-size")?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut seen = HashSet::new();
    let mut test = Vec::with_capacity(n_test);
    let limit = 100 * (n_train + n_test) + 1000;
    let mut draws = 0;
    while test.len() < n_test {
        let p = task.example(&mut rng);
        if seen.insert(p.source.clone()) {
            test.push(p);
        }
        draws += 1;
        if draws > limit {
            return Err(Error::Config(format!(
                "the {task:?} task has too few distinct examples for {n_test} held-out pairs"
            )));
        }
    }
    let mut train = Vec::with_capacity(n_train);
    while train.len() < n_train {
        let p = task.example(&mut rng);
        if !seen.contains(&p.source) {
            train.push(p);
        }
        draws += 1;
        if draws > limit {
            return Err(Error::Config(format!(
                "the {task:?} task has too few examples outside the held-out set"
            )));
        }
    }
    Ok((train, test))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_all(task: Task, valid: impl Fn(&Pair) -> bool) {
        let (train, test) = split(task, 2000, 300, 5).unwrap();
        assert_eq!((train.len(), test.len()), (2000, 300));
        for p in train.iter().chain(&test) {
            assert!(valid(p), "{task:?}: {p:?}");
        }
        let held: HashSet<_> = test.iter().map(|p| &p.source).collect();
        assert_eq!(held.len(), 300, "held-out sources repeat");
        assert!(
            train.iter().all(|p| !held.contains(&p.source)),
            "held-out source in training"
        );
        assert_eq!(
            split(task, 2000, 300, 5).unwrap(),
            (train, test),
            "not reproducible"
        );
    }

    #[test]
    fn reverse_pairs_are_reversals() {
        check_all("reverse".parse().unwrap(), |p| {
            (5..=20).contains(&p.source.len())
                && p.target == p.source.chars().rev().collect::<String>()
        });
    }

    #[test]
    fn sort_pairs_are_sorted_digits() {
        check_all("sort".parse().unwrap(), |p| {
            let mut d: Vec<char> = p.source.chars().collect();
            d.sort();
            p.source.chars().all(|c| c.is_ascii_digit())
                && p.target == d.into_iter().collect::<String>()
        });
    }

    #[test]
    fn add_pairs_are_sums() {
        check_all(Task::Add, |p| {
            let (a, b) = p.source.split_once('+').unwrap();
            let (a, b): (u32, u32) = (a.parse().unwrap(), b.parse().unwrap());
            a < 1000 && b < 1000 && p.target == (a + b).to_string()
        });
    }

    #[test]
    fn dates_map_to_iso() {
        check_all(Task::Dates, |p| {
            let (y, rest) = p.target.split_once('-').unwrap();
            let (m, d) = rest.split_once('-').unwrap();
            let (y, m, d): (u32, usize, u32) =
                (y.parse().unwrap(), m.parse().unwrap(), d.parse().unwrap());
            let name = MONTHS[m - 1];
            let forms = [
                format!("{d} {name} {y}"),
                format!("{d:02}/{m:02}/{:02}", y % 100),
                format!("{} {d}, {y}", &name[..3]),
                format!("{name} {d}, {y}"),
                format!("{d} {} {y}", &name[..3]),
                format!("{y}/{m:02}/{d:02}"),
            ];
            (1950..2050).contains(&y)
                && d >= 1
                && d <= days_in(m - 1, y)
                && forms.contains(&p.source)
        });
    }

    #[test]
    fn lengths_can_be_chosen() {
        let task = Task::Reverse { min: 5, max: 20 }
            .with_lengths(15, 20)
            .unwrap();
        let (train, _) = split(task, 200, 0, 1).unwrap();
        assert!(train.iter().all(|p| (15..=20).contains(&p.source.len())));
        assert!(Task::Add.with_lengths(1, 3).is_err());
        assert!(task.with_lengths(4, 2).is_err());
    }

    #[test]
    fn lengths_and_sizes_past_what_fits_are_refused_before_drawing() {
        let too_long = Task::Reverse { min: 5, max: 20 }.with_lengths(100_000, 100_000);
        let msg = too_long.unwrap_err().to_string();
        assert!(msg.contains("1000") && msg.contains("--pairs"), "{msg}");
        assert!(
            Task::Sort { min: 5, max: 15 }
                .with_lengths(1000, 1000)
                .is_ok()
        );
        // 10¹⁴ pairs cannot fit anywhere: refused at once, nothing drawn.
        let msg = split(Task::Add, 100_000_000_000_000, 10, 1)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("--train-size"), "{msg}");
    }

    #[test]
    fn leap_years() {
        assert_eq!(days_in(1, 2000), 29);
        assert_eq!(days_in(1, 1900), 28);
        assert_eq!(days_in(1, 2024), 29);
        assert_eq!(days_in(1, 2023), 28);
    }

    #[test]
    fn unknown_task_is_an_error() {
        assert!("translate".parse::<Task>().is_err());
        assert_eq!("dates".parse::<Task>().unwrap(), Task::Dates);
    }
}
