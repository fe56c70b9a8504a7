"""Norms, condition numbers, ranks, the pseudo-inverse and least squares."""
import math

import numpy as np

import dlcore

from dlcore.autograd import Function

from ._common import check_float, check_matrix, check_same_dtype, eps_of, from_np, from_np_int, mT, np64
from ._common import result_type, svd_np_checked
from ._factor import inv_ex
from ._spectral import svdvals

__all__ = ["vector_norm", "matrix_norm", "norm", "cond", "matrix_rank", "pinv", "lstsq"]

Lstsq = result_type("linalg_lstsq", "solution", "residuals", "rank", "singular_values")

_MATRIX_ORDS = ("fro", "nuc", math.inf, -math.inf, 1, -1, 2, -2)


def _dims(x, dim):
    if dim is None:
        return tuple(range(x.dim()))
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    for d in dims:
        if not -max(x.dim(), 1) <= d < max(x.dim(), 1):
            raise IndexError(f"Dimension out of range (expected to be in range of [{-max(x.dim(), 1)}, "
                             f"{max(x.dim(), 1) - 1}], but got {d})")
    return dims


def vector_norm(x, ord=2, dim=None, keepdim=False, *, dtype=None):
    """The ord-norm of x over ``dim`` (all dimensions when None) treated as one vector:
    (sum |x|^ord)^(1/ord); inf/-inf give max/min |x|, 0 counts the nonzeros."""
    check_float("linalg.vector_norm", x, "x")
    if isinstance(ord, str) or not isinstance(ord, (int, float)):
        raise TypeError(f"linalg.vector_norm: ord must be a number, got {ord!r}")
    if dtype is not None:
        x = x.to(dtype)
    dims = _dims(x, dim)
    if x.dim() == 0:
        return dlcore.norm(x.reshape(1), float(ord), dim=(0,)).reshape(())
    if ord < 0 or math.isinf(ord):
        for d in dims:
            if x.shape[d] == 0:
                raise RuntimeError(f"linalg.vector_norm cannot compute the {ord} norm on an empty tensor because "
                                   "the operation does not have an identity")
    return dlcore.norm(x, float(ord), dim=dims, keepdim=keepdim)


def _matrix_dims(A, dim):
    if len(dim) != 2:
        raise RuntimeError(f"linalg.matrix_norm: dim must be a 2-tuple, got {dim}")
    d0, d1 = (d % A.dim() if -A.dim() <= d < A.dim() else None for d in dim)
    if d0 is None or d1 is None or d0 == d1:
        raise IndexError(f"linalg.matrix_norm: dims {dim} must be two distinct dimensions of a tensor of shape "
                         f"{list(A.shape)}")
    return d0, d1


def matrix_norm(A, ord="fro", dim=(-2, -1), keepdim=False, *, dtype=None):
    """The ord-norm of the matrices spanned by the dimensions ``dim`` of A: 'fro', 'nuc' (sum of
    singular values), inf/-inf (max/min row sum of |A|), 1/-1 (max/min column sum), 2/-2
    (largest/smallest singular value)."""
    name = "linalg.matrix_norm"
    check_float(name, A)
    if A.dim() < 2:
        raise RuntimeError(f"{name}: A must have at least 2 dimensions, got shape {list(A.shape)}")
    if ord not in _MATRIX_ORDS:
        raise RuntimeError(f"{name}: Order {ord} not supported.")
    if dtype is not None:
        A = A.to(dtype)
    d0, d1 = _matrix_dims(A, tuple(dim))
    if ord == "fro":
        return dlcore.norm(A, 2.0, dim=(d0, d1), keepdim=keepdim)
    if ord in ("nuc", 2, -2):
        rest = [d for d in range(A.dim()) if d not in (d0, d1)]
        s = svdvals(A.permute(*rest, d0, d1))
        if s.shape[-1] == 0 and ord == 2:
            out = s.sum(-1).detach()  # the largest singular value of an empty matrix: 0, as in torch
        else:
            out = s.sum(-1) if ord == "nuc" else (s.amax(-1) if ord == 2 else s.amin(-1))
    else:
        # 1/-1: sum over rows (d0), then max/min over columns; inf/-inf: the transposed roles
        summed, reduced = (d0, d1) if abs(ord) == 1 else (d1, d0)
        if A.shape[reduced] == 0 and ord > 0:
            out = A.abs().sum((d0, d1), keepdim=True).detach()  # the max over no columns (rows): 0, as in torch
            return out if keepdim else out.squeeze(max(d0, d1)).squeeze(min(d0, d1))
        if A.shape[reduced] == 0:
            raise RuntimeError(f"{name}: cannot compute the {ord} norm of matrices with an empty dimension "
                               f"(A of shape {list(A.shape)})")
        sums = A.abs().sum(summed, keepdim=True)
        out = sums.amax(reduced, keepdim=True) if ord > 0 else sums.amin(reduced, keepdim=True)
        return out if keepdim else out.squeeze(max(d0, d1)).squeeze(min(d0, d1))
    if keepdim:
        out = out.unsqueeze(min(d0, d1)).unsqueeze(max(d0, d1))
    return out


