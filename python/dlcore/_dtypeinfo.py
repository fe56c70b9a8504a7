"""dlcore.finfo and dlcore.iinfo: the numerical limits of a dtype, with torch.finfo's and
torch.iinfo's attributes (numbers as Python floats and ints, ``dtype`` as the dtype's name)."""
import numpy as np

from ._C import dtype as _dtype

__all__ = ["finfo", "iinfo"]

# bfloat16: float32's 8-bit exponent with a 7-bit mantissa (numpy has no such type).
_BFLOAT16 = dict(bits=16, eps=2.0 ** -7, max=(2.0 - 2.0 ** -7) * 2.0 ** 127, smallest_normal=2.0 ** -126,
                 resolution=0.01)


def _name(t, op):
    if not isinstance(t, _dtype):
        raise TypeError(f"{op}(): expected a dlcore.dtype, got {type(t).__name__}")
    return str(t).rsplit(".", 1)[-1]


def _g(v):
    return f"{v:g}"


class finfo:
    """Limits of a floating dtype (float32 when none is given): bits, eps (the gap between 1
    and the next number), max, min (= -max), tiny (= smallest_normal) and resolution (10 to
    the minus the decimal digits the type holds)."""

    def __init__(self, type=None):
        from . import float32
        t = float32 if type is None else type
        name = _name(t, "finfo")
        if not t.is_floating_point:
            raise TypeError(f"dlcore.finfo() requires a floating point input type, got dlcore.{name}; use "
                            "dlcore.iinfo for integer types")
        if name == "bfloat16":
            v = _BFLOAT16
        else:
            n = np.finfo(np.dtype(name))
            v = dict(bits=int(n.bits), eps=float(n.eps), max=float(n.max), smallest_normal=float(n.smallest_normal),
                     resolution=10.0 ** -int(n.precision))
        self.bits = v["bits"]
        self.eps = v["eps"]
        self.max = v["max"]
        self.min = -v["max"]
        self.smallest_normal = v["smallest_normal"]
        self.tiny = v["smallest_normal"]
        self.resolution = v["resolution"]
        self.dtype = name

    def __eq__(self, other):
        return isinstance(other, finfo) and other.dtype == self.dtype

    __hash__ = None  # as torch.finfo: comparable, not hashable

    def __repr__(self):
        return (f"finfo(resolution={_g(self.resolution)}, min={_g(self.min)}, max={_g(self.max)}, eps={_g(self.eps)}, "
                f"smallest_normal={_g(self.smallest_normal)}, tiny={_g(self.tiny)}, dtype={self.dtype})")


class iinfo:
    """Limits of an integer dtype: bits, min and max."""

    def __init__(self, type):
        name = _name(type, "iinfo")
        if type.is_floating_point or name == "bool":
            raise TypeError(f"dlcore.iinfo() requires an integer input type, got dlcore.{name}"
                            + ("; use dlcore.finfo for floating point types" if type.is_floating_point else ""))
        n = np.iinfo(np.dtype(name))
        self.bits = int(n.bits)
        self.min = int(n.min)
        self.max = int(n.max)
        self.dtype = name

    def __eq__(self, other):
        return isinstance(other, iinfo) and other.dtype == self.dtype

    __hash__ = None

    def __repr__(self):
        return f"iinfo(min={_g(self.min)}, max={_g(self.max)}, dtype={self.dtype})"
