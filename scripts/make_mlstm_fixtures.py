"""Write PyTorch reference fixtures for recur's mLSTM layer.

PyTorch has no mLSTM, so this writes it from its equations (Beck et al.
2024, "xLSTM: Extended Long Short-Term Memory") in the *recurrent* form,
step by step and head by head, independently of recur (which trains the
layer in the parallel form), in float64 with autograd. Per step, with
H units in NH = 4 heads of d = H/4 and the state (C, n, m) of each head:

    xg = W_ih x + b_ih, rows q (H), k (H), v (H), o (H), i~ (NH), f~ (NH)
    per head (q, k, v in R^d, the scalars i~, f~):
      k  <- k / sqrt(d)
      a  = m + logsigmoid(f~);   m' = max(a, i~)
      f  = exp(a - m');          i  = exp(i~ - m')
      C' = f C + i k v^T         (C[i][j] pairs key unit i with value unit j)
      n' = f n + i k
      h~ = C'^T q / max(|n'.q|, exp(-m'))
    per unit: h = sigmoid(o) * h~

No eps in the denominator (recur has none). There is no W_hh and no
bias_hh: each (layer, direction) has rnn.weight_ih_l{k}[_reverse]
(4H + 2NH, I) and rnn.bias_ih_l{k}[_reverse] (4H + 2NH). Layers stack as
PyTorch's do (layer k > 0 reads the directions' outputs concatenated).
The cases and the file format are those of scripts/make_fixtures.py, whose
helpers write the files: 1 and 2 layers, uni- and bidirectional, with and
without padding (each sequence run over its own length, the reverse
direction from its last real step; a padded step outputs zero).

The state is saved in its natural shapes: h0 (L*D, B, H), C0 (L*D, B, NH,
d, d), n0 (L*D, B, NH, d), m0 (L*D, B, NH); the final h_n, C_n, n_n, m_n;
their R's r_h, r_C, r_n, r_m and the gradients grad.h0 ... grad.m0 of

    L = sum(out * R_out) + sum(h_n * R_h) + sum(C_n * R_C)
        + sum(n_n * R_n) + sum(m_n * R_m).

(h0 reaches nothing: the gates read the input only, and a padded step's
output is zero; its gradient is zero.) tests/pytorch_fixtures.rs converts
the state to recur's planes.

The stabilizer has to matter: heads 0 and 1 have xLSTM-like gate biases
(the forget gate open, f~ near [3, 6], the input gate low, i~ near -1), so
their m follows m + logsigmoid(f~) from a random m0 for several steps;
heads 2 and 3 have small gate biases, so i~ often wins the max. The
initial states are random (m0 in [-1, 1], differing between heads; C0 and
n0 as a few earlier steps would leave them) except sequence 1's, which is
all zero in every layer and direction. For each fixture the script counts
which side of m' = max(a, i~) and of the denominator's max each (step,
head) took, and the closest call of each, and fails unless both sides of
both occur. (h~ does not depend on m without eps, so the side m' takes
shows in the final state and its gradients: m_n, and C_n, n_n through
their factor exp(-m').) Weights, input, initial states and R's are
rounded to float32 first, so the float64 reference is exact for the values
the fixture holds. The script also runs the reference in float32 and
prints how far that lands from float64 (at most 2.6e-6 here): the
fixtures are conditioned for the test's tolerance of 1e-5. Larger initial
states (independent random C0 and n0, or m0 up to 2) made gradients of
several hundred, whose float32 rounding alone passes 1e-5.

    pip install torch safetensors
    python3 scripts/make_mlstm_fixtures.py
"""
import math

import torch
import torch.nn.functional as F

from make_fixtures import LENGTHS, fixture_tensors, save_fixture

T, B, I, H = 5, 3, 4, 8
HEADS = 4
D = H // HEADS  # units per head
G = 4 * H + 2 * HEADS  # rows of W_ih
ZERO_STATE = 1  # the sequence whose initial state is all zero
PARTS = ["C", "n", "m"]  # the cell state besides h
HISTORY = 3  # terms in a random initial state


def f32(t):
    """A float64 leaf holding float32-representable values."""
    return t.float().double().requires_grad_()


def uniform(*shape, lo, hi):
    return torch.empty(shape, dtype=torch.float64).uniform_(lo, hi)


