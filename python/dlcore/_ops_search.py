"""Searching, sets and counting: unique, unique_consecutive, searchsorted, bucketize, isin, argwhere,
bincount, histc and histogram. None of these is differentiable in PyTorch, so they compute on
the host with numpy and return tensors on the input's device."""
import builtins
import math

import numpy as np

from . import _C
from ._ops_common import Tensor, as_int, check_tensor, from_host, is_float, return_type, to_host, wrap_dim

__all__ = ["unique", "unique_consecutive", "searchsorted", "bucketize", "isin", "argwhere", "bincount", "histc",
           "histogram", "histogramdd"]

_dt = _C.dtype
_histogram_result = return_type("histogram", ("hist", "bin_edges"))
_histogramdd_result = return_type("histogramdd", ("hist", "bin_edges"))


def _result(values, inverse, counts, return_inverse, return_counts):
    out = [values]
    if return_inverse:
        out.append(inverse)
    if return_counts:
        out.append(counts)
    return values if len(out) == 1 else tuple(out)


def unique(input, sorted=True, return_inverse=False, return_counts=False, dim=None):
    """The distinct elements of input in ascending order (or its distinct slices along dim), with
    optionally each element's position in them (inverse) and how often each occurs (counts).
    NaNs are all distinct, as in PyTorch."""
    check_tensor(input, "unique")
    a = to_host(input)
    dev = input.device
    if dim is None:
        flat = a.reshape(-1)
        values, inverse, counts = np.unique(flat, return_inverse=True, return_counts=True, equal_nan=False)
        inverse = inverse.reshape(a.shape)
    else:
        d = wrap_dim(dim, input.dim(), "unique")
        if a.ndim == 0:
            a = a.reshape(1)
        if a.shape[d] == 0:
            values, inverse, counts = a, np.zeros(0, np.int64), np.zeros(0, np.int64)
        else:
            values, inverse, counts = np.unique(a, return_inverse=True, return_counts=True, axis=d)
            inverse = inverse.reshape(-1)
    return _result(from_host(values, dev, input.dtype), from_host(inverse, dev, _dt.int64),
                   from_host(counts, dev, _dt.int64), return_inverse, return_counts)


def unique_consecutive(input, return_inverse=False, return_counts=False, dim=None):
    """input with each run of equal consecutive elements (or slices along dim) collapsed to one."""
    check_tensor(input, "unique_consecutive")
    a = to_host(input)
    dev = input.device
    if dim is None:
        rows, shape = a.reshape(-1, 1), a.shape
        d = 0
    else:
        d = wrap_dim(dim, input.dim(), "unique_consecutive")
        if a.ndim == 0:
            a = a.reshape(1)
        rows = np.moveaxis(a, d, 0)
        rows = rows.reshape(a.shape[d], int(np.prod(rows.shape[1:], dtype=np.int64)))
        shape = (a.shape[d],)
    n = rows.shape[0]
    change = np.ones(n, dtype=np.bool_)
    if n > 1:
        change[1:] = (rows[1:] != rows[:-1]).any(axis=1) if rows.shape[1] else False
    starts = np.nonzero(change)[0]
    inverse = (np.cumsum(change) - 1).reshape(shape)
    counts = np.diff(np.append(starts, n))
    values = a.reshape(-1)[starts] if dim is None else np.take(a, starts, axis=d)
    return _result(from_host(values, dev, input.dtype), from_host(inverse, dev, _dt.int64),
                   from_host(counts, dev, _dt.int64), return_inverse, return_counts)


# ---- searching ------------------------------------------------------------------------------
def _values_arg(fn, values, like):
    if isinstance(values, Tensor):
        return to_host(values), values.shape, values.device
    if isinstance(values, (builtins.bool, builtins.int, builtins.float)):
        return np.array(values), (), like.device
    raise TypeError(f"{fn}: values must be a Tensor or a number, not {type(values).__name__}")


