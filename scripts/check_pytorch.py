"""Check that recur's checkpoints are PyTorch checkpoints, both ways, with the
same numbers, for every kind of model recur trains.

Models checked (all H=32, trained briefly with `--eval-every 0 --sample-len 0
--threads 1`):

    rnn        1-layer vanilla RNN (tanh), 300 iterations
    lstm-2     2-layer LSTM, 100 iterations
    gru-2      2-layer GRU, 100 iterations
    lstm-emb   1-layer LSTM on a learned 16-wide embedding, 100 iterations

For each of them:

1. recur -> PyTorch: train the model with `recur train` into a temporary
   folder, load its `model.safetensors` with `safetensors.torch.load_file`
   into a `torch.nn.Module` holding `embedding = nn.Embedding(V, D)` (only
   with --embed), `rnn = nn.RNN/nn.LSTM/nn.GRU(I, H, num_layers=L)` and
   `fc = nn.Linear(H, V)` with `load_state_dict(..., strict=True)` (which
   raises on any missing or unexpected name or shape), compute the mean
   cross-entropy (nats/char) of predicting each character of a corpus prefix
   from all the characters before it (one-hot or embedded input, every layer's
   state carried over the whole prefix from zeros) in float64, and compare it
   with `recur eval` on the same prefix.
2. PyTorch -> recur: build the same torch module with seeded random weights
   (PyTorch's init, every `bias_hh_l{k}` redrawn from U(-0.5, 0.5) so that it
   matters, `fc.weight` scaled by 8 for sharper predictions), save it with
   `safetensors.torch.save_file` plus the metadata recur needs (copied from
   the recur checkpoint), run `recur eval` on it and compare with PyTorch's
   number for those weights. For the vanilla RNN this is done with both tanh
   and relu. To show that the check can see the details that are easy to get
   wrong, it also prints what PyTorch would give with every `bias_hh` zeroed
   and, for the GRU, with b_hn folded into b_in (which is not the same model:
   PyTorch's GRU multiplies b_hn by the reset gate).

Every comparison prints both numbers and their absolute difference; the script
exits non-zero if any difference exceeds --tol (default 1e-5) or if any recur
command or load fails. `recur eval` prints 6 decimals, so its rounding accounts
for at most 5e-7 of that; the rest is recur computing in float32 (measured:
a few 1e-7 over 20000 characters).

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
ap.add_argument("--tol", type=float, default=1e-5)
ap.add_argument("--seed", type=int, default=0, help="seed for the random torch weights")
args = ap.parse_args()

torch.set_num_threads(1)
META_KEYS = ["format", "recur.format", "recur.model", "recur.config", "recur.vocab", "recur.iter"]

# name, extra `recur train` flags. Every run also gets --corpus, --out, --hidden 32 and TRAIN_FLAGS.
MODELS = [
    ("rnn", ["--model", "rnn", "--layers", "1", "--iters", "300"]),
    ("lstm-2", ["--model", "lstm", "--layers", "2", "--iters", "100"]),
    ("gru-2", ["--model", "gru", "--layers", "2", "--iters", "100"]),
    ("lstm-emb", ["--model", "lstm", "--layers", "1", "--embed", "16", "--iters", "100"]),
]
TRAIN_FLAGS = ["--hidden", "32", "--eval-every", "0", "--sample-len", "0", "--threads", "1"]


def cell_kind(cell):
    """recur.config's "cell" -> (torch module name, vanilla RNN activation or None)."""
    if isinstance(cell, dict):  # {"rnn": "tanh"} or {"rnn": "relu"}
        (kind, activation), = cell.items()
        assert kind == "rnn", cell
        return "rnn", activation
    assert cell in ("lstm", "gru"), cell
    return cell, None


class CharModel(torch.nn.Module):
    """recur's language model in PyTorch terms: [embedding] -> rnn -> fc."""

    def __init__(self, config):
        super().__init__()
        kind, activation = cell_kind(config["cell"])
        v, h, embed = config["input_size"], config["hidden_size"], config["embed"]
        if embed is not None:
            self.embedding = torch.nn.Embedding(v, embed)
        size = dict(input_size=embed or v, hidden_size=h, num_layers=config["layers"],
                    dropout=config["dropout"], bidirectional=config["bidirectional"], batch_first=False)
        if kind == "rnn":
            self.rnn = torch.nn.RNN(nonlinearity=activation, **size)
        else:
            self.rnn = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[kind](**size)
        self.fc = torch.nn.Linear(h, config["output_size"])
        self.eval()  # no dropout between layers

    def nats_per_char(self, tokens):
        """Mean cross-entropy of tokens[1:] given everything before, zero initial states."""
        with torch.no_grad():
            if hasattr(self, "embedding"):
                x = self.embedding(tokens[:-1])
            else:
                x = torch.nn.functional.one_hot(tokens[:-1], self.rnn.input_size).to(self.fc.weight.dtype)
            out, _ = self.rnn(x.unsqueeze(1))  # (T, 1, H); h_0 (and c_0) default to zeros
            logits = self.fc(out.squeeze(1))  # (T, V)
            return torch.nn.functional.cross_entropy(logits, tokens[1:], reduction="mean").item()

    def bias_hh(self):
        return [p for name, p in self.rnn.named_parameters() if name.startswith("bias_hh_l")]


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
    ok = diff <= args.tol  # False for nan
    print(f"{label}:\n  recur eval: {recur_line}\n  pytorch:    {torch_nats:.6f} nats/char\n"
          f"  |difference| = {diff:.2e}  ({'ok' if ok else 'FAIL'}, tolerance {args.tol:g})", flush=True)
    if not ok:
        failures.append(label)


