"""Python-side Tensor conveniences: creation functions with PyTorch's signatures, printing,
``tolist``, ``to``, ``backward`` and the small methods that are pure argument handling."""
import builtins
import math

import numpy as np

from . import _C
from . import _generator
from . import autograd as _autograd

Tensor = _C.Tensor
_dt = _C.dtype
_DEFAULT_FLOAT = _dt.float32  # set_default_dtype's value: what floating creation defaults to


def set_default_dtype(d):
    """The dtype of floating tensors created without one: factories (zeros, ones, empty, full
    with a float, rand, randn, arange/linspace with floats, eye) and ``tensor`` of Python floats.
    float32 or float64 (as torch, which also allows float16/bfloat16 on some devices).

    Type promotion inside ops is unchanged: an int64 tensor times a Python float is float32
    whatever the default (torch would give the default dtype)."""
    global _DEFAULT_FLOAT
    if d not in (_dt.float32, _dt.float64):
        raise TypeError(f"set_default_dtype: only floating-point types float32 and float64 are supported as the "
                        f"default type, got {d!r}")
    _DEFAULT_FLOAT = d


def get_default_dtype():
    """The dtype of floating tensors created without one (set_default_dtype)."""
    return _DEFAULT_FLOAT


def _float_default(dtype):
    return _DEFAULT_FLOAT if dtype is None else dtype


# ---- creation ---------------------------------------------------------------------------------
def _size(size):
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        return [builtins.int(s) for s in size[0]]
    return [builtins.int(s) for s in size]


def _finish(t, requires_grad):
    if requires_grad:
        t.requires_grad_(True)
    return t


def _infer_numpy_dtype(data):
    """dtype of Python data like torch.tensor infers it: floats -> float32, ints -> int64."""
    arr = np.asarray(data)
    if arr.dtype == np.float64 and not isinstance(data, (np.ndarray, np.generic)):
        return arr, _DEFAULT_FLOAT
    if arr.dtype.kind == "f" and arr.dtype == np.float64:
        return arr, _dt.float64
    if arr.dtype.kind in "iu":
        return arr, _dt.int64 if arr.dtype not in (np.int32,) else _dt.int32
    if arr.dtype.kind == "b":
        return arr, _dt.bool
    if arr.dtype == np.float32:
        return arr, _dt.float32
    if arr.dtype == np.float16:
        return arr, _dt.float16
    raise TypeError(f"tensor: can't convert data of numpy dtype {arr.dtype} to a tensor")


_NP_OF = {_dt.float32: np.float32, _dt.float64: np.float64, _dt.float16: np.float16, _dt.int64: np.int64,
          _dt.int32: np.int32, _dt.bool: np.bool_}


def tensor(data, dtype=None, device=None, requires_grad=False):
    """A new tensor holding a copy of ``data`` (nested lists, numbers, numpy arrays or a Tensor)."""
    from ._interop import from_numpy

    if isinstance(data, Tensor):
        t = data.detach().clone()
        if dtype is not None or device is not None:
            t = _C._to(t, dtype, device, False)
        return _finish(t, requires_grad)
    if isinstance(data, (list, tuple)) and any(isinstance(x, Tensor) for x in _flatten_list(data)):
        data = [[y.item() if isinstance(y, Tensor) else y for y in x] if isinstance(x, (list, tuple))
                else (x.tolist() if isinstance(x, Tensor) else x) for x in data]
    arr, inferred = _infer_numpy_dtype(data)
    target = inferred if dtype is None else dtype
    if not isinstance(target, _dt):
        target = _C._to(_C._empty([], None, None), target, None, False).dtype
    if target == _dt.bfloat16:
        t = _C._to(from_numpy(np.ascontiguousarray(arr, dtype=np.float32)).clone(), target, None, False)
    else:
        t = from_numpy(np.array(arr, dtype=_NP_OF[target], copy=True, order="C"))
    if device is not None:
        t = _C._to(t, None, device, False)
    return _finish(t, requires_grad)


