//! A run's time budget (`recur train --time 30m`): the run trains until
//! the budget is spent, then evaluates and saves. A schedule measures its
//! progress in time, so a cosine decay reaches its floor where the budget
//! ends, however fast the machine turns out to be.
//!
//! The clock runs only while the run trains (inside [`super::Trainer::run`]
//! and its kin), and a saved run keeps the time it has spent, so a resumed
//! run goes on with what is left. How many iterations a budget buys
//! depends on the machine and its load: a run with a budget is not
//! repeatable bit for bit (use an iteration count for that).

use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// The longest budget accepted: a year.
pub const MAX_BUDGET: Duration = Duration::from_secs(366 * 24 * 3600);

/// The time a run may train, and what it has spent.
#[derive(Clone, Debug)]
pub struct Budget {
    /// The whole budget, seconds.
    seconds: f64,
    /// Seconds spent before the clock last started (in this process or
    /// in the processes before a resume).
    spent_before: f64,
    /// While the clock runs: when it started, and the iteration then.
    running: Option<(Instant, u64)>,
    /// The time spent as another clock read it (rank 0's, over several
    /// ranks: see [`Budget::pin`]), read instead of this one's until the
    /// clock stops.
    pinned: Option<f64>,
}

impl Budget {
    /// A budget of `limit`, none of it spent. It must be above zero and at
    /// most [`MAX_BUDGET`].
    pub fn new(limit: Duration) -> Result<Self> {
        if limit.is_zero() || limit > MAX_BUDGET {
            return Err(Error::Config(format!(
                "--time must be between 1s and 366d, got {}",
                format_duration(limit.as_secs_f64())
            )));
        }
        Ok(Budget {
            seconds: limit.as_secs_f64(),
            spent_before: 0.0,
            running: None,
            pinned: None,
        })
    }

    /// A budget of `seconds` of which `spent` are spent (a resumed run).
    pub(crate) fn resumed(seconds: f64, spent: f64) -> Result<Self> {
        if !(seconds.is_finite() && seconds > 0.0 && spent.is_finite() && spent >= 0.0) {
            return Err(Error::Checkpoint(format!(
                "the saved time budget ({seconds} s, {spent} s spent) is not valid; the state file was edited"
            )));
        }
        Ok(Budget {
            seconds,
            spent_before: spent,
            running: None,
            pinned: None,
        })
    }

    /// The whole budget, seconds.
    pub fn seconds(&self) -> f64 {
        self.seconds
    }

    /// Seconds spent so far (as pinned, where the processes training
    /// together read rank 0's clock).
    pub fn spent(&self) -> f64 {
        self.pinned.unwrap_or_else(|| self.clock())
    }

    /// Seconds spent so far by this process's clock, pinned or not.
    pub(crate) fn clock(&self) -> f64 {
        let now = self
            .running
            .map(|(since, _)| since.elapsed().as_secs_f64())
            .unwrap_or(0.0);
        self.spent_before + now
    }

    /// The fraction of the budget spent, in [0, 1].
    pub fn progress(&self) -> f64 {
        (self.spent() / self.seconds).clamp(0.0, 1.0)
    }

    /// Whether the budget is spent.
    pub fn exhausted(&self) -> bool {
        self.spent() >= self.seconds
    }

    /// Start the clock at iteration `iter` (it keeps running if it runs).
    pub(crate) fn start(&mut self, iter: u64) {
        if self.running.is_none() {
            self.running = Some((Instant::now(), iter));
        }
    }

    /// Stop the clock, keeping what was spent.
    pub(crate) fn stop(&mut self) {
        self.spent_before = self.spent();
        (self.running, self.pinned) = (None, None);
    }

    /// Read `spent` as the time spent until the next pin or the clock
    /// stops: processes that train together read one clock (rank 0's),
    /// so that their schedules and their last iteration agree.
    pub(crate) fn pin(&mut self, spent: f64) {
        self.pinned = Some(spent);
    }

    /// The iterations the run will have done when the budget ends, at the
    /// pace of this start of the clock, now at iteration `iter`; `None`
    /// before the pace is known.
    pub fn estimated_iters(&self, iter: u64) -> Option<u64> {
        let (since, first) = self.running?;
        let (done, elapsed) = (iter.checked_sub(first)?, since.elapsed().as_secs_f64());
        if done == 0 || elapsed <= 0.0 {
            return None;
        }
        let left = (self.seconds - self.spent()).max(0.0);
        Some(iter + (left * done as f64 / elapsed).ceil() as u64)
    }
}

