"""Check that recur's checkpoints are PyTorch checkpoints, both ways, with the
same numbers.

1. recur -> PyTorch: train a small model with `recur train` (300 iterations,
   H=32) into a temporary folder, load its `model.safetensors` with
   `safetensors.torch.load_file` into a `torch.nn.Module` holding
   `rnn = nn.RNN(V, H, nonlinearity=...)` and `fc = nn.Linear(H, V)` with
   `load_state_dict(..., strict=True)`, compute the mean cross-entropy
   (nats/char) of predicting each character of a corpus prefix from all the
   characters before it (one-hot input, hidden state carried over the whole
   prefix from zeros) in float64, and compare it with `recur eval` on the same
   prefix.
2. PyTorch -> recur: build the same torch module with seeded random weights
   and a non-zero `rnn.bias_hh_l0` (which recur folds into its single bias when
   loading), save it with `safetensors.torch.save_file` plus the metadata recur
   needs (copied from the recur checkpoint), run `recur eval` on it and compare
   with PyTorch's number for those weights. This is done once with the
   activation of the trained model (tanh) and once with relu.

Every comparison prints both numbers and their absolute difference; the script
exits non-zero if any difference exceeds --tol (default 1e-4). `recur eval`
prints 4 decimals, so its rounding alone accounts for up to 5e-5 of that.

Run from anywhere:

    cargo build --release
    pip install torch safetensors numpy
    python3 scripts/check_pytorch.py [--recur target/release/recur] \
        [--corpus ../shared/data/tinyshakespeare.txt] [--chars 20000]

Without the corpus file, a small generated text is used instead.
"""
import argparse
import json
import os
import random
import re
import subprocess
import sys
import tempfile

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(here)
ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
ap.add_argument("--recur", default=os.path.join(root, "target", "release", "recur"))
ap.add_argument("--corpus", default=os.path.join(root, "..", "shared", "data", "tinyshakespeare.txt"))
ap.add_argument("--chars", type=int, default=20000, help="characters of the corpus prefix to evaluate on")
ap.add_argument("--tol", type=float, default=1e-4)
ap.add_argument("--seed", type=int, default=0, help="seed for the random torch weights")
args = ap.parse_args()

torch.set_num_threads(1)
META_KEYS = ["format", "recur.format", "recur.model", "recur.config", "recur.vocab", "recur.iter"]


class CharRnn(torch.nn.Module):
    """recur's vanilla RNN language model in PyTorch terms."""

    def __init__(self, v, h, activation):
        super().__init__()
        self.rnn = torch.nn.RNN(v, h, nonlinearity=activation, batch_first=False)
        self.fc = torch.nn.Linear(h, v)

    def nats_per_char(self, tokens):
        """Mean cross-entropy of tokens[1:] given everything before, h_0 = 0."""
        v = self.rnn.input_size
        dtype = self.fc.weight.dtype
        x = torch.nn.functional.one_hot(tokens[:-1], v).to(dtype).unsqueeze(1)  # (T, 1, V)
        with torch.no_grad():
            out, _ = self.rnn(x)  # h_0 defaults to zeros
            logits = self.fc(out.squeeze(1))  # (T, V)
            return torch.nn.functional.cross_entropy(logits, tokens[1:], reduction="mean").item()


def fallback_text(n=60000, seed=1):
    """A small pseudo-English text for when the corpus is missing."""
    rng = random.Random(seed)
    words = ("the of and to in that is was he for it with as his on be at by this had not are but from "
             "or have an they which one you were her all she there would their we him been has when who "
             "will more no if out so said what up its about into than them can only other new some could "
             "time these two may then do first any my now such like our over man me even most made after").split()
    lines = []
    total = 0
    while total < n:
        line = " ".join(rng.choice(words) for _ in range(rng.randint(3, 12)))
        line = line[0].upper() + line[1:] + rng.choice([".", ",", "?", "!", ";"])
        lines.append(line)
        total += len(line) + 1
    return "\n".join(lines) + "\n"


def recur_eval(checkpoint, corpus):
    r = subprocess.run([args.recur, "eval", "--checkpoint", checkpoint, "--corpus", corpus],
                       capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"recur eval failed ({r.returncode}):\n{r.stdout}{r.stderr}")
    m = re.search(r"([0-9.eE+-]+|nan|inf) nats/char", r.stdout)
    if not m:
        sys.exit(f"cannot parse recur eval output: {r.stdout!r}")
    return float(m.group(1)), r.stdout.strip()


failures = []