def _flatten_list(x):
    for y in x:
        if isinstance(y, (list, tuple)):
            yield from _flatten_list(y)
        else:
            yield y


def as_tensor(data, dtype=None, device=None):
    """Like ``tensor`` but shares memory with a numpy array or Tensor when it can."""
    from ._interop import from_numpy

    if isinstance(data, Tensor):
        return _C._to(data, dtype, device, False)
    if isinstance(data, np.ndarray) and dtype is None and device is None:
        try:
            return from_numpy(data)
        except (TypeError, ValueError):
            pass
    return tensor(data, dtype=dtype, device=device)


def is_tensor(obj):
    return isinstance(obj, Tensor)


def numel(t):
    return t.numel()


def empty(*size, dtype=None, device=None, requires_grad=False):
    return _finish(_C._empty(_size(size), _float_default(dtype), device), requires_grad)


def zeros(*size, dtype=None, device=None, requires_grad=False):
    return _finish(_C._full(_size(size), 0.0, _float_default(dtype), device), requires_grad)


def ones(*size, dtype=None, device=None, requires_grad=False):
    return _finish(_C._full(_size(size), 1.0, _float_default(dtype), device), requires_grad)


def full(size, fill_value, dtype=None, device=None, requires_grad=False):
    if dtype is None:
        dtype = (_dt.bool if isinstance(fill_value, builtins.bool)
                 else _dt.int64 if isinstance(fill_value, builtins.int) else _DEFAULT_FLOAT)
    return _finish(_C._full(_size([size]), builtins.float(fill_value), dtype, device), requires_grad)


def _like(t, dtype, device):
    return (t.dtype if dtype is None else dtype), (t.device if device is None else device)


def empty_like(t, dtype=None, device=None, requires_grad=False):
    d, dev = _like(t, dtype, device)
    return empty(t.shape, dtype=d, device=dev, requires_grad=requires_grad)


def zeros_like(t, dtype=None, device=None, requires_grad=False):
    d, dev = _like(t, dtype, device)
    return zeros(t.shape, dtype=d, device=dev, requires_grad=requires_grad)


def ones_like(t, dtype=None, device=None, requires_grad=False):
    d, dev = _like(t, dtype, device)
    return ones(t.shape, dtype=d, device=dev, requires_grad=requires_grad)


def full_like(t, fill_value, dtype=None, device=None, requires_grad=False):
    d, dev = _like(t, dtype, device)
    return full(t.shape, fill_value, dtype=d, device=dev, requires_grad=requires_grad)


def rand_like(t, dtype=None, device=None, requires_grad=False, *, generator=None):
    d, dev = _like(t, dtype, device)
    return rand(t.shape, generator=generator, dtype=d, device=dev, requires_grad=requires_grad)


def randn_like(t, dtype=None, device=None, requires_grad=False, *, generator=None):
    d, dev = _like(t, dtype, device)
    return randn(t.shape, generator=generator, dtype=d, device=dev, requires_grad=requires_grad)


def arange(start, end=None, step=1, dtype=None, device=None, requires_grad=False):
    if end is None:
        start, end = 0, start
    vals = (start, end, step)
    if dtype is None:
        is_int = all(isinstance(v, builtins.int) or (isinstance(v, Tensor) and not v.is_floating_point())
                     for v in vals)
        dtype = _dt.int64 if is_int else _DEFAULT_FLOAT
    start, end, step = (v.item() if isinstance(v, Tensor) else v for v in vals)
    return _finish(_C._arange(builtins.float(start), builtins.float(end), builtins.float(step), dtype, device),
                   requires_grad)


def linspace(start, end, steps, dtype=None, device=None, requires_grad=False):
    return _finish(_C._linspace(builtins.float(start), builtins.float(end), builtins.int(steps),
                                _float_default(dtype), device), requires_grad)