def searchsorted(sorted_sequence, input, *, out_int32=False, right=False, side=None, sorter=None, out=None):
    """For each value of input, the index at which it would be inserted in the innermost dim of
    sorted_sequence to keep it sorted (the first such index, or the last with right=True or
    side='right'). Leading dims of an N-D sorted_sequence pair with input's."""
    fn = "searchsorted"
    check_tensor(sorted_sequence, fn, "sorted_sequence")
    if out is not None:
        raise TypeError(f"{fn}: out= is not supported")
    if side is not None:
        if side not in ("left", "right"):
            raise RuntimeError(f"{fn}(): side can only be 'left' or 'right' but got {side!r}")
        if right and side == "left":
            raise RuntimeError(f"{fn}(): side and right can't be set to opposites, got side of left while right "
                               "was True")
        right = side == "right"
    seq = to_host(sorted_sequence)
    vals, vshape, device = _values_arg(fn, input, sorted_sequence)
    if seq.ndim == 0:
        raise RuntimeError(f"{fn}(): boundaries tensor should have positive dimension, but got 0 dimension")
    if sorter is not None:
        check_tensor(sorter, fn, "sorter")
        if tuple(sorter.shape) != tuple(sorted_sequence.shape):
            raise RuntimeError(f"{fn}(): boundary and sorter must have the same size, but got boundary tensor "
                               f"{tuple(sorted_sequence.shape)} and got sorter tensor {tuple(sorter.shape)}")
        order = to_host(sorter).astype(np.int64)
        if order.size and (order.min() < 0 or order.max() >= seq.shape[-1]):
            raise RuntimeError(f"{fn}(): sorter index out of range")
        seq = np.take_along_axis(seq, order, axis=-1)
    side_name = "right" if right else "left"
    if seq.ndim == 1:
        result = np.searchsorted(seq, vals, side=side_name)
    else:
        if vals.ndim != seq.ndim or vals.shape[:-1] != seq.shape[:-1]:
            raise RuntimeError(f"{fn}(): boundaries tensor should be 1 dimension or the first N-1 dimensions of "
                               f"boundaries tensor and input value tensor must match, but we got boundaries tensor "
                               f"{tuple(seq.shape)} and input value tensor {tuple(vshape)}")
        lead = int(np.prod(seq.shape[:-1], dtype=np.int64))
        s2, v2 = seq.reshape(lead, seq.shape[-1]), vals.reshape(lead, vals.shape[-1])
        result = np.stack([np.searchsorted(s, v, side=side_name) for s, v in zip(s2, v2)]).reshape(vals.shape) \
            if v2.shape[0] else np.zeros(vals.shape, np.int64)
    return from_host(np.asarray(result).reshape(vshape), device, _dt.int32 if out_int32 else _dt.int64)


def bucketize(input, boundaries, *, out_int32=False, right=False, out=None):
    """The index of the bucket of each input value for the sorted 1-D ``boundaries``:
    boundaries[i-1] < x <= boundaries[i], or boundaries[i-1] <= x < boundaries[i] with right=True."""
    check_tensor(boundaries, "bucketize", "boundaries")
    if boundaries.dim() != 1:
        raise RuntimeError(f"bucketize(): boundaries tensor must be 1 dimension but got dim({boundaries.dim()})")
    return searchsorted(boundaries, input, out_int32=out_int32, right=right, out=out)


def isin(elements, test_elements, *, assume_unique=False, invert=False):
    """A bool tensor of elements' shape telling which elements occur in test_elements (either
    argument may be a number)."""
    if not isinstance(elements, Tensor) and not isinstance(test_elements, Tensor):
        raise TypeError("isin: at least one of elements and test_elements must be a Tensor")
    like = elements if isinstance(elements, Tensor) else test_elements
    a, shape, device = _values_arg("isin", elements, like)
    b = _values_arg("isin", test_elements, like)[0]
    return from_host(np.isin(a, b, invert=invert).reshape(shape), device, _dt.bool)


def argwhere(input):
    """The indices of the non-zero elements of input, one row per element."""
    check_tensor(input, "argwhere")
    return input.nonzero()


