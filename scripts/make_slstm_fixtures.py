"""Write PyTorch reference fixtures for recur's sLSTM layer.

PyTorch has no sLSTM, so this writes it from its equations (Beck et al.
2024, "xLSTM: Extended Long Short-Term Memory", step by step as NX-AI's
xlstm computes them in slstm_forward_pointwise, its vanilla backend),
independently of recur's kernels, in float64 with autograd:

    raw = W_ih x + b_ih + W_hh h_prev;   (i~, f~, z~, o~) = split(raw)
    a  = m + logsigmoid(f~)
    m' = i~ where n == 0 else max(i~, a)         (per element)
    i  = exp(i~ - m');   f = exp(a - m')
    c' = f c + i tanh(z~);   n' = f n + i;   h' = sigmoid(o~) c' / n'

with the state (h, c, n, m) before the step. Two departures from the
vanilla backend: it takes m' = i~ only where n == 0 for the whole batch
(here per element, as recur does), and it clamps i and f at 1, which
matters only after n == 0 (there f = exp(a - i~) may exceed 1; unclamped,
as the equations have it, it reaches the gradients of c0 and n0). W_hh is
block-diagonal over 4 heads: in each gate's (H, H) block, entry (u, v) is zero
unless units u and v are in the same head (u // (H/4) == v // (H/4)). The
forward multiplies W_hh by that mask, so the fixture's W_hh holds the zeros
and its gradient is zero there, as recur keeps them.

Each (layer, direction) has rnn.weight_ih_l{k}[_reverse] (4H, I),
rnn.weight_hh_l{k}[_reverse] (4H, H) and rnn.bias_ih_l{k}[_reverse] (4H),
gate rows in the order (i, f, z, o); no bias_hh. The cases and the file
format are those of scripts/make_fixtures.py, whose helpers write the
files: 1 and 2 layers, uni- and bidirectional, with and without padding
(each sequence run over its own length, the reverse direction from its last
step; a padded step outputs zero and carries the state). The state has four
parts, saved like the LSTM's h and c: h0, c0, n0, m0 (each (L*D, B, H); recur
takes them concatenated in that order), the final h_n, c_n, n_n, m_n, their
R's r_h, r_c, r_n, r_m and the gradients grad.h0 ... grad.m0 of

    L = sum(output * R_out) + sum(h_n * R_h) + sum(c_n * R_c)
        + sum(n_n * R_n) + sum(m_n * R_m).

The initial states have n0 in [0.5, 1.5], h0, c0 and m0 random, except
sequence 1 of every fixture, whose initial state is all zero in every layer
and direction (n == 0: its first step takes m' = i~). The stabilizer m
cancels in h (c and n are scaled by exp(-m) alike), so a different rule for
m' shows only in the final (c, n, m), and only while the difference lasts,
until a step where i~ wins the max in both. So half the units (heads 0 and
1) have xLSTM-like gate biases, the forget gate open (f~ near [3, 6], as
xLSTM initializes it) and the input gate low (i~ near -1): their m follows
m + logsigmoid(f~) for several steps, and the zero-state rule shows in
sequence 1's final state. Weights, input and initial states are rounded to
float32 first, so the float64 reference is exact for the values the fixture
holds. tests/pytorch_fixtures.rs compares recur against them.

    pip install torch safetensors
    python3 scripts/make_slstm_fixtures.py
"""
import torch
import torch.nn.functional as F

from make_fixtures import LENGTHS, fixture_tensors, save_fixture

T, B, I, H = 5, 3, 4, 8
HEADS = 4
ZERO_STATE = 1  # the sequence whose initial state is all zero
PARTS = ["h", "c", "n", "m"]


def f32(t):
    """A float64 leaf holding float32-representable values."""
    return t.float().double().requires_grad_()


def uniform(*shape, lo, hi):
    return torch.empty(shape, dtype=torch.float64).uniform_(lo, hi)


def head_mask():
    """(4H, H): 1 where W_hh may be nonzero (row and column in the same head)."""
    head = torch.arange(H) // (H // HEADS)
    block = (head[:, None] == head[None, :]).double()
    return block.repeat(4, 1)


MASK = head_mask()
STATS = {"max": 0, "first": 0, "zero_n": 0}


def slstm_step(x, state, w_ih, w_hh, b_ih):
    """One step on one sequence: x (I,), state (h, c, n, m) each (H,) -> new state."""
    h, c, n, m = state
    raw = F.linear(x, w_ih, b_ih) + F.linear(h, w_hh * MASK)
    i_raw, f_raw, z_raw, o_raw = raw.split(H)
    a = m + F.logsigmoid(f_raw)
    m_new = torch.where(n == 0, i_raw, torch.maximum(i_raw, a))
    STATS["zero_n"] += int((n == 0).sum())
    STATS["first"] += int(((n != 0) & (i_raw > a)).sum())
    STATS["max"] += int(((n != 0) & (i_raw < a)).sum())
    i = torch.exp(i_raw - m_new)
    f = torch.exp(a - m_new)
    c_new = f * c + i * torch.tanh(z_raw)
    n_new = f * n + i
    h_new = torch.sigmoid(o_raw) * c_new / n_new
    return h_new, c_new, n_new, m_new


