"""Side by side on one GPU: recur's wgpu backend against PyTorch with cuDNN,
training throughput of four character language models, in one run, the two
alternating, and the README's Markdown table at the end:

    cargo build --release
    pip install torch                                  # a CUDA build
    python3 scripts/gpu_vs_pytorch.py                  # the table: 50 iterations, 3 runs a side
    python3 scripts/gpu_vs_pytorch.py --quick          # smoke test: 3 iterations, 1 run a side
    python3 scripts/gpu_vs_pytorch.py --configs 1,3 --iters 100 --repeats 5 > table.md

Configurations (V=65, one-hot input, no embedding):
  1. LSTM 2 layers x 128, batch 50, seq-len 50 (char-rnn's default)
  2. LSTM 2 x 512, batch 64, seq-len 100
  3. GRU 1 x 1024, batch 128, seq-len 100
  4. LSTM 1 x 1024, batch 4, seq-len 100

recur's side is `recur bench --device gpu` (random text, Adam 1e-3, gradients
clipped elementwise to [-5, 5], its own untimed warm-up; each iteration ends
with its loss on the host): the script parses its characters/s and its kernel
dispatches and host round trips per iteration. PyTorch's side is the same
training step on `cuda` with cuDNN: one-hot input, nn.LSTM/nn.GRU (L layers,
H hidden), nn.Linear, cross-entropy, Adam 1e-3, clip_grad_value_ 5, hidden
state carried (detached) between windows of random text; untimed warm-up,
torch.cuda.synchronize() around the timed iterations, and by default the loss
read back each iteration as recur does (--no-readback lets PyTorch queue
iterations freely). Both sides compute in f32; TF32 is off unless --tf32.

Each configuration runs --repeats times per side, PyTorch then recur, and the
table gives each side's median tokens (characters) per second with the spread
(min-max), the ratio recur/PyTorch of the medians (with the spread of the
per-repeat ratios), and recur's dispatches and host round trips per training
iteration. Progress goes to stderr, the table to stdout.

    python3 scripts/gpu_vs_pytorch.py --self-test          # the parser and the table, no GPU needed
    python3 scripts/gpu_vs_pytorch.py --parse-only OUT.txt # parse a saved `recur bench` stdout ('-': stdin)
"""
import argparse
import json
import math
import os
import re
import shlex
import statistics
import subprocess
import sys
import time

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(here)

V = 65
LR = 1e-3
CLIP = 5.0
# (cell, layers, hidden, batch, seq_len)
CONFIGS = [
    ("lstm", 2, 128, 50, 50),
    ("lstm", 2, 512, 64, 100),
    ("gru", 1, 1024, 128, 100),
    ("lstm", 1, 1024, 4, 100),
]

ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("--recur", default=os.path.join(root, "target", "release", "recur"),
                help="the recur binary (default: target/release/recur)")
ap.add_argument("--gpu", type=int, help="recur's adapter, by its number in `recur devices` (passed as --gpu)")
ap.add_argument("--configs", default="1,2,3,4", help="which configurations to run, by number (default: 1,2,3,4)")
ap.add_argument("--iters", type=int, help="timed training iterations per run, each side (default: 50; --quick: 3)")
ap.add_argument("--warmup", type=int, help="PyTorch's untimed warm-up iterations per run (default: 10; --quick: 2); "
                                           "recur bench takes its own, max(2, iters/10)")
ap.add_argument("--repeats", type=int, help="runs per side per configuration, alternating (default: 3; --quick: 1)")
ap.add_argument("--quick", action="store_true", help="smoke test: few iterations, one run a side")
ap.add_argument("--tf32", action="store_true", help="let PyTorch use TF32 (cuDNN and cuBLAS); default strict f32 as recur")
ap.add_argument("--no-readback", action="store_true",
                help="PyTorch does not read the loss back each iteration (recur does)")
ap.add_argument("--seed", type=int, default=42)
ap.add_argument("--timeout", type=float, default=900, help="seconds one `recur bench` run may take (default: 900)")
ap.add_argument("--self-test", action="store_true", help="check the recur-output parser and the table on canned output")
ap.add_argument("--parse-only", metavar="FILE", help="parse one saved `recur bench --device gpu` stdout, print JSON")
args = ap.parse_args()


def die(msg):
    """A clear message on stderr and exit status 1, no traceback."""
    print(f"gpu_vs_pytorch.py: error: {msg}", file=sys.stderr, flush=True)
    sys.exit(1)


