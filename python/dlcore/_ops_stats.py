"""Order statistics and covariance: median, nanmedian, mode, kthvalue, quantile, nanquantile, msort,
cov and corrcoef. Values are gathered from dlcore's sort, so they differentiate like PyTorch's."""
import builtins

import numpy as np

from . import _C
from ._ops_common import (Tensor, as_int, check_tensor, from_host, index_tensor, is_float, requires_grad,
                          return_type, to_host, wrap_dim)

__all__ = ["median", "nanmedian", "mode", "kthvalue", "quantile", "nanquantile", "msort", "cov", "corrcoef"]

_dt = _C.dtype
_median_result = return_type("median", ("values", "indices"))
_nanmedian_result = return_type("nanmedian", ("values", "indices"))
_mode_result = return_type("mode", ("values", "indices"))
_kthvalue_result = return_type("kthvalue", ("values", "indices"))


def _isnan(x):
    return x != x


# Note [median of rows with NaN]
# Rows are sorted stably, which puts NaNs last. median's answer for a row with a NaN is its
# first NaN (PyTorch propagates NaN); nanmedian takes the lower median of the non-NaN values,
# or NaN when the row has nothing else. The position is computed per row and gathered from the
# sorted values and indices.
def _median_dim(fn, input, dim, keepdim, ignore_nan):
    check_tensor(input, fn)
    d = wrap_dim(dim, input.dim(), fn)
    x = input.reshape(1) if input.dim() == 0 else input
    n = x.shape[d]
    if n == 0:
        raise IndexError(f"{fn}(): expected reduction dim {d} to have non-zero size (input shape "
                         f"{tuple(input.shape)})")
    values, indices = x.sort(d, stable=True)
    nans = _isnan(x).sum(d, True)
    if ignore_nan:
        pos = ((n - 1 - nans).clamp(min=0).double() / 2).long()
    else:
        pos = _C.where(nans > 0, n - nans, (n - 1) // 2)
    v, i = values.gather(d, pos), indices.gather(d, pos)
    if input.dim() == 0:
        v, i = v.reshape(()), i.reshape(())
    elif not keepdim:
        v, i = v.squeeze(d), i.squeeze(d)
    result = _nanmedian_result if ignore_nan else _median_result
    return result(v, i)


# Note [Global median gradient]
# As in PyTorch, median() without a dim spreads the gradient evenly over all elements equal to
# the median: the mean of those elements has that gradient, and adding the median minus that
# mean (a constant, zero up to rounding) makes the value exactly the median.
def _median_all(fn, input, ignore_nan):
    check_tensor(input, fn)
    flat = input.reshape(-1)
    if flat.shape[0] == 0:
        if is_float(input):
            return flat.sum() + float("nan")  # NaN, attached to input's graph like torch's
        return from_host(np.array(np.nan, dtype=np.float64 if input.dtype == _dt.float64 else np.float32),
                         input.device).to(input.dtype)
    value = _median_dim(fn, flat, 0, False, ignore_nan).values
    if not requires_grad(input) or not builtins.bool((value - value == 0).item()):
        return value
    ties = (flat == value).detach()
    mean = flat.masked_fill(~ties, 0).sum() / ties.sum().to(flat.dtype)
    return mean + (value - mean).detach()


def median(input, dim=None, keepdim=False):
    """The lower median of all elements, or (values, indices) along dim. NaN propagates."""
    if dim is None:
        return _median_all("median", input, False)
    return _median_dim("median", input, dim, keepdim, False)


def nanmedian(input, dim=None, keepdim=False):
    """median ignoring NaN values (NaN only where a row has nothing else)."""
    if dim is None:
        return _median_all("nanmedian", input, True)
    return _median_dim("nanmedian", input, dim, keepdim, True)


def kthvalue(input, k, dim=-1, keepdim=False):
    """The k-th smallest element (1-based) along dim, with its index."""
    check_tensor(input, "kthvalue")
    k = as_int(k, "kthvalue", "k")
    d = wrap_dim(dim, input.dim(), "kthvalue")
    x = input.reshape(1) if input.dim() == 0 else input
    n = x.shape[d]
    if not 1 <= k <= n:
        raise IndexError(f"kthvalue(): selected number k ({k}) out of range for dimension {d} of size {n} (input "
                         f"shape {tuple(input.shape)})")
    values, indices = x.sort(d, stable=True)
    v, i = values.narrow(d, k - 1, 1), indices.narrow(d, k - 1, 1)
    if input.dim() == 0:
        v, i = v.reshape(()), i.reshape(())
    elif not keepdim:
        v, i = v.squeeze(d), i.squeeze(d)
    return _kthvalue_result(v, i)


def mode(input, dim=-1, keepdim=False):
    """The most frequent value along dim (the smallest among equally frequent ones) and the index
    of its last occurrence."""
    check_tensor(input, "mode")
    d = wrap_dim(dim, input.dim(), "mode")
    x = input.reshape(1) if input.dim() == 0 else input
    if x.shape[d] == 0:
        raise IndexError(f"mode(): expected reduction dim {d} to have non-zero size (input shape "
                         f"{tuple(input.shape)})")
    a = np.moveaxis(to_host(x), d, -1)
    rows = a.reshape(-1, a.shape[-1])
    best = np.empty(rows.shape[0], dtype=np.int64)
    for r, row in enumerate(rows):
        vals, counts = np.unique(row, return_counts=True)
        value = vals[np.argmax(counts)]
        hits = np.nonzero((row == value) | ((value != value) & (row != row)))[0]
        best[r] = hits[-1]
    shape = list(a.shape[:-1]) + [1]
    indices = from_host(np.moveaxis(best.reshape(shape), -1, d), input.device, _dt.int64)
    values = x.gather(d, indices)
    if input.dim() == 0:
        values, indices = values.reshape(()), indices.reshape(())
    elif not keepdim:
        values, indices = values.squeeze(d), indices.squeeze(d)
    return _mode_result(values, indices)


def msort(input):
    """input sorted along dim 0."""
    check_tensor(input, "msort")
    return input.sort(0).values


# ---- quantiles ------------------------------------------------------------------------------
_INTERPOLATIONS = ("linear", "lower", "higher", "midpoint", "nearest")


def _quantile(fn, input, q, dim, keepdim, interpolation, ignore_nan):
    check_tensor(input, fn)
    if not is_float(input):
        raise RuntimeError(f"{fn}() input tensor must be either float or double dtype, got {input.dtype}")
    if interpolation not in _INTERPOLATIONS:
        raise ValueError(f"{fn}() interpolation must be one of linear, lower, higher, midpoint or nearest, got "
                         f"{interpolation!r}")
    if input.numel() == 0:
        raise RuntimeError(f"{fn}() input tensor must be non-empty")
    if isinstance(q, Tensor):
        if q.dim() > 1:
            raise RuntimeError(f"{fn}() q must be a scalar or 1D tensor, got shape {tuple(q.shape)}")
        if q.dtype != input.dtype:
            raise RuntimeError(f"{fn}() q tensor must be same dtype as the input tensor, got {q.dtype} and "
                               f"{input.dtype}")
        qs, q_shape = to_host(q).reshape(-1), list(q.shape)
    else:
        qs, q_shape = np.array([builtins.float(q)]), []
    if qs.size and (qs.min() < 0 or qs.max() > 1):
        raise RuntimeError(f"{fn}() q values must be in the range [0, 1]")
    np_dtype = np.float64 if input.dtype == _dt.float64 else np.float32
    qs = qs.astype(np_dtype)

    if dim is None:
        x, d = input.reshape(-1), 0
        out_shape = [1] * input.dim() if keepdim else []
    else:
        d = wrap_dim(dim, input.dim(), fn)
        x = input.reshape(1) if input.dim() == 0 else input
        out_shape = list(x.shape)
        if keepdim:
            out_shape[d] = 1
        else:
            del out_shape[d]
        if input.dim() == 0:
            out_shape = []
    from ._ops_shape import movedim
    rows = movedim(x, d, -1)
    n = rows.shape[-1]
    rows = rows.reshape(-1, n)
    values = rows.sort(-1, stable=True).values
    nans = to_host(_isnan(rows).sum(-1))
    count = (n - nans) if ignore_nan else np.where(nans > 0, 0, n)
    # ranks in the input's dtype, as PyTorch computes them; rows ending in NaN (quantile) or all-NaN
    # rows (nanquantile) read the last element, a NaN.
    rank = qs[:, None] * (count[None, :] - 1).astype(np_dtype)
    rank = np.where(count[None, :] > 0, rank, n - 1).astype(np_dtype)
    lo = np.floor(rank).astype(np.int64)
    hi = np.ceil(rank).astype(np.int64)
    if interpolation == "lower":
        hi = lo
    elif interpolation == "higher":
        lo = hi
    elif interpolation == "nearest":
        lo = hi = np.round(rank).astype(np.int64)
    weight = (rank - lo).astype(np_dtype) if interpolation == "linear" else \
        np.full(rank.shape, 0.5 if interpolation == "midpoint" else 0.0, dtype=np_dtype)
    nq, nrows = rank.shape
    table = values.unsqueeze(0).expand(nq, nrows, n)
    v_lo = table.gather(2, index_tensor(lo, input.device).unsqueeze(-1)).squeeze(-1)
    v_hi = table.gather(2, index_tensor(hi, input.device).unsqueeze(-1)).squeeze(-1)
    w = from_host(weight, input.device, input.dtype)
    delta = v_hi - v_lo
    out = _C.where(w < 0.5, v_lo + w * delta, v_hi - delta * (1 - w))
    return out.reshape(q_shape + out_shape)


def quantile(input, q, dim=None, keepdim=False, *, interpolation="linear"):
    """The q-th quantiles of input (over all elements or along dim); q is a number or a 1-D tensor
    of numbers in [0, 1], whose dim comes first in the result. NaN propagates."""
    return _quantile("quantile", input, q, dim, keepdim, interpolation, False)


def nanquantile(input, q, dim=None, keepdim=False, *, interpolation="linear"):
    """quantile ignoring NaN values."""
    return _quantile("nanquantile", input, q, dim, keepdim, interpolation, True)


# ---- covariance -----------------------------------------------------------------------------
def cov(input, *, correction=1, fweights=None, aweights=None):
    """The covariance matrix of the variables in input's rows (observations in columns), with
    optional integer frequency weights and float observation weights."""
    check_tensor(input, "cov")
    if input.dim() > 2:
        raise RuntimeError(f"cov(): expected input to have two or fewer dimensions but got an input with "
                           f"{input.dim()} dimensions")
    x = input.reshape(1, -1) if input.dim() < 2 else input
    if not is_float(x):
        x = x.to(_dt.float32)
    n_obs = x.shape[1]
    w = None
    if fweights is not None:
        check_tensor(fweights, "cov", "fweights")
        if fweights.dim() > 1 or fweights.numel() != n_obs or is_float(fweights):
            raise RuntimeError(f"cov(): expected fweights to be a 1-D integer tensor with {n_obs} elements, got "
                               f"{fweights.dtype} of shape {tuple(fweights.shape)}")
        if (to_host(fweights) < 0).any():
            raise RuntimeError("cov(): fweights cannot be negative")
        w = fweights.reshape(-1).to(x.dtype)
    if aweights is not None:
        check_tensor(aweights, "cov", "aweights")
        if aweights.dim() > 1 or aweights.numel() != n_obs or not is_float(aweights):
            raise RuntimeError(f"cov(): expected aweights to be a 1-D floating-point tensor with {n_obs} elements, "
                               f"got {aweights.dtype} of shape {tuple(aweights.shape)}")
        if (to_host(aweights) < 0).any():
            raise RuntimeError("cov(): aweights cannot be negative")
        if aweights.dtype != x.dtype:
            x = x.to(_C.promote_types(x.dtype, aweights.dtype))
            w = None if w is None else w.to(x.dtype)
        aw = aweights.reshape(-1).to(x.dtype)
        w = aw if w is None else w * aw
    if w is None:
        avg = x.mean(1)
        norm = n_obs - correction
    else:
        w_sum = w.sum()
        avg = (x * w).sum(1) / w_sum
        if correction == 0:
            norm = w_sum
        elif aweights is None:
            norm = w_sum - correction
        else:
            norm = w_sum - correction * (w * aweights.reshape(-1).to(x.dtype)).sum() / w_sum
    if isinstance(norm, Tensor):
        norm = norm.clamp(min=0)
    else:
        norm = builtins.max(norm, 0)
    centered = x - avg.unsqueeze(1)
    weighted = centered if w is None else centered * w
    c = _C.mm(centered, weighted.t()) / norm
    return c.reshape(()) if input.dim() < 2 or x.shape[0] == 1 else c


def corrcoef(input):
    """The Pearson correlation coefficients of the variables in input's rows, clipped to [-1, 1]."""
    check_tensor(input, "corrcoef")
    if input.dim() > 2:
        raise RuntimeError(f"corrcoef(): expected input to have two or fewer dimensions but got an input with "
                           f"{input.dim()} dimensions")
    c = cov(input)
    if c.dim() == 0:
        return c / c
    from ._ops_shape import diagonal
    std = diagonal(c).sqrt()
    c = c / std.unsqueeze(1) / std.unsqueeze(0)
    return c.clamp(-1, 1)


_METHODS = {name: globals()[name] for name in [
    "median", "nanmedian", "mode", "kthvalue", "quantile", "nanquantile", "msort", "cov", "corrcoef",
]}
