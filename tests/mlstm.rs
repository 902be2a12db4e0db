//! xLSTM's mLSTM in its two forms: the stabilized parallel form (training)
//! and the recurrent step (generation) give the same outputs and final
//! state in f64, from a fresh state and from a random one, with windows
//! where the stabilizer's max moves between its terms; and the parallel
//! form's hand-written backward matches finite differences of the
//! recurrent form's loss, for every input and every part of the initial
//! state, with losses on the outputs, on the final state, and on both.

use recur::cell::mlstm::{self, Dims, InputGrads, Inputs, MlstmState, MlstmWorkspace, Upstream};
use recur::gradcheck::{TOLERANCE, numerical_gradient, relative_error};

#[path = "common/values.rs"]
mod common_values;
use common_values::values;

const T: usize = 7;
const DIMS: Dims = Dims {
    b: 2,
    heads: 2,
    d: 3,
};

/// A window's inputs and initial state, owned.
#[derive(Clone, Debug)]
struct Case {
    /// `q, k, v: (T, B, H)`, `i, f: (T, B, NH)`.
    q: Vec<f64>,
    k: Vec<f64>,
    v: Vec<f64>,
    i: Vec<f64>,
    f: Vec<f64>,
    init: MlstmState<f64>,
}

impl Case {
    /// Pre-activations spread so that the stabilizer's max is attained by
    /// the initial state's term, by the newest write and by older ones; a
    /// zero state (`fresh`) or a random one (`n0` of either sign, `m0` in
    /// [-2, 2]).
    fn random(seed: u64, fresh: bool) -> Case {
        let (th, tg) = (T * DIMS.b * DIMS.hidden(), T * DIMS.b * DIMS.heads);
        let bh = DIMS.b * DIMS.heads;
        let mut init = MlstmState::zeros(DIMS);
        if !fresh {
            init.c = values(bh * DIMS.d * DIMS.d, seed + 10, -1.0, 1.0);
            init.n = values(bh * DIMS.d, seed + 11, -1.0, 1.0);
            init.m = values(bh, seed + 12, -2.0, 2.0);
        }
        let mut i = values(tg, seed + 4, -4.0, 3.0);
        // The final state's m_T (whose gradient is routed to the term that
        // attained it) lands on each kind of term somewhere: on the newest
        // write in (sequence, head) 1 (a large last ĩ), on the initial
        // state's term in 3 (every ĩ below the log forget gates from a fresh
        // state, a large m0 otherwise), on older writes elsewhere.
        i[(T - 1) * bh + 1] = 4.0;
        if fresh {
            (0..T).for_each(|t| i[t * bh + 3] = -6.0);
        } else {
            init.m[3] = 8.0;
        }
        Case {
            q: values(th, seed + 1, -1.0, 1.0),
            k: values(th, seed + 2, -1.5, 1.5),
            v: values(th, seed + 3, -1.0, 1.0),
            i,
            f: values(tg, seed + 5, -2.0, 4.0),
            init,
        }
    }

    fn inputs(&self) -> Inputs<'_, f64> {
        Inputs {
            q: &self.q,
            k: &self.k,
            v: &self.v,
            i: &self.i,
            f: &self.f,
        }
    }

    /// Step `t`'s inputs: `q, k, v: (B, H)`, `ĩ, f̃: (B, NH)`.
    fn step_inputs(&self, t: usize) -> Inputs<'_, f64> {
        let (bh, bg) = (DIMS.b * DIMS.hidden(), DIMS.b * DIMS.heads);
        let (rows, gates) = (t * bh..(t + 1) * bh, t * bg..(t + 1) * bg);
        Inputs {
            q: &self.q[rows.clone()],
            k: &self.k[rows.clone()],
            v: &self.v[rows],
            i: &self.i[gates.clone()],
            f: &self.f[gates],
        }
    }

    /// Every value in one flat vector: `q, k, v, ĩ, f̃, C0, n0, m0`.
    fn flat(&self) -> Vec<f64> {
        let s = &self.init;
        [
            &self.q, &self.k, &self.v, &self.i, &self.f, &s.c, &s.n, &s.m,
        ]
        .iter()
        .flat_map(|x| x.iter().copied())
        .collect()
    }

    /// The inverse of [`Case::flat`]: `x` in the shapes of `self`.
    fn with_values(&self, x: &[f64]) -> Case {
        let mut out = self.clone();
        let s = &mut out.init;
        let mut at = 0;
        for part in [
            &mut out.q, &mut out.k, &mut out.v, &mut out.i, &mut out.f, &mut s.c, &mut s.n,
            &mut s.m,
        ] {
            let n = part.len();
            part.copy_from_slice(&x[at..at + n]);
            at += n;
        }
        out
    }
}

