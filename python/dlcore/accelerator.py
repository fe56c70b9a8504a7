"""dlcore.accelerator: torch.accelerator's device-agnostic names, answered by CUDA when a GPU
is usable and by "no accelerator" otherwise."""
from . import _C, cuda

__all__ = ["is_available", "current_accelerator", "device_count", "current_device_index", "current_device_idx",
           "set_device_index", "set_device_idx", "synchronize", "empty_cache", "memory_allocated",
           "max_memory_allocated", "memory_reserved", "max_memory_reserved", "memory_stats",
           "reset_peak_memory_stats"]


def is_available():
    return cuda.is_available()


def current_accelerator(check_available=False):
    """dlcore.device("cuda") when a GPU is usable, else None."""
    return _C.device("cuda") if cuda.is_available() else None


def device_count():
    return cuda.device_count()


def current_device_index():
    return cuda.current_device() if cuda.is_available() else -1


current_device_idx = current_device_index


def set_device_index(device):
    cuda.set_device(device)


set_device_idx = set_device_index


def synchronize(device=None):
    if cuda.is_available():
        cuda.synchronize(device)


empty_cache = cuda.empty_cache
memory_allocated = cuda.memory_allocated
max_memory_allocated = cuda.max_memory_allocated
memory_reserved = cuda.memory_reserved
max_memory_reserved = cuda.max_memory_reserved
memory_stats = cuda.memory_stats
reset_peak_memory_stats = cuda.reset_peak_memory_stats
