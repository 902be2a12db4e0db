"""recur.layers: forward and backward of recurrent layers on numpy arrays,
checked against finite differences computed here, against a numpy RNN
written from the equations, and (where installed) against PyTorch."""

import numpy as np
import pytest

from recur.layers import GRU, LSTM, MLSTM, RNN, SLSTM

T, B, I, H = 4, 3, 3, 5
# The parts of each cell's state; the sLSTM's n (part 2) is positive.
PARTS = {"rnn": 1, "lstm": 2, "gru": 1, "slstm": 4, "mlstm": 4}


def hidden(kind):
    """H, or 8 for xLSTM's 4 heads."""
    return 8 if kind in ("slstm", "mlstm") else H


def make(kind, **kw):
    cls = {"rnn": RNN, "lstm": LSTM, "gru": GRU, "slstm": SLSTM, "mlstm": MLSTM}[kind]
    return cls(I, hidden(kind), **kw)


def part_shapes(cell, n, b, h):
    """Each part's shape: (L*D, B, H), but the mLSTM's (h, C, n, m) by
    head."""
    if cell == "mlstm":
        d = h // 4
        return [(n, b, h), (n, b, 4, d, d), (n, b, 4, d), (n, b, 4)]
    return [(n, b, h)] * PARTS[cell]


def on_blocks(kind, name, shape):
    """Where a parameter is free: everywhere, except off the heads' blocks
    of the sLSTM's recurrent weight."""
    if kind != "slstm" or "weight_hh" not in name:
        return np.ones(shape, dtype=bool)
    h = shape[1]
    rows, cols = np.indices(shape)
    return (rows % h) // (h // 4) == cols // (h // 4)


def loss_weights(shape, seed):
    return np.random.default_rng(seed).standard_normal(shape)


def state_parts(layer, b):
    """The initial state(s) as arrays: (h,), (h, c) or (h, c, n, m)."""
    c = layer.config
    n = c["num_layers"] * (2 if c["bidirectional"] else 1)
    rng = np.random.default_rng(4)
    shapes = part_shapes(c["cell"], n, b, c["hidden_size"])
    parts = [0.5 * rng.standard_normal(shape) for shape in shapes]
    if c["cell"] == "slstm":
        parts[2] = np.abs(parts[2]) + 0.5
    return parts


def as_state(layer, parts):
    return tuple(parts) if len(parts) > 1 else parts[0]


def as_parts(state):
    return list(state) if isinstance(state, tuple) else [state]


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru", "slstm", "mlstm"])
@pytest.mark.parametrize("layers,bidirectional", [(1, False), (2, True)])
def test_gradients_match_numpy_finite_differences(kind, layers, bidirectional):
    layer = make(kind, num_layers=layers, bidirectional=bidirectional, seed=1)
    x = np.random.default_rng(2).standard_normal((T, B, I))
    h0 = state_parts(layer, B)
    out, hn = layer.forward(x, as_state(layer, h0))
    hn_parts = as_parts(hn)
    w_out = loss_weights(out.shape, 5)
    w_state = [loss_weights(p.shape, 6 + i) for i, p in enumerate(hn_parts)]

    def loss(x=x, h0=h0, params=None):
        probe = make(kind, num_layers=layers, bidirectional=bidirectional, seed=1)
        if params is not None:
            probe.load_state_dict(params)
        o, s = probe.forward(x, as_state(probe, h0))
        s = as_parts(s)
        return float((w_out * o).sum() + sum((w * p).sum() for w, p in zip(w_state, s)))

    d_hn = as_state(layer, w_state)
    grads = layer.backward(w_out, d_hn)
    eps = 1e-6

    def numeric(array, rebuild, free=None):
        g = np.zeros_like(array)
        for idx in np.ndindex(array.shape):
            if free is not None and not free[idx]:
                continue
            up, down = array.copy(), array.copy()
            up[idx] += eps
            down[idx] -= eps
            g[idx] = (rebuild(up) - rebuild(down)) / (2 * eps)
        return g

    np.testing.assert_allclose(grads["input"], numeric(x, lambda v: loss(x=v)), atol=1e-7, rtol=1e-6)
    names = (["h0", "C0", "n0", "m0"] if kind == "mlstm" else ["h0", "c0", "n0", "m0"])[: len(h0)]
    for i, name in enumerate(names):
        def with_state(v, i=i):
            parts = list(h0)
            parts[i] = v
            return loss(h0=parts)
        np.testing.assert_allclose(grads[name], numeric(h0[i], with_state), atol=1e-7, rtol=1e-6)
    params = layer.parameters()
    for name, value in params.items():
        def with_param(v, name=name):
            changed = dict(params)
            changed[name] = v
            return loss(params=changed)
        free = on_blocks(kind, name, value.shape)
        np.testing.assert_allclose(grads[name], numeric(value, with_param, free), atol=1e-7,
                                   rtol=1e-6, err_msg=name)


