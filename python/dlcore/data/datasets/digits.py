"""scikit-learn's 1,797 8x8 digits (load_digits), split 6:2:2 like MNIST."""
from .mnist import _ImageSplit, _split_indices

__all__ = ["Digits"]


class Digits(_ImageSplit):
    """sklearn.datasets.load_digits as (1, 8, 8) float32 images in [0, 1] (pixel values / 16)
    and int64 labels, shuffled with ``seed`` and split 6:2:2 into 'train' | 'val' | 'test'."""

    def __init__(self, split="train", transform=None, target_transform=None, seed=0):
        try:
            from sklearn.datasets import load_digits
        except ImportError as e:
            raise ImportError("Digits needs scikit-learn (pip install scikit-learn); it reads "
                              "sklearn.datasets.load_digits") from e
        d = load_digits()
        idx = _split_indices(len(d.target), seed, split, "Digits")
        super().__init__(d.images[idx], d.target[idx], 16.0, transform, target_transform)
        self.split = split

    def __repr__(self):
        return f"Digits(split={self.split!r}, size={len(self)})"
