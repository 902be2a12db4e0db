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

# name: (flags, iterations at --scale 1, shards of the batch; see
# src/train/shard.rs: shard_rows).
MODELS = {
    # char-rnn's LSTM: B = 50 splits into 4 shards of 12-13 rows.
    "char-rnn 2x128 LSTM": (["--model", "lstm", "--layers", "2", "--hidden", "128",
                             "--batch", "50", "--seq-len", "50"], 200, 4),
    # A large model's shard has up to 64 rows: B = 256 gives 4 shards, so
    # that 4 ranks have one each (B = 64 would be one shard: one rank).
    "2x512 LSTM": (["--model", "lstm", "--layers", "2", "--hidden", "512",
                    "--batch", "256", "--seq-len", "100"], 8, 4),
}

# --bind-to none: OpenMPI binds each of 2 or fewer ranks to one core, so a
# rank's --threads would share it (1 rank of 2 threads then ran at one
# thread's speed here).
MPIRUN = ["mpirun", "--oversubscribe", "--allow-run-as-root", "--bind-to", "none",
          "--mca", "btl", "self,vader,tcp", "--mca", "btl_tcp_if_include", "lo",
          "--mca", "oob_tcp_if_include", "lo"]


def run(recur, corpus, args, ranks, threads, iters, out, exchange):
    cmd = MPIRUN + ["-np", str(ranks), recur, "train", "--corpus", corpus,
                    "--exchange", exchange,
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
    params = re.search(r"([\d,]+) parameters", p.stderr + p.stdout)
    if not done:
        sys.exit(f"no summary in the output of {' '.join(cmd)}:\n{p.stderr[-2000:]}")
    n, secs = int(done.group(1)), float(done.group(2))
    exchange = float(spent.group(1)) if spent else 0.0
    count = int(params.group(1).replace(",", "")) if params else None
    return secs / n, exchange / n, count


def model(compute, params, shards, nodes, gbps, alpha):
    """Seconds per iteration of the gather and of an allreduce, and each
    one's speed-up over one node (weak scaling: N times the work)."""
    bw = gbps * 1e9 / 8
    size = params * 4
    gather = (nodes - 1) / nodes * nodes * shards * size / bw + (nodes - 1) * alpha
    allreduce = 2 * (nodes - 1) / nodes * size / bw + 2 * (nodes - 1) * alpha
    return [(x, nodes * compute / (compute + x)) for x in (gather, allreduce)]


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
    print("| model | ranks | threads each | exchange | s/iteration | exchange s/iteration | exchange share |")
    print("|---|---|---|---|---|---|---|")
    one = {}
    for name in a.models.split(","):
        for ranks in [int(r) for r in a.ranks.split(",")]:
            threads = max(1, a.cores // ranks)
            flags, iters, _ = MODELS[name]
            iters = max(1, round(iters * a.scale))
            for exchange in ["gather"] if ranks == 1 else ["gather", "allreduce"]:
                with tempfile.TemporaryDirectory() as out:
                    it, ex, params = run(a.recur, a.corpus, flags, ranks, threads, iters,
                                         os.path.join(out, "run"), exchange)
                if ranks == 1:
                    one[name] = (it, params)
                    exchange = "-"
                print(f"| {name} | {ranks} | {threads} | {exchange} | {it:.4f} | {ex:.4f} "
                      f"| {100 * ex / it:.0f}% |")
    print()
    print(f"model: weak scaling, nodes of this machine's {a.cores} cores, each with the "
          f"measured batch; alpha = {a.alpha_us:g} us per message")
    print("| model | parameters | nodes | network | gather s | speed-up | allreduce s | speed-up |")
    print("|---|---|---|---|---|---|---|---|")
    for name, (compute, params) in one.items():
        if params is None:
            continue
        for nodes in (8, 64):
            for gbps in (10, 100):
                (g, gs), (r, rs) = model(compute, params, MODELS[name][2], nodes, gbps,
                                         a.alpha_us * 1e-6)
                print(f"| {name} | {params:,} | {nodes} | {gbps} Gb/s | {g:.4f} | {gs:.1f}x "
                      f"| {r:.4f} | {rs:.1f}x |")


if __name__ == "__main__":
    main()