def mlstm_step(x, state, w_ih, b_ih, stats):
    """One step on one sequence: x (I,), state (C (NH, d, d), n (NH, d),
    m (NH,)) -> h (H,), new state. Counts the sides of the maxes in stats
    (if given)."""
    c, n, m = state
    xg = F.linear(x, w_ih, b_ih)
    q, k, v, o = (xg[j * H:(j + 1) * H].reshape(HEADS, D) for j in range(4))
    i_raw, f_raw = xg[4 * H:4 * H + HEADS], xg[4 * H + HEADS:]
    k = k / math.sqrt(D)
    a = m + F.logsigmoid(f_raw)
    m_new = torch.maximum(a, i_raw)
    f = torch.exp(a - m_new)
    i = torch.exp(i_raw - m_new)
    c_new = f[:, None, None] * c + i[:, None, None] * k[:, :, None] * v[:, None, :]
    n_new = f[:, None] * n + i[:, None] * k
    nq = (n_new * q).sum(-1).abs()
    floor = torch.exp(-m_new)
    den = torch.maximum(nq, floor)
    h_tilde = torch.einsum("hij,hi->hj", c_new, q) / den[:, None]
    h = torch.sigmoid(o.reshape(H)) * h_tilde.reshape(H)
    if stats is not None:
        stats["m'=a"] += int((a > i_raw).sum())
        stats["m'=i~"] += int((a < i_raw).sum())
        stats["den=|n.q|"] += int((nq > floor).sum())
        stats["den=exp(-m')"] += int((nq < floor).sum())
        stats["closest |a - i~|"] = min(stats["closest |a - i~|"], (a - i_raw).abs().min().item())
        stats["closest | |n.q|/exp(-m') - 1 |"] = min(stats["closest | |n.q|/exp(-m') - 1 |"],
                                                      (nq / floor - 1).abs().min().item())
    return h, (c_new, n_new, m_new)


def mlstm_rnn(x, state0, params, layers, dirs, lengths, stats=None):
    """x (T, B, I), state0 {part: (L*D, B, ...)} -> out (T, B, D*H)
    zero-padded, final state {part: (L*D, B, ...)} (h_n: the last real
    step's output)."""
    outs, fin = [], {}
    for b, length in enumerate(lengths):
        seq = x[:length, b]
        for k in range(layers):
            ys = []
            for d in range(dirs):
                sfx = "_reverse" if d else ""
                w_ih, b_ih = params[f"weight_ih_l{k}{sfx}"], params[f"bias_ih_l{k}{sfx}"]
                j = k * dirs + d
                s = tuple(state0[p][j, b] for p in PARTS)
                y = []
                for xt in (seq.flip(0) if d else seq):
                    h, s = mlstm_step(xt, s, w_ih, b_ih, stats)
                    y.append(h)
                fin[j, b] = (y[-1],) + s
                y = torch.stack(y)
                ys.append(y.flip(0) if d else y)
            seq = torch.cat(ys, dim=-1)
        outs.append(F.pad(seq, (0, 0, 0, T - length)))
    out = torch.stack(outs, dim=1)
    final = {p: torch.stack([torch.stack([fin[j, b][q] for b in range(B)])
                             for j in range(layers * dirs)])
             for q, p in enumerate(["h"] + PARTS)}
    return out, final


def layer_params(fan_in):
    """W_ih (G, fan_in) and b_ih (G) of one (layer, direction)."""
    bound = H ** -0.5
    w_ih = uniform(G, fan_in, lo=-bound, hi=bound)
    bias = uniform(G, lo=-bound, hi=bound)
    bias[4 * H:4 * H + 2] -= 1.0  # i~, heads 0-1
    bias[4 * H + HEADS:4 * H + HEADS + 2] = uniform(2, lo=3.0, hi=6.0)  # f~, heads 0-1
    return f32(w_ih), f32(bias)