def train(name, flags, corpus, tmp):
    """Train a model with recur; return the path of its model.safetensors."""
    run_dir = os.path.join(tmp, name)
    cmd = [args.recur, "train", "--corpus", corpus, "--out", run_dir] + flags + TRAIN_FLAGS
    print("$ " + " ".join(cmd), flush=True)
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"recur train failed ({r.returncode}):\n{r.stdout}{r.stderr}")
    return os.path.join(run_dir, "model.safetensors")


def recur_to_pytorch(name, model_path, prefix, prefix_path):
    """Direction 1: load recur's checkpoint into torch (strict) and compare losses.

    Returns the checkpoint's metadata and the encoded prefix for direction 2."""
    state = load_file(model_path)
    with safe_open(model_path, framework="pt") as f:
        meta = f.metadata()
    config = json.loads(meta["recur.config"])
    vocab = json.loads(meta["recur.vocab"])
    print(f"checkpoint: {', '.join(f'{k} {tuple(t.shape)} {t.dtype}' for k, t in sorted(state.items()))}")
    print(f"metadata: recur.model {meta['recur.model']!r}, recur.config {meta['recur.config']}; "
          f"{len(vocab)} characters in the vocabulary")
    assert meta["recur.model"] == cell_kind(config["cell"])[0], (meta["recur.model"], config["cell"])
    assert config["readout"] == "many-to-many", config
    assert not config["bidirectional"], config
    assert config["input_size"] == config["output_size"] == len(vocab), (config, len(vocab))
    assert all(len(c) == 1 for c in vocab), "vocabulary entries must be single characters"
    index = {c: i for i, c in enumerate(vocab)}
    tokens = torch.tensor([index[c] for c in prefix], dtype=torch.long)

    model = CharModel(config)
    result = model.load_state_dict(state, strict=True)  # raises on any missing/unexpected key or shape
    print(f"load_state_dict(strict=True): {result}")
    torch_nats = model.double().nats_per_char(tokens)
    recur_nats, line = recur_eval(model_path, prefix_path)
    compare(f"[{name}] recur -> pytorch (trained model, first {len(prefix)} characters)",
            torch_nats, recur_nats, line)
    return meta, tokens


def pytorch_to_recur(name, meta, tokens, prefix_path, tmp, cell=None):
    """Direction 2: random torch weights saved with recur's metadata; compare losses.

    `cell` overrides the config's cell (to check the other vanilla RNN activation)."""
    config = json.loads(meta["recur.config"])
    if cell is not None:
        config["cell"] = cell
    torch.manual_seed(args.seed)
    net = CharModel(config)  # PyTorch init: U(-1/sqrt(H), 1/sqrt(H)), embedding N(0, 1)
    with torch.no_grad():
        for b in net.bias_hh():
            b.uniform_(-0.5, 0.5)  # a second bias that recur has to fold in (or, for the GRU, keep apart)
        net.fc.weight.mul_(8.0)  # sharper predictions, so differences show in the loss
    assert all(b.abs().min() > 0 for b in net.bias_hh())
    new_meta = {k: meta[k] for k in META_KEYS}
    new_meta["recur.config"] = json.dumps(config)
    kind, activation = cell_kind(config["cell"])
    tag = f"{name}-{activation}" if activation else name
    out_path = os.path.join(tmp, f"torch_{tag}.safetensors")
    save_file({k: v.detach().contiguous() for k, v in net.state_dict().items()}, out_path, metadata=new_meta)

    net = net.double()
    torch_nats = net.nats_per_char(tokens)
    # What a wrong reading of the biases would give, to show the tolerance would catch it.
    wrong = {}
    with torch.no_grad():
        saved = [b.clone() for b in net.bias_hh()]
        for b in net.bias_hh():
            b.zero_()
        wrong["without bias_hh"] = net.nats_per_char(tokens)
        for b, s in zip(net.bias_hh(), saved):
            b.copy_(s)
        if kind == "gru":  # gate order r, z, n: rows 2H.. are the n gate
            h = config["hidden_size"]
            folded = {n: p.clone() for n, p in net.rnn.named_parameters()}
            for k in range(config["layers"]):
                getattr(net.rnn, f"bias_ih_l{k}")[2 * h:] += getattr(net.rnn, f"bias_hh_l{k}")[2 * h:]
                getattr(net.rnn, f"bias_hh_l{k}")[2 * h:] = 0
            wrong["with b_hn folded into b_in"] = net.nats_per_char(tokens)
            for n, p in net.rnn.named_parameters():
                p.copy_(folded[n])
    recur_nats, line = recur_eval(out_path, prefix_path)
    shown = "; ".join(f"{k} pytorch would give {v:.4f}" for k, v in wrong.items())
    compare(f"[{name}] pytorch -> recur (random {activation or kind} weights, seed {args.seed}, "
            f"non-zero bias_hh; {shown})", torch_nats, recur_nats, line)


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

    for name, flags in MODELS:
        print(f"\n=== {name} ===", flush=True)
        model_path = train(name, flags, corpus, tmp)
        meta, tokens = recur_to_pytorch(name, model_path, prefix, prefix_path)
        cell = json.loads(meta["recur.config"])["cell"]
        if isinstance(cell, dict):  # vanilla RNN: the trained activation first, then the other one
            trained = cell["rnn"]
            for activation in [trained] + [a for a in ("tanh", "relu") if a != trained]:
                pytorch_to_recur(name, meta, tokens, prefix_path, tmp, cell={"rnn": activation})
        else:
            pytorch_to_recur(name, meta, tokens, prefix_path, tmp)

print()
if failures:
    sys.exit(f"FAILED: {len(failures)} comparison(s) differ by more than {args.tol:g}:\n  " + "\n  ".join(failures))
print("all comparisons agree")
