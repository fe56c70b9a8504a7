"""Indexing ops: take/put, the index_* family, masked_select/masked_scatter, scatter_reduce and
repeat_interleave, differentiable where PyTorch's are (built on gather/scatter/index_select)."""
import builtins

import numpy as np

from . import _C
from ._ops_common import (Tensor, as_int, check_tensor, from_host, index_tensor, is_float, requires_grad, to_host,
                          wrap_dim)
from ._tensor import ones, zeros

__all__ = [
    "take", "take_along_dim", "put", "index_add", "index_copy", "index_fill", "index_reduce", "masked_select",
    "masked_scatter", "scatter_reduce", "repeat_interleave", "unravel_index", "as_strided_scatter",
]

_INT_INDEX = (_C.dtype.int64, _C.dtype.int32)


def _check_index_values(fn, idx, n, name="index", negative=True):
    """idx's values on the host as int64, checked to be in [-n, n) (in [0, n) unless negative)."""
    vals = to_host(idx).astype(np.int64).reshape(-1)
    lo = -n if negative else 0
    if vals.size and (vals.min() < lo or vals.max() >= n):
        bad = vals[(vals < lo) | (vals >= n)][0]
        raise IndexError(f"{fn}: {name} {bad} is out of bounds for dimension with size {n}")
    return vals


# ---- take / put -------------------------------------------------------------------------------
def _flat_index(fn, input, index):
    check_tensor(input, fn)
    check_tensor(index, fn, "index")
    if index.dtype not in _INT_INDEX:
        raise RuntimeError(f"{fn}: expected an int64 index tensor, got {index.dtype}")
    n = input.numel()
    vals = _check_index_values(fn, index, n)
    return index_tensor(np.where(vals < 0, vals + n, vals), input.device)


def take(input, index):
    """input treated as 1-D, indexed by ``index``; the result has index's shape."""
    flat = _flat_index("take", input, index)
    return input.reshape(-1).index_select(0, flat).reshape(index.shape)


def take_along_dim(input, indices, dim=None):
    """Values of input at ``indices`` along dim (flattened input when dim is None), with the other
    dims broadcast."""
    check_tensor(input, "take_along_dim")
    check_tensor(indices, "take_along_dim", "indices")
    if indices.dtype not in _INT_INDEX:
        raise RuntimeError(f"take_along_dim: dtype of indices should be int64, got {indices.dtype}")
    if dim is None:
        return take(input, indices.reshape(-1))
    if input.dim() != indices.dim():
        raise RuntimeError(f"take_along_dim: input and indices should have the same number of dimensions, got "
                           f"shapes {tuple(input.shape)} and {tuple(indices.shape)}")
    d = wrap_dim(dim, input.dim(), "take_along_dim")
    from ._ops_shape import broadcast_shapes
    si, sx = list(input.shape), list(indices.shape)
    si[d] = sx[d] = 1
    common = list(broadcast_shapes(si, sx))
    x_shape, i_shape = list(common), list(common)
    x_shape[d], i_shape[d] = input.shape[d], indices.shape[d]
    return input.expand(*x_shape).gather(d, indices.long().expand(*i_shape))


def put(input, index, source, accumulate=False):
    """A copy of input (treated as 1-D) with source's values written (or added) at ``index``."""
    flat = _flat_index("put", input, index)
    check_tensor(source, "put", "source")
    if source.numel() != flat.numel():
        raise RuntimeError(f"put: expected source and index to have the same number of elements, got "
                           f"{source.numel()} and {flat.numel()}")
    out = input.reshape(-1).index_put((flat,), source.reshape(-1).to(input.dtype), builtins.bool(accumulate))
    return out.reshape(input.shape)