def eye(n, m=None, dtype=None, device=None, requires_grad=False):
    return _finish(_C._eye(n, -1 if m is None else m, _float_default(dtype), device), requires_grad)


def rand(*size, generator=None, dtype=None, device=None, requires_grad=False):
    """Uniform numbers in [0, 1); ``generator``: a dlcore.Generator (None: the global one)."""
    return _finish(_generator._uniform(_size(size), _float_default(dtype), device, generator, "rand"), requires_grad)


def randn(*size, generator=None, dtype=None, device=None, requires_grad=False):
    """Standard normal numbers; ``generator``: a dlcore.Generator (None: the global one)."""
    return _finish(_generator._standard_normal(_size(size), _float_default(dtype), device, generator, "randn"),
                   requires_grad)


def randint(*args, size=None, generator=None, dtype=None, device=None, requires_grad=False, **kwargs):
    """randint(high, size) or randint(low, high, size), like torch.randint."""
    args = list(args)
    if size is None and args and isinstance(args[-1], (tuple, list)):
        size = args.pop()
    low = kwargs.pop("low", 0)
    high = kwargs.pop("high", None)
    if kwargs:
        raise TypeError(f"randint: unexpected arguments {sorted(kwargs)}")
    if len(args) == 2:
        low, high = args
    elif len(args) == 1:
        high = args[0]
    if high is None or size is None:
        raise TypeError("randint: expected randint(high, size) or randint(low, high, size)")
    return _finish(_generator._randint(builtins.int(low), builtins.int(high), _size([size]), dtype, device, generator,
                                       "randint"), requires_grad)


def randperm(n, *, generator=None, dtype=None, device=None, requires_grad=False):
    """A random permutation of range(n); ``generator``: a dlcore.Generator (None: the global one)."""
    return _finish(_generator._randperm(builtins.int(n), dtype, device, generator, "randperm"), requires_grad)


# ---- printing --------------------------------------------------------------------------------
_PRINT_PROFILES = {
    "default": dict(precision=4, threshold=1000, edgeitems=3, linewidth=80),
    "short": dict(precision=2, threshold=1000, edgeitems=2, linewidth=80),
    "full": dict(precision=4, threshold=math.inf, edgeitems=3, linewidth=80),
}
_PRINT = dict(_PRINT_PROFILES["default"], sci_mode=None)


def set_printoptions(precision=None, threshold=None, edgeitems=None, linewidth=None, profile=None, sci_mode=None):
    """torch.set_printoptions: digits after the point, the element count above which a tensor is
    summarised, the items shown at each end when summarised, the line width, a profile
    ("default", "short", "full") giving all four, and sci_mode (True/False forces scientific or
    fixed notation; None chooses per tensor)."""
    if profile is not None:
        if profile not in _PRINT_PROFILES:
            raise ValueError(f"set_printoptions: unknown profile {profile!r} (known: {sorted(_PRINT_PROFILES)})")
        _PRINT.update(_PRINT_PROFILES[profile])
    for name, value in (("precision", precision), ("threshold", threshold), ("edgeitems", edgeitems),
                        ("linewidth", linewidth)):
        if value is not None:
            if value < 0:
                raise ValueError(f"set_printoptions: {name} must be non-negative, got {value}")
            _PRINT[name] = value
    _PRINT["sci_mode"] = sci_mode


