"""recur: recurrent neural networks (RNN, LSTM, GRU) with a Rust core.

Train a character-level language model on your own text, sample from it
and look inside it, with numpy arrays in and out::

    import recur
    model = recur.CharRNN(model="lstm", hidden=128, layers=2)
    history = model.fit(open("input.txt").read(), iters=2000, progress=True)
    print(model.sample(300, prime="The ", temperature=0.8))
    states = model.hidden_states("To be, or not to be")   # (T, H) numpy

Every heavy loop runs in recur's Rust core, with the GIL released.
Checkpoints are the CLI's (``recur sample --checkpoint model.safetensors``)
and PyTorch loads them.
"""

from . import layers
from ._recur import (
    CharRNN,
    CheckpointError,
    DeviceError,
    ManyToOne,
    TrainingDiverged,
    WordSample,
    __version__,
    corpus,
    load,
)

__all__ = [
    "CharRNN",
    "CheckpointError",
    "DeviceError",
    "ManyToOne",
    "TrainingDiverged",
    "WordSample",
    "corpus",
    "layers",
    "load",
    "__version__",
]