/// The names and lengths of [`Case::flat`]'s parts.
fn parts(case: &Case) -> Vec<(&'static str, usize)> {
    let s = &case.init;
    vec![
        ("q", case.q.len()),
        ("k", case.k.len()),
        ("v", case.v.len()),
        ("ĩ", case.i.len()),
        ("f̃", case.f.len()),
        ("C0", s.c.len()),
        ("n0", s.n.len()),
        ("m0", s.m.len()),
    ]
}

/// What the recurrent form saw, to show that a test covers both sides of
/// each kink: steps where `|n·q|` was the denominator, and where `e^{-m}`.
#[derive(Default, Debug)]
struct Kinks {
    dot_wins: usize,
    exp_wins: usize,
}

/// The recurrent form, step after step: `h̃: (T, B, H)` and the final state.
fn recurrent(case: &Case, kinks: &mut Kinks) -> (Vec<f64>, MlstmState<f64>) {
    let (hn, nh, bn, d) = (DIMS.hidden(), DIMS.heads, DIMS.b, DIMS.d);
    let mut state = case.init.clone();
    let mut h = vec![0.0; T * bn * hn];
    for t in 0..T {
        let (x, rows) = (case.step_inputs(t), t * bn * hn..(t + 1) * bn * hn);
        mlstm::step(DIMS, &x, &mut state, &mut h[rows]);
        for bh in 0..bn * nh {
            let q = &x.q[bh * d..(bh + 1) * d];
            let n = &state.n[bh * d..(bh + 1) * d];
            let qn: f64 = q.iter().zip(n).map(|(a, b)| a * b).sum();
            if qn.abs() >= (-state.m[bh]).exp() {
                kinks.dot_wins += 1;
            } else {
                kinks.exp_wins += 1;
            }
        }
    }
    (h, state)
}

/// The parallel form over the whole window: `h̃: (T, B, H)`, the final
/// state, and the workspace as the forward left it.
fn parallel(case: &Case) -> (Vec<f64>, MlstmState<f64>, MlstmWorkspace<f64>) {
    parallel_in(case, T)
}

/// The same, chunkwise: the parallel form over chunks of `chunk` steps.
fn parallel_in(case: &Case, chunk: usize) -> (Vec<f64>, MlstmState<f64>, MlstmWorkspace<f64>) {
    let mut ws = MlstmWorkspace::chunked(DIMS, T, chunk);
    let mut h = vec![0.0; T * DIMS.b * DIMS.hidden()];
    let mut last = MlstmState::zeros(DIMS);
    mlstm::forward(&mut ws, &case.inputs(), &case.init, &mut h, &mut last);
    (h, last, ws)
}

fn max_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

/// How often each kind of term attained the stabilizer's max, `[initial
/// state, the newest write, an older write]`, over all (sequence, head,
/// step) and over the last step only; and how often the argmax moved from
/// one step to the next.
fn argmax_kinds(ws: &MlstmWorkspace<f64>) -> ([usize; 3], [usize; 3], usize) {
    let (mut kinds, mut last, mut moves) = ([0; 3], [0; 3], 0);
    for row in ws.argmax().chunks_exact(T) {
        for (t, &a) in row.iter().enumerate() {
            let kind = match a {
                0 => 0,
                a if a == t + 1 => 1,
                _ => 2,
            };
            kinds[kind] += 1;
            if t == T - 1 {
                last[kind] += 1;
            }
            moves += usize::from(t > 0 && a != row[t - 1]);
        }
    }
    (kinds, last, moves)
}

