"""Scans and reductions: cumprod, cummax/cummin, logcumsumexp, diff, gradient, nan-aware sums,
var_mean/std_mean, aminmax, count_nonzero, closeness tests, trapezoid rules, vander and renorm."""
import builtins
import math

import numpy as np

from . import _C
from ._ops_common import (Tensor, as_int, check_tensor, from_host, is_float, return_type, scalar_like, to_host,
                          type_name, wrap_dim)
from ._tensor import ones, zeros

__all__ = [
    "cumprod", "cummax", "cummin", "logcumsumexp", "diff", "gradient", "nansum", "nanmean", "var_mean", "std_mean",
    "aminmax", "count_nonzero", "isclose", "allclose", "equal", "trapezoid", "trapz", "cumulative_trapezoid",
    "vander", "renorm",
]

_dt = _C.dtype
_cummax_result = return_type("cummax", ("values", "indices"))
_cummin_result = return_type("cummin", ("values", "indices"))
_aminmax_result = return_type("aminmax", ("min", "max"))


# ---- scans ----------------------------------------------------------------------------------
# Note [Scans from differentiable ops]
# cumprod and logcumsumexp are Hillis-Steele scans: log2(n) rounds, each combining every
# element with the one `shift` places before it. Every round is ordinary dlcore ops (narrow,
# mul or exp/log, cat), so the scan runs on any device and autograd differentiates it; for
# cumprod the products' gradients need no division, so zeros in the input are handled exactly.
# The products are associated differently from a sequential scan, which changes float results
# only by rounding.
def _scan(x, dim, combine):
    n = x.shape[dim]
    shift = 1
    while shift < n:
        tail = combine(x.narrow(dim, shift, n - shift), x.narrow(dim, 0, n - shift))
        x = _C.cat([x.narrow(dim, 0, shift), tail], dim)
        shift *= 2
    return x


def cumprod(input, dim, *, dtype=None):
    """The cumulative product along dim (integers and bool accumulate in int64)."""
    check_tensor(input, "cumprod")
    d = wrap_dim(dim, input.dim(), "cumprod")
    if dtype is not None:
        x = input.to(dtype)
    elif not is_float(input):
        x = input.to(_dt.int64)
    else:
        x = input
    if x.dim() == 0:
        return x.clone()
    return _scan(x, d, lambda a, b: a * b)


def _logaddexp(a, b):
    m = _C.maximum(a, b).detach()
    m = m.masked_fill((m == math.inf) | (m == -math.inf), 0)
    return m + ((a - m).exp() + (b - m).exp()).log()


def logcumsumexp(input, dim):
    """log(cumsum(exp(input))) along dim, computed without overflow."""
    check_tensor(input, "logcumsumexp")
    if not is_float(input):
        raise RuntimeError(f"logcumsumexp: expected a floating-point input, got {input.dtype}")
    d = wrap_dim(dim, input.dim(), "logcumsumexp")
    if input.dim() == 0:
        return input.clone()
    return _scan(input, d, _logaddexp)


def _cum_extreme(input, dim, is_max):
    fn = "cummax" if is_max else "cummin"
    check_tensor(input, fn)
    d = wrap_dim(dim, input.dim(), fn)
    if input.dim() == 0:
        idx = zeros((), dtype=_dt.int64, device=input.device)
        return input.clone(), idx
    a = np.moveaxis(to_host(input), d, -1)
    if a.dtype == np.bool_:
        a = a.astype(np.int8)
    running = (np.maximum if is_max else np.minimum).accumulate(a, axis=-1) if a.size else a
    positions = np.broadcast_to(np.arange(a.shape[-1]), a.shape)
    # An element updates the running extreme when it equals it or is NaN (Note: once a NaN is
    # seen, the extreme stays NaN and only later NaNs move the index).
    update = (a == running) | (a != a)
    idx = np.maximum.accumulate(np.where(update, positions, -1), axis=-1) if a.size else positions
    indices = from_host(np.moveaxis(idx, -1, d), input.device, _dt.int64)
    return input.gather(d, indices), indices


def cummax(input, dim):
    """The running maximum along dim and the index where each was last attained."""
    return _cummax_result(*_cum_extreme(input, dim, True))


def cummin(input, dim):
    """The running minimum along dim and the index where each was last attained."""
    return _cummin_result(*_cum_extreme(input, dim, False))


