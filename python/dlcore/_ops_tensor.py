"""Tensor utilities and small torch-level helpers: size and type queries (nelement, itemsize,
nbytes, is_signed, get_device, ...), dtype rules (can_cast), creation helpers (scalar_tensor,
asarray, logspace, range, empty_strided) and the in-place triangle and diagonal fills."""
import builtins
import math

import numpy as np

from . import _C
from ._ops_common import Tensor, as_int, check_tensor, is_float, type_name
from ._tensor import _float_default, as_tensor, empty, full, linspace, tensor

__all__ = [
    "scalar_tensor", "asarray", "logspace", "range", "empty_strided", "can_cast", "is_floating_point", "is_complex",
    "is_nonzero", "is_same_size", "is_signed", "get_device", "typename", "index_put_",
    "detach_", "zero_", "resize_as_", "as_strided_", "frombuffer", "e", "pi", "inf", "nan", "newaxis",
]

e = math.e
pi = math.pi
inf = math.inf
nan = math.nan
newaxis = None

_dt = _C.dtype


# ---- queries ----------------------------------------------------------------------------------
def is_floating_point(input):
    """Whether input's dtype is a floating-point type."""
    check_tensor(input, "is_floating_point")
    return is_float(input)


def is_complex(input):
    """Whether input's dtype is complex (never, in dlcore)."""
    check_tensor(input, "is_complex")
    return False


def is_signed(input):
    """Whether input's dtype can hold negative values."""
    check_tensor(input, "is_signed")
    return input.dtype != _dt.bool


def is_nonzero(input):
    """The truth value of a one-element tensor."""
    check_tensor(input, "is_nonzero")
    if input.numel() != 1:
        what = "no values" if input.numel() == 0 else "more than one value"
        raise RuntimeError(f"Boolean value of Tensor with {what} is ambiguous")
    return builtins.bool(input.item())


def is_same_size(input, other):
    """Whether both tensors have the same shape."""
    check_tensor(input, "is_same_size")
    check_tensor(other, "is_same_size", "other")
    return tuple(input.shape) == tuple(other.shape)


def get_device(input):
    """The CUDA device index of input, or -1 for a CPU tensor."""
    check_tensor(input, "get_device")
    return input.device.index if input.is_cuda else -1


def typename(obj):
    """The type name of a tensor ('dlcore.FloatTensor', ...) or of any other object."""
    if isinstance(obj, Tensor):
        names = {_dt.float32: "Float", _dt.float64: "Double", _dt.float16: "Half", _dt.bfloat16: "BFloat16",
                 _dt.int64: "Long", _dt.int32: "Int", _dt.bool: "Bool"}
        prefix = "dlcore.cuda." if obj.is_cuda else "dlcore."
        return f"{prefix}{names[obj.dtype]}Tensor"
    module = getattr(type(obj), "__module__", "")
    name = type(obj).__qualname__
    return name if module in ("builtins", "") else f"{module}.{name}"


def can_cast(from_, to):
    """Whether PyTorch's casting rules allow from_ -> to: no float to integer or bool, no integer
    to bool (same kind or wider kind is allowed)."""
    for name, d in (("from_", from_), ("to", to)):
        if not isinstance(d, _dt):
            raise TypeError(f"can_cast(): argument '{name}' must be dlcore.dtype, not {type_name(d)}")

    def kind(d):
        return 2 if d in (_dt.float16, _dt.bfloat16, _dt.float32, _dt.float64) else 0 if d == _dt.bool else 1

    return kind(from_) <= kind(to)


# ---- creation -------------------------------------------------------------------------------
def scalar_tensor(s, *, dtype=None, device=None, requires_grad=False):
    """A 0-d tensor holding the number s (float32 unless dtype is given)."""
    if isinstance(s, Tensor):
        s = s.item()
    return full((), s, dtype=_float_default(dtype), device=device, requires_grad=requires_grad)


