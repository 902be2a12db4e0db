"""Write PyTorch reference fixtures for recur's minGRU and minLSTM layers.

PyTorch has no minGRU or minLSTM, so this writes them from the paper's
equations in their log-space parallel form (Feng et al. 2024, "Were RNNs All
We Needed?", as lucidrains/minGRU-pytorch computes them), independently of
recur's step-by-step kernels:

    minGRU:  k = W_z x + b_z;  log z = -softplus(-k);  log(1 - z) = -softplus(k)
             log h~ = log_g(W_h x + b_h)
             a_t = log(1 - z_t),  v_t = log z_t + log h~_t
    minLSTM: diff = softplus(-a) - softplus(-b)   (a, b: forget, input gates)
             log f' = -softplus(diff);  log i' = -softplus(-diff)
             a_t = log f'_t,  v_t = log i'_t + log h~_t
    log_g(v) = log(relu(v) + 1/2) for v >= 0, -softplus(-v) below

and the scan over time from a positive initial state h0 (log h0 first, its
coefficient padded with 0, as lucidrains' parallel_scan_log does):

    a* = cumsum(a),  log h = a* + logcumsumexp(v - a*)

Each (layer, direction) is one Linear with bias whose rows are the gates in
recur's order, (h~, z) for minGRU and (h~, f, i) for minLSTM, saved under
recur's checkpoint names rnn.weight_ih_l{k}[_reverse] (G*H, I) and
rnn.bias_ih_l{k}[_reverse] (G*H). The cases and the file format are those of
scripts/make_fixtures.py, whose helpers write the files: 1 and 2 layers,
uni- and bidirectional, with and without padding (each sequence scanned
over its own length, the reverse direction from its last step), and the
gradients of L = sum(output * R_out) + sum(h_n * R_h). The initial states
are positive. Weights, input and h0 are rounded to float32 first, so the
float64 reference is exact for the values the fixture holds.
tests/pytorch_fixtures.rs compares recur against them.

    pip install torch safetensors
    python3 scripts/make_min_fixtures.py
"""
import torch
import torch.nn.functional as F

from make_fixtures import LENGTHS, fixture_tensors, save_fixture

T, B, I, H = 5, 3, 4, 6
GATES = {"mingru": 2, "minlstm": 3}


def f32(t):
    """A float64 leaf holding float32-representable values."""
    return t.float().double().requires_grad_()


def log_g(v):
    return torch.where(v >= 0, torch.log(F.relu(v) + 0.5), -F.softplus(-v))


def scan_log(log_coeffs, log_values):
    """h_t from the log-space scan over dim 0 (lucidrains' heinsen_associative_scan_log)."""
    a_star = log_coeffs.cumsum(dim=0)
    return (a_star + (log_values - a_star).logcumsumexp(dim=0)).exp()


def min_direction(cell, x, h0, weight, bias):
    """One direction of one layer on one sequence: x (n, I), h0 (H,) > 0 -> (n, H)."""
    gates = F.linear(x, weight, bias)
    if cell == "mingru":
        hidden, k = gates.split(H, dim=-1)
        log_coeffs = -F.softplus(k)
        log_values = -F.softplus(-k) + log_g(hidden)
    else:
        hidden, f_gate, i_gate = gates.split(H, dim=-1)
        diff = F.softplus(-f_gate) - F.softplus(-i_gate)
        log_coeffs = -F.softplus(diff)
        log_values = -F.softplus(-diff) + log_g(hidden)
    log_values = torch.cat((h0.log()[None], log_values))
    log_coeffs = F.pad(log_coeffs, (0, 0, 1, 0))
    return scan_log(log_coeffs, log_values)[1:]


def min_rnn(cell, x, h0, params, layers, dirs, lengths):
    """x (T, B, I), h0 (layers*dirs, B, H) -> out (T, B, dirs*H) zero-padded, h_n like h0."""
    outs, h_n = [], {}
    for b, n in enumerate(lengths):
        seq = x[:n, b]
        for k in range(layers):
            ys = []
            for d in range(dirs):
                sfx = "_reverse" if d else ""
                w, bias = params[f"weight_ih_l{k}{sfx}"], params[f"bias_ih_l{k}{sfx}"]
                inp = seq.flip(0) if d else seq
                y = min_direction(cell, inp, h0[k * dirs + d, b], w, bias)
                h_n[k * dirs + d, b] = y[-1]
                ys.append(y.flip(0) if d else y)
            seq = torch.cat(ys, dim=-1)
        outs.append(F.pad(seq, (0, 0, 0, T - n)))
    out = torch.stack(outs, dim=1)
    h_n = torch.stack([torch.stack([h_n[j, b] for b in range(B)]) for j in range(layers * dirs)])
    return out, h_n


def main():
    torch.manual_seed(0)
    for cell in ["mingru", "minlstm"]:
        for layers in [1, 2]:
            for bidirectional in [False, True]:
                for padded in [False, True]:
                    dirs = 2 if bidirectional else 1
                    g = GATES[cell]
                    params = {}
                    for k in range(layers):
                        fan_in = I if k == 0 else dirs * H
                        for d in range(dirs):
                            sfx = "_reverse" if d else ""
                            lin = torch.nn.Linear(fan_in, g * H).double()
                            params[f"weight_ih_l{k}{sfx}"] = f32(lin.weight.detach())
                            params[f"bias_ih_l{k}{sfx}"] = f32(lin.bias.detach())
                    x = f32(torch.randn(T, B, I, dtype=torch.float64))
                    h0 = f32(torch.empty(layers * dirs, B, H, dtype=torch.float64).uniform_(0.2, 1.5))
                    lengths = LENGTHS if padded else [T] * B
                    out, h_n = min_rnn(cell, x, h0, params, layers, dirs, lengths)
                    r_out = torch.randn_like(out)
                    r_h = torch.randn_like(h_n)
                    loss = (out * r_out).sum() + (h_n * r_h).sum()
                    loss.backward()
                    t = fixture_tensors(list(params.items()), x, h0, out, h_n, r_out, r_h)
                    save_fixture({"cell": cell, "layers": layers, "bidirectional": bidirectional,
                                  "input": I, "hidden": H, "steps": T, "batch": B, "lengths": lengths}, t, loss)


if __name__ == "__main__":
    main()
