"""Samplers (like torch.utils.data): the orders in which a DataLoader visits a map-style dataset.

Note [Lazy random samplers]: RandomSampler draws its numbers in chunks as it is iterated (32
indices with replacement, one permutation of the dataset without), so a sampler of 10**10
samples starts at once. ``__iter__`` is a plain method that settles the seed before it returns
the iterator: without a generator it draws a seed from the global generator right away, in the
thread that calls ``iter()``, so the order does not depend on when (or in which thread) the
first index is taken.
"""
import builtins
import numbers

import numpy as np

import dlcore

from .._generator import Generator

__all__ = ["Sampler", "SequentialSampler", "RandomSampler", "SubsetRandomSampler", "WeightedRandomSampler",
           "BatchSampler"]

_CHUNK = 32


def _as_generator(generator, fn):
    """``generator`` as a dlcore.Generator or None; an int is taken as the seed of a new one."""
    if generator is None or isinstance(generator, Generator):
        return generator
    if isinstance(generator, (builtins.int, np.integer)) and not isinstance(generator, builtins.bool):
        return Generator().manual_seed(builtins.int(generator))
    raise TypeError(f"{fn}: generator must be a dlcore.Generator, an int seed or None, got "
                    f"{type(generator).__name__}")


def _check_positive_int(value, fn, name):
    if isinstance(value, builtins.bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(f"{fn}: {name} should be a positive integer value, but got {name}={value!r}")
    return builtins.int(value)


def _check_bool(value, fn, name):
    if not isinstance(value, builtins.bool):
        raise TypeError(f"{fn}: {name} should be a boolean value, but got {name}={value!r}")
    return value


class Sampler:
    """Base class: subclasses define ``__iter__`` over dataset indices (and usually ``__len__``)."""

    def __init__(self, data_source=None):
        pass

    def __iter__(self):
        raise NotImplementedError(f"{type(self).__name__} must implement __iter__")


class SequentialSampler(Sampler):
    """0, 1, ..., len(data_source) - 1."""

    def __init__(self, data_source):
        self.data_source = data_source

    def __iter__(self):
        return iter(range(len(self.data_source)))

    def __len__(self):
        return len(self.data_source)


def _seeded(generator):
    """``generator``, or a new Generator seeded from the global one (Note [Lazy random samplers])."""
    if generator is not None:
        return generator
    seed = builtins.int(dlcore.empty((), dtype=dlcore.int64).random_().item())
    return Generator().manual_seed(seed)


class RandomSampler(Sampler):
    """Random indices of ``data_source``: a permutation (repeated, then cut, for ``num_samples``
    beyond the dataset's length) or, with ``replacement``, ``num_samples`` independent draws.
    ``generator``: a dlcore.Generator (its state advances, so every epoch differs), an int seed
    or None (a seed drawn from the global generator each epoch)."""

    def __init__(self, data_source, replacement=False, num_samples=None, generator=None):
        self.data_source = data_source
        self.replacement = _check_bool(replacement, "RandomSampler", "replacement")
        self._num_samples = num_samples
        self.generator = _as_generator(generator, "RandomSampler")
        _check_positive_int(self.num_samples, "RandomSampler", "num_samples")

    @property
    def num_samples(self):
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def __iter__(self):
        return self._indices(len(self.data_source), self.num_samples, _seeded(self.generator))

    def _indices(self, n, count, g):
        if n == 0:
            return
        if self.replacement:
            for _ in range(count // _CHUNK):
                yield from dlcore.randint(n, (_CHUNK,), generator=g).tolist()
            if count % _CHUNK:
                yield from dlcore.randint(n, (count % _CHUNK,), generator=g).tolist()
            return
        for _ in range(count // n):
            yield from dlcore.randperm(n, generator=g).tolist()
        if count % n:
            yield from dlcore.randperm(n, generator=g).tolist()[:count % n]

    def __len__(self):
        return self.num_samples


class SubsetRandomSampler(Sampler):
    """The given ``indices`` in a random order (a new one every epoch)."""

    def __init__(self, indices, generator=None):
        self.indices = indices
        self.generator = _as_generator(generator, "SubsetRandomSampler")

    def __iter__(self):
        order = dlcore.randperm(len(self.indices), generator=self.generator).tolist()
        return (self.indices[i] for i in order)

    def __len__(self):
        return len(self.indices)


class WeightedRandomSampler(Sampler):
    """``num_samples`` indices of ``range(len(weights))``, index i drawn with probability
    proportional to ``weights[i]``, with or without ``replacement``."""

    def __init__(self, weights, num_samples, replacement=True, generator=None):
        self.num_samples = _check_positive_int(num_samples, "WeightedRandomSampler", "num_samples")
        self.replacement = _check_bool(replacement, "WeightedRandomSampler", "replacement")
        weights = dlcore.as_tensor(weights if isinstance(weights, dlcore.Tensor) else np.asarray(weights, np.float64),
                                   dtype=dlcore.float64)
        if weights.dim() != 1:
            raise ValueError(f"WeightedRandomSampler: weights should be a 1d sequence but given weights have shape "
                             f"{tuple(weights.shape)}")
        self.weights = weights
        self.generator = _as_generator(generator, "WeightedRandomSampler")

    def __iter__(self):
        drawn = dlcore.multinomial(self.weights, self.num_samples, self.replacement, generator=self.generator)
        return iter(drawn.tolist())

    def __len__(self):
        return self.num_samples


class BatchSampler(Sampler):
    """Lists of ``batch_size`` indices from ``sampler``; the last one is shorter unless
    ``drop_last`` drops it."""

    def __init__(self, sampler, batch_size, drop_last):
        self.batch_size = _check_positive_int(batch_size, "BatchSampler", "batch_size")
        if not isinstance(drop_last, builtins.bool):
            raise ValueError(f"BatchSampler: drop_last should be a boolean value, but got drop_last={drop_last!r}")
        self.sampler = sampler
        self.drop_last = drop_last

    def __iter__(self):
        return self._batches(iter(self.sampler))

    def _batches(self, indices):
        batch = []
        for i in indices:
            batch.append(i)
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __len__(self):
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
