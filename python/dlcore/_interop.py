"""Zero-copy interop with numpy and with any DLPack library (PyTorch, CuPy, JAX, numpy).

``from_numpy(arr)`` and ``t.numpy()`` share memory with numpy; ``from_dlpack(obj)`` and
``t.__dlpack__()`` exchange tensors through DLPack capsules. The work is done in C++
(cpp/bindings/interop.cpp, Note [Zero-copy lifetimes]); this module adds the Python protocol
methods to ``Tensor``.
"""
import enum

import numpy as np

from . import _C
from ._C import Tensor

__all__ = ["from_numpy", "from_dlpack", "to_dlpack", "DLDeviceType"]

from_numpy = _C.from_numpy


class DLDeviceType(enum.IntEnum):
    """DLPack device type codes (the ones dlcore produces)."""
    kDLCPU = 1
    kDLCUDA = 2


# Note [DLPack streams]
# A CUDA consumer passes the stream it will read on, so the producer can order its pending
# work before it. dlcore's CUDA work runs on the legacy default stream, so as a consumer it
# asks for stream 1 (the spec's name for that stream); as a producer it synchronises the
# device for any stream but -1 (cpp/bindings/interop.cpp, sync_for_export).
_CONSUMER_CUDA_STREAM = 1


def _dlpack_device(self):
    """(device type, device index) as DLPack numbers: (1, 0) for the CPU, (2, i) for cuda:i."""
    kind, index = _C._dlpack_device(self)
    return (DLDeviceType(kind), index)


def _dlpack(self, *, stream=None, max_version=None, dl_device=None, copy=None):
    """Exports the tensor as a DLPack capsule (the array API's ``__dlpack__`` protocol).

    max_version: the newest DLPack version the consumer understands; (1, x) or newer gets a
    versioned capsule, None a legacy one. dl_device: export to this (type, index); only the
    tensor's own device or the CPU (a copy). copy: True always copies, False never does.
    """
    if stream is not None and not isinstance(stream, int):
        raise TypeError(f"__dlpack__: stream must be an int or None, got {type(stream).__name__}")
    if stream is not None and not self.is_cuda:
        raise ValueError(f"__dlpack__: stream must be None for a CPU tensor, got {stream}")
    t, copied = self, False
    if dl_device is not None:
        here = tuple(int(v) for v in _C._dlpack_device(self))
        target = (int(dl_device[0]), int(dl_device[1]))
        if target != here:
            if target[0] != DLDeviceType.kDLCPU:
                raise BufferError(f"__dlpack__: can't export a tensor on {self.device} to DLPack device {target}; "
                                  "only its own device or the CPU (1, 0) is supported")
            if copy is False:
                raise BufferError(f"__dlpack__: exporting a tensor on {self.device} to the CPU needs a copy, "
                                  "but copy=False was given")
            t, copied = t.cpu(), True
    if copy and not copied:
        t, copied = t.clone(), True
    versioned = max_version is not None and int(max_version[0]) >= 1
    return _C._to_dlpack(t, versioned, is_copied=copied, stream=stream)


def from_dlpack(ext_tensor):
    """A tensor sharing memory with ``ext_tensor``: any object with ``__dlpack__`` (a torch
    tensor, a numpy array, a CuPy array, a dlcore tensor) or a DLPack capsule. A capsule can
    be consumed only once."""
    if not hasattr(type(ext_tensor), "__dlpack__"):
        return _C._from_dlpack(ext_tensor)
    kwargs = {}
    if hasattr(ext_tensor, "__dlpack_device__"):
        kind = int(ext_tensor.__dlpack_device__()[0])
        if kind == DLDeviceType.kDLCUDA:
            kwargs["stream"] = _CONSUMER_CUDA_STREAM  # Note [DLPack streams]
    try:
        capsule = ext_tensor.__dlpack__(max_version=(1, 0), **kwargs)
    except TypeError:  # a producer from before DLPack 1.0: no max_version argument
        capsule = ext_tensor.__dlpack__(**kwargs)
    return _C._from_dlpack(capsule)


def to_dlpack(tensor):
    """A legacy ("dltensor") DLPack capsule of ``tensor``, like torch.utils.dlpack.to_dlpack."""
    return _C._to_dlpack(tensor, False)


def _numpy(self, *, force=False):
    """An ndarray sharing memory with this CPU tensor. With ``force=True`` the tensor is
    detached and copied to the CPU first when needed (the result may then be a copy)."""
    t = self
    if force:
        t = t.detach()
        if t.is_cuda:
            t = t.cpu()
    return _C._to_numpy(t)


def _array(self, dtype=None, copy=None):
    """numpy's ``__array__`` protocol: np.asarray(t) shares memory, like t.numpy()."""
    a = _C._to_numpy(self)
    if dtype is not None and a.dtype != np.dtype(dtype):
        if copy is False:
            raise ValueError(f"__array__: converting {self.dtype} to numpy {np.dtype(dtype)} needs a copy, "
                             "but copy=False was given")
        return a.astype(dtype)
    return a.copy() if copy else a


Tensor.__dlpack__ = _dlpack
Tensor.__dlpack_device__ = _dlpack_device
Tensor.numpy = _numpy
Tensor.__array__ = _array