def asarray(obj, *, dtype=None, device=None, copy=None, requires_grad=False):
    """obj as a tensor, sharing memory with a tensor or numpy array when dtype and device allow
    and copy is not True (copy=False raises when a copy is needed)."""
    if copy:
        out = tensor(obj, dtype=dtype, device=device)
    else:
        out = as_tensor(obj, dtype=dtype, device=device)
        if copy is False and not _shares_memory(obj, out):
            raise ValueError(f"asarray: copy=False, but a {type_name(obj)} cannot be used without a copy here "
                             f"(dtype={dtype}, device={device})")
    if requires_grad:
        out.requires_grad_(True)
    return out


def _shares_memory(obj, out):
    if isinstance(obj, Tensor):
        return obj.data_ptr() == out.data_ptr()
    if isinstance(obj, np.ndarray) and not out.is_cuda:
        return np.shares_memory(obj, out.numpy())
    return False


def logspace(start, end, steps, base=10.0, *, dtype=None, device=None, requires_grad=False):
    """``steps`` values base**x for x evenly spaced from start to end."""
    steps = as_int(steps, "logspace", "steps")
    if steps < 0:
        raise RuntimeError(f"logspace: number of steps must be non-negative, got {steps}")
    dtype = _float_default(dtype)
    exps = linspace(start, end, steps, dtype=_dt.float64, device=device)
    out = (exps * math.log(base)).exp() if base > 0 else full((steps,), base, dtype=_dt.float64, device=device) ** exps
    out = out.to(dtype)
    if requires_grad:
        out.requires_grad_(True)
    return out


def range(start, end, step=1, *, dtype=None, device=None, requires_grad=False):
    """Deprecated in PyTorch: the values start, start + step, ... up to and including end (float32
    unless dtype is given)."""
    if step == 0:
        raise RuntimeError("range: step must be nonzero")
    if (end - start) * step < 0:
        raise RuntimeError(f"range: upper bound and larger bound inconsistent with step sign, got start={start}, "
                           f"end={end}, step={step}")
    n = builtins.int(math.floor((end - start) / step)) + 1
    vals = start + np.arange(n, dtype=np.float64) * step
    out = tensor(vals, dtype=_float_default(dtype), device=device)
    if requires_grad:
        out.requires_grad_(True)
    return out


_NP_DTYPES = {_dt.float32: np.float32, _dt.float64: np.float64, _dt.float16: np.float16, _dt.int64: np.int64,
              _dt.int32: np.int32, _dt.bool: np.bool_}


def frombuffer(buffer, *, dtype, count=-1, offset=0, requires_grad=False):
    """A 1-D tensor sharing the memory of an object that exposes the buffer protocol (bytearray,
    memoryview, array.array, ...), read as ``count`` elements of ``dtype`` from byte ``offset``."""
    if dtype not in _NP_DTYPES:
        raise TypeError(f"frombuffer: unsupported dtype {dtype}")
    from ._interop import from_numpy
    arr = np.frombuffer(buffer, dtype=_NP_DTYPES[dtype], count=as_int(count, "frombuffer", "count"),
                        offset=as_int(offset, "frombuffer", "offset"))
    out = from_numpy(arr)
    if requires_grad:
        out.requires_grad_(True)
    return out


def empty_strided(size, stride, *, dtype=None, device=None, requires_grad=False):
    """An uninitialised tensor with the given size and strides."""
    size, stride = [as_int(s, "empty_strided", "size") for s in size], [as_int(s, "empty_strided", "stride")
                                                                          for s in stride]
    if len(size) != len(stride):
        raise RuntimeError(f"empty_strided: mismatch in length of strides and shape, got {len(size)} sizes and "
                           f"{len(stride)} strides")
    if builtins.any(s < 0 for s in size + stride):
        raise RuntimeError(f"empty_strided: sizes and strides must be non-negative, got {size} and {stride}")
    extent = 0 if 0 in size else 1 + builtins.sum((n - 1) * s for n, s in zip(size, stride))
    out = empty(extent, dtype=dtype, device=device).as_strided(size, stride, 0)
    if requires_grad:
        out.requires_grad_(True)
    return out


# ---- in-place forms ---------------------------------------------------------------------------
def index_put_(input, indices, values, accumulate=False):
    """input.index_put_(indices, values, accumulate)."""
    check_tensor(input, "index_put_")
    return input.index_put_(indices, values, accumulate)