def progress(msg):
    print(msg, file=sys.stderr, flush=True)


# ---- recur's side -----------------------------------------------------------------------------

# The three stdout lines of `recur bench --device gpu` (src/cli/bench.rs). An adapter's name may
# hold parentheses, commas and colons ("llvmpipe (LLVM 15.0.6, 256 bits)"), so each name is taken
# greedily up to the last ': <number> ...' that fits.
NUM = r"(?:[0-9]+(?:\.[0-9]*)?|inf|NaN)"
PER_ITER_RE = re.compile(
    rf"^per training iteration on (?P<adapter>.*): (?P<dispatches>{NUM}) kernel dispatches, "
    rf"(?P<round_trips>{NUM}) host round trips \(values read back\), (?P<submissions>{NUM}) submissions, "
    rf"(?P<uploads>{NUM}) uploads", re.M)
SPEED_RE = re.compile(
    rf"^(?P<model>\w+) (?P<layers>\d+)x(?P<hidden>\d+) B=(?P<batch>\d+) T=(?P<seq_len>\d+) V=(?P<vocab>\d+), "
    rf"(?P<on>.*): (?P<chars_per_sec>{NUM}) chars/s, (?P<gflops>{NUM}) GFLOP/s \((?P<mflop_per_iter>{NUM}) MFLOP",
    re.M)
GEMM_RE = re.compile(
    rf"^GEMM \((?P<m>\d+)x(?P<k>\d+)\)\S\((?P<k2>\d+)x(?P<n>\d+)\) on this machine now: "
    rf"(?P<gemm_gflops>{NUM}) GFLOP/s; the model runs at (?P<gemm_percent>{NUM})% of it", re.M)
# stderr: "on the GPU: NAME (BACKEND, DEVICE TYPE)"
ADAPTER_RE = re.compile(r"^on the GPU: (?P<name>.*) \((?P<backend>[^,()]+), (?P<device_type>.*)\)$", re.M)


def parse_recur(stdout, stderr=""):
    """The figures of one `recur bench --device gpu` run, as a dict; ValueError if its stdout lacks
    the chars/s line or the per-iteration line (a CPU run, or a changed format)."""
    speed, per_iter, gemm = SPEED_RE.search(stdout), PER_ITER_RE.search(stdout), GEMM_RE.search(stdout)
    if speed is None:
        raise ValueError("no '<model> LxH B=.. T=.. V=.., <adapter>: N chars/s, ...' line in recur's output")
    if per_iter is None:
        raise ValueError("no 'per training iteration on <adapter>: N kernel dispatches, ...' line in recur's "
                         "output (did it run on the CPU?)")
    out = {"model": speed["model"], "adapter": per_iter["adapter"]}
    for k in ("layers", "hidden", "batch", "seq_len", "vocab"):
        out[k] = int(speed[k])
    for k in ("chars_per_sec", "gflops", "mflop_per_iter"):
        out[k] = float(speed[k])
    for k in ("dispatches", "round_trips", "submissions", "uploads"):
        out[k] = float(per_iter[k])
    if gemm is not None:
        out["gemm_gflops"] = float(gemm["gemm_gflops"])
        out["gemm_percent"] = float(gemm["gemm_percent"])
    adapter = ADAPTER_RE.search(stderr)
    if adapter is not None:
        out["backend"], out["device_type"] = adapter["backend"], adapter["device_type"]
    return out


def recur_cmd(cfg, iters):
    model, layers, hidden, batch, seq_len = cfg
    cmd = [args.recur, "bench", "--device", "gpu", "--model", model, "--layers", str(layers), "--hidden", str(hidden),
           "--batch", str(batch), "--seq-len", str(seq_len), "--vocab", str(V), "--iters", str(iters)]
    return cmd + (["--gpu", str(args.gpu)] if args.gpu is not None else [])


