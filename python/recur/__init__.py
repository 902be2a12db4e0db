"""recur: recurrent neural networks (RNN, LSTM, GRU) with a Rust core.

Train a character-level language model on your own text, sample from it
and look inside it, with numpy arrays in and out::

    import recur
    model = recur.CharRNN(model="lstm", hidden=128, layers=2)
    history = model.fit(open("input.txt").read(), iters=2000, progress=True)
    print(model.sample(300, prime="The ", temperature=0.8))
    states = model.hidden_states("To be, or not to be")   # (T, H) numpy

Sequence-to-sequence models translate one string into another, with the
attention to look at; forecasters predict a series from numpy or pandas::

    s2s = recur.Seq2Seq(hidden=64, attention="luong-general")
    s2s.fit(task="reverse", iters=3000)       # or fit([(source, target), ...])
    text, weights = s2s.translate("hello", attention=True)   # (T, S) numpy

    f = recur.Forecaster(model="lstm", lookback=32)
    f.fit(series)                             # (T,) or (T, F) numpy, or a DataFrame
    f.report                                  # test error beside naive baselines
    f.predict(steps=10)                       # (10, K) numpy

Every heavy loop runs in recur's Rust core, with the GIL released.
Checkpoints are the CLI's (``recur sample --checkpoint model.safetensors``,
``recur seq2seq translate``, ``recur forecast predict``) and ``recur.load``
opens any of them as the class of its kind; PyTorch loads them too.
"""

from . import layers
from ._recur import (
    CharRNN,
    CheckpointError,
    DeviceError,
    Forecaster,
    ManyToOne,
    Seq2Seq,
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
    "Forecaster",
    "ManyToOne",
    "Seq2Seq",
    "TrainingDiverged",
    "WordSample",
    "corpus",
    "layers",
    "load",
    "__version__",
]
