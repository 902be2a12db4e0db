"""Peak memory (RSS) of training, side by side: recur against eager PyTorch,
the same model and batch (default: a 2x512 LSTM, B=64, T=100, Adam, one-hot
input) on tiny shakespeare, 2 threads each, one after the other:

    cargo build --release
    pip install torch numpy
    python3 scripts/compare_memory.py

Each trainer runs in a child process; its peak resident set comes from the
kernel's accounting of that child (`wait4`'s `ru_maxrss`). PyTorch's figure
includes the interpreter and the `torch` import: that is what a PyTorch user
pays. The baseline of an interpreter that only imports torch is printed
beside it.
"""
import argparse
import os
import subprocess
import sys
import tempfile

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(here)
ap = argparse.ArgumentParser()
ap.add_argument("--corpus", default=os.path.join(root, "..", "shared", "data", "tinyshakespeare.txt"))
ap.add_argument("--model", default="lstm", choices=["rnn", "lstm", "gru"])
ap.add_argument("--layers", type=int, default=2)
ap.add_argument("--hidden", type=int, default=512)
ap.add_argument("--seq-len", type=int, default=100)
ap.add_argument("--batch", type=int, default=64)
ap.add_argument("--iters", type=int, default=20)
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--recur", default=os.path.join(root, "target", "release", "recur"))
args = ap.parse_args()
SHAPE = ["--model", args.model, "--layers", str(args.layers), "--hidden", str(args.hidden),
         "--seq-len", str(args.seq_len), "--batch", str(args.batch), "--threads", str(args.threads)]


def peak_mib(cmd):
    """Run `cmd` to completion; its peak RSS in MiB (Linux reports KiB)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{proc.stderr.read().decode()}")
    return usage.ru_maxrss / 1024


with tempfile.TemporaryDirectory() as tmp:
    recur = peak_mib([args.recur, "train", "--corpus", args.corpus, *SHAPE, "--optimizer", "adam",
                      "--lr", "2e-3", "--clip", "5", "--iters", str(args.iters), "--eval-every", "0",
                      "--sample-len", "0", "--out", os.path.join(tmp, "run")])
torch_run = peak_mib([sys.executable, os.path.join(here, "pytorch_charrnn.py"), "train", "--corpus", args.corpus,
                      *SHAPE, "--lr", "2e-3", "--clip", "5", "--iters", str(args.iters)])
torch_import = peak_mib([sys.executable, "-c", "import torch, numpy"])
print(f"{args.layers}x{args.hidden} {args.model}, B={args.batch}, T={args.seq_len}, {args.threads} threads, "
      f"{args.iters} iterations: peak RSS recur {recur:.0f} MiB | pytorch {torch_run:.0f} MiB "
      f"(of which {torch_import:.0f} MiB importing torch) | recur/pytorch {recur / torch_run:.3f}")
