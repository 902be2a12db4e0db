"""Recurrent layers on their own, as PyTorch's ``nn.RNN``, ``nn.LSTM`` and
``nn.GRU`` (time-major input, the same parameter names and state shapes),
computed in float64 by recur's Rust core, with numpy in and out.

``forward(x, h0=None)`` returns ``(output, h_n)``; ``backward(d_output,
d_hn=None)`` returns the gradient of every parameter, of the input
(``"input"``) and of the initial state (``"h0"``, and ``"c0"`` for the
LSTM; ``"c0"``, ``"n0"``, ``"m0"`` for the sLSTM; ``"C0"``, ``"n0"``, ``"m0"``
for the mLSTM). Check your own numpy RNN against them::

    import numpy as np
    from recur.layers import RNN
    rnn = RNN(input_size=3, hidden_size=4)
    x = np.random.randn(5, 2, 3)              # (T, B, I)
    out, h_n = rnn.forward(x)                 # (5, 2, 4), (1, 2, 4)
    grads = rnn.backward(np.ones_like(out))   # L = out.sum()
    grads["weight_hh_l0"].shape               # (4, 4)
"""

from ._recur import Recurrent

__all__ = ["Recurrent", "RNN", "LSTM", "GRU", "SLSTM", "MLSTM"]


class RNN(Recurrent):
    """Elman RNN: ``h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1})`` (or relu).

    recur keeps one bias (``bias_ih_l{k}``): PyTorch's two add up, so its
    ``bias_hh`` folds into ``bias_ih`` when weights move between them.
    """

    def __new__(cls, input_size, hidden_size, num_layers=1, bidirectional=False,
                nonlinearity="tanh", seed=0):
        return super().__new__(cls, "rnn", input_size, hidden_size, num_layers,
                               bidirectional, nonlinearity, seed)

    def __init__(self, input_size, hidden_size, num_layers=1, bidirectional=False,
                 nonlinearity="tanh", seed=0):
        pass


class LSTM(Recurrent):
    """LSTM with PyTorch's gate order (input, forget, cell, output); the
    state is a tuple ``(h, c)``."""

    def __new__(cls, input_size, hidden_size, num_layers=1, bidirectional=False, seed=0):
        return super().__new__(cls, "lstm", input_size, hidden_size, num_layers,
                               bidirectional, "tanh", seed)

    def __init__(self, input_size, hidden_size, num_layers=1, bidirectional=False, seed=0):
        pass


class GRU(Recurrent):
    """GRU with PyTorch's gate order (reset, update, new) and its
    ``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``."""

    def __new__(cls, input_size, hidden_size, num_layers=1, bidirectional=False, seed=0):
        return super().__new__(cls, "gru", input_size, hidden_size, num_layers,
                               bidirectional, "tanh", seed)

    def __init__(self, input_size, hidden_size, num_layers=1, bidirectional=False, seed=0):
        pass


class SLSTM(Recurrent):
    """xLSTM's sLSTM (Beck et al. 2024): exponential input and forget gates
    with a normalizer ``n`` and a stabilizer ``m``, gate order (i, f, z, o),
    one bias, and a block-diagonal ``weight_hh_l{k}`` of 4 heads (zeros off
    the heads' blocks, which ``load_state_dict`` refuses to see set). The
    state is a tuple ``(h, c, n, m)``; ``hidden_size`` is a multiple of 4.
    """

    def __new__(cls, input_size, hidden_size, num_layers=1, bidirectional=False, seed=0):
        return super().__new__(cls, "slstm", input_size, hidden_size, num_layers,
                               bidirectional, "tanh", seed)

    def __init__(self, input_size, hidden_size, num_layers=1, bidirectional=False, seed=0):
        pass


class MLSTM(Recurrent):
    """xLSTM's mLSTM (Beck et al. 2024): a matrix memory per head, written
    with exponential input and forget gates and read with a query. 4 heads
    of ``d = hidden_size / 4``; one input weight ``weight_ih_l{k}`` of
    ``4H + 8`` rows (q, k, v, o per unit, then the heads' 4 input and 4
    forget gates) and one bias; no recurrent weight. Per head::

        a = m + log(sigmoid(f))     m' = max(a, i)
        C' = exp(a - m') C + exp(i - m') (k / sqrt(d)) v^T
        n' = exp(a - m') n + exp(i - m') k / sqrt(d)
        h = sigmoid(o) * C'^T q / max(|n' . q|, exp(-m'))

    The state is a tuple ``(h, C, n, m)``: ``h (L*D, B, H)``, ``C (L*D, B,
    4, d, d)`` (key component, then value component), ``n (L*D, B, 4, d)``
    and the stabilizer ``m (L*D, B, 4)``.
    """

    def __new__(cls, input_size, hidden_size, num_layers=1, bidirectional=False, seed=0):
        return super().__new__(cls, "mlstm", input_size, hidden_size, num_layers,
                               bidirectional, "tanh", seed)

    def __init__(self, input_size, hidden_size, num_layers=1, bidirectional=False, seed=0):
        pass