def diff(input, n=1, dim=-1, prepend=None, append=None):
    """The n-th forward difference along dim, after concatenating prepend and append."""
    check_tensor(input, "diff")
    n = as_int(n, "diff", "n")
    if input.dim() == 0:
        raise RuntimeError("diff expects input to be at least one-dimensional")
    if n < 0:
        raise RuntimeError(f"diff: order must be non-negative but got {n}")
    d = wrap_dim(dim, input.dim(), "diff")
    if n == 0:
        return input.clone()
    parts = [input]
    for name, extra in (("prepend", prepend), ("append", append)):
        if extra is None:
            continue
        if not isinstance(extra, Tensor):
            raise TypeError(f"diff: {name} must be a Tensor, not {type_name(extra)}")
        if extra.dim() == 0:
            shape = list(input.shape)
            shape[d] = 1
            extra = extra.expand(*shape)
        parts.insert(0 if name == "prepend" else len(parts), extra)
    x = _C.cat(parts, d) if len(parts) > 1 else input
    for _ in range(n):
        m = x.shape[d]
        if m == 0:
            break
        hi, lo = x.narrow(d, 1, m - 1), x.narrow(d, 0, m - 1)
        x = hi != lo if x.dtype == _dt.bool else hi - lo
    return x


def gradient(input, *, spacing=1, dim=None, edge_order=1):
    """Estimates the derivative of input along each dim (or the given ones) with second-order
    central differences inside and first- or second-order one-sided ones at the edges.
    ``spacing`` is a scalar, one scalar per dim, or one coordinate tensor per dim."""
    check_tensor(input, "gradient")
    if edge_order not in (1, 2):
        raise RuntimeError(f"torch.gradient only supports edge_order=1 and edge_order=2, got {edge_order}")
    dims = list(range(input.dim())) if dim is None else [dim] if isinstance(dim, int) else list(dim)
    dims = [wrap_dim(d, input.dim(), "gradient") for d in dims]
    if isinstance(spacing, (list, tuple)):
        if len(spacing) != len(dims):
            raise RuntimeError(f"torch.gradient expected spacing to be unspecified, a scalar or a list of length "
                               f"equal to 'self.dim() = {len(dims)}', got a list of length {len(spacing)}")
        spacing = list(spacing)
    else:
        spacing = [spacing] * len(dims)
    x = input if is_float(input) else input.to(_dt.float32)
    out = []
    for d, h in zip(dims, spacing):
        n = x.shape[d]
        if n < edge_order + 1:
            raise RuntimeError(f"torch.gradient expected each dimension size to be at least edge_order+1, got "
                               f"size {n} in dim {d} (input shape {tuple(input.shape)})")
        out.append(_gradient_dim(x, d, h, edge_order))
    return tuple(out)


def _gradient_dim(x, d, h, edge_order):
    n = x.shape[d]
    f = lambda start, length=None: x.narrow(d, start, n - start if length is None else length)  # noqa: E731
    if isinstance(h, Tensor):
        if h.dim() != 1 or h.shape[0] != n:
            raise RuntimeError(f"torch.gradient expected each coordinate tensor to be 1-D with {n} elements, got "
                               f"shape {tuple(h.shape)}")
        shape = [1] * x.dim()
        shape[d] = n - 1
        dx = (h.narrow(0, 1, n - 1) - h.narrow(0, 0, n - 1)).to(x.dtype).reshape(shape)
        dx1, dx2 = dx.narrow(d, 0, n - 2), dx.narrow(d, 1, n - 2)
        a = -dx2 / (dx1 * (dx1 + dx2))
        b = (dx2 - dx1) / (dx1 * dx2)
        c = dx1 / (dx2 * (dx1 + dx2))
        interior = a * f(0, n - 2) + b * f(1, n - 2) + c * f(2, n - 2)
        h0, h1 = dx.narrow(d, 0, 1), dx.narrow(d, n - 2, 1)
        if edge_order == 1:
            first = (f(1, 1) - f(0, 1)) / h0
            last = (f(n - 1, 1) - f(n - 2, 1)) / h1
        else:
            g0, g1 = h0, dx.narrow(d, 1, 1)
            first = (-(2 * g0 + g1) / (g0 * (g0 + g1)) * f(0, 1) + (g0 + g1) / (g0 * g1) * f(1, 1)
                     - g0 / (g1 * (g0 + g1)) * f(2, 1))
            k0, k1 = dx.narrow(d, n - 3, 1), h1
            last = (k1 / (k0 * (k0 + k1)) * f(n - 3, 1) - (k1 + k0) / (k0 * k1) * f(n - 2, 1)
                    + (2 * k1 + k0) / (k1 * (k0 + k1)) * f(n - 1, 1))
    else:
        h = builtins.float(h.item() if isinstance(h, Tensor) else h)
        interior = (f(2, n - 2) - f(0, n - 2)) / (2 * h)
        if edge_order == 1:
            first = (f(1, 1) - f(0, 1)) / h
            last = (f(n - 1, 1) - f(n - 2, 1)) / h
        else:
            first = (-1.5 * f(0, 1) + 2 * f(1, 1) - 0.5 * f(2, 1)) / h
            last = (0.5 * f(n - 3, 1) - 2 * f(n - 2, 1) + 1.5 * f(n - 1, 1)) / h
    return _C.cat([first, interior, last], d)


