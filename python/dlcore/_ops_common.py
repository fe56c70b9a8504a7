"""Argument handling shared by the torch-namespace op modules (_ops_*.py): dim wrapping, type
checks, host round trips for the ops that torch does not differentiate, and named tuples."""
import builtins
import collections
import operator

import numpy as np

from . import _C
from ._tensor import tensor as _tensor

Tensor = _C.Tensor
_dt = _C.dtype

FLOAT_DTYPES = (_dt.float16, _dt.bfloat16, _dt.float32, _dt.float64)


def type_name(obj):
    return type(obj).__name__


def check_tensor(x, fn, name="input"):
    if not isinstance(x, Tensor):
        raise TypeError(f"{fn}: {name} must be a Tensor, not {type_name(x)}")
    return x


def as_int(value, fn, name):
    if isinstance(value, builtins.bool) or isinstance(value, Tensor) and value.is_floating_point():
        raise TypeError(f"{fn}: {name} must be an int, not {type_name(value)}")
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"{fn}: {name} must be an int, not {type_name(value)}") from None


def wrap_dim(dim, ndim, fn, name="dim"):
    """dim in [-ndim, ndim) (a 0-d tensor accepts 0 and -1) as a non-negative index."""
    dim = as_int(dim, fn, name)
    n = builtins.max(ndim, 1)
    if not -n <= dim < n:
        raise IndexError(f"{fn}: {name} {dim} is out of range for a tensor of dimension {ndim} "
                         f"(expected to be in range of [{-n}, {n - 1}])")
    return dim % n


def is_float(x):
    return x.dtype in FLOAT_DTYPES


def requires_grad(*tensors):
    return _C.is_grad_enabled() and builtins.any(isinstance(t, Tensor) and t.requires_grad for t in tensors)


def to_host(x):
    """A numpy copy of x's values (float16/bfloat16 widened to float32)."""
    x = x.detach()
    if x.is_cuda:
        x = x.cpu()
    if x.dtype in (_dt.float16, _dt.bfloat16):
        x = x.float()
    return np.array(x.numpy(), copy=True)


def from_host(arr, device, dtype=None):
    """A tensor on ``device`` holding the numpy array ``arr`` (in ``dtype`` when given)."""
    arr = np.asarray(arr, order="C")
    if dtype is None:
        if arr.dtype.kind in "iu" and arr.dtype not in (np.int32, np.int64):
            arr = arr.astype(np.int64)
        dtype = _DTYPE_OF_NUMPY[arr.dtype]
    return _tensor(arr, dtype=dtype, device=None if device.type == "cpu" else device)


_DTYPE_OF_NUMPY = {np.dtype(np.bool_): _dt.bool, np.dtype(np.int32): _dt.int32, np.dtype(np.int64): _dt.int64,
                   np.dtype(np.float16): _dt.float16, np.dtype(np.float32): _dt.float32,
                   np.dtype(np.float64): _dt.float64}


def index_tensor(values, device):
    """An int64 tensor of ``values`` (a numpy array or sequence of ints) on ``device``."""
    return from_host(np.asarray(values, dtype=np.int64), device, _dt.int64)


def scalar_like(value, x):
    return _tensor(value, dtype=x.dtype, device=None if x.device.type == "cpu" else x.device)


def return_type(name, fields):
    return collections.namedtuple(name, fields, module="dlcore.return_types")


def method(fn):
    """fn(input, ...) as a Tensor method whose first argument is the tensor."""
    def m(self, *args, **kwargs):
        return fn(self, *args, **kwargs)
    m.__name__ = fn.__name__
    m.__doc__ = fn.__doc__
    return m


def inplace(fn, name):
    """The in-place Tensor method ``name`` that writes fn(self, ...) into self."""
    def m(self, *args, **kwargs):
        # A clone keeps the tensors fn saves for backward apart from the one the write changes.
        result = fn(self.clone() if requires_grad(self) else self, *args, **kwargs)
        if tuple(result.shape) != tuple(self.shape):
            raise RuntimeError(f"{name}: the result of shape {tuple(result.shape)} cannot be written into "
                               f"the input of shape {tuple(self.shape)}")
        return self.copy_(result)
    m.__name__ = name
    m.__doc__ = f"In-place version of {fn.__name__}."
    return m