# ---- index_* ------------------------------------------------------------------------------------
def _index_along(fn, input, dim, index, source=None):
    """Checks the index_* arguments; returns (dim, index expanded to source's shape), or (dim,
    index values) without a source. As in PyTorch, only index_fill takes negative indices."""
    check_tensor(input, fn)
    check_tensor(index, fn, "index")
    d = wrap_dim(dim, input.dim(), fn)
    if index.dtype not in _INT_INDEX:
        raise RuntimeError(f"{fn}: expected an int64 or int32 index, got {index.dtype}")
    if index.dim() > 1:
        raise IndexError(f"{fn}: index should be a vector (0- or 1-D), got shape {tuple(index.shape)}")
    n = input.shape[d] if input.dim() else 1
    vals = _check_index_values(fn, index, n, negative=source is None)
    if source is None:
        return d, vals
    check_tensor(source, fn, "source")
    want = list(input.shape) if input.dim() else [1]
    want[d] = vals.size
    got = list(source.shape) if source.dim() else [1]
    if got != want:
        raise RuntimeError(f"{fn}: source of shape {tuple(source.shape)} does not match input "
                           f"{tuple(input.shape)} with {vals.size} indices along dim {d} (expected "
                           f"{tuple(want)})")
    idx = index_tensor(vals, input.device).reshape([1] * d + [-1] + [1] * (len(want) - d - 1)).expand(*want)
    return d, idx


def _as_1d(input, fn):
    """Runs fn on input (and its index_* arguments) with a 0-d input seen as shape (1,)."""
    if input.dim() == 0:
        return fn(input.reshape(1)).reshape(())
    return fn(input)


def index_add(input, dim, index, source, *, alpha=1):
    """A copy of input with alpha * source's slices added at ``index`` along dim (repeated
    indices accumulate)."""
    d, idx = _index_along("index_add", input, dim, index, source)
    src = source.reshape(idx.shape).to(input.dtype)
    if alpha != 1:
        src = src * alpha
    return _as_1d(input, lambda x: x.scatter_add(d, idx, src))


def index_copy(input, dim, index, source):
    """A copy of input with source's slices written at ``index`` along dim."""
    d, idx = _index_along("index_copy", input, dim, index, source)
    src = source.reshape(idx.shape).to(input.dtype)
    return _as_1d(input, lambda x: x.scatter(d, idx, src))


def index_fill(input, dim, index, value):
    """A copy of input with the slices at ``index`` along dim set to the scalar ``value``."""
    d, vals = _index_along("index_fill", input, dim, index)
    if isinstance(value, Tensor):
        if value.dim() != 0:
            raise RuntimeError(f"index_fill: only supports a 0-dimensional value tensor, got shape "
                               f"{tuple(value.shape)}")
        if requires_grad(value):
            raise RuntimeError("index_fill: a value tensor that requires grad is not supported")
        value = value.item()
    n = input.shape[d] if input.dim() else 1
    mask = np.zeros(n, dtype=np.bool_)
    mask[np.where(vals < 0, vals + n, vals)] = True
    shape = [1] * builtins.max(input.dim(), 1)
    shape[d] = n
    m = from_host(mask.reshape(shape), input.device)
    return _as_1d(input, lambda x: x.masked_fill(m, value))


_REDUCES = ("sum", "prod", "mean", "amax", "amin")


def index_reduce(input, dim, index, source, reduce, *, include_self=True):
    """A copy of input whose slices at ``index`` along dim are reduced ('prod', 'mean', 'amax',
    'amin') with source's slices, including input's own values when include_self."""
    if reduce not in ("prod", "mean", "amax", "amin"):
        raise RuntimeError(f"index_reduce: reduce argument must be one of prod, mean, amax or amin, got "
                           f"{reduce!r}")
    d, idx = _index_along("index_reduce", input, dim, index, source)
    src = source.reshape(idx.shape)
    return _as_1d(input, lambda x: scatter_reduce(x, d, idx, src, reduce, include_self=include_self))