def detach_(input):
    """input.detach_()."""
    check_tensor(input, "detach_")
    return input.detach_()


def zero_(input):
    """input.zero_()."""
    check_tensor(input, "zero_")
    return input.zero_()


# Note [In-place shape changes]
# squeeze_, t_, resize_ and the other methods that change a tensor's shape in place swap the
# tensor's metadata with .data = (the storage stays shared, as for a view). The autograd graph
# of a tensor that requires grad was recorded for its old shape, so they refuse such tensors.
def _set_shape(self, name, new):
    if self.requires_grad:
        raise RuntimeError(f"{name}: cannot change the shape in place of a tensor that requires grad (shape "
                           f"{tuple(self.shape)}); use the out-of-place version")
    self.data = new
    return self


def _shape_inplace(name, fn):
    def m(self, *args, **kwargs):
        return _set_shape(self, name, fn(self, *args, **kwargs))
    m.__name__ = name
    m.__doc__ = f"{name[:-1]} applied to self's shape in place (Note [In-place shape changes])."
    return m


def _resize_(self, *size):
    """Gives self the contiguous shape ``size``, keeping its leading elements (new ones are
    uninitialised)."""
    size = [as_int(n, "resize_", "size") for n in
            (size[0] if len(size) == 1 and isinstance(size[0], (list, tuple)) else size)]
    if builtins.any(n < 0 for n in size):
        raise RuntimeError(f"resize_: sizes must be non-negative, got {tuple(size)}")
    n = math.prod(size)
    flat = self.detach().reshape(-1)
    if n > flat.shape[0]:
        grown = empty(n, dtype=self.dtype, device=self.device)
        grown[:flat.shape[0]] = flat
        flat = grown
    return _set_shape(self, "resize_", flat[:n].view(size))


def resize_as_(input, the_template):
    """Resizes input to the shape of the_template (see Tensor.resize_)."""
    check_tensor(input, "resize_as_")
    check_tensor(the_template, "resize_as_", "the_template")
    return _resize_(input, list(the_template.shape))


def as_strided_(input, size, stride, storage_offset=None):
    """Makes input the view as_strided(size, stride, storage_offset) of its own storage."""
    check_tensor(input, "as_strided_")
    return _set_shape(input, "as_strided_", input.detach().as_strided(size, stride, storage_offset))


def _set_(self, source):
    """Makes self share source's storage, shape and strides."""
    check_tensor(source, "set_", "source")
    if source.dtype != self.dtype:
        raise RuntimeError(f"set_: expected source of dtype {self.dtype}, got {source.dtype}")
    return _set_shape(self, "set_", source.detach())


# ---- Tensor methods -------------------------------------------------------------------------
def _new_empty_strided(self, size, stride, *, dtype=None, device=None, requires_grad=False):
    return empty_strided(size, stride, dtype=dtype or self.dtype, device=device or self.device,
                         requires_grad=requires_grad)


def _sum_to_size(self, *size):
    """self summed over the dims that broadcasting expanded from ``size``."""
    size = list(size[0]) if len(size) == 1 and isinstance(size[0], (list, tuple)) else list(size)
    nd = self.dim()
    if len(size) > nd or builtins.any(n != 1 and n != self.shape[nd - len(size) + k] for k, n in enumerate(size)):
        raise RuntimeError(f"sum_to_size: size {tuple(size)} is not expandable to size {tuple(self.shape)}")
    lead = nd - len(size)
    dims = list(builtins.range(lead)) + [lead + k for k, n in enumerate(size) if n == 1 and self.shape[lead + k] != 1]
    out = self.sum(dims, True) if dims else self
    return out.reshape(size)