def norm(A, ord=None, dim=None, keepdim=False, *, dtype=None):
    """A vector or matrix norm: a matrix norm when ``dim`` is a 2-tuple (or A is 2-D and ord is
    given without dim), a vector norm otherwise (over all of A when ord and dim are None)."""
    check_float("linalg.norm", A)
    if dim is not None:
        dims = (dim,) if isinstance(dim, int) else tuple(dim)
        if len(dims) == 2:
            return matrix_norm(A, "fro" if ord is None else ord, dims, keepdim, dtype=dtype)
        return vector_norm(A, 2 if ord is None else ord, dims, keepdim, dtype=dtype)
    if ord is None:
        return vector_norm(A, 2, None, keepdim, dtype=dtype)
    if A.dim() == 2:
        return matrix_norm(A, ord, (-2, -1), keepdim, dtype=dtype)
    if A.dim() == 1:
        return vector_norm(A, ord, None, keepdim, dtype=dtype)
    raise RuntimeError(f"linalg.norm: If dim is not specified but ord is, the input must be 1D or 2D. Got "
                       f"{A.dim()}D.")


def cond(A, p=None):
    """The condition number of A in the p-norm: the ratio of extreme singular values for
    p = None/2/-2, else matrix_norm(A, p) * matrix_norm(inv(A), p) for square A (inf where A is
    singular)."""
    name = "linalg.cond"
    check_matrix(name, A)
    if p is not None and p not in _MATRIX_ORDS:
        raise RuntimeError(f"{name}: Order {p} not supported.")
    if p in (None, 2, -2):
        s = svdvals(A)
        if s.shape[-1] == 0:
            return s.sum(-1)
        big, small = s.amax(-1), s.amin(-1)
        return big / small if p != -2 else small / big
    check_matrix(name, A, square=True)
    if A.shape[-1] == 0:
        return dlcore.zeros(A.shape[:-2], dtype=A.dtype, device=A.device)  # an empty matrix: 0, as in torch
    Ainv, info = inv_ex(A)
    singular = (info > 0).unsqueeze(-1).unsqueeze(-1)
    result = matrix_norm(A, p) * matrix_norm(dlcore.where(singular, 0.0, Ainv), p)
    return dlcore.where(info > 0, dlcore.full_like(result, math.inf), result)  # singular: infinitely ill-conditioned


def _tolerance(name, A, s, atol, rtol):
    """The cutoff below which singular values count as zero (float64 array of the batch shape)."""
    def as_np(t):
        return np64(t) if isinstance(t, dlcore.Tensor) else np.asarray(0.0 if t is None else t, np.float64)

    if rtol is None:
        default = eps_of(A) * max(A.shape[-2:])
        zero_atol = atol is None or (not isinstance(atol, dlcore.Tensor) and atol <= 0)
        rtol = default if zero_atol else 0.0
    smax = s[..., 0] if s.shape[-1] else np.zeros(s.shape[:-1])
    return np.maximum(as_np(atol), as_np(rtol) * smax)


def matrix_rank(A, *, atol=None, rtol=None, hermitian=False):
    """The number of singular values (|eigenvalues| with hermitian=True) of A above
    max(atol, rtol * largest); rtol defaults to eps * max(m, n) unless a positive atol is given."""
    name = "linalg.matrix_rank"
    check_matrix(name, A, square=hermitian)
    a = np64(A)
    if a.size == 0:
        return from_np_int(np.zeros(a.shape[:-2]), dlcore.int64)
    if hermitian:
        s = np.sort(np.abs(np.linalg.eigvalsh(a)), -1)[..., ::-1]
    else:
        s = svd_np_checked(name, a, compute_uv=False)
    tol = _tolerance(name, A, s, atol, rtol)
    return from_np_int((s > tol[..., None]).sum(-1), dlcore.int64)