def compare(label, torch_nats, recur_nats, recur_line):
    diff = abs(torch_nats - recur_nats)
    ok = diff <= args.tol
    print(f"{label}:\n  recur eval: {recur_line}\n  pytorch:    {torch_nats:.6f} nats/char\n"
          f"  |difference| = {diff:.2e}  ({'ok' if ok else 'FAIL'}, tolerance {args.tol:g})", flush=True)
    if not ok:
        failures.append(label)


with tempfile.TemporaryDirectory() as tmp:
    corpus = args.corpus
    if not os.path.isfile(corpus):
        print(f"{corpus} not found; using a generated text", flush=True)
        corpus = os.path.join(tmp, "generated.txt")
        with open(corpus, "w", encoding="utf-8") as f:
            f.write(fallback_text())
    with open(corpus, encoding="utf-8") as f:
        prefix = f.read()[: args.chars]
    prefix_path = os.path.join(tmp, "prefix.txt")
    with open(prefix_path, "w", encoding="utf-8", newline="") as f:
        f.write(prefix)

    # --- 1. recur -> PyTorch -------------------------------------------------
    run_dir = os.path.join(tmp, "run")
    cmd = [args.recur, "train", "--corpus", corpus, "--iters", "300", "--hidden", "32", "--out", run_dir,
           "--sample-len", "0", "--eval-every", "0", "--threads", "1"]
    print("$ " + " ".join(cmd), flush=True)
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"recur train failed ({r.returncode}):\n{r.stdout}{r.stderr}")
    model_path = os.path.join(run_dir, "model.safetensors")

    state = load_file(model_path)
    with safe_open(model_path, framework="pt") as f:
        meta = f.metadata()
    config = json.loads(meta["recur.config"])
    vocab = json.loads(meta["recur.vocab"])
    print(f"checkpoint: {', '.join(f'{k} {tuple(t.shape)} {t.dtype}' for k, t in sorted(state.items()))}")
    print(f"config: {meta['recur.config']}; {len(vocab)} characters in the vocabulary")
    assert config["readout"] == "many-to-many", config
    assert config["input_size"] == config["output_size"] == len(vocab), (config, len(vocab))
    assert all(len(c) == 1 for c in vocab), "vocabulary entries must be single characters"
    index = {c: i for i, c in enumerate(vocab)}
    tokens = torch.tensor([index[c] for c in prefix], dtype=torch.long)

    model = CharRnn(len(vocab), config["hidden_size"], config["activation"])
    result = model.load_state_dict(state, strict=True)  # raises on any missing/unexpected key or shape
    print(f"load_state_dict(strict=True): {result}")
    torch_nats = model.double().nats_per_char(tokens)
    recur_nats, line = recur_eval(model_path, prefix_path)
    compare(f"recur -> pytorch (trained model, first {len(prefix)} characters)", torch_nats, recur_nats, line)

    # --- 2. PyTorch -> recur -------------------------------------------------
    for activation in [config["activation"]] + [a for a in ("tanh", "relu") if a != config["activation"]]:
        torch.manual_seed(args.seed)
        net = CharRnn(len(vocab), config["hidden_size"], activation)  # PyTorch init: U(-1/sqrt(H), 1/sqrt(H))
        with torch.no_grad():
            net.rnn.bias_hh_l0.uniform_(-0.5, 0.5)  # a second bias that recur has to fold in
            net.fc.weight.mul_(8.0)  # sharper predictions, so differences show in the loss
        assert net.rnn.bias_hh_l0.abs().min() > 0
        new_meta = {k: meta[k] for k in META_KEYS}
        new_meta["recur.config"] = json.dumps(dict(config, activation=activation))
        out_path = os.path.join(tmp, f"torch_{activation}.safetensors")
        save_file({k: v.detach().contiguous() for k, v in net.state_dict().items()}, out_path, metadata=new_meta)

        net = net.double()
        torch_nats = net.nats_per_char(tokens)
        with torch.no_grad():  # how much bias_hh matters, so a dropped bias would show
            saved = net.rnn.bias_hh_l0.clone()
            net.rnn.bias_hh_l0.zero_()
            without_bias_hh = net.nats_per_char(tokens)
            net.rnn.bias_hh_l0.copy_(saved)
        recur_nats, line = recur_eval(out_path, prefix_path)
        compare(f"pytorch -> recur (random {activation} weights, seed {args.seed}, non-zero bias_hh; "
                f"without bias_hh pytorch would give {without_bias_hh:.4f})", torch_nats, recur_nats, line)

if failures:
    sys.exit(f"FAILED: {len(failures)} comparison(s) differ by more than {args.tol:g}: " + "; ".join(failures))
print("all comparisons agree")