def test_a_numpy_rnn_written_from_the_equations_gives_recurs_numbers():
    """The vanilla RNN of the notebooks, forward and BPTT in numpy."""
    rnn = RNN(I, H, seed=3)
    p = rnn.parameters()
    w_ih, w_hh, b = p["weight_ih_l0"], p["weight_hh_l0"], p["bias_ih_l0"]
    assert set(p) == {"weight_ih_l0", "weight_hh_l0", "bias_ih_l0"}
    x = np.random.default_rng(0).standard_normal((T, B, I))
    hs = [np.zeros((B, H))]
    for t in range(T):
        hs.append(np.tanh(x[t] @ w_ih.T + hs[-1] @ w_hh.T + b))
    out, hn = rnn.forward(x)
    np.testing.assert_allclose(out, np.stack(hs[1:]), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(hn[0], hs[-1], rtol=1e-12, atol=1e-12)
    # L = sum(out): BPTT by hand.
    d_out = np.ones_like(out)
    dw_ih, dw_hh, db = np.zeros_like(w_ih), np.zeros_like(w_hh), np.zeros_like(b)
    dx, dh_next = np.zeros_like(x), np.zeros((B, H))
    for t in reversed(range(T)):
        dh = d_out[t] + dh_next
        draw = dh * (1 - hs[t + 1] ** 2)
        dw_ih += draw.T @ x[t]
        dw_hh += draw.T @ hs[t]
        db += draw.sum(axis=0)
        dx[t] = draw @ w_ih
        dh_next = draw @ w_hh
    g = rnn.backward(d_out)
    for name, mine in [("weight_ih_l0", dw_ih), ("weight_hh_l0", dw_hh), ("bias_ih_l0", db),
                       ("input", dx), ("h0", dh_next[None])]:
        np.testing.assert_allclose(g[name], mine, rtol=1e-10, atol=1e-12, err_msg=name)


def test_a_numpy_mlstm_written_from_the_equations_gives_recurs_numbers():
    """The mLSTM's recurrent form step by step in numpy, from a random
    state (h, C, n, m) in its natural shapes: recur trains the parallel
    form, and its state parts mean what the docs say."""
    h, nh = 8, 4
    d = h // nh
    mlstm = MLSTM(I, h, seed=3)
    p = mlstm.parameters()
    assert set(p) == {"weight_ih_l0", "bias_ih_l0"}
    w, bias = p["weight_ih_l0"], p["bias_ih_l0"]
    assert w.shape == (4 * h + 2 * nh, I)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((T, B, I))
    h0 = [0.5 * rng.standard_normal(s) for s in part_shapes("mlstm", 1, B, h)]
    c, n, m = h0[1][0].copy(), h0[2][0].copy(), h0[3][0].copy()
    outs = []
    for t in range(T):
        g = x[t] @ w.T + bias  # (B, G)
        q, k, v, o = (g[:, j * h:(j + 1) * h].reshape(B, nh, d) for j in range(4))
        ig, fg = g[:, 4 * h:4 * h + nh], g[:, 4 * h + nh:]
        k = k / np.sqrt(d)
        a = m + np.log(1 / (1 + np.exp(-fg)))
        m_new = np.maximum(a, ig)
        f, i = np.exp(a - m_new), np.exp(ig - m_new)
        c = f[..., None, None] * c + i[..., None, None] * k[..., :, None] * v[..., None, :]
        n = f[..., None] * n + i[..., None] * k
        m = m_new
        num = np.einsum("bhkv,bhk->bhv", c, q)
        den = np.maximum(np.abs((n * q).sum(-1)), np.exp(-m))
        outs.append((1 / (1 + np.exp(-o))) * num / den[..., None])
    out, (h_n, c_n, n_n, m_n) = mlstm.forward(x, tuple(h0))
    np.testing.assert_allclose(out, np.stack(outs).reshape(T, B, h), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(h_n[0], out[-1], rtol=1e-12, atol=1e-12)
    for name, ours, mine in [("C", c_n[0], c), ("n", n_n[0], n), ("m", m_n[0], m)]:
        np.testing.assert_allclose(ours, mine, rtol=1e-10, atol=1e-12, err_msg=name)


def test_mlstm_states_are_checked_by_part():
    mlstm = MLSTM(I, 8, num_layers=2)
    x = np.zeros((T, B, I))
    with pytest.raises(ValueError, match=r"tuple \(h, C, n, m\) of 4 arrays of shapes .*"
                                         r"heads=4, d=2, d=2"):
        mlstm.forward(x, np.zeros((2, B, 8)))
    parts = [np.zeros(s) for s in part_shapes("mlstm", 2, B, 8)]
    parts[1] = np.zeros((2, B, 8))
    with pytest.raises(ValueError, match=r"h0\[1\] \(C\) has shape \[2, 3, 8\]; expected "
                                         r"\(num_layers\*num_directions=2, B=3, heads=4, d=2, d=2\)"):
        mlstm.forward(x, tuple(parts))
    with pytest.raises(ValueError, match="multiple of 4, got 6"):
        MLSTM(I, 6)


def test_float32_input_is_accepted_and_computed_in_float64():
    gru = GRU(I, H)
    x = np.random.default_rng(1).standard_normal((T, B, I))
    out64, _ = gru.forward(x)
    out32, _ = gru.forward(x.astype(np.float32))
    assert out32.dtype == np.float64
    np.testing.assert_allclose(out32, out64, rtol=1e-6, atol=1e-7)


def test_parameters_load_and_round_trip():
    a, b = LSTM(I, H, seed=1), LSTM(I, H, seed=2)
    x = np.random.default_rng(1).standard_normal((T, B, I))
    assert not np.allclose(a.forward(x)[0], b.forward(x)[0])
    b.load_state_dict(a.parameters())
    np.testing.assert_array_equal(a.forward(x)[0], b.forward(x)[0])
    params = a.parameters()
    params["weight_hh_l0"][:] = 0  # a copy: the layer is unchanged
    assert np.any(a.parameters()["weight_hh_l0"] != 0)


def test_bad_arrays_are_errors_that_name_the_expected_shape():
    lstm = LSTM(I, H, num_layers=2)
    with pytest.raises(ValueError, match=r"expected \(T, B, input_size=3\)"):
        lstm.forward(np.zeros((T, B, 4)))
    with pytest.raises(ValueError, match=r"expected \(T, B, input_size=3\)"):
        lstm.forward(np.zeros((T, I)))
    with pytest.raises(TypeError, match="float32 or float64 numpy array.*int64"):
        lstm.forward(np.zeros((T, B, I), dtype=np.int64))
    with pytest.raises(TypeError, match="float32 or float64 numpy array.*list"):
        lstm.forward([[[0.0] * I]])
    with pytest.raises(ValueError, match=r"tuple \(h, c\)"):
        lstm.forward(np.zeros((T, B, I)), np.zeros((2, B, H)))
    with pytest.raises(ValueError, match=r"num_layers\*num_directions=2, B=3"):
        lstm.forward(np.zeros((T, B, I)), (np.zeros((1, B, H)), np.zeros((2, B, H))))
    with pytest.raises(ValueError, match="forward first"):
        LSTM(I, H).backward(np.zeros((T, B, H)))
    out, _ = lstm.forward(np.zeros((T, B, I)))
    with pytest.raises(ValueError, match="the output's"):
        lstm.backward(np.zeros((T, B, H + 1)))
    with pytest.raises(KeyError, match="weight_hh_l1"):
        lstm.load_state_dict({k: v for k, v in lstm.parameters().items() if k != "weight_hh_l1"})
    with pytest.raises(KeyError, match="extra"):
        lstm.load_state_dict({**lstm.parameters(), "extra": np.zeros(1)})
    with pytest.raises(ValueError, match="unknown cell"):
        from recur.layers import Recurrent
        Recurrent("transformer", I, H)
    with pytest.raises(ValueError, match="hidden size must be at least 1"):
        RNN(I, 0)


def test_the_slstm_keeps_its_heads_blocks():
    slstm = SLSTM(I, 8)
    w = slstm.parameters()["weight_hh_l0"]
    assert w.shape == (32, 8)
    assert np.all(w[~on_blocks("slstm", "weight_hh_l0", w.shape)] == 0)
    assert np.any(w[on_blocks("slstm", "weight_hh_l0", w.shape)] != 0)
    bad = slstm.parameters()
    bad["weight_hh_l0"][0, 7] = 0.5
    with pytest.raises(ValueError, match=r"block-diagonal \(4 heads\).*\(0, 7\)"):
        slstm.load_state_dict(bad)
    with pytest.raises(ValueError, match=r"tuple \(h, c, n, m\) of 4 arrays"):
        slstm.forward(np.zeros((T, B, I)), np.zeros((1, B, 8)))
    with pytest.raises(ValueError, match="multiple of 4, got 6"):
        SLSTM(I, 6)


def test_pytorch_gives_the_same_numbers():
    torch = pytest.importorskip("torch")
    for kind, cls, tcls in [("lstm", LSTM, torch.nn.LSTM), ("gru", GRU, torch.nn.GRU)]:
        ours = cls(I, H, num_layers=2, bidirectional=True, seed=3)
        theirs = tcls(I, H, num_layers=2, bidirectional=True).double()
        theirs.load_state_dict({k: torch.tensor(v) for k, v in ours.parameters().items()})
        x = np.random.default_rng(0).standard_normal((T, B, I))
        xt = torch.tensor(x, requires_grad=True)
        out_t, _ = theirs(xt)
        out, _ = ours.forward(x)
        np.testing.assert_allclose(out, out_t.detach().numpy(), rtol=1e-10, atol=1e-12)
        out_t.sum().backward()
        g = ours.backward(np.ones_like(out))
        np.testing.assert_allclose(g["input"], xt.grad.numpy(), rtol=1e-10, atol=1e-12)
        for name, param in theirs.named_parameters():
            np.testing.assert_allclose(g[name], param.grad.numpy(), rtol=1e-9, atol=1e-12,
                                       err_msg=f"{kind} {name}")
