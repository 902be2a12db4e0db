//! The four bugs of a popular numpy many-to-one RNN notebook, each shown as
//! the gradient-check failure it produces (docs/guide.md walks through them).
//!
//! `cargo run --release --example notebook_bugs`
//!
//! The notebook's model, written the way the notebook writes it (column
//! vectors, one matrix per weight, a loop over time), in plain f64 Rust:
//!
//! ```text
//! h_t = tanh(Wxh x_t + Whh h_{t-1} + bh)     t = 1..T, h_0 = 0
//! y   = Why h_T + by                         (many-to-one: the last state only)
//! L   = ½ ‖y - target‖²
//! ```
//!
//! Its backward carries four bugs, each behind a switch ([`Bug`]). Every
//! variant's analytic gradients are compared with central differences of
//! the loss, parameter by parameter; the program checks that the correct
//! version passes and that each bug fails where it should (and exits with an
//! error if not), so that what it prints is what the guide quotes.

use std::process::ExitCode;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use recur::gradcheck::{TOLERANCE, relative_error};

/// A shape mismatch: what the notebook's numpy would raise.
type Shapes<T> = std::result::Result<T, String>;

/// One of the notebook's bugs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Bug {
    /// 1: the input weight is made `H x H` instead of `H x I`.
    SquareWxh,
    /// 2: `dh_prev = Wxhᵀ dh_raw + Whhᵀ dh_raw`.
    WxhInDhPrev,
    /// 3: `dWhy += d_y h_tᵀ` at every step, not only the last.
    DwhyEveryStep,
    /// 4: `dby` is never computed.
    NoDby,
}

/// A dense matrix, row-major.
#[derive(Clone, Debug)]
struct Mat {
    rows: usize,
    cols: usize,
    v: Vec<f64>,
}

impl Mat {
    fn zeros(rows: usize, cols: usize) -> Mat {
        Mat {
            rows,
            cols,
            v: vec![0.0; rows * cols],
        }
    }

    fn random(rows: usize, cols: usize, rng: &mut ChaCha8Rng) -> Mat {
        let v = (0..rows * cols)
            .map(|_| rng.random_range(-0.8..0.8))
            .collect();
        Mat { rows, cols, v }
    }

    /// `self · x`, as `np.dot(W, x)`: `x` must have `cols` values.
    fn dot(&self, name: &str, x: &[f64]) -> Shapes<Vec<f64>> {
        if x.len() != self.cols {
            return Err(format!(
                "np.dot({name}, x): shapes ({},{}) and ({},1) not aligned: {} (dim 1) != {} (dim 0)",
                self.rows,
                self.cols,
                x.len(),
                self.cols,
                x.len()
            ));
        }
        Ok(self.v.chunks(self.cols).map(|row| dot(row, x)).collect())
    }

    /// `selfᵀ · x`, as `np.dot(W.T, x)`: `x` must have `rows` values.
    fn dot_t(&self, x: &[f64]) -> Vec<f64> {
        (0..self.cols)
            .map(|j| {
                (0..self.rows)
                    .map(|i| self.v[i * self.cols + j] * x[i])
                    .sum()
            })
            .collect()
    }