def recur_run(cfg, iters):
    cmd = recur_cmd(cfg, iters)
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
    except OSError as e:
        die(f"could not run {args.recur}: {e}")
    except subprocess.TimeoutExpired:
        die(f"`{shlex.join(cmd)}` ran past --timeout {args.timeout:g} s")
    if p.returncode != 0:
        err = "\n".join(l for l in p.stderr.splitlines() if "XDG_RUNTIME_DIR" not in l)
        die(f"`{shlex.join(cmd)}` exited with status {p.returncode}:\n{err.strip()[-2000:]}")
    try:
        r = parse_recur(p.stdout, p.stderr)
    except ValueError as e:
        die(f"{e}; `{shlex.join(cmd)}` printed:\n{p.stdout.strip()}")
    model, layers, hidden, batch, seq_len = cfg
    got = (r["model"], r["layers"], r["hidden"], r["batch"], r["seq_len"], r["vocab"])
    if got != (model, layers, hidden, batch, seq_len, V):
        die(f"recur benchmarked {got}, not the configuration asked for {(model, layers, hidden, batch, seq_len, V)}")
    return r


# ---- PyTorch's side ---------------------------------------------------------------------------

def pytorch_run(torch, cfg, iters, warmup, device="cuda", readback=True, seed=42):
    """Training characters/s of PyTorch for one configuration (a fresh model and optimizer)."""
    model_name, layers, hidden, batch, seq_len = cfg
    dev = torch.device(device)
    cuda = dev.type == "cuda"
    F = torch.nn.functional
    torch.manual_seed(seed)

    class CharRNN(torch.nn.Module):
        def __init__(self):
            super().__init__()
            cls = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[model_name]
            self.rnn = cls(V, hidden, num_layers=layers)
            self.fc = torch.nn.Linear(hidden, V)

        def forward(self, x, state):
            out, state = self.rnn(F.one_hot(x, V).float(), state)
            return self.fc(out), state

    model = CharRNN().to(dev).train()
    params = list(model.parameters())
    opt = torch.optim.Adam(params, lr=LR)
    # Random text, B streams of a few windows each, on the device; state carried between windows.
    windows = 4
    data = torch.randint(V, (windows * seq_len + 1, batch), generator=torch.Generator().manual_seed(seed)).to(dev)
    state = None

    def step(i):
        nonlocal state
        w = i % windows
        if w == 0:
            state = None
        elif isinstance(state, tuple):
            state = tuple(s.detach() for s in state)
        else:
            state = state.detach()
        x, y = data[w * seq_len:(w + 1) * seq_len], data[w * seq_len + 1:(w + 1) * seq_len + 1]
        logits, state = model(x, state)
        loss = F.cross_entropy(logits.reshape(-1, V), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_value_(params, CLIP)
        opt.step()
        return loss.item() if readback else loss

    for i in range(warmup):
        step(i)
    if cuda:
        torch.cuda.synchronize()
    start = time.perf_counter()
    for i in range(warmup, warmup + iters):
        loss = step(i)
    if cuda:
        torch.cuda.synchronize()
    secs = time.perf_counter() - start
    loss = loss if readback else loss.item()
    if not math.isfinite(loss):
        die(f"PyTorch's loss is {loss} on {cfg}")
    del model, opt, data, state, params
    if cuda:
        torch.cuda.empty_cache()
    return iters * seq_len * batch / secs


def open_torch():
    """torch, set up for the comparison; a clear exit where there is no CUDA GPU or no cuDNN."""
    try:
        import torch
    except ImportError:
        die("PyTorch is not installed: `pip install torch` (a CUDA build)")
    if not torch.cuda.is_available():
        why = ("this torch is a CPU-only build" if torch.version.cuda is None
               else f"torch {torch.__version__} (CUDA {torch.version.cuda}) finds no CUDA GPU or driver")
        die(f"CUDA is not available: {why}. This comparison needs an NVIDIA GPU with its driver "
            "(and a CUDA build of torch); `--self-test` checks the script without one")
    if not torch.backends.cudnn.is_available():
        die(f"cuDNN is not available to torch {torch.__version__}: the comparison is against cuDNN's RNNs")
    torch.backends.cudnn.enabled = True
    torch.backends.cudnn.allow_tf32 = args.tf32
    torch.backends.cuda.matmul.allow_tf32 = args.tf32
    return torch


def driver_version():
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=30).stdout.split()
        if out:
            return out[0]
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        m = re.search(r"Kernel Module\s+(\S+)", open("/proc/driver/nvidia/version").read())
        return m.group(1) if m else "unknown"
    except OSError:
        return "unknown"


