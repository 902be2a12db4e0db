"""Type stubs of recur's native module (recur._recur)."""

from os import PathLike
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import numpy.typing as npt

__version__: str

class CheckpointError(ValueError):
    """A checkpoint file that is not a recur model of the kind asked for, or is damaged."""

class TrainingDiverged(ArithmeticError):
    """Training blew up; the message says what to change."""

class DeviceError(RuntimeError):
    """The compute device could not do what was asked."""

LogRecord = Dict[str, Any]
"""One log line: iter, train_loss, smooth_loss, val_loss (or None), chars_per_sec, elapsed_s."""

class CharRNN:
    """A character-level language model: a vanilla RNN, an LSTM or a GRU."""

    def __init__(
        self,
        model: str = "lstm",
        hidden: int = 128,
        layers: int = 1,
        embed: Optional[int] = None,
        dropout: float = 0.0,
        activation: str = "tanh",
        forget_bias: Optional[float] = None,
        init: Optional[str] = None,
        seed: int = 42,
    ) -> None: ...
    def fit(
        self,
        data: Union[str, Sequence[str]],
        *,
        batch: int = 32,
        seq_len: int = 64,
        optimizer: str = "adam",
        lr: float = 2e-3,
        momentum: float = 0.0,
        iters: Optional[int] = None,
        epochs: Optional[int] = None,
        val_frac: float = 0.05,
        clip: Optional[float] = 5.0,
        clip_norm: Optional[float] = None,
        eval_every: Optional[int] = None,
        log_every: Optional[int] = None,
        out: Union[str, PathLike, None] = None,
        overwrite: bool = False,
        progress: bool = False,
        callback: Optional[Callable[[LogRecord], Any]] = None,
        on_step: Optional[Callable[[int, int, float], Any]] = None,
    ) -> List[LogRecord]:
        """Train on running text or a list of words; returns the log records."""
    def train_words(
        self, words: Sequence[str], epochs: int = 100, lr: float = 0.01, print_every: int = 0
    ) -> List[float]:
        """The notebook's training on a word list; each epoch's mean loss."""
    def sample_words(
        self,
        n: int = 10,
        prefix: str = "",
        temperature: float = 1.0,
        top_k: Optional[int] = None,
        greedy: bool = False,
        seed: int = 0,
        max_len: int = 50,
        training: Optional[Sequence[str]] = None,
    ) -> "WordSample":
        """n whole words from a word-list model, marked new or known."""
    def predict(self, prefix: str, length: int = 20) -> str:
        """The most likely continuation of `prefix` (greedy)."""
    def prepare_sequences(self, words: Sequence[str]) -> List[Tuple[List[int], List[int]]]:
        """Each word as (inputs, targets) token ids: START w..., w... END."""
    def compute_loss(self, words: Sequence[str]) -> float:
        """Mean loss over words in nats per character."""
    def sample(
        self,
        length: int = 200,
        prime: str = "",
        temperature: float = 1.0,
        top_k: Optional[int] = None,
        greedy: bool = False,
        seed: int = 0,
    ) -> str:
        """Generate text after `prime`."""
    def evaluate(self, data: Union[str, Sequence[str]]) -> float:
        """Mean loss in nats per character."""
    def save(self, path: Union[str, PathLike]) -> None:
        """Write the model as the CLI's checkpoint."""
    def hidden_states(self, text: str, layer: int = -1) -> npt.NDArray[np.float32]:
        """Hidden states (T, H) of one layer at every character."""
    def next_char_probs(self, text: str) -> npt.NDArray[np.float32]:
        """(T, V): the distribution of the next character after each prefix."""
    @property
    def vocab(self) -> List[str]:
        """One str per token id."""
    def parameters(self) -> Dict[str, npt.NDArray[np.float32]]:
        """Parameters under PyTorch's names."""
    def gradients(self, text: str) -> Dict[str, npt.NDArray[np.float32]]:
        """Gradients of the mean loss of `text` for every parameter."""
    @property
    def config(self) -> Dict[str, Any]:
        """The model's settings."""

def corpus() -> str:
    """The built-in corpus (Cicero, De finibus I, Latin), the CLI's default."""

def load(path: Union[str, PathLike]) -> CharRNN:
    """Open a model file written by the CLI or by save (or a run folder)."""

class Recurrent:
    """Recurrent layers on their own (see recur.layers)."""

    def __init__(
        self,
        cell: str,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bidirectional: bool = False,
        nonlinearity: str = "tanh",
        seed: int = 0,
    ) -> None: ...
    def forward(self, x: npt.NDArray[Any], h0: Any = None) -> Tuple[npt.NDArray[np.float64], Any]:
        """(output (T, B, D*H), h_n) -- h_n is (h_n, c_n) for the LSTM."""
    def backward(self, d_output: npt.NDArray[Any], d_hn: Any = None) -> Dict[str, npt.NDArray[np.float64]]:
        """Gradients of every parameter, "input" and "h0" (and "c0")."""
    def parameters(self) -> Dict[str, npt.NDArray[np.float64]]:
        """Parameters under PyTorch's names (copies)."""
    def load_state_dict(self, state: Dict[str, npt.NDArray[Any]]) -> None:
        """Set every parameter from a dict like parameters()."""
    @property
    def config(self) -> Dict[str, Any]:
        """cell, input_size, hidden_size, num_layers, bidirectional."""

class ManyToOne:
    """A many-to-one RNN: sequences of vectors in, one output from the last state."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        output_size: int,
        model: str = "rnn",
        layers: int = 1,
        loss: str = "cross_entropy",
        activation: str = "tanh",
        seed: int = 0,
    ) -> None: ...
    def forward(self, x: npt.NDArray[Any]) -> npt.NDArray[np.float64]:
        """Outputs (B, output_size) for x (T, B, input_size)."""
    def compute_loss(self, x: npt.NDArray[Any], y: npt.NDArray[Any]) -> float:
        """Mean loss against class ids (B,) or values (B, output_size)."""
    def gradients(self, x: npt.NDArray[Any], y: npt.NDArray[Any]) -> Dict[str, npt.NDArray[np.float64]]:
        """Gradients of compute_loss for every parameter and "input"."""
    def fit(
        self,
        x: npt.NDArray[Any],
        y: npt.NDArray[Any],
        epochs: int = 100,
        batch: int = 32,
        optimizer: str = "adam",
        lr: float = 0.01,
        clip: Optional[float] = 5.0,
    ) -> List[float]:
        """Train; each epoch's mean loss."""
    def predict(self, x: npt.NDArray[Any]) -> npt.NDArray[Any]:
        """Class ids (B,) or values (B, output_size)."""
    def parameters(self) -> Dict[str, npt.NDArray[np.float64]]:
        """Parameters under PyTorch's names."""
    def load_state_dict(self, state: Dict[str, npt.NDArray[Any]]) -> None:
        """Set every parameter from a dict like parameters()."""

class WordSample(Sequence[str]):
    """Words sampled from a word-list model."""

    @property
    def words(self) -> List[str]:
        """The words, in the order drawn."""
    @property
    def new(self) -> Optional[List[bool]]:
        """Whether each word is missing from the training list (None if unknown)."""
    @property
    def new_fraction(self) -> Optional[float]:
        """The fraction of new words (None if the training list is unknown)."""
    def __len__(self) -> int: ...
    def __getitem__(self, i: int) -> str: ...  # type: ignore[override]
