"""dlcore.backends: PyTorch's switches for how the CUDA kernels may trade float32 precision
for speed.

``dlcore.backends.cuda.matmul.allow_tf32`` (default False, as in PyTorch): float32 matmul,
mm, bmm, addmm and linear on CUDA may round their operands to TF32 (a 10-bit mantissa, so a
relative rounding of 2^-11 per operand) and run on tensor cores, accumulating in float32.
``dlcore.backends.allow_tf32`` is the same switch.

``dlcore.backends.cudnn.allow_tf32`` (default True, as in PyTorch) is the same switch for
convolutions on CUDA (their GEMMs, cuda/conv.cu).

The switches are process-wide and do not affect the CPU kernels, which always compute in full
float32.

dlcore has no cuDNN: its CUDA convolutions are its own kernels. ``backends.cudnn.benchmark``,
``deterministic`` and ``enabled`` are kept for the scripts that set them and change nothing
(dlcore picks convolution algorithms by shape without timing them, and its convolutions
are deterministic; ``dlcore.use_deterministic_algorithms`` is the switch that is enforced);
``cudnn.is_available()`` is False and ``cudnn.version()`` None, as in a torch built without
cuDNN. ``backends.mps.is_available()`` is False; ``backends.openmp.is_available()`` is True.
"""
import sys as _sys
import types as _types

from . import _C

__all__ = ["cuda", "cudnn", "mps", "openmp", "allow_tf32"]


class _Flags:
    """Attributes backed by C++ getters and setters; unknown names raise, so a misspelt
    switch is not silently ignored."""

    _flags = {}  # name -> (getter, setter)

    def __getattr__(self, name):
        flags = type(self)._flags
        if name in flags:
            return flags[name][0]()
        raise AttributeError(f"{self._name} has no attribute {name!r} (known: {', '.join(sorted(flags))})")

    def flags(self, **values):
        """A context manager that sets the given switches and restores them on exit."""
        return _FlagsContext(self, values)

    def __setattr__(self, name, value):
        flags = type(self)._flags
        if name not in flags:
            raise AttributeError(f"{self._name} has no attribute {name!r} (known: {', '.join(sorted(flags))})")
        flags[name][1](bool(value))

    def __repr__(self):
        return f"<{self._name}: " + ", ".join(f"{k}={v[0]()}" for k, v in sorted(type(self)._flags.items())) + ">"


class _MatmulFlags(_Flags):
    _name = "dlcore.backends.cuda.matmul"
    _flags = {"allow_tf32": (_C._get_matmul_allow_tf32, _C._set_matmul_allow_tf32)}


class _FlagsContext:
    def __init__(self, target, values):
        self._target, self._values, self._saved = target, values, None

    def __enter__(self):
        self._saved = {k: getattr(self._target, k) for k in self._values}
        for k, v in self._values.items():
            setattr(self._target, k, v)
        return self._target

    def __exit__(self, *exc):
        for k, v in self._saved.items():
            setattr(self._target, k, v)
        return False


def _stored(default):
    """A (getter, setter) pair over a Python value, for switches with no effect here."""
    cell = [default]
    return (lambda: cell[0], lambda v: cell.__setitem__(0, v))


class _CudnnFlags(_Flags):
    _name = "dlcore.backends.cudnn"
    _flags = {"allow_tf32": (_C._get_cudnn_allow_tf32, _C._set_cudnn_allow_tf32), "benchmark": _stored(False),
              "deterministic": _stored(False), "enabled": _stored(True)}

    @staticmethod
    def is_available():
        return False

    @staticmethod
    def version():
        return None


def _never():
    return False


def _cuda_is_built():
    """Whether this dlcore was compiled with its CUDA kernels (a GPU may still be missing)."""
    return "built without CUDA" not in _C._cuda_unavailable_reason()


cuda = _types.SimpleNamespace(matmul=_MatmulFlags(), is_built=_cuda_is_built)
cudnn = _CudnnFlags()
mps = _types.SimpleNamespace(is_available=_never, is_built=_never)
openmp = _types.SimpleNamespace(is_available=lambda: True)


class _BackendsModule(_types.ModuleType):
    """Gives the module a live ``allow_tf32`` attribute (cuda.matmul.allow_tf32)."""

    @property
    def allow_tf32(self):
        return cuda.matmul.allow_tf32

    @allow_tf32.setter
    def allow_tf32(self, value):
        cuda.matmul.allow_tf32 = value


_sys.modules[__name__].__class__ = _BackendsModule
