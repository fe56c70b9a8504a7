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
"""
import sys as _sys
import types as _types

from . import _C

__all__ = ["cuda", "cudnn", "allow_tf32"]


class _Flags:
    """Attributes backed by C++ getters and setters; unknown names raise, so a misspelt
    switch is not silently ignored."""

    _flags = {}  # name -> (getter, setter)

    def __getattr__(self, name):
        flags = type(self)._flags
        if name in flags:
            return flags[name][0]()
        raise AttributeError(f"{self._name} has no attribute {name!r} (known: {', '.join(sorted(flags))})")

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


class _CudnnFlags(_Flags):
    _name = "dlcore.backends.cudnn"
    _flags = {"allow_tf32": (_C._get_cudnn_allow_tf32, _C._set_cudnn_allow_tf32)}


cuda = _types.SimpleNamespace(matmul=_MatmulFlags())
cudnn = _CudnnFlags()


class _BackendsModule(_types.ModuleType):
    """Gives the module a live ``allow_tf32`` attribute (cuda.matmul.allow_tf32)."""

    @property
    def allow_tf32(self):
        return cuda.matmul.allow_tf32

    @allow_tf32.setter
    def allow_tf32(self, value):
        cuda.matmul.allow_tf32 = value


_sys.modules[__name__].__class__ = _BackendsModule
