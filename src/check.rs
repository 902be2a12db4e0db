//! Checks of numeric settings, shared by every trainer and command: each
//! returns a one-line [`Error::Config`] that names the flag, the valid range
//! and the value given, so that `recur train`, `recur seq2seq train`,
//! `recur forecast train` and `recur bench` reject bad numbers alike.
//!
//! ```
//! use recur::check;
//! assert!(check::positive("--lr", 0.1).is_ok());
//! let e = check::fraction("--val-frac", 1.5).unwrap_err().to_string();
//! assert_eq!(e, "--val-frac must be in [0, 1), got 1.5");
//! ```

use std::fmt::Display;

use crate::error::{Error, Result};
use crate::optim::{Clip, OptimizerKind, Schedule};

fn fail(flag: &str, range: &str, got: impl Display) -> Result<()> {
    Err(Error::Config(format!("{flag} must be {range}, got {got}")))
}

/// A count of at least 1 (sizes, layers, batches, iterations).
pub fn at_least_one<N: Copy + PartialOrd + From<u8> + Display>(flag: &str, n: N) -> Result<()> {
    if n < N::from(1) {
        return fail(flag, "at least 1", n);
    }
    Ok(())
}

/// A count in `lo..=hi`.
pub fn between<N: Copy + PartialOrd + Display>(flag: &str, n: N, lo: N, hi: N) -> Result<()> {
    if n < lo || n > hi {
        return fail(flag, &format!("between {lo} and {hi}"), n);
    }
    Ok(())
}

/// A finite number above 0 (learning rates, clipping limits).
pub fn positive(flag: &str, x: f64) -> Result<()> {
    if !(x.is_finite() && x > 0.0) {
        return fail(flag, "a positive number", x);
    }
    Ok(())
}

/// A finite number of at least 0.
pub fn non_negative(flag: &str, x: f64) -> Result<()> {
    if !(x.is_finite() && x >= 0.0) {
        return fail(flag, "a finite number >= 0", x);
    }
    Ok(())
}

/// Any finite number (not NaN or infinite).
pub fn finite(flag: &str, x: f64) -> Result<()> {
    if !x.is_finite() {
        return fail(flag, "a finite number", x);
    }
    Ok(())
}

/// A fraction in `[0, 1)`: dropout, a held-out share, momentum.
pub fn fraction(flag: &str, x: f64) -> Result<()> {
    if !(0.0..1.0).contains(&x) {
        return fail(flag, "in [0, 1)", x);
    }
    Ok(())
}

/// A probability in `[0, 1]`.
pub fn probability(flag: &str, x: f64) -> Result<()> {
    if !(0.0..=1.0).contains(&x) {
        return fail(flag, "in [0, 1]", x);
    }
    Ok(())
}

/// The update settings every trainer shares: the optimizer's own
/// hyper-parameters (`--momentum`), the learning rate (`--lr`), gradient
/// clipping (`--clip` / `--clip-norm`) and the learning-rate schedule.
pub fn optimization(
    optimizer: &OptimizerKind,
    lr: f64,
    clip: &Clip,
    schedule: &Schedule,
) -> Result<()> {
    positive("--lr", lr)?;
    match *optimizer {
        OptimizerKind::Sgd { momentum } => fraction("--momentum", momentum)?,
        OptimizerKind::Adagrad => {}
        OptimizerKind::Rmsprop { alpha } => fraction("the RMSprop decay alpha", alpha)?,
        OptimizerKind::Adam { beta1, beta2 } => {
            fraction("Adam's beta1", beta1)?;
            fraction("Adam's beta2", beta2)?;
        }
    }
    match *clip {
        Clip::None => {}
        Clip::Elementwise(c) => positive("--clip", c)?,
        Clip::GlobalNorm(c) => positive("--clip-norm", c)?,
    }
    match *schedule {
        Schedule::Constant => Ok(()),
        Schedule::Cosine { floor } => probability("the cosine schedule's floor", floor),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_check_names_the_flag_the_range_and_the_value() {
        let msg = |r: Result<()>| r.unwrap_err().to_string();
        assert_eq!(
            msg(at_least_one("--hidden", 0usize)),
            "--hidden must be at least 1, got 0"
        );
        assert_eq!(
            msg(between("--beam", 0usize, 1, 100)),
            "--beam must be between 1 and 100, got 0"
        );
        assert_eq!(
            msg(positive("--lr", f64::NAN)),
            "--lr must be a positive number, got NaN"
        );
        assert!(msg(non_negative("--length-alpha", -1.0)).contains(">= 0"));
        assert!(msg(finite("--forget-bias", f64::INFINITY)).contains("inf"));
        assert!(msg(fraction("--dropout", 1.0)).contains("[0, 1)"));
        assert!(msg(probability("--teacher-forcing", 1.5)).contains("[0, 1]"));
        assert!(at_least_one("--iters", 1u64).is_ok());
        assert!(probability("--teacher-forcing", 1.0).is_ok());
        assert!(fraction("--val-frac", 0.0).is_ok());
    }

    #[test]
    fn optimization_names_the_clip_flag_in_use() {
        let adam = OptimizerKind::from_name("adam", 0.0).unwrap();
        let ok = |clip| optimization(&adam, 1e-3, &clip, &Schedule::Constant);
        assert!(ok(Clip::None).is_ok());
        assert!(
            ok(Clip::GlobalNorm(0.0))
                .unwrap_err()
                .to_string()
                .starts_with("--clip-norm")
        );
        assert!(
            ok(Clip::Elementwise(-1.0))
                .unwrap_err()
                .to_string()
                .starts_with("--clip ")
        );
        let sgd = OptimizerKind::Sgd { momentum: 1.0 };
        let e = optimization(&sgd, 0.1, &Clip::None, &Schedule::Constant).unwrap_err();
        assert!(e.to_string().starts_with("--momentum"));
        let e = optimization(&adam, -1.0, &Clip::None, &Schedule::Constant).unwrap_err();
        assert!(e.to_string().starts_with("--lr"));
    }
}
