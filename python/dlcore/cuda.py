"""dlcore.cuda: is a GPU here, and what the caching allocator holds.

PyTorch's ``torch.cuda`` names for the parts dlcore has. Every function works on a machine
without a driver or a GPU (and in a build without CUDA): ``is_available()`` is False,
``device_count()`` is 0 and the memory statistics are 0; the functions that need a device
(``synchronize``, ``get_device_name``) raise RuntimeError saying why there is none.

Random numbers: dlcore has one Philox generator for every device (a CPU and a CUDA tensor
drawn after the same seed hold the same numbers), so ``manual_seed``/``manual_seed_all`` seed
that generator, as ``dlcore.manual_seed`` does; without a GPU they do nothing, as in PyTorch
where CUDA seeding is deferred until CUDA is used.

``device`` arguments take None (device 0), an int, ``"cuda"``/``"cuda:N"`` or a
``dlcore.device``.
"""
from . import _C

__all__ = [
    "is_available", "device_count", "current_device", "synchronize", "get_device_name",
    "memory_allocated", "max_memory_allocated", "memory_reserved", "max_memory_reserved",
    "memory_stats", "empty_cache", "reset_peak_memory_stats", "manual_seed", "manual_seed_all", "seed", "seed_all",
    "initial_seed", "is_bf16_supported", "get_device_capability", "set_device",
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


def manual_seed(seed):
    """Seeds the generator the CUDA random ops draw from (module docstring); a no-op without a
    usable GPU."""
    if is_available():
        from . import manual_seed as _manual_seed
        _manual_seed(seed)


manual_seed_all = manual_seed


def seed():
    """Seeds the CUDA generator with a non-deterministic number (a no-op without a GPU)."""
    if is_available():
        from . import seed as _seed
        _seed()


seed_all = seed


def initial_seed():
    """The seed of the generator the CUDA random ops draw from."""
    from . import initial_seed as _initial_seed
    return _initial_seed()


def is_bf16_supported(including_emulation=True):
    """Whether bfloat16 CUDA tensors work here: dlcore's kernels need sm_80 or newer."""
    return is_available() and get_device_capability()[0] >= 8


def get_device_capability(device=None):
    """(major, minor) compute capability of ``device``."""
    return tuple(_C._cuda_get_device_capability(_index(device)))


def set_device(device):
    """Only device 0 is used by dlcore; selecting another raises."""
    if _index(device) != 0:
        raise ValueError(f"set_device: dlcore runs on CUDA device 0 only, got {device!r}")
