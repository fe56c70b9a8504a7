"""The IDX format of MNIST / Fashion-MNIST: read_idx, write_idx and the IDX dataset.

An IDX file is a 4-byte magic number (two zero bytes, a type code, the number of dimensions),
one big-endian uint32 per dimension, then the values in row-major order, big-endian.
"""
import gzip
import os
import struct

import numpy as np

from .mnist import _ImageSplit

__all__ = ["IDX", "read_idx", "write_idx"]

_TYPES = {0x08: np.dtype(np.uint8), 0x09: np.dtype(np.int8), 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
          0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
_CODES = {np.dtype(np.uint8): 0x08, np.dtype(np.int8): 0x09, np.dtype(np.int16): 0x0B, np.dtype(np.int32): 0x0C,
          np.dtype(np.float32): 0x0D, np.dtype(np.float64): 0x0E}


def _open(path, mode):
    return gzip.open(path, mode) if str(path).endswith(".gz") else open(path, mode)


def read_idx(path):
    """Read an IDX file (optionally gzipped) into a numpy array."""
    with _open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4:
        raise ValueError(f"read_idx: {path} is too short ({len(raw)} bytes) to be an IDX file")
    zero, code, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or code not in _TYPES:
        raise ValueError(f"read_idx: {path} has a bad magic number 0x{raw[:4].hex()} (expected 0x0000 then a type "
                         f"code in {[hex(c) for c in _TYPES]} and the number of dimensions, e.g. 0x00000803 for "
                         f"uint8 images)")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"read_idx: {path} ends inside its header ({len(raw)} bytes, {ndim} dimensions)")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = _TYPES[code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) - header != expected:
        raise ValueError(f"read_idx: {path} has {len(raw) - header} data bytes but its header {list(shape)} "
                         f"({dtype}) needs {expected}")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def write_idx(path, array):
    """Write a numpy array as an IDX file (gzipped when ``path`` ends in .gz)."""
    array = np.asarray(array)
    dtype = array.dtype.newbyteorder("=")
    if dtype not in _CODES:
        raise TypeError(f"write_idx: dtype {array.dtype} has no IDX type code (supported: "
                        f"{sorted(str(d) for d in _CODES)})")
    header = struct.pack(">HBB", 0, _CODES[dtype], array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    with _open(path, "wb") as f:
        f.write(header + np.ascontiguousarray(array, dtype=dtype.newbyteorder(">")).tobytes())


def _find(root, stem):
    for name in (stem, stem + ".gz"):
        for folder in (root, os.path.join(root, "raw")):
            p = os.path.join(folder, name)
            if os.path.isfile(p):
                return p
    raise FileNotFoundError(f"IDX: {stem} (or {stem}.gz) not found in {root!r} or its raw/ folder")


class IDX(_ImageSplit):
    """MNIST or Fashion-MNIST from the original IDX files in ``root`` (or ``root``/raw):
    train-images-idx3-ubyte / train-labels-idx1-ubyte for ``train=True``, t10k-* otherwise,
    optionally gzipped. Images become (1, H, W) float32 in [0, 1], labels int64."""

    def __init__(self, root, train=True, transform=None, target_transform=None):
        prefix = "train" if train else "t10k"
        img_path = _find(root, f"{prefix}-images-idx3-ubyte")
        lbl_path = _find(root, f"{prefix}-labels-idx1-ubyte")
        images, labels = read_idx(img_path), read_idx(lbl_path)
        if images.ndim != 3 or images.dtype != np.uint8:
            raise ValueError(f"IDX: {img_path} should hold uint8 images (N, H, W), got {images.dtype} "
                             f"{list(images.shape)}")
        if labels.ndim != 1:
            raise ValueError(f"IDX: {lbl_path} should hold labels (N,), got shape {list(labels.shape)}")
        if len(images) != len(labels):
            raise ValueError(f"IDX: {len(images)} images ({img_path}) but {len(labels)} labels ({lbl_path})")
        super().__init__(images, labels, 255.0, transform, target_transform)
        self.root, self.train = root, train

    def __repr__(self):
        return f"IDX(root={self.root!r}, train={self.train}, size={len(self)})"
