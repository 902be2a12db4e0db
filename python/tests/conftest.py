"""Shared fixtures: a small corpus, a model trained on it once, the CLI."""

import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

import recur

ROOT = Path(__file__).resolve().parents[2]

TEXT = (
    "the cat sat on the mat. the rat ate the cat's hat. "
    "a bat and a cat sat on a hat in the flat. "
) * 12

WORDS = ["anna", "emma", "olivia", "ava", "isabella", "sophia", "mia", "amelia",
         "harper", "evelyn", "abigail", "emily", "ella", "elizabeth", "camila"]


def cli_path():
    """The recur binary: $RECUR_BIN, else target/release/recur; None if neither."""
    for candidate in (os.environ.get("RECUR_BIN"), ROOT / "target/release/recur",
                      shutil.which("recur")):
        if candidate and Path(candidate).is_file():
            return str(candidate)
    return None


@pytest.fixture(scope="session")
def cli():
    """Run the recur CLI; returns the completed process (check=True)."""
    path = cli_path()
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("the recur binary is missing: run `cargo build --release` (CI must test against it)")
        pytest.skip("the recur binary is missing (cargo build --release)")

    def run(*args):
        return subprocess.run([path, *map(str, args)], check=True, capture_output=True, text=True)

    return run


@pytest.fixture(scope="session")
def trained():
    """An LSTM trained for 150 iterations on TEXT (shared, do not refit)."""
    model = recur.CharRNN(model="lstm", hidden=32, layers=2, embed=8, seed=3)
    history = model.fit(TEXT, batch=4, seq_len=16, iters=150, log_every=50, eval_every=75)
    return model, history


@pytest.fixture(autouse=True)
def ctrl_c_raises_keyboard_interrupt():
    """Ctrl-C (SIGINT) raises KeyboardInterrupt, as in a terminal or a
    notebook, even where the test runner was started with SIGINT ignored
    (as a shell starts background jobs): Python then never installs its
    handler, and an interrupt would be lost."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)