#[test]
fn the_parallel_form_equals_the_recurrent_form() {
    for (seed, fresh) in [(1, true), (2, false)] {
        let case = Case::random(seed, fresh);
        let mut kinks = Kinks::default();
        let (h_rec, last_rec) = recurrent(&case, &mut kinks);
        let (h_par, last_par, ws) = parallel(&case);
        let errs = [
            max_diff(&h_rec, &h_par),
            max_diff(&last_rec.c, &last_par.c),
            max_diff(&last_rec.n, &last_par.n),
            max_diff(&last_rec.m, &last_par.m),
        ];
        let (kinds, last, moves) = argmax_kinds(&ws);
        println!(
            "fresh {fresh}: max |Δ| h̃ {:.1e}, C {:.1e}, n {:.1e}, m {:.1e}; argmax \
             [init, newest, older] {kinds:?} (at T: {last:?}), {moves} moves; {kinks:?}",
            errs[0], errs[1], errs[2], errs[3]
        );
        assert!(errs.iter().all(|&e| e < 1e-12), "{errs:?}");
        assert!(
            kinds.iter().all(|&k| k > 0) && moves > 0,
            "{kinds:?} {moves}"
        );
        assert!(last.iter().all(|&k| k > 0), "at T: {last:?}");
        assert!(kinks.dot_wins > 0 && kinks.exp_wins > 0, "{kinks:?}");
        assert!(h_par.iter().all(|x| x.is_finite()) && h_par.iter().any(|&x| x != 0.0));
    }
}

#[test]
fn every_stabilizer_is_the_recurrent_one() {
    // m_t of the parallel form (its max over the log weights) against the
    // state's m after each recurrent step.
    let case = Case::random(2, false);
    let (_, _, ws) = parallel(&case);
    let (hn, nh, bn) = (DIMS.hidden(), DIMS.heads, DIMS.b);
    let mut state = case.init.clone();
    let mut h = vec![0.0; bn * hn];
    for t in 0..T {
        mlstm::step(DIMS, &case.step_inputs(t), &mut state, &mut h);
        for bh in 0..bn * nh {
            let par = ws.stabilizers()[bh * T + t];
            assert!((par - state.m[bh]).abs() < 1e-12, "t {t} bh {bh}");
        }
    }
}

/// `L = Σ w_h ⊙ h̃ + Σ w_C ⊙ C_T + Σ w_n ⊙ n_T + Σ w_m ⊙ m_T`.
struct Weights {
    h: Vec<f64>,
    last: MlstmState<f64>,
}

impl Weights {
    fn random(seed: u64, outputs: bool, state: bool) -> Weights {
        let bh = DIMS.b * DIMS.heads;
        let on = |x: Vec<f64>, yes: bool| if yes { x } else { vec![0.0; x.len()] };
        Weights {
            h: on(values(T * DIMS.b * DIMS.hidden(), seed, -1.0, 1.0), outputs),
            last: MlstmState {
                c: on(values(bh * DIMS.d * DIMS.d, seed + 1, -1.0, 1.0), state),
                n: on(values(bh * DIMS.d, seed + 2, -1.0, 1.0), state),
                m: on(values(bh, seed + 3, -1.0, 1.0), state),
            },
        }
    }

    fn loss(&self, h: &[f64], last: &MlstmState<f64>) -> f64 {
        let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
        dot(&self.h, h)
            + dot(&self.last.c, &last.c)
            + dot(&self.last.n, &last.n)
            + dot(&self.last.m, &last.m)
    }
}