class _Formatter:
    """Chooses one number format for all printed values, like PyTorch: integers print as
    ``1.``, ordinary floats with 4 decimals, and scientific notation when the magnitudes span
    more than 1000x or leave [1e-4, 1e8)."""

    def __init__(self, values, is_float, is_bool):
        self.is_float, self.is_bool = is_float, is_bool
        self.mode = "int"
        if is_float:
            finite = values[np.isfinite(values)]
            nonzero = np.abs(finite[finite != 0])
            if _PRINT["sci_mode"] is not None:
                self.mode = "sci" if _PRINT["sci_mode"] else "fixed"
            elif finite.size == 0 or np.all(finite == np.round(finite)):
                self.mode = "intfloat"
                if nonzero.size and nonzero.max() >= 1e8:
                    self.mode = "sci"
            elif nonzero.size and (nonzero.max() / nonzero.min() > 1000.0 or nonzero.max() >= 1e8
                                   or nonzero.min() < 1e-4):
                self.mode = "sci"
            else:
                self.mode = "fixed"
        # Width from the finite values only: nan/inf may stick out, as in PyTorch.
        shown = values.reshape(-1)
        if is_float and np.isfinite(shown).any():
            shown = shown[np.isfinite(shown)]
        self.width = max((len(self._raw(v)) for v in shown), default=1)

    def _raw(self, v):
        if self.is_bool:
            return "True" if v else "False"
        if not self.is_float:
            return str(builtins.int(v))
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        if self.mode == "intfloat":
            return f"{v:.0f}."
        if self.mode == "sci":
            return f"{v:.{_PRINT['precision']}e}"
        return f"{v:.{_PRINT['precision']}f}"

    def __call__(self, v):
        return self._raw(v).rjust(self.width)


def _summarized_values(a):
    if a.size <= _PRINT["threshold"]:
        return a.reshape(-1)
    edge = _PRINT["edgeitems"]
    parts = []

    def rec(x):
        if x.ndim == 0:
            parts.append(x.reshape(1))
        elif x.ndim == 1:
            parts.append(x if x.shape[0] <= 2 * edge else np.concatenate([x[:edge], x[len(x) - edge:]]))
        else:
            idx = range(x.shape[0]) if x.shape[0] <= 2 * edge else [*range(edge), *range(x.shape[0] - edge, x.shape[0])]
            for i in idx:
                rec(x[i])

    rec(a)
    return np.concatenate(parts) if parts else a.reshape(-1)