/// Read a duration as `recur train --time` takes it: a number with a unit
/// (`s`, `m`, `h` or `d`), or several (`1h30m`); a bare number is seconds.
pub fn parse_duration(text: &str) -> Result<Duration> {
    let bad = |why: &str| {
        Error::Config(format!(
            "--time '{text}': {why}; give a duration such as 90s, 30m, 1h30m or 2d"
        ))
    };
    let s = text.trim();
    if s.is_empty() {
        return Err(bad("it is empty"));
    }
    if let Ok(secs) = s.parse::<f64>() {
        return seconds(secs).ok_or_else(|| bad("not a positive number of seconds"));
    }
    let mut total = 0.0;
    let mut rest = s;
    while !rest.is_empty() {
        let split = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| bad("the last number has no unit"))?;
        let (number, tail) = rest.split_at(split);
        let value: f64 = number
            .parse()
            .map_err(|_| bad(&format!("'{number}' is not a number")))?;
        let unit = tail.chars().next().expect("split before a character");
        let scale = match unit {
            's' => 1.0,
            'm' => 60.0,
            'h' => 3600.0,
            'd' => 86400.0,
            other => return Err(bad(&format!("'{other}' is not a unit (s, m, h or d)"))),
        };
        total += value * scale;
        rest = &tail[unit.len_utf8()..];
    }
    seconds(total).ok_or_else(|| bad("it is not a positive duration"))
}

/// `secs` as a duration, if it is a positive finite number of at most
/// [`MAX_BUDGET`].
fn seconds(secs: f64) -> Option<Duration> {
    (secs.is_finite() && secs > 0.0 && secs <= MAX_BUDGET.as_secs_f64())
        .then(|| Duration::from_secs_f64(secs))
}

/// "1h 05m", "12m 30s", "42.0s": a number of seconds for people.
pub fn format_duration(secs: f64) -> String {
    let whole = secs.round() as u64;
    match whole {
        _ if secs < 60.0 => format!("{secs:.1}s"),
        0..3600 => format!("{}m {:02}s", whole / 60, whole % 60),
        _ => format!("{}h {:02}m", whole / 3600, (whole % 3600) / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_people_write_them() {
        let secs = |s: &str| parse_duration(s).unwrap().as_secs_f64();
        assert_eq!(secs("30m"), 1800.0);
        assert_eq!(secs("1h30m"), 5400.0);
        assert_eq!(secs("90"), 90.0);
        assert_eq!(secs("2.5s"), 2.5);
        assert_eq!(secs("1d"), 86400.0);
        for bad in ["", "0", "-5m", "30x", "m", "1h30", "abc", "400d", "nan"] {
            let err = parse_duration(bad).unwrap_err().to_string();
            assert!(
                err.contains("--time") && err.contains("30m"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn the_clock_counts_only_while_it_runs() {
        let mut b = Budget::resumed(10.0, 4.0).unwrap();
        assert_eq!(b.spent(), 4.0);
        assert!((b.progress() - 0.4).abs() < 1e-12);
        assert_eq!(b.estimated_iters(7), None);
        b.start(7);
        std::thread::sleep(Duration::from_millis(20));
        b.stop();
        let spent = b.spent();
        assert!((4.02..5.0).contains(&spent), "{spent}");
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(b.spent(), spent);
        assert!(!b.exhausted());
        assert!(Budget::resumed(10.0, 10.0).unwrap().exhausted());
        assert!(Budget::resumed(f64::NAN, 0.0).is_err());
        assert!(Budget::new(Duration::ZERO).is_err());
        // A pinned clock reads the pin until it stops.
        b.start(9);
        b.pin(9.5);
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!((b.spent(), b.exhausted()), (9.5, false));
        let own = b.clock();
        assert!(
            own > spent && own < 5.0,
            "the clock runs on under a pin: {own}"
        );
        b.pin(10.0);
        assert!(b.exhausted());
        b.stop();
        assert_eq!(b.spent(), 10.0);
    }

    #[test]
    fn durations_print_for_people() {
        assert_eq!(format_duration(42.04), "42.0s");
        assert_eq!(format_duration(750.0), "12m 30s");
        assert_eq!(format_duration(3900.0), "1h 05m");
    }
}