/// The parallel backward's gradients, flat as [`Case::flat`], in chunks
/// of `chunk` steps.
fn analytic(case: &Case, w: &Weights, with_state: bool, chunk: usize) -> Vec<f64> {
    let (h, _, mut ws) = parallel_in(case, chunk);
    let mut g = Case::random(0, true);
    let mut dinit = MlstmState::zeros(DIMS);
    let up = Upstream {
        dh: &w.h,
        last: with_state.then_some(&w.last),
    };
    let dx = InputGrads {
        q: &mut g.q,
        k: &mut g.k,
        v: &mut g.v,
        i: &mut g.i,
        f: &mut g.f,
    };
    mlstm::backward(&mut ws, &case.inputs(), &case.init, &h, up, dx, &mut dinit);
    g.init = dinit;
    g.flat()
}

/// The worst relative error per part of [`Case::flat`], of the parallel
/// backward (in chunks of `chunk` steps) against finite differences of the
/// recurrent form's loss.
fn check(case: &Case, w: &Weights, with_state: bool, chunk: usize) -> Vec<(&'static str, f64)> {
    let grad = analytic(case, w, with_state, chunk);
    let mut x = case.flat();
    let mut loss = |x: &[f64]| {
        let (h, last) = recurrent(&case.with_values(x), &mut Kinks::default());
        w.loss(&h, &last)
    };
    let mut at = 0;
    parts(case)
        .into_iter()
        .map(|(name, n)| {
            let worst = (at..at + n)
                .map(|i| relative_error(grad[i], numerical_gradient(&mut x, i, &mut loss)))
                .fold(0.0, f64::max);
            at += n;
            (name, worst)
        })
        .collect()
}

#[test]
fn the_parallel_backward_matches_the_recurrent_forms_finite_differences() {
    for (seed, fresh) in [(1, true), (2, false)] {
        let case = Case::random(seed, fresh);
        for (what, outputs, state) in [
            ("outputs and state", true, true),
            ("outputs only", true, false),
            ("state only", false, true),
        ] {
            let w = Weights::random(seed + 100, outputs, state);
            // The whole window at once, and in chunks of 3 (7 = 3 + 3 + 1).
            for chunk in [T, 3] {
                let errs = check(&case, &w, state, chunk);
                println!("fresh {fresh}, {what}, chunks of {chunk}: {errs:?}");
                for (name, e) in errs {
                    assert!(e <= TOLERANCE, "fresh {fresh}, {what}: {name} off by {e:e}");
                }
            }
        }
    }
}

#[test]
fn a_loss_on_h_alone_has_no_gradient_through_the_stabilizers() {
    // Moving m0 by δ while scaling C0, n0 by e^{-δ} is the same state: h̃
    // does not change (no eps in the denominator).
    let case = Case::random(2, false);
    let (h, _, _) = parallel(&case);
    let mut moved = case.clone();
    let delta = 1.7;
    moved.init.m.iter_mut().for_each(|m| *m += delta);
    moved.init.c.iter_mut().for_each(|c| *c *= (-delta).exp());
    moved.init.n.iter_mut().for_each(|n| *n *= (-delta).exp());
    let (h2, _, _) = parallel(&moved);
    assert!(max_diff(&h, &h2) < 1e-12, "{}", max_diff(&h, &h2));
}

#[test]
fn the_chunkwise_form_equals_the_whole_window() {
    // Every chunk length from one step (the recurrent form, step by step
    // through the per-head functions) to more than the window: the same
    // outputs, final state and gradients as the window at once.
    for (seed, fresh) in [(1, true), (2, false)] {
        let case = Case::random(seed, fresh);
        let (h, last, _) = parallel(&case);
        let w = Weights::random(seed + 100, true, true);
        let grad = analytic(&case, &w, true, T);
        for chunk in [1, 2, 3, 4, 6, 9] {
            let (h_c, last_c, _) = parallel_in(&case, chunk);
            let errs = [
                max_diff(&h, &h_c),
                max_diff(&last.c, &last_c.c),
                max_diff(&last.n, &last_c.n),
                max_diff(&last.m, &last_c.m),
                max_diff(&grad, &analytic(&case, &w, true, chunk)),
            ];
            assert!(
                errs.iter().all(|&e| e < 1e-12),
                "chunks of {chunk}: {errs:?}"
            );
        }
    }
}