def _fill_diagonal_(self, fill_value, wrap=False):
    """Fills the main diagonal of a 2-D (or all-dims-equal N-D) tensor in place; for a tall matrix
    wrap=True restarts the diagonal every ncols + 1 rows."""
    nd = self.dim()
    if nd < 2:
        raise RuntimeError(f"fill_diagonal_: dimensions must larger than 1, got shape {tuple(self.shape)}")
    if nd > 2 and len(set(self.shape)) != 1:
        raise RuntimeError(f"fill_diagonal_: all dimensions of input must be of equal length, got shape "
                           f"{tuple(self.shape)}")
    n = builtins.min(self.shape)
    if nd == 2 and wrap and self.shape[0] > self.shape[1] + 1:
        rows = [r for r in builtins.range(self.shape[0]) if r % (self.shape[1] + 1) < self.shape[1]]
        coords = [rows, [r % (self.shape[1] + 1) for r in rows]]
    else:
        coords = [list(builtins.range(n))] * nd
    idx = tuple(tensor(c, dtype=_dt.int64, device=self.device) for c in coords)
    return self.index_put_(idx, tensor(fill_value, dtype=self.dtype, device=self.device))


def _share_memory_(self):
    """A no-op that returns self: dlcore has no shared-memory storage mode (is_shared() stays
    False), so tensors sent to another process are copied."""
    return self


def _transpose_2d(self, name):
    if self.dim() > 2:
        raise RuntimeError(f"{name} expects a tensor with <= 2 dimensions, but self is {self.dim()}D")
    return self.transpose(0, 1) if self.dim() == 2 else self.view(self.shape)


def _conj_transpose(self):
    if self.dim() != 2:
        raise RuntimeError(f"tensor.H is only supported on matrices (2-D tensors). Got {self.dim()}-D tensor.")
    return self.transpose(0, 1)


def _tri_(fn, name):
    def m(self, diagonal=0):
        return self.copy_(fn(self, diagonal))
    m.__name__ = name
    m.__doc__ = f"In-place version of {fn.__name__}."
    return m


_METHODS = {
    "nelement": lambda self: self.numel(),
    "ndimension": lambda self: self.dim(),
    "is_complex": is_complex,
    "is_signed": is_signed,
    "is_nonzero": is_nonzero,
    "is_same_size": is_same_size,
    "get_device": get_device,
    "is_shared": lambda self: False,
}
_ATTRIBUTES = {
    "H": property(_conj_transpose, doc="The conjugate transpose of a matrix (for real tensors, its transpose)."),
    "mH": property(lambda self: self.mT, doc="The conjugate transpose of the last two dims (for real tensors, "
                                             "mT)."),
    "squeeze_": _shape_inplace("squeeze_", lambda self, dim=None: self.squeeze(dim)),
    "unsqueeze_": _shape_inplace("unsqueeze_", lambda self, dim: self.unsqueeze(dim)),
    "t_": _shape_inplace("t_", lambda self: _transpose_2d(self, "t_")),
    "transpose_": _shape_inplace("transpose_", lambda self, dim0, dim1: self.transpose(dim0, dim1)),
    "swapaxes_": _shape_inplace("swapaxes_", lambda self, axis0, axis1: self.transpose(axis0, axis1)),
    "swapdims_": _shape_inplace("swapdims_", lambda self, dim0, dim1: self.transpose(dim0, dim1)),
    "resize_": _resize_,
    "as_strided_": as_strided_,
    "is_meta": property(lambda self: False, doc="Whether the tensor is on the meta device (never, in dlcore)."),
    "resize_as_": resize_as_,
    "set_": _set_,
    "cumsum_": lambda self, dim, *, dtype=None: self.copy_(self.cumsum(dim, dtype=dtype)),
    "addmm_": lambda self, mat1, mat2, *, beta=1, alpha=1: self.copy_(
        _C.addmm(self.clone() if self.requires_grad else self, mat1, mat2, beta=beta, alpha=alpha)),
    "is_cpu": property(lambda self: not self.is_cuda, doc="Whether the tensor is on the CPU."),
    "itemsize": property(lambda self: self.element_size(), doc="The size of one element in bytes."),
    "nbytes": property(lambda self: self.numel() * self.element_size(),
                       doc="The size of the elements in bytes (numel * itemsize)."),
    "new_empty_strided": _new_empty_strided,
    "sum_to_size": _sum_to_size,
    "fill_diagonal_": _fill_diagonal_,
    "share_memory_": _share_memory_,
    "tril_": _tri_(_C.tril, "tril_"),
    "triu_": _tri_(_C.triu, "triu_"),
}
