//! minGRU and minLSTM read their gates from the input alone, so a block
//! trains as one input projection and a scan over time, while generation
//! runs one step at a time. Three forms of the same layers give the same
//! numbers in f64: the block at once (training), step by step with the
//! state carried (generation; its gradients chained back by hand), and the
//! paper's parallel log-space scan, written out here from its equations.
//! The sLSTM has no parallel form (its gates read `h`), but its block and
//! its steps agree the same way. The mLSTM's block is its attention-like
//! parallel form, its steps the recurrent form. The classic cells' blocks
//! and steps agree too.

use recur::cell::CellKind;
use recur::model::{Recurrent, StackConfig};

#[path = "common/values.rs"]
mod common_values;

/// Values in `[-scale, scale)`.
fn values(n: usize, seed: u64, scale: f64) -> Vec<f64> {
    common_values::values(n, seed, -scale, scale)
}

const T: usize = 7;
const B: usize = 3;
const I: usize = 4;
const H: usize = 5;

/// H, or 8 for the sLSTM's 4 heads.
fn hidden(cell: CellKind) -> usize {
    H.next_multiple_of(cell.heads())
}

fn layers(cell: CellKind, layers: usize) -> Recurrent {
    let config = StackConfig {
        cell,
        input_size: I,
        embed: None,
        hidden_size: hidden(cell),
        layers,
        bidirectional: false,
        dropout: 0.0,
    };
    Recurrent::new(config, 7).unwrap()
}

#[track_caller]
fn assert_close(what: &str, a: &[f64], b: &[f64], tol: f64) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    for (j, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= tol * (1.0 + x.abs().max(y.abs())),
            "{what}[{j}]: {x} vs {y}"
        );
    }
}

/// Block and step-by-step forms of 2 layers over `T` steps: outputs,
/// final state and every gradient (weights, input, initial state) agree.
fn block_equals_steps(cell: CellKind) {
    block_equals_steps_over(cell, T);
}

/// The same over `t` steps.
fn block_equals_steps_over(cell: CellKind, t: usize) {
    let (mut block, h) = (layers(cell, 2), hidden(cell));
    let state_len = block.config().state_len(B);
    let x = values(t * B * I, 1, 1.0);
    let h0: Vec<f64> = values(state_len, 2, 0.5).iter().map(|v| v + 0.6).collect();
    let d_out = values(t * B * h, 3, 1.0);
    let d_last = values(state_len, 4, 1.0);

    let (out, last) = block.forward(&x, t, B, Some(&h0)).unwrap();
    let (out, last) = (out.to_vec(), last.to_vec());
    let grads = block.backward(&d_out, Some(&d_last)).unwrap();

    // One step at a time, each step's layers kept for its backward.
    let (row, mut state, mut steps, mut outs) = (B * I, h0.clone(), Vec::new(), Vec::new());
    for s in 0..t {
        let mut one = block.clone();
        let (o, next) = one
            .forward(&x[s * row..(s + 1) * row], 1, B, Some(&state))
            .unwrap();
        outs.extend_from_slice(o);
        state = next.to_vec();
        steps.push(one);
    }
    assert_close(&format!("{cell} outputs"), &out, &outs, 1e-12);
    assert_close(&format!("{cell} final state"), &last, &state, 1e-12);

    let (mut d_state, mut d_params) = (d_last, vec![0.0; block.params.len()]);
    let mut d_x = vec![0.0; x.len()];
    for (s, one) in steps.iter_mut().enumerate().rev() {
        let g = one
            .backward(&d_out[s * B * h..(s + 1) * B * h], Some(&d_state))
            .unwrap();
        d_params
            .iter_mut()
            .zip(&g.params)
            .for_each(|(a, b)| *a += b);
        d_x[s * row..(s + 1) * row].copy_from_slice(&g.input);
        d_state = g.state;
    }
    assert_close(
        &format!("{cell} weight gradients"),
        &grads.params,
        &d_params,
        1e-10,
    );
    assert_close(&format!("{cell} input gradient"), &grads.input, &d_x, 1e-10);
    assert_close(
        &format!("{cell} initial-state gradient"),
        &grads.state,
        &d_state,
        1e-10,
    );
}

/// `ln σ(v) = -softplus(-v)`.
fn log_sigmoid(v: f64) -> f64 {
    -((-v).max(0.0) + (-v.abs()).exp().ln_1p())
}

/// `ln g(v)`: `ln(v + ½)` for `v ≥ 0`, `ln σ(v)` below.
fn log_g(v: f64) -> f64 {
    if v >= 0.0 {
        (v + 0.5).ln()
    } else {
        log_sigmoid(v)
    }
}

/// `ln Σ eˣ` over `xs`.
fn log_sum_exp(xs: &[f64]) -> f64 {
    let m = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    m + xs.iter().map(|x| (x - m).exp()).sum::<f64>().ln()
}

