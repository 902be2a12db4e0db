//! recur's RNN, LSTM, GRU, minGRU, minLSTM, sLSTM and mLSTM layers against
//! PyTorch: outputs, final states and the gradients of a scalar loss with
//! respect to every weight, the input and the initial states, for 1 and 2
//! layers, uni- and bidirectional, with and without padding. The fixtures
//! come from `scripts/make_fixtures.py` (torch.nn.RNN/LSTM/GRU),
//! `scripts/make_min_fixtures.py` (minGRU and minLSTM written from the
//! paper's log-space parallel scan) and `scripts/make_slstm_fixtures.py`
//! (sLSTM written step by step from xLSTM's equations, as NX-AI's vanilla
//! backend runs them but without its clamp of the gates at 1: block-diagonal
//! `W_hh` over 4 heads, the state `(h, c, n, m)`, one sequence per fixture
//! starting from the zero state) and `scripts/make_mlstm_fixtures.py`
//! (mLSTM written in its recurrent form, step by step and head by head,
//! while recur trains it in the parallel form; the state `(h, C, n, m)` in
//! its natural shapes, converted here to recur's planes),
//! PyTorch in float64; recur runs in f32.

use recur::SeqInput;
use recur::cell::CellKind;
use recur::checkpoint::Loaded;
use recur::model::{Batch, Net, NetConfig, Readout};

/// Largest absolute difference tolerated (f32 arithmetic).
const TOL: f32 = 1e-5;

/// The parts a cell's state may have, in recur's order of the flat state
/// (each `(L·D, B, H)`): `h`; `h, c` for the LSTM; `h, c, n, m` for the
/// sLSTM. A fixture names them `{p}0` (initial), `{p}_n` (final), `r_{p}`
/// (the final state's weight in the loss) and `grad.{p}0`.
const STATE_PARTS: [&str; 4] = ["h", "c", "n", "m"];

/// The mLSTM's state parts as its fixtures hold them: `h (L·D, B, H)`,
/// `C (L·D, B, NH, d, d)`, `n (L·D, B, NH, d)`, `m (L·D, B, NH)`.
const MLSTM_PARTS: [&str; 4] = ["h", "C", "n", "m"];

/// Which of a fixture's state tensors.
#[derive(Clone, Copy, Debug)]
enum Which {
    /// `{p}0`.
    Initial,
    /// `{p}_n`.
    Final,
    /// `r_{p}`: the final state's weight in the loss.
    Weight,
    /// `grad.{p}0`.
    Grad,
}

impl Which {
    fn key(self, p: &str) -> String {
        match self {
            Which::Initial => format!("{p}0"),
            Which::Final => format!("{p}_n"),
            Which::Weight => format!("r_{p}"),
            Which::Grad => format!("grad.{p}0"),
        }
    }
}

/// A fixture's mLSTM state `which` in recur's layout: `h`, then `d + 2`
/// planes `(L·D, B, H)`. Each sequence's `C (NH, d, d)`, flattened
/// row-major, fills the first `d` planes (plane `q` holds its values
/// `q·H .. (q+1)·H`), its `n (NH, d)` plane `d`, and its `m (NH)` plane
/// `d + 1`: head `hd`'s value in columns `hd·d .. (hd+1)·d` for a state
/// (recur writes them all and reads the first); in column `hd·d` alone,
/// zero in the others, for a gradient: recur's gradient of the initial
/// `m` is nonzero there only, and it takes the final `m`'s as the sum
/// over the head's columns.
fn mlstm_state(f: &Loaded, fc: &FixtureConfig, heads: usize, which: Which) -> Vec<f32> {
    let (ld, h) = (
        (if fc.bidirectional { 2 } else { 1 }) * fc.layers,
        fc.hidden,
    );
    let (rows, d) = (ld * fc.batch, h / heads);
    let part = |p: &str, shape: &[usize]| {
        let (got, values) = f.f32_any(&which.key(p)).unwrap();
        assert_eq!(
            got,
            [&[ld, fc.batch][..], shape].concat(),
            "{}",
            which.key(p)
        );
        values
    };
    let (c, n, m) = (
        part("C", &[heads, d, d]),
        part("n", &[heads, d]),
        part("m", &[heads]),
    );
    let mut state = part("h", &[h]);
    for q in 0..d {
        state.extend((0..rows).flat_map(|r| c[r * h * d + q * h..][..h].iter().copied()));
    }
    state.extend(&n);
    let every_column = matches!(which, Which::Initial | Which::Final);
    state.extend((0..rows * h).map(|u| {
        let (r, hd, col) = (u / h, u % h / d, u % d);
        if every_column || col == 0 {
            m[r * heads + hd]
        } else {
            0.0
        }
    }));
    state
}

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
    // The vanilla RNN's one bias is PyTorch's bias_ih + bias_hh; minGRU,
    // minLSTM and sLSTM have bias_ih alone (their fixtures no bias_hh).
    let summed_bias = !cell.has_hidden_bias() && f.f32_any("bias_hh_l0").is_ok();
    // The state parts the fixture holds: `h` and the cell's own.
    let mlstm = cell == CellKind::Mlstm;
    let parts: Vec<&str> = (if mlstm { MLSTM_PARTS } else { STATE_PARTS })
        .into_iter()
        .filter(|p| f.f32_any(&format!("{p}0")).is_ok())
        .collect();
    let want_parts = if mlstm {
        MLSTM_PARTS.len()
    } else {
        1 + cell.state_width(fc.hidden)
    };
    assert_eq!(parts.len(), want_parts, "{name}: state parts {parts:?}");
    // The state `which` in recur's layout.
    let flat = |which: Which| -> Vec<f32> {
        if mlstm {
            return mlstm_state(&f, &fc, cell.heads(), which);
        }
        parts
            .iter()
            .flat_map(|p| f.f32_any(&which.key(p)).unwrap().1)
            .collect()
    };
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
    let state = flat(Which::Initial);
    let dstate = flat(Which::Weight);
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
    assert_close(
        &format!("{name}: final state"),
        ws.final_state(),
        &flat(Which::Final),
    );

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
    assert_close(
        &format!("{name}: d(initial state)"),
        ws.initial_state_grad(),
        &flat(Which::Grad),
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

#[test]
fn slstm_matches_pytorch() {
    fixtures("slstm").iter().for_each(|p| check_fixture(p));
}

#[test]
fn mlstm_matches_pytorch_recurrent_form() {
    fixtures("mlstm").iter().for_each(|p| check_fixture(p));
}