# ---- reductions -----------------------------------------------------------------------------
def _isnan(x):
    return x != x


def nansum(input, dim=None, keepdim=False, *, dtype=None):
    """sum treating NaN as zero."""
    check_tensor(input, "nansum")
    x = input.masked_fill(_isnan(input), 0) if is_float(input) else input
    return x.sum(dim, keepdim, dtype=dtype)


def nanmean(input, dim=None, keepdim=False, *, dtype=None):
    """mean over the elements that are not NaN."""
    check_tensor(input, "nanmean")
    if not is_float(input) and dtype is None:
        raise RuntimeError(f"nanmean(): expected input to have floating point dtype but got {input.dtype}")
    x = input if dtype is None else input.to(dtype)
    nan = _isnan(x)
    count = (~nan).sum(dim, keepdim).to(x.dtype)
    return x.masked_fill(nan, 0).sum(dim, keepdim) / count


def _var_std_mean(fn, take_sqrt, input, dim, unbiased, keepdim, correction):
    check_tensor(input, fn)
    if isinstance(dim, builtins.bool):
        unbiased, dim = dim, None
    stat = (_C.std if take_sqrt else _C.var)(input, dim, unbiased, keepdim, correction=correction)
    return stat, input.mean(dim, keepdim)


def var_mean(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """(var, mean) over dim, with var's correction (1 unless given)."""
    return _var_std_mean("var_mean", False, input, dim, unbiased, keepdim, correction)


def std_mean(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """(std, mean) over dim, with std's correction (1 unless given)."""
    return _var_std_mean("std_mean", True, input, dim, unbiased, keepdim, correction)


def aminmax(input, *, dim=None, keepdim=False):
    """(amin, amax) of input, over dim when given."""
    check_tensor(input, "aminmax")
    if dim is None:
        if input.numel() == 0:
            raise RuntimeError(f"aminmax(): cannot compute aminmax over an empty dimension as the operation has no "
                               f"identity (input shape {tuple(input.shape)})")
        lo, hi = input.amin(), input.amax()
        if keepdim:
            shape = [1] * input.dim()
            lo, hi = lo.reshape(shape), hi.reshape(shape)
        return _aminmax_result(lo, hi)
    d = wrap_dim(dim, input.dim(), "aminmax")
    if input.dim() and input.shape[d] == 0:
        raise IndexError(f"aminmax(): expected reduction dim {d} to have non-zero size (input shape "
                         f"{tuple(input.shape)})")
    if input.dim() == 0:
        return _aminmax_result(input.clone(), input.clone())
    return _aminmax_result(input.amin(d, keepdim), input.amax(d, keepdim))


def count_nonzero(input, dim=None):
    """The number of non-zero elements, over dim (an int or a tuple) when given."""
    check_tensor(input, "count_nonzero")
    nz = input != 0
    if dim is None:
        return nz.sum()
    dims = [dim] if isinstance(dim, int) else list(dim)
    dims = [wrap_dim(d, input.dim(), "count_nonzero") for d in dims]
    if not dims:
        return nz.sum()
    return nz.sum(dims)


# ---- comparisons ------------------------------------------------------------------------------
def isclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    """|input - other| <= atol + rtol * |other| elementwise (equal infinities are close; NaNs are
    close to each other only with equal_nan)."""
    check_tensor(input, "isclose")
    check_tensor(other, "isclose", "other")
    if input.dtype != other.dtype:
        raise RuntimeError(f"isclose: {input.dtype} did not match {other.dtype}")
    if rtol < 0 or atol < 0:
        raise RuntimeError(f"isclose: rtol and atol must be non-negative, got rtol={rtol} and atol={atol}")
    if input.dtype == _dt.bool:
        return input == other
    a, b = (input, other) if is_float(input) else (input.to(_dt.float64), other.to(_dt.float64))
    close = a == b
    finite = (a - a == 0) & (b - b == 0)
    close = close | (finite & ((a - b).abs() <= atol + rtol * b.abs()))
    if equal_nan:
        close = close | (_isnan(a) & _isnan(b))
    return close


def allclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    """Whether isclose holds for every element (as a Python bool)."""
    return builtins.bool(isclose(input, other, rtol, atol, equal_nan).all().item())


def equal(input, other):
    """True when both tensors have the same shape and elements."""
    check_tensor(input, "equal")
    check_tensor(other, "equal", "other")
    if tuple(input.shape) != tuple(other.shape):
        return False
    return builtins.bool((input == other).all().item())


# ---- integration ------------------------------------------------------------------------------
def _trapezoid_parts(fn, y, x, dx, dim):
    check_tensor(y, fn, "y")
    d = wrap_dim(dim, y.dim(), fn)
    n = y.shape[d]
    if n == 0:
        return None, d
    avg = y.narrow(d, 1, n - 1) + y.narrow(d, 0, n - 1)
    if x is not None:
        if not isinstance(x, Tensor):
            raise TypeError(f"{fn}: x must be a Tensor, not {type_name(x)}")
        if x.dim() == 1:
            if x.shape[0] != n:
                raise RuntimeError(f"{fn}: there must be one `x` value for each sample point, got x of shape "
                                   f"{tuple(x.shape)} and y of shape {tuple(y.shape)}")
            shape = [1] * y.dim()
            shape[d] = n - 1
            spacing = (x.narrow(0, 1, n - 1) - x.narrow(0, 0, n - 1)).reshape(shape)
        else:
            xd = wrap_dim(dim, x.dim(), fn)
            spacing = x.narrow(xd, 1, x.shape[xd] - 1) - x.narrow(xd, 0, x.shape[xd] - 1)
        return avg * spacing / 2, d
    return avg * (1 if dx is None else dx) / 2, d


def trapezoid(y, x=None, *, dx=None, dim=-1):
    """The trapezoidal-rule integral of y along dim, at sample points x or with spacing dx."""
    if x is not None and dx is not None:
        raise RuntimeError("trapezoid: pass either x or dx, not both")
    if x is not None and not isinstance(x, Tensor):
        x, dx = None, x
    parts, d = _trapezoid_parts("trapezoid", y, x, dx, dim)
    if parts is None:
        shape = list(y.shape)
        del shape[d]
        return zeros(shape, dtype=y.dtype if is_float(y) else _dt.float32, device=y.device)
    return parts.sum(d)


def trapz(y, x=None, *, dx=None, dim=-1):
    """Alias of trapezoid."""
    return trapezoid(y, x, dx=dx, dim=dim)


def cumulative_trapezoid(y, x=None, *, dx=None, dim=-1):
    """The running trapezoidal-rule integral of y along dim (one element shorter than y)."""
    if x is not None and not isinstance(x, Tensor):
        x, dx = None, x
    parts, d = _trapezoid_parts("cumulative_trapezoid", y, x, dx, dim)
    if parts is None:
        return y.clone()
    return parts.cumsum(d)


# ---- construction -----------------------------------------------------------------------------
def vander(x, N=None, increasing=False):
    """The Vandermonde matrix of a 1-D x: columns x**(N-1), ..., x**0 (reversed when increasing)."""
    check_tensor(x, "vander", "x")
    if x.dim() != 1:
        raise RuntimeError(f"x must be a one-dimensional tensor, got shape {tuple(x.shape)}")
    n = x.shape[0] if N is None else as_int(N, "vander", "N")
    if n < 0:
        raise RuntimeError(f"N must be non-negative, got {n}")
    v = x if is_float(x) else x.to(_dt.int64)
    if n == 0:
        return zeros(x.shape[0], 0, dtype=v.dtype, device=x.device)
    cols = _C.cat([ones(x.shape[0], 1, dtype=v.dtype, device=x.device), v.unsqueeze(1).expand(x.shape[0], n - 1)], 1)
    out = cumprod(cols, 1)
    return out if increasing else _C.flip(out, [1])


def renorm(input, p, dim, maxnorm):
    """input with every slice along dim whose p-norm exceeds maxnorm scaled down to norm maxnorm."""
    check_tensor(input, "renorm")
    if not is_float(input):
        raise RuntimeError(f"renorm: expected a floating-point input, got {input.dtype}")
    if p <= 0:
        raise RuntimeError(f"renorm: non-positive norm not supported, got p={p}")
    if maxnorm < 0:
        raise RuntimeError(f"renorm: expected maxnorm to be >= 0 but got {maxnorm}")
    if input.dim() < 2:
        raise RuntimeError(f"renorm: input needs at least 2 dimensions, got {input.dim()} dimensions "
                           f"(shape {tuple(input.shape)})")
    d = wrap_dim(dim, input.dim(), "renorm")
    others = [k for k in range(input.dim()) if k != d]
    norm = input.norm(p, others, True) if others else input.abs()
    factor = _C.where(norm > maxnorm, maxnorm / (norm + 1e-7), scalar_like(1.0, norm))
    return input * factor


_METHODS = {name: globals()[name] for name in [
    "cumprod", "cummax", "cummin", "logcumsumexp", "diff", "nansum", "nanmean", "aminmax", "count_nonzero", "isclose",
    "allclose", "equal", "renorm",
]}
_INPLACE = {"cumprod_": cumprod, "renorm_": renorm}
