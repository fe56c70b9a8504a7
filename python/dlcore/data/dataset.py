"""Datasets (map-style, like torch.utils.data): the abstract Dataset, TensorDataset, Subset,
ConcatDataset and random_split."""
import bisect
import math

import numpy as np

import dlcore

__all__ = ["Dataset", "TensorDataset", "Subset", "ConcatDataset", "random_split"]


def _permutation(n, generator=None, epoch=None):
    """A permutation of range(n) as a list of ints.

    Note [Seeds for shuffling]: ``generator`` is an int seed or None. A seed gives a permutation
    that depends only on (seed, epoch), so every epoch differs and a run is reproducible whatever
    else draws random numbers. None draws from dlcore's global generator (``dlcore.randperm``),
    which ``dlcore.manual_seed`` makes reproducible.
    """
    if generator is None:
        return dlcore.randperm(n).tolist() if n > 0 else []
    if isinstance(generator, bool) or not isinstance(generator, (int, np.integer)):
        raise TypeError(f"generator must be an int seed or None, got {type(generator).__name__}")
    key = [int(generator) & (2**64 - 1)] + ([] if epoch is None else [int(epoch)])
    return np.random.default_rng(key).permutation(n).tolist()


class Dataset:
    """A map-style dataset: subclasses define ``__getitem__(index)`` and ``__len__()``."""

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__")

    def __len__(self):
        raise NotImplementedError(f"{type(self).__name__} must implement __len__")

    def __add__(self, other):
        return ConcatDataset([self, other])


class TensorDataset(Dataset):
    """Samples are the rows of the given tensors: ``dataset[i] == (t0[i], t1[i], ...)``.
    Numpy arrays are converted with ``dlcore.as_tensor``."""

    def __init__(self, *tensors):
        if not tensors:
            raise ValueError("TensorDataset: expected at least one tensor")
        tensors = tuple(t if isinstance(t, dlcore.Tensor) else dlcore.as_tensor(t) for t in tensors)
        for i, t in enumerate(tensors):
            if t.dim() == 0:
                raise ValueError(f"TensorDataset: tensor {i} is 0-dimensional; every tensor needs a first "
                                 f"(sample) dimension")
        sizes = [t.shape[0] for t in tensors]
        if any(s != sizes[0] for s in sizes):
            shapes = ", ".join(str(list(t.shape)) for t in tensors)
            raise ValueError(f"TensorDataset: size mismatch between tensors: first dimensions {sizes} "
                             f"differ (shapes {shapes})")
        self.tensors = tensors

    def __getitem__(self, index):
        return tuple(t[index] for t in self.tensors)

    def __len__(self):
        return self.tensors[0].shape[0]


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``, in that order."""

    def __init__(self, dataset, indices):
        self.dataset = dataset
        self.indices = [int(i) for i in indices]

    def __getitem__(self, index):
        if isinstance(index, (list, tuple)):
            return [self.dataset[self.indices[i]] for i in index]
        return self.dataset[self.indices[index]]

    def __len__(self):
        return len(self.indices)


class ConcatDataset(Dataset):
    """Several datasets one after another."""

    def __init__(self, datasets):
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ConcatDataset: expected at least one dataset")
        self.cumulative_sizes = []
        total = 0
        for d in self.datasets:
            total += len(d)
            self.cumulative_sizes.append(total)

    def __len__(self):
        return self.cumulative_sizes[-1]

    def __getitem__(self, index):
        n = len(self)
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError(f"ConcatDataset: index {index} is out of range for a dataset of length {n}")
        d = bisect.bisect_right(self.cumulative_sizes, index)
        start = self.cumulative_sizes[d - 1] if d > 0 else 0
        return self.datasets[d][index - start]


def random_split(dataset, lengths, generator=None):
    """Split ``dataset`` into non-overlapping random Subsets of the given lengths.

    ``lengths`` are counts summing to ``len(dataset)`` or fractions summing to 1; fractions are
    floored and the remainder handed out one by one from the first subset on, as in PyTorch.
    ``generator`` is an int seed (same split every time) or None (dlcore's global generator).
    """
    n = len(dataset)
    lengths = list(lengths)
    if not lengths:
        raise ValueError("random_split: lengths is empty")
    if all(isinstance(x, (int, np.integer)) and not isinstance(x, bool) for x in lengths):
        counts = [int(x) for x in lengths]
    elif math.isclose(sum(lengths), 1.0, abs_tol=1e-6) and all(0 <= x <= 1 for x in lengths):
        counts = [int(math.floor(n * frac)) for frac in lengths]
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
    else:
        raise ValueError(f"random_split: lengths {lengths} are neither integer counts nor fractions summing to 1")
    if any(c < 0 for c in counts) or sum(counts) != n:
        raise ValueError(f"random_split: the lengths {counts} sum to {sum(counts)}, but the dataset has {n} samples")
    perm = _permutation(n, generator)
    out, start = [], 0
    for c in counts:
        out.append(Subset(dataset, perm[start:start + c]))
        start += c
    return out