# ---- counting -------------------------------------------------------------------------------
def bincount(input, weights=None, minlength=0):
    """The number of occurrences of each value in a 1-D tensor of non-negative integers (the sum of
    their weights when given), with at least minlength bins."""
    check_tensor(input, "bincount")
    minlength = as_int(minlength, "bincount", "minlength")
    if input.dim() != 1 or is_float(input) or input.dtype == _dt.bool:
        raise RuntimeError(f"bincount only supports 1-d non-negative integral inputs, got {input.dtype} of shape "
                           f"{tuple(input.shape)}")
    if minlength < 0:
        raise RuntimeError(f"bincount: minlength should be >= 0, got {minlength}")
    a = to_host(input).astype(np.int64)
    if a.size and a.min() < 0:
        raise RuntimeError("bincount only supports 1-d non-negative integral inputs")
    if weights is None:
        return from_host(np.bincount(a, minlength=minlength).astype(np.int64), input.device, _dt.int64)
    check_tensor(weights, "bincount", "weights")
    if tuple(weights.shape) != tuple(input.shape):
        raise RuntimeError(f"bincount: weights should be 1-d and have the same length as input, got weights "
                           f"{tuple(weights.shape)} and input {tuple(input.shape)}")
    dtype = weights.dtype if is_float(weights) else _dt.float64
    return from_host(np.bincount(a, to_host(weights).astype(np.float64), minlength), input.device, dtype)


def _np_float(x):
    return np.float64 if x.dtype == _dt.float64 else np.float32


def histc(input, bins=100, min=0, max=0):
    """A histogram of input's values with ``bins`` equal-width bins over [min, max] (the data's
    range when both are 0); values outside it are ignored."""
    check_tensor(input, "histc")
    if not is_float(input):
        raise RuntimeError(f"histc: \"histogram_cpu\" not implemented for {input.dtype}")
    bins = as_int(bins, "histc", "bins")
    if bins <= 0:
        raise RuntimeError(f"histc: bins must be > 0, but got {bins}")
    ft = _np_float(input)
    a = to_host(input).astype(ft).reshape(-1)
    lo, hi = ft(min), ft(max)
    if lo == hi and a.size:
        lo, hi = ft(a.min()), ft(a.max())
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise RuntimeError(f"histc: range of [{lo}, {hi}] is not finite")
    if lo > hi:
        raise RuntimeError(f"histc: max must be larger than min, got min={lo} and max={hi}")
    if lo == hi:
        lo, hi = ft(lo - 1), ft(hi + 1)
    inside = a[(a >= lo) & (a <= hi)]
    pos = ((inside - lo) * ft(bins) / (hi - lo)).astype(np.int64)
    pos = np.minimum(pos, bins - 1)
    return from_host(np.bincount(pos, minlength=bins).astype(ft), input.device, input.dtype)


def _bin_edges(fn, values, bins, span, ft):
    """The bin edges of one dim: a tensor's values, or ``bins`` equal-width bins over ``span``
    (the data's range by default, [0, 1] without data; widened by 0.5 each way when empty)."""
    if isinstance(bins, Tensor):
        if bins.dim() != 1 or bins.shape[0] < 1:
            raise RuntimeError(f"{fn}(): bins tensor should have one dimension and at least 1 element, got shape "
                               f"{tuple(bins.shape)}")
        edges = to_host(bins).astype(ft)
        if (np.diff(edges) < 0).any():
            raise RuntimeError(f"{fn}(): bin edges must be monotonically increasing")
        return edges
    n = as_int(bins, fn, "bins")
    if n <= 0:
        raise RuntimeError(f"{fn}(): bins must be > 0, but got {n}")
    if span is not None:
        lo, hi = (ft(v) for v in span)
    elif values.size:
        lo, hi = ft(values.min()), ft(values.max())
    else:
        lo, hi = ft(0), ft(1)
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise RuntimeError(f"{fn}(): range of [{lo}, {hi}] is not finite")
    if lo > hi:
        raise RuntimeError(f"{fn}(): min should not exceed max, got min={lo} and max={hi}")
    if lo == hi:
        lo, hi = ft(lo - 0.5), ft(hi + 0.5)
    return np.linspace(lo, hi, n + 1, dtype=np.float64).astype(ft)


