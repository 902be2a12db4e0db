"""recur.ManyToOne: the classroom's many-to-one RNN on numpy arrays."""

import numpy as np
import pytest

import recur

T, B, I, H = 5, 4, 3, 3


def data(n, seed=0):
    """Sequences whose class is whether their first feature sums above 0."""
    x = np.random.default_rng(seed).standard_normal((T, n, I))
    y = (x[:, :, 0].sum(axis=0) > 0).astype(np.int64)
    return x, y


@pytest.mark.parametrize("model", ["rnn", "lstm", "gru"])
def test_gradients_match_numpy_finite_differences(model):
    net = recur.ManyToOne(I, H, 2, model=model, layers=2, seed=1)
    x, y = data(B)
    grads = net.gradients(x, y)
    params = net.parameters()
    assert set(grads) == set(params) | {"input"}
    eps = 1e-6
    for name, value in params.items():
        numeric = np.zeros_like(value)
        for idx in np.ndindex(value.shape):
            changed = {k: v.copy() for k, v in params.items()}
            changed[name][idx] += eps
            net.load_state_dict(changed)
            up = net.compute_loss(x, y)
            changed[name][idx] -= 2 * eps
            net.load_state_dict(changed)
            numeric[idx] = (up - net.compute_loss(x, y)) / (2 * eps)
        net.load_state_dict(params)
        np.testing.assert_allclose(grads[name], numeric, atol=1e-8, rtol=1e-6, err_msg=name)
    numeric = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[idx] += eps
        down[idx] -= eps
        numeric[idx] = (net.compute_loss(up, y) - net.compute_loss(down, y)) / (2 * eps)
    np.testing.assert_allclose(grads["input"], numeric, atol=1e-8, rtol=1e-6)


def test_the_loss_is_the_mean_cross_entropy_of_the_outputs():
    net = recur.ManyToOne(I, H, 3, seed=2)
    x = np.random.default_rng(1).standard_normal((T, B, I))
    y = np.array([0, 2, 1, 2])
    logits = net.forward(x)
    assert logits.shape == (B, 3)
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    assert net.compute_loss(x, y) == pytest.approx(-np.log(p[np.arange(B), y]).mean(), rel=1e-12)
    # The output reads the last state only: the vanilla RNN's equations.
    w = net.parameters()
    h = np.zeros((B, H))
    for t in range(T):
        h = np.tanh(x[t] @ w["rnn.weight_ih_l0"].T + h @ w["rnn.weight_hh_l0"].T + w["rnn.bias_ih_l0"])
    np.testing.assert_allclose(logits, h @ w["fc.weight"].T + w["fc.bias"], rtol=1e-12)


def test_fit_learns_to_classify_and_predict():
    x, y = data(200, seed=3)
    net = recur.ManyToOne(I, 16, 2, model="gru", seed=4)
    losses = net.fit(x, y, epochs=30, batch=20, lr=0.02)
    assert len(losses) == 30 and losses[-1] < 0.5 * losses[0]
    test_x, test_y = data(100, seed=5)
    pred = net.predict(test_x)
    assert pred.dtype == np.int64 and pred.shape == (100,)
    assert (pred == test_y).mean() > 0.85


def test_regression_with_mse():
    x = np.random.default_rng(6).standard_normal((T, 64, 2))
    y = np.stack([x[:, :, 0].mean(axis=0), x[:, :, 1].max(axis=0)], axis=1)
    net = recur.ManyToOne(2, 16, 2, model="lstm", loss="mse", seed=1)
    before = net.compute_loss(x, y)
    net.fit(x.astype(np.float32), y, epochs=60, batch=16, lr=0.01)
    assert net.compute_loss(x, y) < 0.3 * before
    assert net.predict(x).shape == (64, 2)


def test_bad_input_is_an_error_naming_the_expected_shape():
    net = recur.ManyToOne(I, H, 2)
    x, y = data(B)
    with pytest.raises(ValueError, match=r"\(T, B, input_size=3\)"):
        net.forward(x[:, :, :2])
    with pytest.raises(TypeError, match="integer numpy array of class ids"):
        net.compute_loss(x, y.astype(np.float64))
    with pytest.raises(ValueError, match=r"\(B=4,\)"):
        net.compute_loss(x, y[:3])
    with pytest.raises(ValueError, match="class id 2 is outside 0..2"):
        net.compute_loss(x, np.array([0, 1, 2, 0]))
    with pytest.raises(ValueError, match="at least one step and one sequence"):
        net.predict(np.zeros((T, 0, I)))
    with pytest.raises(ValueError, match="at least one step and one sequence"):
        net.forward(np.zeros((0, B, I)))
    with pytest.raises(ValueError, match="unknown loss"):
        recur.ManyToOne(I, H, 2, loss="hinge")
    with pytest.raises(KeyError, match="fc.bias"):
        net.load_state_dict({k: v for k, v in net.parameters().items() if k != "fc.bias"})
