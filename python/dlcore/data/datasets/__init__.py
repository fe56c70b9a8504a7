"""Datasets: the bundled MNIST, scikit-learn's digits, IDX files and image folders."""
from .digits import Digits
from .folder import ImageFolder
from .idx import IDX, read_idx, write_idx
from .mnist import MNIST

__all__ = ["MNIST", "Digits", "IDX", "ImageFolder", "read_idx", "write_idx"]