def slstm_rnn(x, state0, params, layers, dirs, lengths):
    """x (T, B, I), state0 {part: (L*D, B, H)} -> out (T, B, D*H) zero-padded,
    final state {part: (L*D, B, H)}."""
    outs, fin = [], {}
    for b, n in enumerate(lengths):
        seq = x[:n, b]
        for k in range(layers):
            ys = []
            for d in range(dirs):
                sfx = "_reverse" if d else ""
                w_ih, w_hh, b_ih = (params[f"{p}_l{k}{sfx}"]
                                    for p in ["weight_ih", "weight_hh", "bias_ih"])
                inp = seq.flip(0) if d else seq
                s = tuple(state0[p][k * dirs + d, b] for p in PARTS)
                y = []
                for xt in inp:
                    s = slstm_step(xt, s, w_ih, w_hh, b_ih)
                    y.append(s[0])
                y = torch.stack(y)
                fin[k * dirs + d, b] = s
                ys.append(y.flip(0) if d else y)
            seq = torch.cat(ys, dim=-1)
        outs.append(F.pad(seq, (0, 0, 0, T - n)))
    out = torch.stack(outs, dim=1)
    final = {p: torch.stack([torch.stack([fin[j, b][q] for b in range(B)])
                             for j in range(layers * dirs)])
             for q, p in enumerate(PARTS)}
    return out, final


def main():
    torch.manual_seed(0)
    for layers in [1, 2]:
        for bidirectional in [False, True]:
            for padded in [False, True]:
                dirs = 2 if bidirectional else 1
                params = {}
                for k in range(layers):
                    fan_in = I if k == 0 else dirs * H
                    for d in range(dirs):
                        sfx = "_reverse" if d else ""
                        bound = H ** -0.5  # torch.nn.LSTM's init
                        w_ih = uniform(4 * H, fan_in, lo=-bound, hi=bound)
                        w_hh = uniform(4 * H, H, lo=-bound, hi=bound).where(MASK > 0, 0.0)
                        bias = uniform(4 * H, lo=-bound, hi=bound)
                        bias[:H // 2] -= 1.0  # input gate, heads 0-1
                        bias[H:H + H // 2] = uniform(H // 2, lo=3.0, hi=6.0)  # forget gate, heads 0-1
                        params[f"weight_ih_l{k}{sfx}"] = f32(w_ih)
                        params[f"weight_hh_l{k}{sfx}"] = f32(w_hh)
                        params[f"bias_ih_l{k}{sfx}"] = f32(bias)
                x = f32(torch.randn(T, B, I, dtype=torch.float64))
                shape = (layers * dirs, B, H)
                state0 = {
                    "h": 0.5 * torch.randn(shape, dtype=torch.float64),
                    "c": 0.5 * torch.randn(shape, dtype=torch.float64),
                    "n": uniform(*shape, lo=0.5, hi=1.5),
                    "m": torch.randn(shape, dtype=torch.float64),
                }
                for p in PARTS:
                    state0[p][:, ZERO_STATE] = 0.0
                    state0[p] = f32(state0[p])
                lengths = LENGTHS if padded else [T] * B
                out, final = slstm_rnn(x, state0, params, layers, dirs, lengths)
                r_out = torch.randn_like(out)
                r = {p: torch.randn_like(final[p]) for p in PARTS}
                loss = (out * r_out).sum() + sum((final[p] * r[p]).sum() for p in PARTS)
                loss.backward()
                for name, p in params.items():
                    if name.startswith("weight_hh"):
                        off = 1 - MASK
                        assert (p * off).abs().max() == 0 and (p.grad * off).abs().max() == 0
                t = fixture_tensors(list(params.items()), x, state0["h"], out, final["h"], r_out, r["h"])
                t = {k: v + 0.0 for k, v in t.items()}  # -0.0 (masked entries) to 0.0
                for p in PARTS[1:]:
                    t.update({f"{p}0": state0[p].detach(), f"grad.{p}0": state0[p].grad.detach(),
                              f"{p}_n": final[p].detach(), f"r_{p}": r[p]})
                save_fixture({"cell": "slstm", "layers": layers, "bidirectional": bidirectional,
                              "input": I, "hidden": H, "steps": T, "batch": B, "lengths": lengths}, t, loss)
    print(f"elements per step rule: m' = i~ at n == 0: {STATS['zero_n']}, "
          f"max taking i~: {STATS['first']}, max taking m + logsigmoid(f~): {STATS['max']}")


if __name__ == "__main__":
    main()