    /// `self += a bᵀ`, as `dW += np.dot(a, b.T)`.
    fn add_outer(&mut self, a: &[f64], b: &[f64]) {
        for (row, &ai) in self.v.chunks_mut(self.cols).zip(a) {
            for (w, &bj) in row.iter_mut().zip(b) {
                *w += ai * bj;
            }
        }
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// `a + b`, as numpy adds two column vectors (which must be as long).
fn add(a: &[f64], b: &[f64]) -> Shapes<Vec<f64>> {
    if a.len() != b.len() {
        return Err(format!(
            "operands could not be broadcast together with shapes ({},1) ({},1)",
            a.len(),
            b.len()
        ));
    }
    Ok(a.iter().zip(b).map(|(x, y)| x + y).collect())
}

/// The notebook's parameters (biases as one-column matrices).
#[derive(Clone, Debug)]
struct Params {
    wxh: Mat,
    whh: Mat,
    why: Mat,
    bh: Mat,
    by: Mat,
}

/// The names of [`Params::tensors`], in order.
const NAMES: [&str; 5] = ["Wxh", "Whh", "Why", "bh", "by"];

impl Params {
    /// Random weights for input size `i`, hidden size `h`, output size `o`.
    fn new(i: usize, h: usize, o: usize, bug: Option<Bug>, rng: &mut ChaCha8Rng) -> Params {
        // Bug 1: the notebook makes the input weight (hidden, hidden).
        let wxh = match bug {
            Some(Bug::SquareWxh) => Mat::random(h, h, rng),
            _ => Mat::random(h, i, rng),
        };
        Params {
            wxh,
            whh: Mat::random(h, h, rng),
            why: Mat::random(o, h, rng),
            bh: Mat::random(h, 1, rng),
            by: Mat::random(o, 1, rng),
        }
    }

    fn zeros_like(&self) -> Params {
        let z = |m: &Mat| Mat::zeros(m.rows, m.cols);
        Params {
            wxh: z(&self.wxh),
            whh: z(&self.whh),
            why: z(&self.why),
            bh: z(&self.bh),
            by: z(&self.by),
        }
    }

    /// Every tensor, in the order of [`NAMES`].
    fn tensors(&mut self) -> [&mut Mat; 5] {
        [
            &mut self.wxh,
            &mut self.whh,
            &mut self.why,
            &mut self.bh,
            &mut self.by,
        ]
    }
}

/// The forward pass: the states `h_0..h_T` and the output `y`.
fn forward(p: &Params, xs: &[Vec<f64>]) -> Shapes<(Vec<Vec<f64>>, Vec<f64>)> {
    let mut hs = vec![vec![0.0; p.whh.rows]];
    for x in xs {
        let pre = add(&p.wxh.dot("Wxh", x)?, &p.whh.dot("Whh", &hs[hs.len() - 1])?)?;
        let pre = add(&pre, &p.bh.v)?;
        hs.push(pre.iter().map(|v| v.tanh()).collect());
    }
    let y = add(&p.why.dot("Why", &hs[hs.len() - 1])?, &p.by.v)?;
    Ok((hs, y))
}

/// `L = ½ ‖y - target‖²`.
fn loss(p: &Params, xs: &[Vec<f64>], target: &[f64]) -> Shapes<f64> {
    let (_, y) = forward(p, xs)?;
    Ok(0.5
        * y.iter()
            .zip(target)
            .map(|(y, t)| (y - t) * (y - t))
            .sum::<f64>())
}

/// Backpropagation through time, with `bug` switched on (or none).
fn backward(p: &Params, xs: &[Vec<f64>], target: &[f64], bug: Option<Bug>) -> Shapes<Params> {
    let (hs, y) = forward(p, xs)?;
    let t_last = xs.len();
    let mut g = p.zeros_like();
    let d_y: Vec<f64> = y.iter().zip(target).map(|(y, t)| y - t).collect();
    // Bug 4: the notebook never computes dby (it stays zero).
    if bug != Some(Bug::NoDby) {
        g.by.v.copy_from_slice(&d_y);
    }
    // The output reads h_T only: dWhy = d_y h_Tᵀ, once.
    if bug != Some(Bug::DwhyEveryStep) {
        g.why.add_outer(&d_y, &hs[t_last]);
    }
    let mut dh = p.why.dot_t(&d_y);
    for t in (1..=t_last).rev() {
        // Bug 3: the notebook adds d_y h_tᵀ at every step.
        if bug == Some(Bug::DwhyEveryStep) {
            g.why.add_outer(&d_y, &hs[t]);
        }
        let dh_raw: Vec<f64> = dh
            .iter()
            .zip(&hs[t])
            .map(|(d, h)| d * (1.0 - h * h))
            .collect();
        g.bh.add_outer(&dh_raw, &[1.0]);
        g.wxh.add_outer(&dh_raw, &xs[t - 1]);
        g.whh.add_outer(&dh_raw, &hs[t - 1]);
        dh = p.whh.dot_t(&dh_raw);
        // Bug 2: the notebook sends Wxhᵀ dh_raw + Whhᵀ dh_raw to h_{t-1}.
        if bug == Some(Bug::WxhInDhPrev) {
            dh = add(&p.wxh.dot_t(&dh_raw), &dh)?;
        }
    }
    Ok(g)
}

/// The largest relative error of each tensor's analytic gradient against
/// central differences `(L(w + ε) - L(w - ε)) / 2ε`.
fn check(p: &Params, xs: &[Vec<f64>], target: &[f64], bug: Option<Bug>) -> Shapes<[f64; 5]> {
    const EPS: f64 = 1e-5;
    let mut analytic = backward(p, xs, target, bug)?;
    let mut probe = p.clone();
    let mut worst = [0.0; 5];
    for (k, grad) in analytic.tensors().into_iter().enumerate() {
        for i in 0..grad.v.len() {
            let w = probe.tensors()[k].v[i];
            probe.tensors()[k].v[i] = w + EPS;
            let plus = loss(&probe, xs, target)?;
            probe.tensors()[k].v[i] = w - EPS;
            let minus = loss(&probe, xs, target)?;
            probe.tensors()[k].v[i] = w;
            let numeric = (plus - minus) / (2.0 * EPS);
            worst[k] = f64::max(worst[k], relative_error(grad.v[i], numeric));
        }
    }
    Ok(worst)
}

/// One run: a title, the sizes, the bug, and the tensors it must fail on.
struct Variant {
    title: &'static str,
    input: usize,
    bug: Option<Bug>,
    fails: &'static [&'static str],
}

/// Hidden size, output size and steps of every run.
const H: usize = 3;
const O: usize = 2;
const T: usize = 4;

const VARIANTS: [Variant; 8] = [
    Variant {
        title: "correct",
        input: 3,
        bug: None,
        fails: &[],
    },
    Variant {
        title: "correct",
        input: 2,
        bug: None,
        fails: &[],
    },
    Variant {
        title: "bug 1: Wxh made H x H",
        input: 3,
        bug: Some(Bug::SquareWxh),
        fails: &[],
    },
    Variant {
        title: "bug 1: Wxh made H x H",
        input: 2,
        bug: Some(Bug::SquareWxh),
        fails: &["shapes"],
    },
    Variant {
        title: "bug 2: dh_prev = Wxh.T dh_raw + Whh.T dh_raw",
        input: 3,
        bug: Some(Bug::WxhInDhPrev),
        fails: &["Wxh", "Whh", "bh"],
    },
    Variant {
        title: "bug 2: dh_prev = Wxh.T dh_raw + Whh.T dh_raw",
        input: 2,
        bug: Some(Bug::WxhInDhPrev),
        fails: &["shapes"],
    },
    Variant {
        title: "bug 3: dWhy += d_y h_t.T at every step",
        input: 3,
        bug: Some(Bug::DwhyEveryStep),
        fails: &["Why"],
    },
    Variant {
        title: "bug 4: dby never computed",
        input: 3,
        bug: Some(Bug::NoDby),
        fails: &["by"],
    },
];

/// Run one variant, print its report; `Err` if it did not fail as expected.
fn run(v: &Variant) -> std::result::Result<(), String> {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let p = Params::new(v.input, H, O, v.bug, &mut rng);
    let xs: Vec<Vec<f64>> = (0..T)
        .map(|_| (0..v.input).map(|_| rng.random_range(-1.0..1.0)).collect())
        .collect();
    let target: Vec<f64> = (0..O).map(|_| rng.random_range(-1.0..1.0)).collect();
    println!("{} (I = {}, H = {H}):", v.title, v.input);
    let failed: Vec<&str> = match check(&p, &xs, &target, v.bug) {
        Err(e) => {
            println!("  error: {e}");
            vec!["shapes"]
        }
        Ok(worst) => {
            let mut failed = Vec::new();
            for (name, err) in NAMES.iter().zip(worst) {
                let verdict = if err <= TOLERANCE { "ok" } else { "FAIL" };
                println!("  {name:<3}  {err:.1e}  {verdict}");
                if err > TOLERANCE {
                    failed.push(*name);
                }
            }
            failed
        }
    };
    if failed != v.fails {
        return Err(format!(
            "{}: failed on {failed:?}, expected {:?}",
            v.title, v.fails
        ));
    }
    Ok(())
}

fn main() -> ExitCode {
    println!(
        "relative error of each gradient against central differences (tolerance {TOLERANCE:.0e}):"
    );
    for v in &VARIANTS {
        if let Err(e) = run(v) {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}
