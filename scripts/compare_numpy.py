"""Side-by-side: recur's vanilla RNN against numpy min-char-rnn, same
configuration (H=100, T=25, B=1, Adagrad 0.1, clip 5, randn*0.01 init), same
corpus, same number of iterations, run one after the other in one go,
for several seeds. Prints each run and the ratios:

    cargo build --release
    pip install numpy
    python3 scripts/compare_numpy.py --corpus ../shared/data/tinyshakespeare.txt --iters 10000 --seeds 3

Throughput is training characters per second of each implementation's own
training loop (recur: the `recur train` command without validation; numpy:
scripts/min_char_rnn.py). Loss is min-char-rnn's smoothed loss (0.999 decay),
per character.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(here)
ap = argparse.ArgumentParser()
ap.add_argument("--corpus", default=os.path.join(root, "..", "shared", "data", "tinyshakespeare.txt"))
ap.add_argument("--iters", type=int, default=10000)
ap.add_argument("--seeds", type=int, default=3)
ap.add_argument("--recur", default=os.path.join(root, "target", "release", "recur"))
args = ap.parse_args()


def run_numpy(seed):
    out = subprocess.run(
        [sys.executable, os.path.join(here, "min_char_rnn.py"), "--corpus", args.corpus,
         "--iters", str(args.iters), "--seed", str(seed)],
        check=True, capture_output=True, text=True).stdout
    r = json.loads(out.strip().splitlines()[-1])
    return r["chars_per_sec"], r["smooth_loss_per_char"]


def run_recur(seed):
    with tempfile.TemporaryDirectory() as d:
        log = os.path.join(d, "log.jsonl")
        subprocess.run(
            [args.recur, "train", "--corpus", args.corpus, "--iters", str(args.iters), "--seed", str(seed),
             "--hidden", "100", "--seq-len", "25", "--batch", "1", "--optimizer", "adagrad", "--lr", "0.1",
             "--clip", "5", "--init", "classic", "--val-frac", "0", "--eval-every", "0",
             "--log-every", str(args.iters), "--out", os.path.join(d, "run"), "--log", log, "--sample-len", "0",
             "--threads", "1"],
            check=True, capture_output=True, text=True)
        last = json.loads(open(log).read().strip().splitlines()[-1])
        return last["chars_per_sec"], last["smooth_loss"]


rows = []
for seed in range(args.seeds):
    n_speed, n_loss = run_numpy(seed)
    r_speed, r_loss = run_recur(seed)
    rows.append((n_speed, n_loss, r_speed, r_loss))
    print(f"seed {seed}: numpy {n_speed:9.0f} chars/s loss {n_loss:.4f} | recur {r_speed:9.0f} chars/s loss {r_loss:.4f} | speedup {r_speed / n_speed:5.1f}x", flush=True)
ratios = [r[2] / r[0] for r in rows]
print(f"speedup: median {statistics.median(ratios):.1f}x (min {min(ratios):.1f}x, max {max(ratios):.1f}x) over {len(rows)} seeds")
print(f"smoothed loss after {args.iters} iterations, mean over seeds: numpy {statistics.mean(r[1] for r in rows):.4f}, recur {statistics.mean(r[3] for r in rows):.4f} nats/char")
