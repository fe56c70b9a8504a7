"""Anomaly detection: forward stacks on every recorded node and NaN checks in backward.

See Note [Anomaly mode] in cpp/include/dlcore/autograd.h.
"""
import functools
import warnings

from .. import _C

__all__ = ["detect_anomaly", "set_detect_anomaly", "is_anomaly_enabled", "is_anomaly_check_nan_enabled",
           "set_anomaly_enabled"]


def is_anomaly_enabled():
    """Whether anomaly mode is on."""
    return _C._is_anomaly_enabled()


def is_anomaly_check_nan_enabled():
    """Whether anomaly mode checks backward outputs for NaN."""
    return _C._is_anomaly_check_nan_enabled()


def set_anomaly_enabled(mode, check_nan=True):
    """Turns anomaly mode on or off (process-wide)."""
    _C._set_anomaly_enabled(bool(mode), bool(check_nan))


class detect_anomaly:
    """Context manager and decorator that turns anomaly mode on.

    Every node recorded inside remembers the forward stack that made it; a backward error
    is preceded by a warning showing that stack, and (with ``check_nan``) a backward that
    returns NaN raises RuntimeError naming the node.
    """

    def __init__(self, check_nan=True):
        self.check_nan = check_nan
        self._saved = []
        warnings.warn("Anomaly Detection has been enabled. This mode will increase the runtime and should only "
                      "be enabled for debugging.", stacklevel=2)

    def __enter__(self):
        self._saved.append((is_anomaly_enabled(), is_anomaly_check_nan_enabled()))
        set_anomaly_enabled(True, self.check_nan)
        return self

    def __exit__(self, *exc):
        set_anomaly_enabled(*self._saved.pop())
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self:
                return fn(*args, **kwargs)

        return wrapper


class set_detect_anomaly:
    """Sets anomaly mode on or off; works as a function call or a context manager."""

    def __init__(self, mode, check_nan=True):
        self.prev = is_anomaly_enabled()
        self.prev_check_nan = is_anomaly_check_nan_enabled()
        set_anomaly_enabled(mode, check_nan)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        set_anomaly_enabled(self.prev, self.prev_check_nan)
        return False
