"""The PyTorch side of recur's char-rnn comparisons: the same model, data
order and optimizer as `recur train`, in eager PyTorch on the CPU.

    pip install torch numpy
    python3 scripts/pytorch_charrnn.py train --model lstm --iters 2010 --threads 2
    python3 scripts/pytorch_charrnn.py sample --model lstm --length 2000 --threads 2

`train` prints one JSON line: characters/s, and the mean training loss of
the last 20 batches (nats/char). The data is read as recur reads it: the
first 95% of the corpus cut into B contiguous streams, T characters at a
time, hidden state carried between windows and reset at each pass. Model:
one-hot input, nn.LSTM/nn.GRU/nn.RNN (L layers, H hidden), nn.Linear;
Adam, elementwise gradient clipping to [-clip, clip] (char-rnn's).

`sample` times generating `length` characters at batch 1 with an eager
loop (one forward call per character, multinomial sampling).
"""
import argparse
import json
import os
import time

import numpy as np
import torch

here = os.path.dirname(os.path.abspath(__file__))
ap = argparse.ArgumentParser()
ap.add_argument("mode", choices=["train", "sample"])
ap.add_argument("--corpus", default=os.path.join(here, "..", "..", "shared", "data", "tinyshakespeare.txt"))
ap.add_argument("--model", default="lstm", choices=["rnn", "lstm", "gru"])
ap.add_argument("--layers", type=int, default=2)
ap.add_argument("--hidden", type=int, default=128)
ap.add_argument("--seq-len", type=int, default=50)
ap.add_argument("--batch", type=int, default=50)
ap.add_argument("--lr", type=float, default=2e-3)
ap.add_argument("--clip", type=float, default=5.0)
ap.add_argument("--iters", type=int, default=2010)
ap.add_argument("--length", type=int, default=2000)
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--seed", type=int, default=42)
args = ap.parse_args()
torch.set_num_threads(args.threads)
torch.manual_seed(args.seed)

text = open(args.corpus, encoding="utf-8").read()
chars = sorted(set(text))
V = len(chars)
ids = np.array([chars.index(c) for c in text], dtype=np.int64) if V < 0 else None
lookup = {c: i for i, c in enumerate(chars)}
ids = np.fromiter((lookup[c] for c in text), dtype=np.int64, count=len(text))
train = ids[: len(ids) - round(len(ids) * 0.05)]


class CharRNN(torch.nn.Module):
    def __init__(self):
        super().__init__()
        cls = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[args.model]
        self.rnn = cls(V, args.hidden, num_layers=args.layers)
        self.fc = torch.nn.Linear(args.hidden, V)

    def forward(self, x, state):
        out, state = self.rnn(torch.nn.functional.one_hot(x, V).float(), state)
        return self.fc(out), state


model = CharRNN()


def detach(state):
    if state is None:
        return None
    return tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()


if args.mode == "train":
    T, B = args.seq_len, args.batch
    stream = len(train) // B
    windows = (stream - 1) // T
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    losses, state = [], None
    start = time.perf_counter()
    for it in range(args.iters):
        w = it % windows
        if w == 0:
            state = None
        idx = np.arange(B)[None, :] * stream + w * T + np.arange(T)[:, None]
        x, y = torch.from_numpy(train[idx]), torch.from_numpy(train[idx + 1])
        logits, state = model(x, detach(state))
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, V), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        for p in model.parameters():
            p.grad.clamp_(-args.clip, args.clip)
        opt.step()
        losses.append(loss.item())
    elapsed = time.perf_counter() - start
    print(json.dumps({"impl": "pytorch", "model": args.model, "threads": args.threads,
                      "chars_per_sec": args.iters * T * B / elapsed,
                      "last20_loss": float(np.mean(losses[-20:])), "iters": args.iters}))
else:
    with torch.no_grad():
        x = torch.tensor([[lookup["\n"]]])
        state, out = None, []
        start = time.perf_counter()
        for _ in range(args.length):
            logits, state = model(x, state)
            nxt = torch.multinomial(torch.softmax(logits[0, 0], -1), 1)
            out.append(nxt.item())
            x = nxt.view(1, 1)
        elapsed = time.perf_counter() - start
    print(json.dumps({"impl": "pytorch", "model": args.model, "threads": args.threads,
                      "sample_chars_per_sec": args.length / elapsed}))