def initial_state(layers, dirs):
    """A random state as earlier steps would leave it: per head, C0 and n0
    sums of HISTORY terms w k v^T and w k with w in [0.2, 1], and m0 in
    [-1, 1]; all zero for sequence ZERO_STATE. (Independent random C0 and
    n0 would make h~ = C0^T q / (n0.q) blow up where n0.q is near zero.)"""
    ld = layers * dirs
    w = uniform(ld, B, HEADS, HISTORY, lo=0.2, hi=1.0)
    k = torch.randn(ld, B, HEADS, HISTORY, D, dtype=torch.float64) / math.sqrt(D)
    v = torch.randn(ld, B, HEADS, HISTORY, D, dtype=torch.float64)
    state0 = {
        "h": 0.5 * torch.randn(ld, B, H, dtype=torch.float64),
        "C": torch.einsum("...s,...si,...sj->...ij", w, k, v),
        "n": torch.einsum("...s,...si->...i", w, k),
        "m": uniform(ld, B, HEADS, lo=-1.0, hi=1.0),
    }
    for p in state0:
        state0[p][:, ZERO_STATE] = 0.0
        state0[p] = f32(state0[p])
    return state0


def reference(params, x, state0, r_out, r, layers, dirs, lengths, stats=None):
    """The fixture's tensors (float64 reference) for this case, and the loss."""
    out, final = mlstm_rnn(x, state0, params, layers, dirs, lengths, stats)
    loss = (out * r_out).sum() + sum((final[p] * r[p]).sum() for p in final)
    loss.backward()
    # h0 reaches nothing (no W_hh; padded steps output zero).
    assert state0["h"].grad is None
    state0["h"].grad = torch.zeros_like(state0["h"])
    t = fixture_tensors(list(params.items()), x, state0["h"], out, final["h"], r_out, r["h"])
    for p in PARTS:
        t.update({f"{p}0": state0[p].detach(), f"grad.{p}0": state0[p].grad.detach(),
                  f"{p}_n": final[p].detach(), f"r_{p}": r[p]})
    return t, loss


def leaves(tensors, dtype):
    """Fresh leaves of dtype with the same values."""
    return {k: v.detach().to(dtype).requires_grad_() for k, v in tensors.items()}


def new_stats():
    """Counts of the side each max took, per (step, head), and the closest
    call of each (a near tie could go the other way in f32)."""
    return {"m'=a": 0, "m'=i~": 0, "den=|n.q|": 0, "den=exp(-m')": 0,
            "closest |a - i~|": math.inf, "closest | |n.q|/exp(-m') - 1 |": math.inf}


def main():
    torch.manual_seed(0)
    worst_f32 = 0.0
    for layers in [1, 2]:
        for bidirectional in [False, True]:
            for padded in [False, True]:
                dirs = 2 if bidirectional else 1
                params = {}
                for k in range(layers):
                    for d in range(dirs):
                        sfx = "_reverse" if d else ""
                        w_ih, bias = layer_params(I if k == 0 else dirs * H)
                        params[f"weight_ih_l{k}{sfx}"] = w_ih
                        params[f"bias_ih_l{k}{sfx}"] = bias
                x = f32(torch.randn(T, B, I, dtype=torch.float64))
                state0 = initial_state(layers, dirs)
                lengths = LENGTHS if padded else [T] * B
                r_out = torch.randn(T, B, dirs * H, dtype=torch.float64).float().double()
                r = {p: torch.randn(state0[p].shape, dtype=torch.float64).float().double()
                     for p in ["h"] + PARTS}
                case, stats = (layers, dirs, lengths), new_stats()
                t, loss = reference(params, x, state0, r_out, r, *case, stats)
                # The same in float32: how far plain f32 arithmetic lands from
                # the reference (the test's tolerance must allow it, with room).
                t32, _ = reference(leaves(params, torch.float32), leaves({"x": x}, torch.float32)["x"],
                                   leaves(state0, torch.float32), r_out.float(),
                                   {p: v.float() for p, v in r.items()}, *case)
                err = max((t32[k].double() - v).abs().max().item() for k, v in t.items())
                worst_f32 = max(worst_f32, err)
                save_fixture({"cell": "mlstm", "layers": layers, "bidirectional": bidirectional,
                              "input": I, "hidden": H, "steps": T, "batch": B, "lengths": lengths}, t, loss)
                print("  per (step, head):", ", ".join(f"{k}: {v:.3g}" for k, v in stats.items()))
                print(f"  largest value {max(v.abs().max().item() for v in t.values()):.3g}, "
                      f"torch in float32 off by {err:.3g}")
                assert all(v > 0 for v in stats.values()), "a side of a max never occurred"
    print(f"torch in float32 against the float64 reference: max abs error {worst_f32:.3g}")


if __name__ == "__main__":
    main()
