"""Write PyTorch reference fixtures for recur's recurrent layers.

For RNN (tanh), LSTM and GRU; 1 and 2 layers; uni- and bidirectional; with
and without padding (sequences of different lengths, packed), this builds
torch.nn.RNN/LSTM/GRU with small random weights, runs it on a random input
from a random initial state, and differentiates the scalar

    L = sum(output * R_out) + sum(h_n * R_h) [+ sum(c_n * R_c)]

with fixed random R's. Each fixture is a safetensors file in tests/fixtures/
holding the weights (PyTorch names), the input, lengths, initial states, the
R's, the outputs (zeros at padded steps), the final states, and the
gradients of L with respect to every weight, the input and the initial
states. tests/pytorch_fixtures.rs compares recur against them; the tests
need no PyTorch. scripts/make_min_fixtures.py writes minGRU's and minLSTM's
(no PyTorch layer: written out from the paper) with the helpers here.

    pip install torch safetensors
    python3 scripts/make_fixtures.py
"""
import json
import os

import torch
from safetensors.torch import save_file

T, B, I, H = 5, 3, 3, 4
LENGTHS = [5, 3, 2]
OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures")


def fixture_tensors(params, x, h0, out, h_n, r_out, r_h):
    """The tensors of a fixture: each weight (named as the layer names it)
    and its gradient, the input, the initial state, the outputs, the final
    state and the R's (the weights and x, h0 with .grad filled in)."""
    t = {name: p.detach().clone() for name, p in params}
    t.update({f"grad.{name}": p.grad.detach().clone() for name, p in params})
    t.update({
        "x": x.detach(), "grad.x": x.grad.detach(),
        "h0": h0.detach(), "grad.h0": h0.grad.detach(),
        "out": out.detach(), "h_n": h_n.detach(),
        "r_out": r_out, "r_h": r_h,
    })
    return t


def save_fixture(config, t, loss):
    """Writes t in float32 with config (the keys tests/pytorch_fixtures.rs
    reads) as tests/fixtures/{cell}_l{layers}_{uni|bi}_{full|padded}.safetensors."""
    os.makedirs(OUT_DIR, exist_ok=True)
    t = {k: v.float().contiguous() for k, v in t.items()}
    meta = {"config": json.dumps(config), "loss": repr(loss.item())}
    padded = any(n != config["steps"] for n in config["lengths"])
    name = (f"{config['cell']}_l{config['layers']}_{'bi' if config['bidirectional'] else 'uni'}"
            f"_{'padded' if padded else 'full'}.safetensors")
    save_file(t, os.path.join(OUT_DIR, name), metadata=meta)
    print(name)


def main():
    torch.manual_seed(0)
    for cell in ["rnn", "lstm", "gru"]:
        for layers in [1, 2]:
            for bidirectional in [False, True]:
                for padded in [False, True]:
                    dirs = 2 if bidirectional else 1
                    cls = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell]
                    rnn = cls(I, H, num_layers=layers, bidirectional=bidirectional).double()
                    x = torch.randn(T, B, I, dtype=torch.float64, requires_grad=True)
                    h0 = (0.5 * torch.randn(layers * dirs, B, H, dtype=torch.float64)).requires_grad_()
                    c0 = (0.5 * torch.randn(layers * dirs, B, H, dtype=torch.float64)).requires_grad_()
                    state = (h0, c0) if cell == "lstm" else h0
                    lengths = LENGTHS if padded else [T] * B
                    if padded:
                        packed = torch.nn.utils.rnn.pack_padded_sequence(x, lengths, enforce_sorted=False)
                        out, fin = rnn(packed, state)
                        out, _ = torch.nn.utils.rnn.pad_packed_sequence(out, total_length=T)
                    else:
                        out, fin = rnn(x, state)
                    h_n, c_n = (fin if cell == "lstm" else (fin, None))
                    r_out = torch.randn_like(out)
                    r_h = torch.randn_like(h_n)
                    loss = (out * r_out).sum() + (h_n * r_h).sum()
                    if c_n is not None:
                        r_c = torch.randn_like(c_n)
                        loss = loss + (c_n * r_c).sum()
                    loss.backward()
                    t = fixture_tensors(list(rnn.named_parameters()), x, h0, out, h_n, r_out, r_h)
                    if c_n is not None:
                        t.update({"c0": c0.detach(), "grad.c0": c0.grad.detach(), "c_n": c_n.detach(), "r_c": r_c})
                    save_fixture({"cell": cell, "layers": layers, "bidirectional": bidirectional,
                                  "input": I, "hidden": H, "steps": T, "batch": B, "lengths": lengths}, t, loss)


if __name__ == "__main__":
    main()