# ---- masked -----------------------------------------------------------------------------------
def _check_mask(fn, mask):
    check_tensor(mask, fn, "mask")
    if mask.dtype != _C.dtype.bool:
        raise RuntimeError(f"{fn}: expected a bool mask, got {mask.dtype}")


def masked_select(input, mask):
    """The elements of input (broadcast with mask) where mask is True, as a 1-D tensor."""
    check_tensor(input, "masked_select")
    _check_mask("masked_select", mask)
    from ._ops_shape import broadcast_tensors
    x, m = broadcast_tensors(input, mask)
    return x[m]


def masked_scatter(input, mask, source):
    """A copy of input whose positions where mask (broadcast to input) is True take source's
    elements in row-major order."""
    check_tensor(input, "masked_scatter")
    _check_mask("masked_scatter", mask)
    check_tensor(source, "masked_scatter", "source")
    from ._ops_shape import broadcast_to
    m = broadcast_to(mask, input.shape).reshape(-1)
    pos = m.nonzero().reshape(-1)
    count = pos.shape[0]
    if source.numel() < count:
        raise RuntimeError(f"masked_scatter: expected source to have at least as many elements as the ones in "
                           f"mask ({count}), got {source.numel()} (source shape {tuple(source.shape)})")
    src = source.reshape(-1).narrow(0, 0, count).to(input.dtype)
    return input.reshape(-1).scatter(0, pos, src).reshape(input.shape)


# ---- scatter_reduce ---------------------------------------------------------------------------
def _scatter_targets(input, dim, idx):
    """Flat positions in input that each element of the index tensor ``idx`` (numpy) writes to."""
    coords = list(np.indices(idx.shape))
    coords[dim] = idx
    strides = np.cumprod([1] + list(input.shape[::-1]))[:-1][::-1]
    return builtins.sum(c * s for c, s in zip(coords, strides)).reshape(-1) if idx.size else np.zeros(0, np.int64)


def _identity(reduce, dtype):
    """The value an output reduced without include_self starts from."""
    if reduce in ("sum", "mean"):
        return 0
    if reduce == "prod":
        return 1
    if dtype.kind == "b":
        return reduce == "amin"
    if dtype.kind == "f":
        return -np.inf if reduce == "amax" else np.inf
    return np.iinfo(dtype).min if reduce == "amax" else np.iinfo(dtype).max