def _format_array(a, fmt, indent, summarize):
    edge, linewidth = _PRINT["edgeitems"], _PRINT["linewidth"]
    if a.ndim == 0:
        return fmt(a.item())
    if a.ndim == 1:
        n = a.shape[0]
        if summarize and n > 2 * edge:
            items = [fmt(v) for v in a[:edge]] + ["...".rjust(fmt.width)] + [fmt(v) for v in a[n - edge:]]
        else:
            items = [fmt(v) for v in a]
        per_line = max(1, (linewidth - indent) // (fmt.width + 2))
        lines = [", ".join(items[i:i + per_line]) for i in range(0, len(items), per_line)]
        return "[" + (",\n" + " " * (indent + 1)).join(lines) + "]"
    n = a.shape[0]
    sep = "," + "\n" * (a.ndim - 1) + " " * (indent + 1)
    if summarize and n > 2 * edge:
        rows = [_format_array(a[i], fmt, indent + 1, summarize) for i in range(edge)] + ["..."] + \
               [_format_array(a[i], fmt, indent + 1, summarize) for i in range(n - edge, n)]
    else:
        rows = [_format_array(a[i], fmt, indent + 1, summarize) for i in range(n)]
    return "[" + sep.join(rows) + "]"


def _host_array(t):
    t = t.detach()
    if t.is_cuda:
        t = t.cpu()
    if t.dtype in (_dt.float16, _dt.bfloat16):
        t = t.float()
    return t.numpy()


def _repr(self):
    prefix = "tensor("
    suffixes = []
    a = _host_array(self)
    if a.size == 0:
        body = "[]"
        if a.shape != (0,):
            suffixes.append(f"size={tuple(a.shape)}")
    else:
        summarize = a.size > _PRINT["threshold"]
        fmt = _Formatter(_summarized_values(a).astype(np.float64) if self.is_floating_point() else
                         _summarized_values(a), self.is_floating_point(), self.dtype == _dt.bool)
        body = _format_array(a, fmt, len(prefix), summarize)
    if self.is_cuda:
        suffixes.append(f"device='{self.device}'")
    if self.dtype not in (_DEFAULT_FLOAT, _dt.int64, _dt.bool):  # torch leaves out the default dtypes
        suffixes.append(f"dtype={self.dtype!r}")
    if self.grad_fn is not None:
        suffixes.append(f"grad_fn=<{self.grad_fn.name()}>")
    elif self.requires_grad:
        suffixes.append("requires_grad=True")
    return prefix + body + "".join(", " + s for s in suffixes) + ")"


# ---- methods ---------------------------------------------------------------------------------
def _tolist(self):
    a = _host_array(self)
    return a.tolist()


def _to(self, *args, **kwargs):
    """to(dtype), to(device), to(device, dtype), to(tensor); copy=; non_blocking=True copies a pinned CPU
    tensor to a CUDA device asynchronously (see Tensor.pin_memory)."""
    dtype = kwargs.pop("dtype", None)
    device = kwargs.pop("device", None)
    copy = kwargs.pop("copy", False)
    non_blocking = kwargs.pop("non_blocking", False)
    if kwargs:
        raise TypeError(f"to: unexpected arguments {sorted(kwargs)}")
    for a in args:
        if isinstance(a, Tensor):
            dtype, device = a.dtype, a.device
        elif isinstance(a, _dt):
            dtype = a
        elif a is not None:
            device = a
    return _C._to(self, dtype, device, copy, builtins.bool(non_blocking))


def _backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
    _autograd.backward([self], None if gradient is None else [gradient], retain_graph, create_graph, inputs)


def _iter(self):
    if self.dim() == 0:
        raise TypeError("iteration over a 0-d tensor")
    return (self[i] for i in range(self.shape[0]))


def _bool(self):
    if self.numel() != 1:
        raise RuntimeError(f"Boolean value of Tensor with {self.numel()} elements is ambiguous")
    return builtins.bool(self.item())


def _index(self):
    if self.is_floating_point() or self.numel() != 1:
        raise TypeError("only integer tensors of a single element can be converted to an index")
    return builtins.int(self.item())


def _new_tensor(self, data, dtype=None, device=None, requires_grad=False):
    return tensor(data, dtype=dtype or self.dtype, device=device or self.device, requires_grad=requires_grad)


def _install_methods():
    _dt.__repr__ = _dt.__str__ = lambda self: f"dlcore.{self.name}"
    T = Tensor
    T.__repr__ = _repr
    T.__str__ = _repr
    T.tolist = _tolist
    T.to = _to
    T.backward = _backward
    T.__iter__ = _iter
    T.__bool__ = _bool
    T.__float__ = lambda self: builtins.float(self.item())
    T.__int__ = lambda self: builtins.int(self.item())
    T.__index__ = _index
    T.__format__ = lambda self, spec: format(self.item(), spec) if self.dim() == 0 else repr(self)
    T.new_tensor = _new_tensor
    T.new_zeros = lambda self, *size, dtype=None, device=None, requires_grad=False: zeros(
        *size, dtype=dtype or self.dtype, device=device or self.device, requires_grad=requires_grad)
    T.new_ones = lambda self, *size, dtype=None, device=None, requires_grad=False: ones(
        *size, dtype=dtype or self.dtype, device=device or self.device, requires_grad=requires_grad)
    T.new_full = lambda self, size, fill_value, dtype=None, device=None, requires_grad=False: full(
        size, fill_value, dtype=dtype or self.dtype, device=device or self.device, requires_grad=requires_grad)
    T.new_empty = lambda self, *size, dtype=None, device=None, requires_grad=False: empty(
        *size, dtype=dtype or self.dtype, device=device or self.device, requires_grad=requires_grad)
    T.type = lambda self, dtype=None: _C._to(self, dtype, None, False) if dtype is not None else \
        f"dlcore.{self.dtype!r}".replace("dlcore.dlcore.", "dlcore.")


_install_methods()
