#!/usr/bin/env python3
"""Data-parallel training over MPI: how recur's exchange scales.

Measures on this machine, for each model, `mpirun -np N recur train` with
N = 1, 2, 4 ranks (the global batch, data and results are the same for
every N; see src/train/distributed/): seconds per iteration, and how many
of them rank 0 spent in the exchange (moving gradients and waiting for
the slowest rank). Then models, stated as a model, the speed-up on 8 and
64 nodes on a 10 Gb/s and a 100 Gb/s network from the measured compute
time per iteration, the gradient size, and the cost of two exchanges:

  gather     `--exchange gather` (the default): every shard's packet
             (gradients, loss, carried state) to every rank,
             MPI_Allgatherv, so that each rank sums the shards in order and
             results are bit-identical to one process. A ring allgather
             receives (N-1)/N of all S packets:
             time = (N-1)/N * S * P * 4 / bw + (N-1) * alpha.
  allreduce  `--exchange allreduce`: each rank sums its shards, then a ring
             allreduce of one sum per rank (results then depend on N by
             rounding): time = 2 (N-1)/N * P * 4 / bw + 2 (N-1) * alpha.

With `--overlap on`, each layer's gradients are exchanged as soon as
the backward has finished them (output layer first), beside the layers
below; measured here is what is left of the exchange past the backward,
and how long the bottom layer's backward ran beside the layers above's
exchange (W). Modelled: the bottom layer's exchange cannot be hidden, the
others' can within W, and each layer pays its own message latency:
  overlapped = x(bottom) + max(0, x(rest) - W)
where x(part) is the exchange's time for that part's bytes (the polling
that moves a nonblocking exchange along is not modelled).

Scaling is weak: each node keeps the measured single-node batch (its S1
shards), so the global batch is N times it, and a node's compute per
iteration is the measured one-rank time. alpha (per-message latency) is an
assumption, printed with the results.

Usage (the binary must be built with the mpi feature):
  cargo build --release --features mpi --target-dir target-mpi
  python3 scripts/scaling.py --recur target-mpi/release/recur \
      --corpus ../shared/data/tinyshakespeare.txt
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile

# name: (flags, iterations at --scale 1, shards of the batch (see
# src/train/shard.rs: shard_rows), hidden size).
MODELS = {
    # char-rnn's LSTM: B = 50 splits into 4 shards of 12-13 rows.
    "char-rnn 2x128 LSTM": (["--model", "lstm", "--layers", "2", "--hidden", "128",
                             "--batch", "50", "--seq-len", "50"], 200, 4, 128),
    # A large model's shard has up to 64 rows: B = 256 gives 4 shards, so
    # that 4 ranks have one each (B = 64 would be one shard: one rank).
    "2x512 LSTM": (["--model", "lstm", "--layers", "2", "--hidden", "512",
                    "--batch", "256", "--seq-len", "100"], 8, 4, 512),
}

# Tiny shakespeare's characters: the one-hot input and the output's size.
VOCAB = 65


def bottom_share(h, v=VOCAB):
    """The bottom layer's share of a 2-layer LSTM's parameters: the part
    whose exchange the overlap cannot hide."""
    bottom = 4 * h * (v + h) + 8 * h
    upper = 4 * h * (2 * h) + 8 * h
    out = v * h + v
    return bottom / (bottom + upper + out)

# --bind-to none: OpenMPI binds each of 2 or fewer ranks to one core, so a
# rank's --threads would share it (1 rank of 2 threads then ran at one
# thread's speed here).
MPIRUN = ["mpirun", "--oversubscribe", "--allow-run-as-root", "--bind-to", "none",
          "--mca", "btl", "self,vader,tcp", "--mca", "btl_tcp_if_include", "lo",
          "--mca", "oob_tcp_if_include", "lo"]


def run(recur, corpus, args, ranks, threads, iters, out, exchange, overlap):
    cmd = MPIRUN + ["-np", str(ranks), recur, "train", "--corpus", corpus,
                    "--exchange", exchange, "--overlap", overlap,
                    "--optimizer", "adam", "--lr", "2e-3", "--iters", str(iters),
                    "--eval-every", "0", "--log-every", str(iters), "--sample-len", "0",
                    # A sliver held out: the validation at the end is not the study.
                    "--val-frac", "0.001",
                    "--threads", str(threads), "--out", out, "--overwrite"] + args
    env = dict(os.environ, OMPI_MCA_btl_vader_single_copy_mechanism="none")
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if p.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{p.stderr[-2000:]}")
    done = re.search(r"done: (\d+) iterations, ([\d.]+) s", p.stderr)
    spent = re.search(r"rank 0 spent ([\d.]+) s", p.stderr)
    beside = re.search(r"beside ([\d.]+) s of its bottom", p.stderr)
    params = re.search(r"([\d,]+) parameters", p.stderr + p.stdout)
    if not done:
        sys.exit(f"no summary in the output of {' '.join(cmd)}:\n{p.stderr[-2000:]}")
    n, secs = int(done.group(1)), float(done.group(2))
    exchange = float(spent.group(1)) if spent else 0.0
    window = float(beside.group(1)) if beside else 0.0
    count = int(params.group(1).replace(",", "")) if params else None
    return secs / n, exchange / n, window / n, count


def model(compute, params, shards, nodes, gbps, alpha, bottom=None, window=0.0):
    """Seconds per iteration of the gather and of an allreduce past the
    compute, and each one's speed-up over one node (weak scaling: N times
    the work). With `bottom` (the bottom layer's share of the parameters),
    overlapped: its exchange after the backward, the rest's (two more
    messages: the output layer and the upper layer) within `window`."""
    bw = gbps * 1e9 / 8

    def gather(share, messages=1):
        size = params * 4 * share
        return (nodes - 1) / nodes * nodes * shards * size / bw + messages * (nodes - 1) * alpha

    def allreduce(share, messages=1):
        size = params * 4 * share
        return 2 * (nodes - 1) / nodes * size / bw + messages * 2 * (nodes - 1) * alpha

    out = []
    for x in (gather, allreduce):
        t = x(1.0) if bottom is None else x(bottom) + max(0.0, x(1 - bottom, 2) - window)
        out.append((t, nodes * compute / (compute + t)))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--recur", default="target-mpi/release/recur")
    ap.add_argument("--corpus", default="../shared/data/tinyshakespeare.txt")
    ap.add_argument("--scale", type=float, default=1.0,
                    help="times each model's iterations (200 and 8)")
    ap.add_argument("--ranks", default="1,2,4")
    ap.add_argument("--cores", type=int, default=os.cpu_count())
    ap.add_argument("--alpha-us", type=float, default=20.0,
                    help="per-message latency of the modelled network, microseconds")
    ap.add_argument("--models", default=",".join(MODELS))
    a = ap.parse_args()
    if not os.path.exists(a.corpus):
        sys.exit(f"{a.corpus} not found: give --corpus")
    print(f"measured on {a.cores} cores; each rank runs max(1, cores/ranks) threads")
    print("| model | ranks | threads each | exchange | overlap | s/iteration "
          "| exchange s/iteration | exchange share | bottom layer beside, s/iteration |")
    print("|---|---|---|---|---|---|---|---|---|")
    one, windows = {}, {}
    for name in a.models.split(","):
        for ranks in [int(r) for r in a.ranks.split(",")]:
            threads = max(1, a.cores // ranks)
            flags, iters, _, _ = MODELS[name]
            iters = max(1, round(iters * a.scale))
            runs = [("gather", "off")] if ranks == 1 else [
                (e, o) for e in ("gather", "allreduce") for o in ("off", "on")]
            for exchange, overlap in runs:
                with tempfile.TemporaryDirectory() as out:
                    it, ex, w, params = run(a.recur, a.corpus, flags, ranks, threads, iters,
                                            os.path.join(out, "run"), exchange, overlap)
                if ranks == 1:
                    one[name] = (it, params)
                    exchange, overlap = "-", "-"
                if overlap == "on" and ranks == 2:
                    windows.setdefault(name, []).append(w)
                print(f"| {name} | {ranks} | {threads} | {exchange} | {overlap} | {it:.4f} "
                      f"| {ex:.4f} | {100 * ex / it:.0f}% | {w:.4f} |")
    print()
    print(f"model: weak scaling, nodes of this machine's {a.cores} cores, each with the "
          f"measured batch; alpha = {a.alpha_us:g} us per message; overlapped: W = the "
          "2-rank runs' mean bottom-layer time beside")
    print("| model | parameters | nodes | network | gather s | speed-up | allreduce s "
          "| speed-up | overlapped gather s | speed-up | overlapped allreduce s | speed-up |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name, (compute, params) in one.items():
        if params is None:
            continue
        _, _, shards, h = MODELS[name]
        w = sum(windows.get(name, [0.0])) / max(1, len(windows.get(name, [])))
        for nodes in (8, 64):
            for gbps in (10, 100):
                alpha = a.alpha_us * 1e-6
                (g, gs), (r, rs) = model(compute, params, shards, nodes, gbps, alpha)
                (og, ogs), (orr, ors) = model(compute, params, shards, nodes, gbps, alpha,
                                              bottom_share(h), w)
                print(f"| {name} | {params:,} | {nodes} | {gbps} Gb/s | {g:.4f} | {gs:.1f}x "
                      f"| {r:.4f} | {rs:.1f}x | {og:.4f} | {ogs:.1f}x | {orr:.4f} | {ors:.1f}x |")


if __name__ == "__main__":
    main()
