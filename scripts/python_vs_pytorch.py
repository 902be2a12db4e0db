"""`fit` from Python against the same PyTorch model from Python, side by
side in one run: char-rnn's LSTM (2 x 128, B=50, T=50, Adam 2e-3, one-hot
input, gradients clipped to +-5) on tiny shakespeare, the same number of
iterations each, alternating recur and PyTorch `--repeats` times. Prints
each run's characters/s and the ratio recur/PyTorch per pair (median and
spread). PyTorch runs scripts/pytorch_charrnn.py (eager, the CPU, the same
threads as recur's pool: every core).

    pip install ./python torch numpy
    python3 scripts/python_vs_pytorch.py [--iters 110] [--repeats 3] [--corpus PATH]

The timed part of both is the training loop: recur's `fit` with no
held-out split (nothing but training), PyTorch's loop after its set-up.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import recur

here = os.path.dirname(os.path.abspath(__file__))
ap = argparse.ArgumentParser()
ap.add_argument("--corpus", default=os.path.join(here, "..", "..", "shared", "data", "tinyshakespeare.txt"))
ap.add_argument("--iters", type=int, default=110)
ap.add_argument("--repeats", type=int, default=3)
ap.add_argument("--threads", type=int, default=os.cpu_count())
args = ap.parse_args()

text = open(args.corpus, encoding="utf-8").read()
B, T, H, L = 50, 50, 128, 2


def recur_run():
    model = recur.CharRNN(model="lstm", hidden=H, layers=L, seed=42)
    start = time.perf_counter()
    model.fit(text, batch=B, seq_len=T, optimizer="adam", lr=2e-3, clip=5.0,
              iters=args.iters, val_frac=0.0, eval_every=0, log_every=args.iters)
    return args.iters * B * T / (time.perf_counter() - start)


def pytorch_run():
    out = subprocess.run(
        [sys.executable, os.path.join(here, "pytorch_charrnn.py"), "train", "--model", "lstm",
         "--layers", str(L), "--hidden", str(H), "--batch", str(B), "--seq-len", str(T),
         "--iters", str(args.iters), "--threads", str(args.threads), "--corpus", args.corpus],
        check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])["chars_per_sec"]


ratios = []
for r in range(args.repeats):
    ours, theirs = recur_run(), pytorch_run()
    ratios.append(ours / theirs)
    print(f"run {r + 1}: recur (Python) {ours:,.0f} chars/s, PyTorch {theirs:,.0f} chars/s, "
          f"ratio {ours / theirs:.2f}x", flush=True)
print(f"recur/PyTorch: median {statistics.median(ratios):.2f}x, "
      f"range {min(ratios):.2f}x-{max(ratios):.2f}x over {len(ratios)} pairs "
      f"(LSTM {L}x{H}, B={B}, T={T}, {args.iters} iterations each, {args.threads} threads)")
