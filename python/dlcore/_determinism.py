"""torch's switch for reproducible results: ``dlcore.use_deterministic_algorithms``.

With the switch on, an op that would give results varying from run to run raises instead
(Note [Deterministic algorithms] in cpp/src/ops/index.h: dlcore's CPU kernels are
deterministic; the CUDA accumulating scatter is not). ``warn_only=True`` keeps the switch's
promise visible without raising: one warning at the time it is set, naming the CUDA ops that
stay non-deterministic.
"""
import warnings

from . import _C

__all__ = ["use_deterministic_algorithms", "are_deterministic_algorithms_enabled",
           "is_deterministic_algorithms_warn_only_enabled"]

_warn_only = False
_NON_DETERMINISTIC = ("scatter_add", "index_put_(accumulate=True)", "index_add_", "the backward of gather, "
                      "index_select, embedding and advanced indexing")


def use_deterministic_algorithms(mode, *, warn_only=False):
    """Makes ops that are not bitwise reproducible raise (mode True) or allowed (False)."""
    global _warn_only
    if not isinstance(mode, bool):
        raise TypeError(f"use_deterministic_algorithms: mode must be a bool, got {type(mode).__name__}")
    _warn_only = bool(warn_only) and mode
    _C._set_deterministic_algorithms(mode and not _warn_only)
    if _warn_only and _C._cuda_is_available():
        warnings.warn("use_deterministic_algorithms(True, warn_only=True): on CUDA, "
                      + ", ".join(_NON_DETERMINISTIC) + " accumulate with atomics and are not reproducible",
                      stacklevel=2)


def are_deterministic_algorithms_enabled():
    return _C._get_deterministic_algorithms() or _warn_only


def is_deterministic_algorithms_warn_only_enabled():
    return _warn_only