def _scatter_reduce_host(input, dim, index, src, reduce, include_self):
    x = to_host(input)
    s = to_host(src)
    idx = to_host(index).astype(np.int64)
    s = s[tuple(slice(0, n) for n in idx.shape)]
    targets = _scatter_targets(input, dim, idx)
    out = x.reshape(-1).copy()
    vals = s.reshape(-1).astype(out.dtype)
    touched = np.zeros(out.size, dtype=np.bool_)
    touched[targets] = True
    if not include_self:
        out[touched] = _identity(reduce, out.dtype)
    if reduce in ("sum", "mean"):
        np.add.at(out, targets, vals)
        if reduce == "mean":
            count = np.zeros(out.size, dtype=np.int64)
            np.add.at(count, targets, 1)
            count += include_self
            count = np.maximum(count, 1)
            out = np.where(touched, out / count if out.dtype.kind == "f" else out // count, out)
    elif reduce == "prod":
        np.multiply.at(out, targets, vals)
    elif reduce == "amax":
        np.maximum.at(out, targets, vals)
    else:
        np.minimum.at(out, targets, vals)
    return from_host(out.astype(x.dtype).reshape(x.shape), input.device, input.dtype)


# Note [scatter_reduce gradients]
# Without a gradient the reduction runs on the host with numpy's ufunc.at. With one, it is
# built from differentiable ops: sum and mean from scatter_add; amax/amin take the host result
# r and spread each output's gradient evenly over the elements equal to it (as PyTorch does),
# as where(src == r, src, 0) / count added up with scatter_add, plus r - that sum (no gradient)
# so the value is r exactly; prod puts each output's factors in a row of a padded matrix (one
# column per factor, padded with 1) and multiplies along the rows, which differentiates through
# zeros correctly.
def scatter_reduce(input, dim, index, src, reduce, *, include_self=True):
    """A copy of input with src's values reduced ('sum', 'prod', 'mean', 'amax', 'amin') into the
    positions ``index`` gives along dim, including input's own values when include_self."""
    check_tensor(input, "scatter_reduce")
    check_tensor(index, "scatter_reduce", "index")
    check_tensor(src, "scatter_reduce", "src")
    if reduce not in _REDUCES:
        raise RuntimeError(f"scatter_reduce: reduce argument must be one of sum, prod, mean, amax or amin, got "
                           f"{reduce!r}")
    if index.dtype != _C.dtype.int64:
        raise RuntimeError(f"scatter_reduce: expected index to be an int64 tensor, got {index.dtype}")
    d = wrap_dim(dim, input.dim(), "scatter_reduce")
    if input.dim() == 0:
        return scatter_reduce(input.reshape(1), 0, index.reshape(-1), src.reshape(-1), reduce,
                              include_self=include_self).reshape(())
    if index.dim() != input.dim() or src.dim() != input.dim():
        raise RuntimeError(f"scatter_reduce: index {tuple(index.shape)}, src {tuple(src.shape)} and input "
                           f"{tuple(input.shape)} must have the same number of dimensions")
    for k in range(input.dim()):
        if index.shape[k] > src.shape[k] or (k != d and index.shape[k] > input.shape[k]):
            raise RuntimeError(f"scatter_reduce: expected index {tuple(index.shape)} to be no larger than src "
                               f"{tuple(src.shape)} in every dim and than input {tuple(input.shape)} apart from "
                               f"dim {d}")
    if src.dtype != input.dtype:
        raise RuntimeError(f"scatter_reduce: expected src ({src.dtype}) to have the same dtype as input "
                           f"({input.dtype})")
    _check_index_values("scatter_reduce", index, input.shape[d], negative=False)
    src = src[tuple(slice(0, n) for n in index.shape)] if tuple(src.shape) != tuple(index.shape) else src
    # Integer means round down, which only the host path does; they never need a gradient.
    if reduce == "sum" or (reduce == "mean" and requires_grad(input, src)):
        return _scatter_sum_mean(input, d, index, src, reduce, include_self)
    if not requires_grad(input, src):
        return _scatter_reduce_host(input, d, index, src, reduce, include_self)
    if not is_float(input):
        raise RuntimeError(f"scatter_reduce: gradients need a floating-point input, got {input.dtype}")
    if reduce == "prod":
        return _scatter_prod_grad(input, d, index, src, include_self)
    return _scatter_extreme_grad(input, d, index, src, reduce, include_self)


def _touched(input, dim, index):
    return zeros(input.shape, dtype=_C.dtype.bool, device=input.device).scatter(dim, index, True)


def _scatter_sum_mean(input, dim, index, src, reduce, include_self):
    base = input if include_self else input.masked_fill(_touched(input, dim, index), 0)
    out = base.scatter_add(dim, index, src)
    if reduce == "sum":
        return out
    count = zeros(input.shape, dtype=input.dtype, device=input.device).scatter_add(
        dim, index, ones(index.shape, dtype=input.dtype, device=input.device))
    count = (count + 1 if include_self else count).clamp(min=1)
    return out / count


def _scatter_extreme_grad(input, dim, index, src, reduce, include_self):
    r = _scatter_reduce_host(input, dim, index, src, reduce, include_self)
    touched = _touched(input, dim, index)
    eq_src = src == r.gather(dim, index)
    eq_in = (input == r) & touched if include_self else zeros(input.shape, dtype=_C.dtype.bool,
                                                                device=input.device)
    count = eq_in.to(input.dtype).scatter_add(dim, index, eq_src.to(input.dtype)).clamp(min=1)
    share = _C.where(eq_in, input, 0) / count
    total = share.scatter_add(dim, index, _C.where(eq_src, src, 0) / count.gather(dim, index))
    exact = total + (r - total.detach()).masked_fill(~touched, 0).masked_fill(_isinf(r), 0)
    return _C.where(touched, exact, input)


def _isinf(x):
    return (x == float("inf")) | (x == float("-inf"))


def _scatter_prod_grad(input, dim, index, src, include_self):
    idx = to_host(index).astype(np.int64)
    targets = _scatter_targets(input, dim, idx)
    n_out = input.numel()
    order = np.argsort(targets, kind="stable")
    counts = np.bincount(targets, minlength=n_out)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.empty_like(targets)
    rank[order] = np.arange(targets.size) - starts[targets[order]]
    width = builtins.int(counts.max(initial=0)) + 1
    cells = index_tensor(targets * width + rank + 1, input.device)
    flat = ones(n_out * width, dtype=input.dtype, device=input.device)
    flat = flat.scatter(0, cells, src.reshape(-1))
    touched = from_host(counts > 0, input.device)
    first = input.reshape(-1).masked_fill(~touched, 1) if include_self else \
        input.reshape(-1).masked_fill(touched, 1)
    first_cells = index_tensor(np.arange(n_out) * width, input.device)
    flat = flat.scatter(0, first_cells, first)
    prod = flat.reshape(n_out, width).prod(1)
    return _C.where(touched, prod, input.reshape(-1)).reshape(input.shape)


def unravel_index(indices, shape):
    """The coordinates in a tensor of ``shape`` of the flat (row-major) ``indices``, as a tuple of
    tensors of indices' shape, one per dim; negative indices count from the end."""
    check_tensor(indices, "unravel_index", "indices")
    if indices.dtype not in _INT_INDEX:
        raise TypeError(f"unravel_index: expected 'indices' to be an integer tensor, but got {indices.dtype}")
    shape = [shape] if isinstance(shape, int) else [as_int(n, "unravel_index", "shape") for n in shape]
    if builtins.any(n < 0 for n in shape):
        raise ValueError(f"unravel_index: 'shape' cannot have negative values, but got {tuple(shape)}")
    n = int(np.prod(shape))
    flat = _check_index_values("unravel_index", indices, n, "index")
    coords = np.unravel_index(np.where(flat < 0, flat + n, flat), shape) if shape else ()
    return tuple(index_tensor(c.reshape(indices.shape), indices.device) for c in coords)


def _storage_positions(shape, stride, offset):
    """The storage position of every element of a strided layout, in row-major order."""
    pos = np.full(tuple(shape), offset, dtype=np.int64)
    for k, (n, st) in enumerate(zip(shape, stride)):
        pos += (np.arange(n, dtype=np.int64) * st).reshape([1] * k + [n] + [1] * (len(shape) - k - 1))
    return pos.reshape(-1)


def as_strided_scatter(input, src, size, stride, storage_offset=None):
    """A copy of input whose elements that input.as_strided(size, stride, storage_offset) would
    view (positions in input's storage) are replaced by src's."""
    check_tensor(input, "as_strided_scatter")
    check_tensor(src, "as_strided_scatter", "src")
    size = [as_int(n, "as_strided_scatter", "size") for n in size]
    stride = [as_int(n, "as_strided_scatter", "stride") for n in stride]
    if len(size) != len(stride) or tuple(src.shape) != tuple(size):
        raise RuntimeError(f"as_strided_scatter: expected src of shape {tuple(size)} and as many strides "
                           f"({len(stride)}) as sizes, got src {tuple(src.shape)}")
    offset = input.storage_offset() if storage_offset is None else as_int(storage_offset, "as_strided_scatter",
                                                                          "storage_offset")
    targets = _storage_positions(size, stride, offset)
    own = _storage_positions(input.shape, input.stride(), input.storage_offset())
    if targets.size and not np.isin(targets, own).all():
        raise RuntimeError(f"as_strided_scatter: the view (size {tuple(size)}, stride {tuple(stride)}, offset "
                           f"{offset}) reaches outside input of shape {tuple(input.shape)}")
    last = {p: k for k, p in enumerate(targets)}
    hits = [(i, last[p]) for i, p in enumerate(own) if p in last]
    flat = input.reshape(-1)
    if not hits:
        return flat.clone().reshape(input.shape)
    dst, from_src = (index_tensor([h[k] for h in hits], input.device) for k in (0, 1))
    return flat.scatter(0, dst, src.reshape(-1).index_select(0, from_src).to(input.dtype)).reshape(input.shape)


# ---- repeat_interleave -------------------------------------------------------------------------
def repeat_interleave(input, repeats=None, dim=None, *, output_size=None):
    """Repeats each element (or each slice along dim) of input the given number of times;
    repeat_interleave(repeats) alone gives the indices that repeat arange(len(repeats))."""
    check_tensor(input, "repeat_interleave")
    if repeats is None:
        counts = _repeat_counts(input, output_size)
        return index_tensor(np.repeat(np.arange(counts.size), counts), input.device)
    x = input.reshape(-1) if dim is None else input
    d = 0 if dim is None else wrap_dim(dim, input.dim(), "repeat_interleave")
    if x.dim() == 0:
        x = x.reshape(1)
    n = x.shape[d]
    if isinstance(repeats, Tensor):
        if repeats.dim() > 1:
            raise RuntimeError(f"repeat_interleave: repeats must be 0-dim or 1-dim tensor, got shape "
                               f"{tuple(repeats.shape)}")
        counts = _repeat_counts(repeats, None)
        if counts.size == 1:
            counts = np.repeat(counts, n)
        elif counts.size != n:
            raise RuntimeError(f"repeat_interleave: repeats must have the same size as input along dim {d}, got "
                               f"repeats {tuple(repeats.shape)} and input {tuple(input.shape)}")
    else:
        r = as_int(repeats, "repeat_interleave", "repeats")
        if r < 0:
            raise RuntimeError(f"repeat_interleave: repeats can not be negative, got {r}")
        counts = np.full(n, r, dtype=np.int64)
    if output_size is not None and builtins.int(counts.sum()) != output_size:
        raise RuntimeError(f"repeat_interleave: output_size {output_size} does not match the sum of repeats "
                           f"{builtins.int(counts.sum())}")
    return x.index_select(d, index_tensor(np.repeat(np.arange(n), counts), x.device))


def _repeat_counts(repeats, output_size):
    if repeats.dtype not in _INT_INDEX or repeats.dim() > 1:
        raise RuntimeError(f"repeat_interleave: repeats has to be a 0- or 1-D int64 tensor, got {repeats.dtype} "
                           f"of shape {tuple(repeats.shape)}")
    counts = to_host(repeats).astype(np.int64).reshape(-1)
    if (counts < 0).any():
        raise RuntimeError("repeat_interleave: repeats can not be negative")
    if output_size is not None and builtins.int(counts.sum()) != output_size:
        raise RuntimeError(f"repeat_interleave: output_size {output_size} does not match the sum of repeats "
                           f"{builtins.int(counts.sum())}")
    return counts


_METHODS = {name: globals()[name] for name in [
    "take", "take_along_dim", "put", "index_add", "index_copy", "index_fill", "index_reduce", "masked_select",
    "masked_scatter", "scatter_reduce", "repeat_interleave", "as_strided_scatter",
]}
_INPLACE = {"put_": put, "index_add_": index_add, "index_copy_": index_copy, "index_fill_": index_fill,
            "index_reduce_": index_reduce, "masked_scatter_": masked_scatter, "scatter_reduce_": scatter_reduce}
