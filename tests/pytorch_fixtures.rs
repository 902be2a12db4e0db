//! recur's RNN, LSTM, GRU, minGRU and minLSTM layers against PyTorch:
//! outputs, final states and the gradients of a scalar loss with respect to
//! every weight, the input and the initial states, for 1 and 2 layers, uni-
//! and bidirectional, with and without padding. The fixtures come from
//! `scripts/make_fixtures.py` (torch.nn.RNN/LSTM/GRU) and
//! `scripts/make_min_fixtures.py` (minGRU and minLSTM written from the
//! paper's log-space parallel scan), PyTorch in float64; recur runs in f32.

use recur::SeqInput;
use recur::cell::CellKind;
use recur::checkpoint::Loaded;
use recur::model::{Batch, Net, NetConfig, Readout};

/// Largest absolute difference tolerated (f32 arithmetic).
const TOL: f32 = 1e-5;

#[derive(serde::Deserialize)]
struct FixtureConfig {
    cell: String,
    layers: usize,
    bidirectional: bool,
    input: usize,
    hidden: usize,
    steps: usize,
    batch: usize,
    lengths: Vec<usize>,
}

#[track_caller]
fn assert_close(what: &str, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let worst = got
        .iter()
        .zip(want)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(worst <= TOL, "{what}: max abs error {worst:e} > {TOL:e}");
}

fn check_fixture(path: &std::path::Path) {
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    let f = Loaded::open(path).unwrap();
    let fc: FixtureConfig = f.meta_json("config").unwrap();
    // `rnn` reads as the tanh RNN, PyTorch's default.
    let cell: CellKind = fc.cell.parse().unwrap();
    // The vanilla RNN's one bias is PyTorch's bias_ih + bias_hh; minGRU and
    // minLSTM have bias_ih alone.
    let summed_bias = cell.has_recurrent_weight() && !cell.has_hidden_bias();
    let dirs = if fc.bidirectional { 2 } else { 1 };
    let (t, b, dh) = (fc.steps, fc.batch, dirs * fc.hidden);
    let config = NetConfig {
        layers: fc.layers,
        bidirectional: fc.bidirectional,
        output_size: dh,
        readout: Readout::ManyToMany,
        ..NetConfig::char_lm(cell, fc.input, fc.hidden)
    };
    let mut net = Net::<f32>::zeros(config).unwrap();
    // Recurrent weights by PyTorch name. The output layer is the identity,
    // so the model's outputs are the last layer's.
    for spec in net.layout().specs().to_vec() {
        let values: Vec<f32> = match spec.name.strip_prefix("rnn.") {
            Some(n) if summed_bias && n.starts_with("bias_ih") => {
                let (_, bi) = f.f32_any(n).unwrap();
                let (_, bh) = f.f32_any(&n.replace("bias_ih", "bias_hh")).unwrap();
                bi.iter().zip(&bh).map(|(a, b)| a + b).collect()
            }
            Some(n) => f.f32_any(n).unwrap().1,
            None if spec.name == "fc.weight" => (0..dh * dh)
                .map(|k| if k % (dh + 1) == 0 { 1.0 } else { 0.0 })
                .collect(),
            None => vec![0.0; spec.len()],
        };
        net.params[spec.range()].copy_from_slice(&values);
    }
    let x = f.f32_any("x").unwrap().1;
    let mut state = f.f32_any("h0").unwrap().1;
    let mut dstate = f.f32_any("r_h").unwrap().1;
    if cell.has_cell_state() {
        state.extend(f.f32_any("c0").unwrap().1);
        dstate.extend(f.f32_any("r_c").unwrap().1);
    }
    let padded = fc.lengths.iter().any(|&n| n != t);
    let batch = Batch {
        x: SeqInput::Dense(&x),
        t,
        b,
        lengths: padded.then_some(&fc.lengths[..]),
        state: Some(&state),
    };
    let mut ws = net.workspace();
    net.forward_batch(&batch, &mut ws, None).unwrap();
    assert_close(
        &format!("{name}: outputs"),
        ws.outputs(),
        &f.f32_any("out").unwrap().1,
    );
    let mut fin = f.f32_any("h_n").unwrap().1;
    if cell.has_cell_state() {
        fin.extend(f.f32_any("c_n").unwrap().1);
    }
    assert_close(&format!("{name}: final state"), ws.final_state(), &fin);

    ws.output_grad()
        .copy_from_slice(&f.f32_any("r_out").unwrap().1);
    let mut grads = net.zero_grads();
    net.backward(SeqInput::Dense(&x), &mut ws, &mut grads, Some(&dstate))
        .unwrap();
    for spec in net
        .layout()
        .specs()
        .iter()
        .filter(|s| s.name.starts_with("rnn."))
    {
        let n = &spec.name["rnn.".len()..];
        let got = &grads[spec.range()];
        assert_close(
            &format!("{name}: d{n}"),
            got,
            &f.f32_any(&format!("grad.{n}")).unwrap().1,
        );
        if summed_bias && n.starts_with("bias_ih") {
            let other = format!("grad.{}", n.replace("bias_ih", "bias_hh"));
            assert_close(
                &format!("{name}: d{n} vs {other}"),
                got,
                &f.f32_any(&other).unwrap().1,
            );
        }
    }
    assert_close(
        &format!("{name}: dx"),
        ws.input_grad(),
        &f.f32_any("grad.x").unwrap().1,
    );
    let mut dstate0 = f.f32_any("grad.h0").unwrap().1;
    if cell.has_cell_state() {
        dstate0.extend(f.f32_any("grad.c0").unwrap().1);
    }
    assert_close(
        &format!("{name}: d(initial state)"),
        ws.initial_state_grad(),
        &dstate0,
    );
}

fn fixtures(cell: &str) -> Vec<std::path::PathBuf> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(&format!("{cell}_"))
        })
        .collect();
    files.sort();
    assert_eq!(
        files.len(),
        8,
        "expected 8 {cell} fixtures (1/2 layers, uni/bi, full/padded) in {dir}"
    );
    files
}

#[test]
fn rnn_matches_pytorch() {
    fixtures("rnn").iter().for_each(|p| check_fixture(p));
}

#[test]
fn lstm_matches_pytorch() {
    fixtures("lstm").iter().for_each(|p| check_fixture(p));
}

#[test]
fn gru_matches_pytorch() {
    fixtures("gru").iter().for_each(|p| check_fixture(p));
}

#[test]
fn mingru_matches_pytorch_log_space_scan() {
    fixtures("mingru").iter().for_each(|p| check_fixture(p));
}

#[test]
fn minlstm_matches_pytorch_log_space_scan() {
    fixtures("minlstm").iter().for_each(|p| check_fixture(p));
}
