"""Tokenizers for text datasets: bytes (UTF-8, 256 ids) and characters (a vocabulary built from
a text). Both encode to int64 token ids and decode back to the exact string."""
import numpy as np

import dlcore

__all__ = ["ByteTokenizer", "CharTokenizer", "tokenizer_from_config"]


def _ids_to_numpy(ids, name):
    if isinstance(ids, dlcore.Tensor):
        ids = ids.numpy()
    arr = np.asarray(ids)
    if arr.ndim != 1 or (arr.size and arr.dtype.kind not in "iu"):
        raise TypeError(f"{name}.decode: expected a 1-d sequence of integer ids, got shape {arr.shape} "
                        f"of {arr.dtype}")
    return arr.astype(np.int64, copy=False)


class ByteTokenizer:
    """Token i is byte i of the UTF-8 encoding: ``vocab_size`` is 256 and any string round-trips."""

    vocab_size = 256

    def encode(self, text):
        """``text`` (str) -> 1-d int64 numpy array of its UTF-8 bytes."""
        return np.frombuffer(text.encode("utf-8"), dtype=np.uint8).astype(np.int64)

    def decode(self, ids):
        """Ids -> str. A byte sequence that is not valid UTF-8 (possible when sampling a model)
        decodes with U+FFFD replacement characters."""
        arr = _ids_to_numpy(ids, "ByteTokenizer")
        if arr.size and (arr.min() < 0 or arr.max() > 255):
            raise ValueError(f"ByteTokenizer.decode: ids must be in [0, 255], got [{arr.min()}, {arr.max()}]")
        return arr.astype(np.uint8).tobytes().decode("utf-8", errors="replace")

    def config(self):
        return {"kind": "byte"}

    def __repr__(self):
        return "ByteTokenizer(vocab_size=256)"


class CharTokenizer:
    """One token per distinct character of the text it was built from (``CharTokenizer(text)``),
    ids in sorted character order; or from an explicit ``chars`` string."""

    def __init__(self, text=None, chars=None):
        if (text is None) == (chars is None):
            raise ValueError("CharTokenizer: give exactly one of text (to build the vocabulary) or chars")
        self.chars = "".join(sorted(set(text))) if chars is None else chars
        if len(set(self.chars)) != len(self.chars):
            raise ValueError("CharTokenizer: chars must not repeat a character")
        self.vocab_size = len(self.chars)
        codes = np.array([ord(c) for c in self.chars], dtype=np.int64)
        self._codes = codes
        # Note [Char lookup]: a dense table from code point to id (-1 for characters outside the
        # vocabulary) makes encoding one numpy gather over the text's code points.
        self._table = np.full(int(codes.max()) + 1 if codes.size else 1, -1, dtype=np.int64)
        self._table[codes] = np.arange(codes.size)

    def encode(self, text):
        """``text`` (str) -> 1-d int64 numpy array of ids; a character outside the vocabulary raises
        ValueError naming it."""
        points = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
        ids = np.full(points.shape, -1, dtype=np.int64)
        inside = points < self._table.size
        ids[inside] = self._table[points[inside]]
        if (ids < 0).any():
            bad = text[int(np.argmax(ids < 0))]
            raise ValueError(f"CharTokenizer.encode: character {bad!r} is not in the vocabulary of "
                             f"{self.vocab_size} characters")
        return ids

    def decode(self, ids):
        """Ids -> str."""
        arr = _ids_to_numpy(ids, "CharTokenizer")
        if arr.size and (arr.min() < 0 or arr.max() >= self.vocab_size):
            raise ValueError(f"CharTokenizer.decode: ids must be in [0, {self.vocab_size - 1}], got "
                             f"[{arr.min()}, {arr.max()}]")
        return self._codes[arr].astype(np.uint32).tobytes().decode("utf-32-le")

    def config(self):
        return {"kind": "char", "chars": self.chars}

    def __repr__(self):
        return f"CharTokenizer(vocab_size={self.vocab_size})"


def tokenizer_from_config(config):
    """Rebuilds a tokenizer from its ``config()`` dict (as stored in a checkpoint)."""
    kind = config.get("kind")
    if kind == "byte":
        return ByteTokenizer()
    if kind == "char":
        return CharTokenizer(chars=config["chars"])
    raise ValueError(f"tokenizer_from_config: unknown tokenizer kind {kind!r} (expected 'byte' or 'char')")