def _bin_index(values, edges):
    """Each value's bin (the last bin includes its right edge), or -1 outside the edges."""
    pos = np.minimum(np.searchsorted(edges, values, side="right") - 1, edges.size - 2)
    return np.where((values >= edges[0]) & (values <= edges[-1]), pos, -1)


def _histogram_dd(fn, input, dims, bins, span, weight, weight_shape, density):
    """hist and the bin edges of each dim for the points in the rows of input viewed as (-1, dims)."""
    check_tensor(input, fn)
    if not is_float(input):
        raise RuntimeError(f"{fn}: \"histogram_cpu\" not implemented for {input.dtype}")
    ft = _np_float(input)
    pts = to_host(input).astype(ft).reshape(-1, dims)
    bins = list(bins) if isinstance(bins, (list, tuple)) else [bins] * dims
    if len(bins) != dims:
        raise RuntimeError(f"{fn}(): expected {dims} sequences of bin edges or bin counts, got {len(bins)}")
    if span is not None and len(span) != 2 * dims:
        raise RuntimeError(f"{fn}(): expected range to have {2 * dims} elements (min and max of each dim), got "
                           f"{len(span)}")
    edges = [_bin_edges(fn, pts[:, k], bins[k], None if span is None else span[2 * k:2 * k + 2], ft)
             for k in builtins.range(dims)]
    w = None
    if weight is not None:
        check_tensor(weight, fn, "weight")
        if tuple(weight.shape) != tuple(weight_shape):
            raise RuntimeError(f"{fn}(): weight should have shape {tuple(weight_shape)}, got {tuple(weight.shape)}")
        w = to_host(weight).astype(np.float64).reshape(-1)
    idx = np.stack([_bin_index(pts[:, k], e) for k, e in enumerate(edges)], 1) if pts.size else \
        np.zeros((0, dims), np.int64)
    inside = (idx >= 0).all(axis=1)
    shape = [e.size - 1 for e in edges]
    flat = np.ravel_multi_index(tuple(idx[inside].T), shape) if shape else np.zeros(0, np.int64)
    hist = np.bincount(flat, None if w is None else w[inside], minlength=math.prod(shape)).astype(np.float64)
    hist = hist.reshape(shape)
    if density:
        volume = np.ones(shape)
        for k, e in enumerate(edges):
            volume = volume * np.diff(e.astype(np.float64)).reshape([1] * k + [-1] + [1] * (dims - k - 1))
        hist = hist / (hist.sum() * volume)
    return (from_host(hist.astype(ft), input.device, input.dtype),
            tuple(from_host(e, input.device, input.dtype) for e in edges))


def histogram(input, bins, *, range=None, weight=None, density=False):
    """(hist, bin_edges): a histogram of input with ``bins`` equal-width bins over ``range`` (the
    data's range by default) or with the given increasing bin edges; each value counts 1 or its
    weight, and density=True normalises the histogram to integrate to 1."""
    check_tensor(input, "histogram")
    hist, edges = _histogram_dd("histogram", input.reshape(-1, 1), 1, bins, range, weight, input.shape, density)
    return _histogram_result(hist, edges[0])


def histogramdd(input, bins, *, range=None, weight=None, density=False):
    """(hist, bin_edges): the D-dimensional histogram of the points in input's rows (shape
    (..., D)); ``bins`` is a count, one count per dim or one edge tensor per dim, ``range`` the
    (min, max) of each dim, flattened."""
    check_tensor(input, "histogramdd")
    if input.dim() < 1:
        raise RuntimeError("histogramdd(): input should have at least one dimension")
    hist, edges = _histogram_dd("histogramdd", input, input.shape[-1], bins, range, weight, input.shape[:-1],
                                density)
    return _histogramdd_result(hist, edges)


_METHODS = {name: globals()[name] for name in [
    "unique", "unique_consecutive", "argwhere", "bincount", "histc", "histogram",
]}
