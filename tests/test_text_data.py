"""Tokenizers and the bundled Shakespeare dataset."""
import numpy as np
import pytest

import dlcore
from dlcore.data import DataLoader
from dlcore.data.datasets import Shakespeare, shakespeare_text
from dlcore.data.tokenizers import ByteTokenizer, CharTokenizer, tokenizer_from_config

SAMPLES = ["", "a", "ROMEO:\nBut, soft! what light through yonder window breaks?",
           "naïve café — 日本語 🙂", "\x00\x7f\n\t"]


@pytest.mark.parametrize("text", SAMPLES)
def test_byte_tokenizer_round_trip(text):
    tok = ByteTokenizer()
    ids = tok.encode(text)
    assert ids.dtype == np.int64 and len(ids) == len(text.encode("utf-8"))
    assert ids.size == 0 or (ids.min() >= 0 and ids.max() < 256)
    assert tok.decode(ids) == text
    assert tok.decode(dlcore.from_numpy(ids)) == text
    assert tok.decode(list(ids)) == text


def test_byte_tokenizer_invalid_bytes_and_range():
    tok = ByteTokenizer()
    assert tok.decode([0xE6, 0x97]) == "\ufffd"  # a truncated UTF-8 sequence, as a sampled model may emit
    with pytest.raises(ValueError, match=r"\[0, 255\]"):
        tok.decode([300])


@pytest.mark.parametrize("text", SAMPLES[1:])
def test_char_tokenizer_round_trip(text):
    tok = CharTokenizer(text)
    assert tok.vocab_size == len(set(text))
    ids = tok.encode(text)
    assert ids.tolist() == [sorted(set(text)).index(c) for c in text]
    assert tok.decode(ids) == text
    again = tokenizer_from_config(tok.config())
    assert again.encode(text).tolist() == ids.tolist() and again.decode(ids) == text


def test_char_tokenizer_errors():
    tok = CharTokenizer("abc")
    with pytest.raises(ValueError, match="'z' is not in the vocabulary of 3"):
        tok.encode("abz")
    with pytest.raises(ValueError, match=r"\[0, 2\]"):
        tok.decode([3])
    with pytest.raises(ValueError, match="exactly one"):
        CharTokenizer()
    with pytest.raises(ValueError, match="unknown tokenizer kind"):
        tokenizer_from_config({"kind": "bpe"})


def test_corpus_is_the_documented_one():
    text = shakespeare_text()
    assert len(text) == 5_057_280 and len(set(text)) == 84
    tok = CharTokenizer(text)
    assert tok.decode(tok.encode(text[:100_000])) == text[:100_000]


def test_shakespeare_windows_split_and_seed():
    train = Shakespeare("train", block_size=64, seed=3)
    val = Shakespeare("val", block_size=64, seed=3)
    n = len(shakespeare_text())
    cut = int(n * 0.9)
    assert train.tokens.shape[0] == cut and val.tokens.shape[0] == n - cut
    assert train.vocab_size == 84 and len(train) == (cut - 1) // 64
    text = shakespeare_text()
    for i in (0, 5, len(train) - 1):
        x, y = train[i]
        assert x.shape == (64,) and y.shape == (64,) and x.dtype == dlcore.int64
        assert np.array_equal(x.numpy()[1:], y.numpy()[:-1])
        s = int(train._starts[i])
        assert train.tokenizer.decode(x) == text[s:s + 64]
        assert train.tokenizer.decode(y) == text[s + 1:s + 65]
    xv, _ = val[0]
    assert val.tokenizer.decode(xv) == text[cut + int(val._starts[0]):][:64]
    # the same seed and epoch give the same windows; another epoch gives others
    again = Shakespeare("train", block_size=64, seed=3)
    assert np.array_equal(again._starts, train._starts)
    train.set_epoch(1)
    assert not np.array_equal(again._starts, train._starts)


def test_shakespeare_bytes_loader_and_errors():
    ds = Shakespeare("val", block_size=16, tokenizer="byte", num_samples=40)
    assert len(ds) == 40 and ds.vocab_size == 256
    xb, yb = next(iter(DataLoader(ds, batch_size=8)))
    assert xb.shape == (8, 16) and yb.shape == (8, 16)
    with pytest.raises(ValueError, match="split must be 'train' or 'val'"):
        Shakespeare("test")
    with pytest.raises(ValueError, match="block_size must be in"):
        Shakespeare("val", block_size=0)
    with pytest.raises(IndexError, match="out of range"):
        ds[40]
