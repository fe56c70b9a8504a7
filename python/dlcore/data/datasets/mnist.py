"""MNIST: 10,000 real handwritten digits bundled with the package (see data/_data/README.md)."""
import functools
import os

import numpy as np

import dlcore

from ..dataset import Dataset

__all__ = ["MNIST"]

_PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "_data", "mnist10k.npz")
_SPLITS = ("train", "val", "test")


def _split_indices(n, seed, split, name):
    """Indices of ``split`` after shuffling range(n) with ``seed`` and cutting it 6:2:2 (remainders
    to the first parts, as random_split)."""
    if split not in _SPLITS:
        raise ValueError(f"{name}: split must be one of {_SPLITS}, got {split!r}")
    counts = [n * 6 // 10, n * 2 // 10, n * 2 // 10]
    for i in range(n - sum(counts)):
        counts[i % 3] += 1
    perm = np.random.default_rng(seed).permutation(n)
    k = _SPLITS.index(split)
    start = sum(counts[:k])
    return perm[start:start + counts[k]]


@functools.lru_cache(maxsize=1)
def _load():
    with np.load(_PATH) as f:
        return f["images"], f["labels"]


class _ImageSplit(Dataset):
    """A split held as two tensors: ``data`` (N, 1, H, W) float32 in [0, 1] and ``targets`` (N,)
    int64. ``dataset[i]`` is ``(transform(data[i]), targets[i])``."""

    def __init__(self, images, labels, scale, transform, target_transform):
        # images: (N, H, W) numbers in [0, scale]
        x = dlcore.from_numpy(np.ascontiguousarray(images, dtype=np.float32))
        self.data = (x / float(scale)).unsqueeze(1).contiguous()
        self.targets = dlcore.from_numpy(np.ascontiguousarray(labels, dtype=np.int64))
        self.transform = transform
        self.target_transform = target_transform
        self.classes = [str(i) for i in range(10)]

    def __len__(self):
        return self.targets.shape[0]

    def __getitem__(self, index):
        img, target = self.data[index], self.targets[index]
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target

    def tensors(self):
        """The whole split as ``(images (N, 1, H, W) float32, labels (N,) int64)``, without
        transforms: the fast path for full-batch work or a TensorDataset."""
        return self.data, self.targets


class MNIST(_ImageSplit):
    """The bundled 10,000 MNIST digits, shuffled with ``seed`` and split 6000/2000/2000 into
    ``split`` = 'train' | 'val' | 'test' (the same split every time for a given seed).
    Images are (1, 28, 28) float32 in [0, 1] (no normalisation unless ``transform`` adds it),
    labels int64."""

    def __init__(self, split="train", transform=None, target_transform=None, seed=0):
        images, labels = _load()
        idx = _split_indices(len(labels), seed, split, "MNIST")
        super().__init__(images[idx], labels[idx], 255.0, transform, target_transform)
        self.split = split

    def __repr__(self):
        return f"MNIST(split={self.split!r}, size={len(self)})"
