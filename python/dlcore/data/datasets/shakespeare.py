"""The works of Shakespeare as a language-modelling dataset (bundled; see data/_data/README.md)."""
import functools
import gzip
import os

import numpy as np

import dlcore

from ..dataset import Dataset
from ..tokenizers import ByteTokenizer, CharTokenizer

__all__ = ["Shakespeare", "shakespeare_text"]

_PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "_data", "shakespeare.txt.gz")


@functools.lru_cache(maxsize=1)
def shakespeare_text():
    """The bundled corpus: 42 plays and poems, 5,057,280 ASCII characters."""
    with gzip.open(_PATH, "rt", encoding="ascii", newline="") as f:
        return f.read()


class Shakespeare(Dataset):
    """Windows of ``block_size`` tokens from the bundled Shakespeare corpus, for next-token
    prediction: item i is ``(x, y)``, two int64 tensors of length ``block_size`` with ``y`` the
    tokens one position after ``x``.

    The token stream is split contiguously: the first ``1 - val_fraction`` of it is 'train', the
    rest 'val' (no window crosses the boundary). Window starts are random but seeded: the dataset
    has ``num_samples`` windows (by default as many as fit end to end) whose starts are drawn from
    ``seed`` and the epoch set by ``set_epoch`` — the same windows every run.

    ``tokenizer`` is "char" (the corpus' 84 characters, the default), "byte" (256 ids) or a
    tokenizer object with ``encode``/``decode``/``vocab_size``.
    """

    def __init__(self, split="train", block_size=128, tokenizer="char", val_fraction=0.1, num_samples=None,
                 seed=0):
        if split not in ("train", "val"):
            raise ValueError(f"Shakespeare: split must be 'train' or 'val', got {split!r}")
        if not 0.0 < val_fraction < 1.0:
            raise ValueError(f"Shakespeare: val_fraction must be in (0, 1), got {val_fraction}")
        text = shakespeare_text()
        if tokenizer == "char":
            tokenizer = CharTokenizer(text)
        elif tokenizer == "byte":
            tokenizer = ByteTokenizer()
        elif isinstance(tokenizer, str):
            raise ValueError(f"Shakespeare: tokenizer must be 'char', 'byte' or a tokenizer object, got {tokenizer!r}")
        self.tokenizer = tokenizer
        ids = tokenizer.encode(text)
        cut = int(len(ids) * (1.0 - val_fraction))
        ids = ids[:cut] if split == "train" else ids[cut:]
        if block_size < 1 or len(ids) < block_size + 1:
            raise ValueError(f"Shakespeare: block_size must be in [1, {len(ids) - 1}] for the {split} split "
                             f"of {len(ids)} tokens, got {block_size}")
        self.split, self.block_size, self.seed = split, int(block_size), int(seed)
        self.tokens = dlcore.from_numpy(ids)
        self.num_samples = int(num_samples) if num_samples is not None else (len(ids) - 1) // block_size
        self.set_epoch(0)

    @property
    def vocab_size(self):
        return self.tokenizer.vocab_size

    def set_epoch(self, epoch):
        """Draws this epoch's window starts (a function of seed and epoch only)."""
        high = self.tokens.shape[0] - self.block_size  # start + block_size + 1 <= len
        rng = np.random.default_rng([self.seed, int(epoch)])
        self._starts = rng.integers(0, high, size=self.num_samples)

    def __len__(self):
        return self.num_samples

    def __getitem__(self, index):
        if not -self.num_samples <= index < self.num_samples:
            raise IndexError(f"Shakespeare: index {index} out of range for {self.num_samples} windows")
        s = int(self._starts[index])
        window = self.tokens[s:s + self.block_size + 1]
        return window[:-1], window[1:]

    def __repr__(self):
        return (f"Shakespeare(split={self.split!r}, block_size={self.block_size}, windows={self.num_samples}, "
                f"tokenizer={self.tokenizer!r})")
