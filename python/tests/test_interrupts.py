"""Long calls release the GIL, and Ctrl-C stops training cleanly."""

import _thread
import os
import signal
import threading
import time

import numpy as np
import pytest

import recur
from conftest import TEXT


def test_other_threads_run_while_fit_trains():
    counts = []
    done = threading.Event()

    def count():
        n = 0
        while not done.is_set():
            n += 1
            if n % 1000 == 0:
                counts.append(time.perf_counter())
        counts.append(time.perf_counter())

    worker = threading.Thread(target=count)
    model = recur.CharRNN(model="lstm", hidden=64)
    worker.start()
    start = time.perf_counter()
    model.fit(TEXT, batch=8, seq_len=32, iters=200, log_every=200)
    end = time.perf_counter()
    done.set()
    worker.join()
    during = [t for t in counts if start <= t <= end]
    # With the GIL held through fit the counter would stand still; released,
    # it ticks through the run (thousands of times, not a handful).
    assert len(during) > 50, (len(during), end - start)


def test_ctrl_c_stops_fit_within_a_second_and_keeps_the_last_save(tmp_path):
    model = recur.CharRNN(model="lstm", hidden=32)
    out = tmp_path / "run"
    fired = []

    def ctrl_c():
        fired.append(time.perf_counter())
        os.kill(os.getpid(), signal.SIGINT)  # what Ctrl-C in a terminal sends

    def on_record(record):
        # Ctrl-C from another thread once a save is on disk (the save at
        # iteration 20 is written after its log line).
        if record["iter"] == 40:
            assert (out / "model.safetensors").is_file()
            threading.Timer(0.1, ctrl_c).start()

    with pytest.raises(KeyboardInterrupt):
        model.fit(TEXT, batch=4, seq_len=16, iters=5000, eval_every=20, log_every=20,
                  out=out, callback=on_record)
    assert fired and time.perf_counter() - fired[0] < 1.0
    # The last save is whole: it loads, and the CLI could resume it; the
    # model keeps the weights trained up to the interrupt.
    assert recur.load(out).vocab == model.vocab
    assert (out / "state.safetensors").is_file()
    assert not list(out.glob("*.tmp-*"))
    assert len(model.sample(10, seed=0)) == 10


def test_ctrl_c_is_noticed_within_a_second():
    model = recur.CharRNN(model="lstm", hidden=32)
    stamps = {}

    def on_step(i, total, loss):
        if "first" not in stamps:
            stamps["first"] = time.perf_counter()
            stamps["fired"] = stamps["first"]
            _thread.interrupt_main()

    with pytest.raises(KeyboardInterrupt):
        model.fit(TEXT, batch=4, seq_len=16, iters=5000, on_step=on_step)
    assert time.perf_counter() - stamps["fired"] < 1.0


PAIRS = [(w, w[::-1]) for w in ["abc", "bca", "cab", "acb", "bac", "cba", "aab", "bba"]]
SERIES = np.sin(0.3 * np.arange(400))


@pytest.mark.parametrize("kind", ["seq2seq", "forecaster"])
def test_ctrl_c_stops_every_fit_within_a_second_keeping_the_last_save(tmp_path, kind):
    if kind == "seq2seq":
        model = recur.Seq2Seq(hidden=16, embed=8)
        fit = lambda **kw: model.fit(PAIRS, batch=4, val_frac=0.25, **kw)  # noqa: E731
    else:
        model = recur.Forecaster(hidden=8, lookback=8)
        fit = lambda **kw: model.fit(SERIES, **kw)  # noqa: E731
    out = tmp_path / "run"
    fired = []

    def ctrl_c():
        fired.append(time.perf_counter())
        os.kill(os.getpid(), signal.SIGINT)  # what Ctrl-C in a terminal sends

    def on_record(record):
        if record["iter"] == 40:
            assert (out / "model.safetensors").is_file()
            threading.Timer(0.1, ctrl_c).start()

    with pytest.raises(KeyboardInterrupt):
        fit(iters=5000, eval_every=20, log_every=20, out=out, callback=on_record)
    assert fired and time.perf_counter() - fired[0] < 1.0
    saved = recur.load(out)
    assert type(saved) is type(model)
    assert (out / "state.safetensors").is_file()
    assert not list(out.glob("*.tmp-*"))
    # The model keeps what it learned up to the interrupt.
    if kind == "seq2seq":
        assert isinstance(model.translate("abc"), str)
        assert saved.source_vocab == model.source_vocab
    else:
        assert model.predict().shape == (1, 1)
        assert saved.features == model.features


@pytest.mark.parametrize("kind", ["seq2seq", "forecaster"])
def test_other_threads_run_while_every_fit_trains(kind):
    counts = []
    done = threading.Event()

    def count():
        n = 0
        while not done.is_set():
            n += 1
            if n % 1000 == 0:
                counts.append(time.perf_counter())

    worker = threading.Thread(target=count)
    worker.start()
    start = time.perf_counter()
    if kind == "seq2seq":
        recur.Seq2Seq(hidden=64, embed=16).fit(PAIRS, batch=8, iters=400, log_every=400)
    else:
        recur.Forecaster(hidden=64, lookback=32).fit(SERIES, iters=300, log_every=300)
    end = time.perf_counter()
    done.set()
    worker.join()
    during = [t for t in counts if start <= t <= end]
    assert len(during) > 50, (len(during), end - start)
