"""Every cell side by side on tiny shakespeare: the same wall-clock budget
on the same cores, about the same number of parameters, each cell at the
best of a small learning-rate sweep (Adam, cosine schedule with a short
warm-up), one after the other in one run:

    cargo build --release
    python3 scripts/compare_cells.py --time 3m --params 400000

Each cell's hidden size is the one whose 2-layer character model comes
closest to `--params`. Prints, per cell, the hidden size, the parameter
count, the validation loss (nats/char) at each learning rate, the best, and
the training speed of the best run.
"""
import argparse
import json
import os
import subprocess
import tempfile

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(here)
ap = argparse.ArgumentParser()
ap.add_argument("--corpus", default=os.path.join(root, "..", "shared", "data", "tinyshakespeare.txt"))
ap.add_argument("--cells", default="rnn,gru,lstm,mingru,minlstm,slstm,mlstm")
ap.add_argument("--lrs", default="1e-3,3e-3,1e-2")
ap.add_argument("--time", default="3m")
ap.add_argument("--params", type=int, default=400_000)
ap.add_argument("--layers", type=int, default=2)
ap.add_argument("--batch", type=int, default=32)
ap.add_argument("--seq-len", type=int, default=64)
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--recur", default=os.path.join(root, "target", "release", "recur"))
args = ap.parse_args()

# Gate rows per unit, heads of W_hh (0: none; each gate row reads H/heads
# recurrent values), and biases per gate row.
SHAPES = {"rnn": (1, 1, 1), "lstm": (4, 1, 2), "gru": (3, 1, 2),
          "mingru": (2, 0, 1), "minlstm": (3, 0, 1), "slstm": (4, 4, 1), "mlstm": (4, 0, 1)}
# Cells whose hidden size must be a multiple of their 4 heads.
HEADED = {"slstm", "mlstm"}


def params(cell, h, v):
    """Parameters of a `layers`-deep one-hot character model (recur's layout;
    the zeros off the sLSTM's heads' blocks are not parameters)."""
    g, heads, biases = SHAPES[cell]
    # The mLSTM's rows: q, k, v, õ (H each), then ĩ and f̃ (one per head).
    rows = 4 * h + 2 * 4 if cell == "mlstm" else g * h
    per_layer = lambda i: rows * (i + (h // heads if heads else 0) + biases)
    return per_layer(v) + (args.layers - 1) * per_layer(h) + (h + 1) * v


def hidden_for(cell, v):
    step = 4 if cell in HEADED else 1
    return min(range(8, 4096, step), key=lambda h: abs(params(cell, h, v) - args.params))


vocab = len(set(open(args.corpus, encoding="utf-8").read()))
print(f"tiny shakespeare, {args.layers} layers, ~{args.params} parameters, B={args.batch}, T={args.seq_len}, "
      f"Adam, cosine, {args.time} each on {args.threads} threads; validation nats/char")
print(f"{'cell':8} {'H':>5} {'params':>8} " + " ".join(f"{'lr ' + lr:>9}" for lr in args.lrs.split(","))
      + f" {'best':>7} {'chars/s':>8} {'iters':>6}")
with tempfile.TemporaryDirectory() as tmp:
    for cell in args.cells.split(","):
        h = hidden_for(cell, vocab)
        losses, speeds = [], []
        for lr in args.lrs.split(","):
            out, log = os.path.join(tmp, f"{cell}-{lr}"), os.path.join(tmp, f"{cell}-{lr}.jsonl")
            subprocess.run([args.recur, "train", "--corpus", args.corpus, "--model", cell,
                            "--layers", str(args.layers), "--hidden", str(h), "--batch", str(args.batch),
                            "--seq-len", str(args.seq_len), "--optimizer", "adam", "--lr", lr,
                            "--schedule", "cosine", "--warmup", "50", "--clip", "5", "--time", args.time,
                            "--eval-every", "0", "--log-every", "10", "--threads", str(args.threads),
                            "--sample-len", "0", "--out", out, "--log", log],
                           check=True, capture_output=True, text=True)
            lines = [json.loads(l) for l in open(log)]
            trained = [l for l in lines if "val_loss" not in l][-1]
            losses.append(lines[-1]["val_loss"])
            speeds.append((trained["iter"] * args.batch * args.seq_len / trained["elapsed_s"], lines[-1]["iter"]))
        best = min(range(len(losses)), key=losses.__getitem__)
        print(f"{cell:8} {h:5} {params(cell, h, vocab):8} " + " ".join(f"{l:9.4f}" for l in losses)
              + f" {losses[best]:7.4f} {speeds[best][0]:8.0f} {speeds[best][1]:6}", flush=True)
