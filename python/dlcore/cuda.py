"""dlcore.cuda: is a GPU here, and what the caching allocator holds.

PyTorch's ``torch.cuda`` names for the parts dlcore has. Every function works on a machine
without a driver or a GPU (and in a build without CUDA): ``is_available()`` is False,
``device_count()`` is 0 and the memory statistics are 0; the functions that need a device
(``synchronize``, ``get_device_name``) raise RuntimeError saying why there is none.

``device`` arguments take None (device 0), an int, ``"cuda"``/``"cuda:N"`` or a
``dlcore.device``.
"""
from . import _C

__all__ = [
    "is_available", "device_count", "current_device", "synchronize", "get_device_name",
    "memory_allocated", "max_memory_allocated", "memory_reserved", "max_memory_reserved",
    "memory_stats", "empty_cache", "reset_peak_memory_stats",
]


def _index(device):
    if device is None:
        return 0
    if isinstance(device, int):
        return device
    d = _C.device(device) if isinstance(device, str) else device
    if d.type != "cuda":
        raise ValueError(f"expected a CUDA device, got {d}")
    return 0 if d.index is None else d.index


def is_available():
    """True when dlcore was built with CUDA and a CUDA device is usable."""
    return _C._cuda_is_available()


def device_count():
    """The number of CUDA devices (0 without a driver, a GPU or a CUDA build)."""
    return _C._cuda_device_count()


def current_device():
    """The device that ``"cuda"`` means (always 0: dlcore does not switch devices)."""
    return 0


def synchronize(device=None):
    """Waits until every kernel queued on ``device`` has finished."""
    _C._cuda_synchronize(_index(device))


def get_device_name(device=None):
    return _C._cuda_get_device_name(_index(device))


def memory_stats(device=None):
    """The caching allocator's counters for ``device`` (bytes and counts) as a dict."""
    return dict(_C._cuda_memory_stats(_index(device)))


def memory_allocated(device=None):
    """Bytes held by live tensors (rounded block sizes)."""
    return memory_stats(device)["allocated_bytes"]


def max_memory_allocated(device=None):
    """Peak of ``memory_allocated`` since start or ``reset_peak_memory_stats``."""
    return memory_stats(device)["peak_allocated_bytes"]


def memory_reserved(device=None):
    """Bytes obtained from the driver: live tensors plus the cache."""
    return memory_stats(device)["reserved_bytes"]


def max_memory_reserved(device=None):
    return memory_stats(device)["peak_reserved_bytes"]


def empty_cache():
    """Returns every cached (free) block to the driver; live tensors are untouched."""
    _C._cuda_empty_cache()


def reset_peak_memory_stats(device=None):
    _C._cuda_reset_peak_memory_stats(_index(device))