def pinv(A, *, atol=None, rtol=None, hermitian=False):
    """The Moore-Penrose pseudo-inverse of A (*, m, n), singular values at or below
    max(atol, rtol * largest) treated as zero (rtol defaults as in matrix_rank)."""
    name = "linalg.pinv"
    check_matrix(name, A, square=hermitian)
    a = np64(A)
    m, n = a.shape[-2:]
    if a.size == 0:
        p = np.zeros(a.shape[:-2] + (n, m))
    elif hermitian:
        w, v = np.linalg.eigh(a)
        s = np.sort(np.abs(w), -1)[..., ::-1]
        tol = _tolerance(name, A, s, atol, rtol)
        with np.errstate(divide="ignore"):
            winv = np.where(np.abs(w) > tol[..., None], 1.0 / w, 0.0)
        p = (v * winv[..., None, :]) @ np.swapaxes(v, -1, -2)
    else:
        u, s, vh = svd_np_checked(name, a, full_matrices=False)
        tol = _tolerance(name, A, s, atol, rtol)
        with np.errstate(divide="ignore"):
            sinv = np.where(s > tol[..., None], 1.0 / s, 0.0)
        p = (np.swapaxes(vh, -1, -2) * sinv[..., None, :]) @ np.swapaxes(u, -1, -2)
    return _Pinv.apply(A, p)


class _Pinv(Function):
    """The pseudo-inverse P of A, given its numpy value. The gradient is the derivative at constant
    rank: dP = -P dA P + P P^T dA^T (I - A P) + (I - P A) dA^T P^T P."""

    @staticmethod
    def forward(ctx, A, value):
        P = from_np(value, A)
        ctx.save_for_backward(A, P)
        return P

    @staticmethod
    def backward(ctx, g):
        A, P = ctx.saved_tensors
        Pt, gt = mT(P), mT(g)
        return -(Pt @ g @ Pt) + (gt - A @ (P @ gt)) @ (P @ Pt) + (Pt @ P) @ (gt - (gt @ P) @ A), None


_DRIVERS = ("gels", "gelsy", "gelsd", "gelss")


def lstsq(A, B, rcond=None, *, driver=None):
    """The least-squares solution of A X = B for A (*, m, n), B (*, m, k) or (*, m), with the
    outputs of torch's CPU drivers: residuals (squared, per column) when m > n, every A has full
    rank and driver is not 'gelsy'; rank unless driver is 'gels'; singular_values for 'gelsd' and
    'gelss'. Rank-deficient systems get the minimum-norm solution, singular values at or below
    rcond * largest (default eps * max(m, n)) counting as zero. Differentiable in A and B."""
    name = "torch.linalg.lstsq"
    check_matrix(name, A)
    check_float(name, B, "B")
    check_same_dtype(name, A, B)
    driver = "gelsy" if driver is None else driver
    if driver not in _DRIVERS:
        raise RuntimeError(f"{name}: parameter `driver` should be one of {_DRIVERS}")
    if not (A.dim() >= B.dim() and A.dim() - B.dim() <= 1):
        raise RuntimeError(f"{name}: input.dim() must be greater or equal to other.dim() and "
                           "(input.dim() - other.dim()) <= 1")
    vector = A.dim() - B.dim() == 1
    B2 = B.unsqueeze(-1) if vector else B
    m, n = A.shape[-2:]
    if B2.shape[-2] != m:
        raise RuntimeError(f"{name}: input.size(-2) should match other.size(-2) (A {list(A.shape)}, "
                           f"B {list(B.shape)})")
    a = np64(A)
    s = svd_np_checked(name, a, compute_uv=False) if a.size else np.zeros(a.shape[:-2] + (min(m, n),))
    rtol = eps_of(A) * max(m, n) if rcond is None or rcond < 0 else rcond
    tol = _tolerance(name, A, s, None, rtol)
    rank = (s > tol[..., None]).sum(-1)
    X = pinv(A, rtol=rtol) @ B2
    full_rank = bool(np.all(rank == min(m, n)))
    if m > n and full_rank and driver != "gelsy" and A.numel():
        residuals = ((A @ X - B2) ** 2).sum(-2)
        if vector:
            residuals = residuals.squeeze(-1)
    else:
        residuals = dlcore.empty(0, dtype=A.dtype)
    rank_t = from_np_int(rank, dlcore.int64) if driver != "gels" else dlcore.empty(0, dtype=dlcore.int64)
    sv = from_np(s, A) if driver in ("gelsd", "gelss") else dlcore.empty(0, dtype=A.dtype)
    return Lstsq(X.squeeze(-1) if vector else X, residuals, rank_t, sv)