/// The paper's parallel form of one layer: from the pre-activations alone,
/// `ln a_t` and `ln b_t` for every step at once, then
/// `h_t = exp(a*_t + ln Σ_{k ≤ t} exp(ln b_k - a*_k))` with `a*_t = Σ_{k ≤ t}
/// ln a_k` and `b_0 = h_0` (`a*_0 = 0`): no loop carries a state.
fn log_space_scan(cell: CellKind, rec: &Recurrent, x: &[f64], h0: &[f64]) -> Vec<f64> {
    let weight = |name: &str| &rec.params[rec.layout().get(name).unwrap().range()];
    let (w, bias) = (weight("rnn.weight_ih_l0"), weight("rnn.bias_ih_l0"));
    let mut out = vec![0.0; T * B * H];
    for r in 0..B {
        for j in 0..H {
            // Pre-activation of gate row `q` (block q·H + j) at step s.
            let pre = |s: usize, q: usize| {
                let xs = &x[(s * B + r) * I..(s * B + r + 1) * I];
                let n = q * H + j;
                bias[n] + (0..I).map(|i| w[n * I + i] * xs[i]).sum::<f64>()
            };
            let (mut log_a, mut log_b) = (vec![0.0], vec![h0[r * H + j].ln()]);
            for s in 0..T {
                let log_h = log_g(pre(s, 0));
                let (la, lb) = match cell {
                    // minGRU: a = 1 - z, b = z·h̃.
                    CellKind::MinGru => (log_sigmoid(-pre(s, 1)), log_sigmoid(pre(s, 1)) + log_h),
                    // minLSTM: f' = f / (f + i), i' = 1 - f'.
                    _ => {
                        let diff = -log_sigmoid(pre(s, 1)) + log_sigmoid(pre(s, 2));
                        (log_sigmoid(-diff), log_sigmoid(diff) + log_h)
                    }
                };
                log_a.push(la);
                log_b.push(lb);
            }
            let a_star: Vec<f64> = log_a
                .iter()
                .scan(0.0, |acc, v| {
                    *acc += v;
                    Some(*acc)
                })
                .collect();
            let terms: Vec<f64> = log_b.iter().zip(&a_star).map(|(b, a)| b - a).collect();
            for s in 0..T {
                out[(s * B + r) * H + j] = (a_star[s + 1] + log_sum_exp(&terms[..s + 2])).exp();
            }
        }
    }
    out
}

/// One layer's outputs equal the parallel log-space scan's.
fn block_equals_log_space_scan(cell: CellKind) {
    let mut rec = layers(cell, 1);
    let x = values(T * B * I, 5, 2.0);
    let h0: Vec<f64> = values(B * H, 6, 0.5).iter().map(|v| v + 0.6).collect();
    let (out, _) = rec.forward(&x, T, B, Some(&h0)).unwrap();
    let out = out.to_vec();
    assert_close(
        &format!("{cell} against the log-space scan"),
        &out,
        &log_space_scan(cell, &rec, &x, &h0),
        1e-12,
    );
}

#[test]
fn mingru_block_steps_and_log_space_scan_agree() {
    block_equals_steps(CellKind::MinGru);
    block_equals_log_space_scan(CellKind::MinGru);
}

#[test]
fn minlstm_block_steps_and_log_space_scan_agree() {
    block_equals_steps(CellKind::MinLstm);
    block_equals_log_space_scan(CellKind::MinLstm);
}

#[test]
fn slstm_block_and_steps_agree() {
    block_equals_steps(CellKind::Slstm);
}

/// The mLSTM's block runs its stabilized parallel form over the window,
/// in chunks of `CHUNK` steps; a window of one step is its recurrent form. So this is the
/// parallel form against the recurrent one, in a stacked layer with a
/// loss on every output and on the final state (matrix memory, normalizer
/// and stabilizer), from a random state.
#[test]
fn mlstm_parallel_form_and_recurrent_steps_agree() {
    block_equals_steps(CellKind::Mlstm);
    // A window of more than two chunks (the last one short): the
    // chunkwise form, each chunk from the state the one before left.
    block_equals_steps_over(CellKind::Mlstm, 2 * recur::cell::mlstm::CHUNK + 5);
}

/// The classic cells over a window of a few rows agree with their steps
/// one at a time (the sampler's path), outputs, final state and every
/// gradient.
#[test]
fn classic_cells_windows_of_a_few_rows_and_their_steps_agree() {
    for cell in [
        CellKind::Rnn(recur::backend::Activation::Tanh),
        CellKind::Lstm,
        CellKind::Gru,
    ] {
        block_equals_steps_over(cell, 12);
    }
}

#[test]
fn cells_without_a_recurrent_weight_have_none_in_their_layout() {
    for cell in [CellKind::MinGru, CellKind::MinLstm] {
        let rec = layers(cell, 2);
        let names: Vec<&str> = rec
            .layout()
            .specs()
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        assert_eq!(
            names,
            [
                "rnn.weight_ih_l0",
                "rnn.bias_ih_l0",
                "rnn.weight_ih_l1",
                "rnn.bias_ih_l1"
            ]
        );
        let g = cell.rows(H);
        assert_eq!(rec.params.len(), g * I + g + g * H + g);
    }
}
