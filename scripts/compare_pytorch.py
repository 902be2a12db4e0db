"""Side by side on the CPU: recur against eager PyTorch, char-rnn's default
configuration (2 layers x 128, T=50, B=50, Adam 2e-3, gradients clipped to
[-5, 5], one-hot input) on tiny shakespeare, both with 2 threads, one after
the other in one run:

    cargo build --release
    pip install torch numpy
    python3 scripts/compare_pytorch.py --iters 2010

For LSTM and GRU it prints training characters/s of each, the ratio, and the
mean training loss of the last 20 batches; then batch-1 sampling speed of
the LSTM (recur's `sample` against PyTorch's eager loop, one forward call
per character). recur's throughput is taken at its last log line before the
final validation, so both sides time training alone.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(here)
ap = argparse.ArgumentParser()
ap.add_argument("--corpus", default=os.path.join(root, "..", "shared", "data", "tinyshakespeare.txt"))
ap.add_argument("--iters", type=int, default=2010)
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--models", default="lstm,gru")
ap.add_argument("--recur", default=os.path.join(root, "target", "release", "recur"))
args = ap.parse_args()
CONFIG = ["--layers", "2", "--hidden", "128", "--seq-len", "50", "--batch", "50", "--lr", "2e-3"]


def recur_train(model, out):
    log = os.path.join(out, "log.jsonl")
    subprocess.run([args.recur, "train", "--corpus", args.corpus, "--model", model, *CONFIG,
                    "--optimizer", "adam", "--clip", "5", "--iters", str(args.iters), "--log-every", "10",
                    "--eval-every", "0", "--threads", str(args.threads), "--out", out, "--log", log,
                    "--sample-len", "0"], check=True, capture_output=True, text=True)
    lines = [json.loads(l) for l in open(log)]
    before_eval = [l for l in lines if "val_loss" not in l][-1]
    speed = before_eval["iter"] * 50 * 50 / before_eval["elapsed_s"]
    last20 = (lines[-1]["train_loss"] + lines[-2]["train_loss"]) / 2
    return speed, last20


def pytorch(mode, model, *extra):
    out = subprocess.run([sys.executable, os.path.join(here, "pytorch_charrnn.py"), mode, "--corpus", args.corpus,
                          "--model", model, *CONFIG, "--threads", str(args.threads), *extra],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


with tempfile.TemporaryDirectory() as tmp:
    for model in args.models.split(","):
        out = os.path.join(tmp, model)
        r_speed, r_loss = recur_train(model, out)
        p = pytorch("train", model, "--clip", "5", "--iters", str(args.iters))
        print(f"{model}: recur {r_speed:8.0f} chars/s, last-20 loss {r_loss:.4f} | pytorch {p['chars_per_sec']:8.0f} chars/s, "
              f"last-20 loss {p['last20_loss']:.4f} | speed ratio {r_speed / p['chars_per_sec']:.2f}x", flush=True)
        if model == "lstm":
            err = subprocess.run([args.recur, "sample", "--checkpoint", out, "--length", "20000", "--seed", "1"],
                                 check=True, capture_output=True, text=True).stderr
            r_sample = float(err.strip().split("(")[-1].split()[0])
            p_sample = pytorch("sample", model, "--length", "3000")["sample_chars_per_sec"]
            print(f"lstm sampling, batch 1: recur {r_sample:.0f} chars/s | pytorch eager {p_sample:.0f} chars/s | "
                  f"ratio {r_sample / p_sample:.1f}x", flush=True)
