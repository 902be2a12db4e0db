//! Finite-difference gradient checks (f64) for every model configuration.

use recur::gradcheck::{self, TOLERANCE};

fn assert_all_pass(model: &str) {
    let reports = gradcheck::run(model).unwrap();
    assert!(reports.len() >= 8);
    for r in &reports {
        for t in &r.tensors {
            assert!(t.count > 0);
            assert!(
                t.max_rel_error <= TOLERANCE,
                "{}: {} max relative error {:.3e}",
                r.case,
                t.name,
                t.max_rel_error
            );
        }
    }
}

#[test]
fn vanilla_rnn_gradients_match_finite_differences() {
    assert_all_pass("rnn");
}

#[test]
fn lstm_gradients_match_finite_differences() {
    assert_all_pass("lstm");
}

#[test]
fn gru_gradients_match_finite_differences() {
    assert_all_pass("gru");
}

#[test]
fn mingru_gradients_match_finite_differences() {
    assert_all_pass("mingru");
}

#[test]
fn minlstm_gradients_match_finite_differences() {
    assert_all_pass("minlstm");
}

#[test]
fn slstm_gradients_match_finite_differences() {
    assert_all_pass("slstm");
}

#[test]
fn mlstm_gradients_match_finite_differences() {
    assert_all_pass("mlstm");
}

#[test]
fn seq2seq_gradients_match_finite_differences() {
    assert_all_pass("seq2seq");
}

#[test]
fn gradient_check_detects_a_wrong_gradient() {
    // The checker itself must be able to fail: a deliberately wrong analytic
    // gradient of f(x) = Σ x² is reported.
    let mut layout = recur::model::ParamLayout::new();
    layout.push("x", &[3]);
    let mut x = vec![0.5, -1.0, 2.0];
    let wrong = vec![1.0, -2.0, 4.1];
    let rows = gradcheck::check_tensors(&layout, &mut x, &wrong, |v| v.iter().map(|a| a * a).sum());
    assert!(rows[0].max_rel_error > 1e-3);
}