def recur_version():
    try:
        return subprocess.run([args.recur, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "recur"


# ---- the table --------------------------------------------------------------------------------

def rate(x):
    if x >= 1e6:
        return f"{x / 1e6:.2f}M"
    if x >= 1e4:
        return f"{x / 1e3:.0f}k"
    if x >= 1e3:
        return f"{x / 1e3:.1f}k"
    return f"{x:.0f}"


def spread(xs, fmt):
    med = fmt(statistics.median(xs))
    return med if min(xs) == max(xs) else f"{med} ({fmt(min(xs))}-{fmt(max(xs))})"


def label(cfg):
    model, layers, hidden, batch, seq_len = cfg
    return f"{model.upper()} {layers}x{hidden}, B={batch}, T={seq_len}"


def table(rows):
    """Markdown lines for [(cfg, [pytorch chars/s], [recur parsed dicts])], repeats paired in order."""
    lines = ["| config | PyTorch cuDNN tokens/s | recur wgpu tokens/s | ratio recur/PyTorch | dispatches/iter | round trips/iter |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for cfg, pt, rc in rows:
        rs = [r["chars_per_sec"] for r in rc]
        ratio = statistics.median(rs) / statistics.median(pt)
        pair = [r / p for r, p in zip(rs, pt)]
        ratio_s = f"{ratio:.2f}x" + ("" if len(pair) == 1 else f" ({min(pair):.2f}-{max(pair):.2f})")
        disp = spread([r["dispatches"] for r in rc], lambda x: f"{x:.0f}")
        trips = spread([r["round_trips"] for r in rc], lambda x: f"{x:.1f}")
        lines.append(f"| {label(cfg)} | {spread(pt, rate)} | {spread(rs, rate)} | {ratio_s} | {disp} | {trips} |")
    return lines


# ---- checks without a GPU ---------------------------------------------------------------------

# Real stdout/stderr of `recur bench --device gpu --model lstm --layers 1 --hidden 16 --batch 2
# --seq-len 5 --iters 1` on Mesa's software Vulkan driver.
SAMPLE_STDOUT = """\
per training iteration on llvmpipe (LLVM 15.0.6, 256 bits): 57 kernel dispatches, 2.0 host round trips (values read back), 2.0 submissions, 3.0 uploads (token ids, targets)
lstm 1x16 B=2 T=5 V=65, llvmpipe (LLVM 15.0.6, 256 bits): 329 chars/s, 0.0 GFLOP/s (0.1 MFLOP of matrix products per iteration)
GEMM (10x16)\u00b7(16x64) on this machine now: 0.0 GFLOP/s; the model runs at 12% of it
"""
SAMPLE_STDERR = """\
error: XDG_RUNTIME_DIR is invalid or not set in the environment.
on the GPU: llvmpipe (LLVM 15.0.6, 256 bits) (vulkan, CPU (software))
"""


def self_test():
    r = parse_recur(SAMPLE_STDOUT, SAMPLE_STDERR)
    want = {"model": "lstm", "adapter": "llvmpipe (LLVM 15.0.6, 256 bits)", "layers": 1, "hidden": 16, "batch": 2,
            "seq_len": 5, "vocab": 65, "chars_per_sec": 329.0, "gflops": 0.0, "mflop_per_iter": 0.1,
            "dispatches": 57.0, "round_trips": 2.0, "submissions": 2.0, "uploads": 3.0, "gemm_gflops": 0.0,
            "gemm_percent": 12.0, "backend": "vulkan", "device_type": "CPU (software)"}
    assert r == want, f"parsed\n{r}\nexpected\n{want}"
    # A name with a colon in it, a large GPU config, and a discrete adapter.
    name = "NVIDIA H100 80GB HBM3: rev 1 (x, y)"
    out = (f"per training iteration on {name}: 1234 kernel dispatches, 1.0 host round trips (values read back), "
           f"3.0 submissions, 2.0 uploads (token ids, targets)\n"
           f"gru 1x1024 B=128 T=100 V=65, {name}: 412345 chars/s, 1234.5 GFLOP/s (9876.5 MFLOP of matrix products "
           f"per iteration)\nGEMM (12800x1024)\u00b7(1024x3072) on this machine now: 30000.1 GFLOP/s; the model runs at 4% of it\n")
    r = parse_recur(out, f"on the GPU: {name} (vulkan, DiscreteGpu)\n")
    assert (r["adapter"], r["model"], r["hidden"], r["chars_per_sec"], r["dispatches"], r["round_trips"],
            r["device_type"]) == (name, "gru", 1024, 412345.0, 1234.0, 1.0, "DiscreteGpu"), r
    for bad in ("", SAMPLE_STDOUT.splitlines()[1], SAMPLE_STDOUT.splitlines()[0]):
        try:
            parse_recur(bad)
        except ValueError:
            continue
        raise AssertionError(f"parsed output that lacks a line: {bad!r}")
    lines = table([(CONFIGS[0], [1.2e6, 1.0e6, 1.1e6], [dict(r, chars_per_sec=x) for x in (5e5, 6e5, 5.5e5)]),
                   (CONFIGS[3], [9000.0], [dict(r, chars_per_sec=12000.0)])])
    assert lines[2] == "| LSTM 2x128, B=50, T=50 | 1.10M (1.00M-1.20M) | 550k (500k-600k) | 0.50x (0.42-0.60) | 1234 | 1.0 |", lines[2]
    assert lines[3] == "| LSTM 1x1024, B=4, T=100 | 9.0k | 12k | 1.33x | 1234 | 1.0 |", lines[3]
    print("\n".join(lines))
    print("self-test passed: recur's output parses (llvmpipe sample and a synthetic discrete GPU), the table formats")


# ---- main -------------------------------------------------------------------------------------

def main():
    if args.self_test:
        self_test()
        return
    if args.parse_only:
        text = sys.stdin.read() if args.parse_only == "-" else open(args.parse_only, encoding="utf-8").read()
        try:
            print(json.dumps(parse_recur(text, text)))
        except ValueError as e:
            die(f"{args.parse_only}: {e}")
        return

    iters = args.iters if args.iters is not None else (3 if args.quick else 50)
    warmup = args.warmup if args.warmup is not None else (2 if args.quick else 10)
    repeats = args.repeats if args.repeats is not None else (1 if args.quick else 3)
    if iters < 1 or warmup < 1 or repeats < 1:
        die("--iters, --warmup and --repeats must be at least 1")
    try:
        picked = [CONFIGS[int(c) - 1] for c in args.configs.split(",") if c.strip()]
        if not picked or any(int(c) < 1 for c in args.configs.split(",") if c.strip()):
            raise ValueError
    except (ValueError, IndexError):
        die(f"--configs takes numbers from 1 to {len(CONFIGS)} separated by commas, not {args.configs!r}")

    if not os.path.isfile(args.recur) or not os.access(args.recur, os.X_OK):
        die(f"no recur binary at {args.recur}: build it with `cargo build --release`, or pass --recur PATH")
    torch = open_torch()

    gpu_name = torch.cuda.get_device_name()
    progress(f"PyTorch on {gpu_name}; recur is {args.recur}; {iters} timed iterations a run, {repeats} run(s) a side")
    rows, adapter = [], None
    for n, cfg in enumerate(picked, 1):
        pt, rc = [], []
        for rep in range(1, repeats + 1):
            pt.append(pytorch_run(torch, cfg, iters, warmup, readback=not args.no_readback, seed=args.seed))
            r = recur_run(cfg, iters)
            rc.append(r)
            if adapter is None:
                adapter = r
                if "cpu" in r.get("device_type", "").lower():
                    progress(f"warning: recur runs on a software adapter ({r['adapter']}, {r['device_type']}), "
                             "not the GPU: pick the real one with --gpu N (see `recur devices`)")
            progress(f"[{n}/{len(picked)}] {label(cfg)}, run {rep}/{repeats}: PyTorch {rate(pt[-1])} tokens/s | "
                     f"recur {rate(r['chars_per_sec'])} tokens/s ({r['dispatches']:.0f} dispatches, "
                     f"{r['round_trips']:.1f} round trips per iteration) | ratio {r['chars_per_sec'] / pt[-1]:.2f}x")
        rows.append((cfg, pt, rc))

    on = f"{adapter['adapter']} ({adapter.get('backend', '?')}, {adapter.get('device_type', '?')})"
    print(f"GPU: {gpu_name}, driver {driver_version()}, CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}; "
          f"torch {torch.__version__}; {recur_version()} on {on}; "
          f"{'TF32 allowed' if args.tf32 else 'f32 (TF32 off)'}")
    print()
    print(f"Command: `{shlex.join(['python3', *sys.argv])}` ({iters} timed iterations a run, PyTorch warm-up {warmup}, "
          f"loss read back {'at the end only' if args.no_readback else 'every iteration'}; median of {repeats} run(s) "
          f"a side, alternating, with min-max)")
    print()
    print("\n".join(table(rows)))


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        die("interrupted")
