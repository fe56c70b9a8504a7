"""Inverses, solves, determinants and the LU and Cholesky factorisations.

Forward passes run in float64 numpy and are cast back to the input's dtype; each is an autograd
Function differentiable to any order (Note [Differentiable decompositions])."""
import numpy as np

import dlcore
from dlcore.autograd import Function

from ._common import (
    LinAlgError, check_float, check_matrix, check_same_dtype, check_tensor, from_np, from_np_int, mT, np64,
    result_type, sum_to, sym,
)

__all__ = ["inv", "inv_ex", "solve", "solve_ex", "solve_triangular", "det", "slogdet", "cholesky",
           "cholesky_ex", "lu_factor", "lu_factor_ex", "lu", "lu_solve"]

InvEx = result_type("linalg_inv_ex", "inverse", "info")
SolveEx = result_type("linalg_solve_ex", "result", "info")
Slogdet = result_type("linalg_slogdet", "sign", "logabsdet")
CholeskyEx = result_type("linalg_cholesky_ex", "L", "info")
LUFactor = result_type("linalg_lu_factor", "LU", "pivots")
LUFactorEx = result_type("linalg_lu_factor_ex", "LU", "pivots", "info")
LU = result_type("linalg_lu", "P", "L", "U")


def _batch_label(info):
    """' (batch element i)' for the first failing matrix of a batch, '' for a single matrix."""
    if info.ndim == 0:
        return ""
    return f" (batch element {int(np.flatnonzero(info.reshape(-1))[0])})"


def _first_failure(info):
    return int(info.reshape(-1)[np.flatnonzero(info.reshape(-1))[0]])


# ---- LU ----------------------------------------------------------------------------------------
def lu_np(a):
    """Partial-pivoting LU of a float64 array (..., m, n), pivoting as LAPACK's getrf does.

    Returns the packed factors, the 1-based pivots (..., min(m, n)) and info (..., ): 0, or the
    1-based index of the first zero pivot."""
    m, n = a.shape[-2:]
    k = min(m, n)
    batch = a.shape[:-2]
    lu_ = a.reshape((int(np.prod(batch, dtype=np.int64)), m, n)).copy()
    rows = np.arange(lu_.shape[0])
    piv = np.zeros((lu_.shape[0], k), np.int64)
    info = np.zeros(lu_.shape[0], np.int64)
    for j in range(k):
        p = j + np.argmax(np.abs(lu_[:, j:, j]), axis=1)
        piv[:, j] = p + 1
        top = lu_[rows, j].copy()
        lu_[rows, j] = lu_[rows, p]
        lu_[rows, p] = top
        d = lu_[:, j, j]
        zero = d == 0
        info[(info == 0) & zero] = j + 1
        col = lu_[:, j + 1:, j] / np.where(zero, 1.0, d)[:, None]
        lu_[:, j + 1:, j] = col
        lu_[:, j + 1:, j + 1:] -= col[:, :, None] * lu_[:, j, None, j + 1:]
    return lu_.reshape(a.shape), piv.reshape(batch + (k,)), info.reshape(batch)


def perm_from_pivots(piv, m):
    """The row order (..., m) that LAPACK-style 1-based pivots (..., k) apply."""
    flat = piv.reshape(int(np.prod(piv.shape[:-1], dtype=np.int64)), piv.shape[-1]) - 1
    perm = np.tile(np.arange(m), (flat.shape[0], 1))
    rows = np.arange(flat.shape[0])
    for i in range(flat.shape[1]):
        p = flat[:, i]
        first = perm[rows, i].copy()
        perm[rows, i] = perm[rows, p]
        perm[rows, p] = first
    return perm.reshape(piv.shape[:-1] + (m,))


def perm_matrix(perm):
    """P with A = P @ L @ U for the row order perm: P[..., perm[i], i] = 1."""
    m = perm.shape[-1]
    return np.swapaxes(np.eye(m)[perm], -1, -2)


def _unpack_np(lu_, m, n):
    k = min(m, n)
    L = np.tril(lu_[..., :, :k], -1) + np.eye(m, k)
    U = np.triu(lu_[..., :k, :])
    return L, U


def _pad(x, rows, cols):
    """x (*, r, c) padded with zeros at the bottom/right to (*, rows, cols)."""
    r, c = x.shape[-2:]
    if rows > r:
        x = dlcore.cat([x, dlcore.zeros(*x.shape[:-2], rows - r, c, dtype=x.dtype)], -2)
    if cols > c:
        x = dlcore.cat([x, dlcore.zeros(*x.shape[:-2], rows, cols - c, dtype=x.dtype)], -1)
    return x


def _lu_square_vjp(L, U, gL, gU):
    """The gradient with respect to P^T A of A = P L U for square L, U."""
    gX = (mT(L) @ gL).tril(-1) + (gU @ mT(U)).triu()
    Y = solve_triangular(mT(L), gX, upper=True, unitriangular=True)
    return solve_triangular(mT(U), Y, upper=False, left=False)


class _LUFactors(Function):
    """(L, U) of A = P L U; P (constant) is passed in with the numpy factors."""

    @staticmethod
    def forward(ctx, A, P, L, U):
        Lt, Ut = from_np(L, A), from_np(U, A)
        ctx.P = from_np(P, A)
        ctx.save_for_backward(Lt, Ut)
        return Lt, Ut

    @staticmethod
    def backward(ctx, gL, gU):
        L, U = ctx.saved_tensors
        m, n = L.shape[-2], U.shape[-1]
        if m == n:
            gA = _lu_square_vjp(L, U, gL, gU)
        elif m > n:  # L = [L1; L2] with dL2 = (dA2 - L2 dU) U^-1
            gA2 = solve_triangular(mT(U), gL[..., n:, :], upper=False, left=False)
            gU = gU - mT(L[..., n:, :]) @ gA2
            gA = dlcore.cat([_lu_square_vjp(L[..., :n, :], U, gL[..., :n, :], gU), gA2], -2)
        else:  # U = [U1, U2] with dU2 = L^-1 (dA2 - dL U2)
            gA2 = solve_triangular(mT(L), gU[..., :, m:], upper=True, unitriangular=True)
            gL = gL - gA2 @ mT(U[..., :, m:])
            gA = dlcore.cat([_lu_square_vjp(L, U[..., :, :m], gL, gU[..., :, :m]), gA2], -1)
        return ctx.P @ gA, None, None, None


def _lu_parts(name, A, pivot):
    check_matrix(name, A)
    if not pivot:
        raise RuntimeError(f"{name}: LU without pivoting is not implemented on the CPU")
    a = np64(A)
    m, n = a.shape[-2:]
    lu_, piv, info = lu_np(a)
    L, U = _unpack_np(lu_, m, n)
    P = perm_matrix(perm_from_pivots(piv, m))
    return a, lu_, piv, info, P, L, U


def lu_factor_ex(A, *, pivot=True, check_errors=False):
    """The packed LU factorisation of A (*, m, n) with partial pivoting, its 1-based pivots
    (int32) and info (int32: 0, or i when U[i-1, i-1] is zero)."""
    name = "linalg.lu_factor_ex"
    a, lu_, piv, info, P, L, U = _lu_parts(name, A, pivot)
    if check_errors and info.any():
        raise LinAlgError(f"{name}{_batch_label(info)}: The factorization could not be completed because "
                          f"U[{_first_failure(info)},{_first_failure(info)}] is zero")
    if dlcore.is_grad_enabled() and A.requires_grad:
        m, n = A.shape[-2:]
        Lt, Ut = _LUFactors.apply(A, P, L, U)
        LU_ = _pad(Lt.tril(-1), m, n) + _pad(Ut, m, n)
    else:
        LU_ = from_np(lu_, A)
    return LUFactorEx(LU_, from_np_int(piv, dlcore.int32), from_np_int(info, dlcore.int32))


def lu_factor(A, *, pivot=True):
    """The packed LU factorisation of A and its 1-based pivots; raises for a singular square A."""
    LU_, piv, info = lu_factor_ex(A, pivot=pivot)
    info = info.numpy()
    if A.shape[-1] == A.shape[-2] and info.any():
        i = _first_failure(info)
        raise RuntimeError(f"torch.linalg.lu_factor{_batch_label(info)}: U[{i},{i}] is zero and using it on "
                           "lu_solve would result in a division by zero. If you still want to perform the "
                           "factorization, consider calling linalg.lu(A, pivot) or linalg.lu_factor_ex(A, pivot)")
    return LUFactor(LU_, piv)


def lu(A, *, pivot=True):
    """P, L, U with A = P @ L @ U: P a permutation, L unit lower (*, m, k), U upper (*, k, n)."""
    a, lu_, piv, info, P, L, U = _lu_parts("linalg.lu", A, pivot)
    Lt, Ut = _LUFactors.apply(A, P, L, U)
    return LU(from_np(P, A), Lt, Ut)


def lu_solve(LU, pivots, B, *, left=True, adjoint=False):
    """Solves A X = B (or X A = B with left=False; A^T in place of A with adjoint=True) from
    lu_factor's output. Differentiable in LU and B."""
    name = "linalg.lu_solve"
    check_matrix(name, LU, square=True, arg="LU")
    check_matrix(name, B, arg="B")
    check_tensor(name, "pivots", pivots)
    check_same_dtype(name, LU, B)
    n = LU.shape[-1]
    if (B.shape[-2] if left else B.shape[-1]) != n:
        raise RuntimeError(f"{name}: LU {list(LU.shape)} and B {list(B.shape)} have incompatible shapes")
    piv = np.asarray(pivots.numpy(), np.int64)
    if piv.shape != tuple(LU.shape[:-1]) or (piv.size and (piv.min() < 1 or piv.max() > n)):
        raise RuntimeError(f"{name}: pivots {list(pivots.shape)} must have shape {list(LU.shape[:-1])} and "
                         f"values in [1, {n}]")
    P = from_np(perm_matrix(perm_from_pivots(piv, n)), LU)
    L = LU.tril(-1) + dlcore.eye(n, dtype=LU.dtype)
    U = LU.triu()
    if not left:  # X A = B  <=>  A^T X^T = B^T
        return mT(lu_solve(LU, pivots, mT(B), left=True, adjoint=not adjoint))
    if not adjoint:  # P L U X = B
        Y = solve_triangular(L, mT(P) @ B, upper=False, unitriangular=True)
        return solve_triangular(U, Y, upper=True)
    Y = solve_triangular(mT(U), B, upper=False)  # U^T L^T P^T X = B
    return P @ solve_triangular(mT(L), Y, upper=True, unitriangular=True)


# ---- inverses and solves -----------------------------------------------------------------------
def tri_solve_np(a, b, upper, unit):
    """Solves tri(a) x = b by substitution (a (..., n, n), b (..., n, k), batch broadcast)."""
    n = a.shape[-1]
    shape = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    a = np.broadcast_to(a, shape + a.shape[-2:])
    x = np.array(np.broadcast_to(b, shape + b.shape[-2:]), dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for i in (range(n - 1, -1, -1) if upper else range(n)):
            if upper:
                x[..., i, :] -= np.einsum("...j,...jk->...k", a[..., i, i + 1:], x[..., i + 1:, :])
            else:
                x[..., i, :] -= np.einsum("...j,...jk->...k", a[..., i, :i], x[..., :i, :])
            if not unit:
                x[..., i, :] /= a[..., i, i, None]
    return x


def _inv_np(name, a, check):
    n = a.shape[-1]
    if a.size:
        try:  # LAPACK fails exactly when getrf meets a zero pivot, which is what info reports
            return np.linalg.inv(a), np.zeros(a.shape[:-2], np.int64)
        except np.linalg.LinAlgError:
            pass
    info = lu_np(a)[2]
    flat_a, flat_info = a.reshape(info.size, n, n), info.reshape(-1)
    out = np.full(flat_a.shape, np.nan)
    for i in np.flatnonzero(flat_info == 0):
        try:
            out[i] = np.linalg.inv(flat_a[i])
        except np.linalg.LinAlgError:  # a zero pivot only in LAPACK's rounding
            flat_info[i] = n
    if check and info.any():
        raise LinAlgError(f"{name}{_batch_label(info)}: The diagonal element {_first_failure(info)} is zero, "
                          "the inversion could not be completed because the input matrix is singular.")
    return out.reshape(a.shape), info


class _Inv(Function):
    """A^-1, given its numpy value."""

    @staticmethod
    def forward(ctx, A, value):
        Y = from_np(value, A)
        ctx.save_for_backward(Y)
        return Y

    @staticmethod
    def backward(ctx, g):
        (Y,) = ctx.saved_tensors
        Yt = mT(Y)
        return -(Yt @ g @ Yt), None


def _inverse_unchecked(A):
    """A^-1 as a differentiable tensor, NaN for singular matrices (for use inside backward
    formulas, where the forward has already been checked)."""
    return _Inv.apply(A, _inv_np("linalg.inv", np64(A), False)[0])


def _inv(name, A, check):
    check_matrix(name, A, square=True)
    out, info = _inv_np(name, np64(A), check)
    return _Inv.apply(A, out), info


def inv_ex(A, *, check_errors=False):
    """The inverse of a square A (*, n, n) and info (int32: 0, or i > 0 for a singular matrix)."""
    Y, info = _inv("linalg.inv_ex", A, check_errors)
    return InvEx(Y, from_np_int(info, dlcore.int32))


def inv(A):
    """The inverse of a square A (*, n, n); raises LinAlgError when a matrix is singular."""
    return _inv("linalg.inv", A, True)[0]


def _solve_parts(name, A, B, left):
    check_matrix(name, A, square=True)
    check_float(name, B, "B")
    check_same_dtype(name, A, B)
    n = A.shape[-1]
    vector = B.dim() == 1 or (B.dim() == A.dim() - 1 and tuple(B.shape) == tuple(A.shape[:-1]))
    B2 = B.unsqueeze(-1) if vector else B
    if B2.dim() < 2 or (B2.shape[-2] if left else B2.shape[-1]) != n:
        raise RuntimeError(f"{name}: incompatible shapes of A {list(A.shape)} and B {list(B.shape)}")
    try:
        np.broadcast_shapes(tuple(A.shape[:-2]), tuple(B2.shape[:-2]))
    except ValueError:
        raise RuntimeError(f"{name}: the batch dimensions of A {list(A.shape)} and B {list(B.shape)} do not "
                         "broadcast") from None
    return vector, B2


def _matmul_np(a, b):
    with np.errstate(invalid="ignore"):
        return a @ b


class _Solve(Function):
    """X = A^-1 B for matrices A (*, n, n), B (*, n, k) with broadcast batches, given the numpy
    A^-1 (kept for the solve with A^T in backward)."""

    @staticmethod
    def forward(ctx, A, B, Ainv):
        X = from_np(_matmul_np(Ainv, np64(B)), A)
        ctx.Ainv, ctx.B_shape = Ainv, tuple(B.shape)
        ctx.save_for_backward(A, X)
        return X

    @staticmethod
    def backward(ctx, g):
        A, X = ctx.saved_tensors
        gB = _Solve.apply(mT(A), g, np.swapaxes(ctx.Ainv, -1, -2))
        gA = sum_to(-(gB @ mT(X)), A.shape) if ctx.needs_input_grad[0] else None
        return gA, sum_to(gB, ctx.B_shape), None


def _solve(name, A, B, left, check):
    vector, B2 = _solve_parts(name, A, B, left)
    if not left:  # X A = B  <=>  A^T X^T = B^T
        X, info = _solve(name, mT(A), mT(B2), True, check)
        X = mT(X)
    else:
        a = np64(A)
        Ainv, info = _inv_np(name, a, False)
        if check and info.any():
            raise LinAlgError(f"{name}{_batch_label(info)}: The solver failed because the input matrix is "
                              "singular.")
        X = _Solve.apply(A, B2, Ainv)
        shape = np.broadcast_shapes(info.shape, X.shape[:-2])
        info = np.broadcast_to(info, shape)
    return (X.squeeze(-1) if vector else X), info


def solve_ex(A, B, *, left=True, check_errors=False):
    """The solution of A X = B (X A = B with left=False) and info (int32, 0 where A is invertible)."""
    X, info = _solve("linalg.solve_ex", A, B, left, check_errors)
    return SolveEx(X, from_np_int(info, dlcore.int32))


def solve(A, B, *, left=True):
    """The solution X of A X = B (X A = B with left=False); B may be a batch of vectors (*, n).
    Raises LinAlgError when A is singular."""
    return _solve("torch.linalg.solve", A, B, left, True)[0]


def solve_triangular(A, B, *, upper, left=True, unitriangular=False):
    """The solution of tri(A) X = B (X tri(A) = B with left=False) for a triangular A: only the
    triangle named by ``upper`` is read, and its diagonal is taken as ones when unitriangular."""
    name = "linalg.solve_triangular"
    check_matrix(name, A, square=True)
    check_matrix(name, B, arg="B")
    check_same_dtype(name, A, B)
    if not left:
        return mT(solve_triangular(mT(A), mT(B), upper=not upper, left=True, unitriangular=unitriangular))
    if B.shape[-2] != A.shape[-1]:
        raise RuntimeError(f"{name}: incompatible shapes of A {list(A.shape)} and B {list(B.shape)}")
    try:
        np.broadcast_shapes(tuple(A.shape[:-2]), tuple(B.shape[:-2]))
    except ValueError:
        raise RuntimeError(f"{name}: the batch dimensions of A {list(A.shape)} and B {list(B.shape)} do not "
                         "broadcast") from None
    return _SolveTriangular.apply(A, B, tri_solve_np(np64(A), np64(B), upper, unitriangular), upper, unitriangular)


class _SolveTriangular(Function):
    """X = tri(A)^-1 B, given its numpy value; the gradient of A lies in the triangle read."""

    @staticmethod
    def forward(ctx, A, B, value, upper, unitriangular):
        X = from_np(value, A)
        ctx.upper, ctx.unitriangular, ctx.B_shape = upper, unitriangular, tuple(B.shape)
        ctx.save_for_backward(A, X)
        return X

    @staticmethod
    def backward(ctx, g):
        A, X = ctx.saved_tensors
        gB = solve_triangular(mT(A), g, upper=not ctx.upper, unitriangular=ctx.unitriangular)
        gA = None
        if ctx.needs_input_grad[0]:
            offset = 1 if ctx.unitriangular else 0
            gA = -(gB @ mT(X))
            gA = sum_to(gA.triu(offset) if ctx.upper else gA.tril(-offset), A.shape)
        return gA, sum_to(gB, ctx.B_shape), None, None, None


# ---- determinants ------------------------------------------------------------------------------
def _adjugate(a):
    """adj(a) for float64 (..., n, n), valid for singular matrices too (through the SVD)."""
    n = a.shape[-1]
    if n == 0 or a.size == 0:
        return np.zeros_like(a)
    finite = np.isfinite(a).all(axis=(-2, -1))
    if not finite.all():
        adj = _adjugate(np.where(finite[..., None, None], a, 0.0))
        return np.where(finite[..., None, None], adj, np.nan)
    u, s, vh = np.linalg.svd(a)
    ones = np.ones(s.shape[:-1] + (1,))
    before = np.cumprod(np.concatenate([ones, s[..., :-1]], -1), -1)
    after = np.cumprod(np.concatenate([ones, s[..., :0:-1]], -1), -1)[..., ::-1]
    sign = np.linalg.det(u) * np.linalg.det(vh)
    return sign[..., None, None] * (np.swapaxes(vh, -1, -2) * (before * after)[..., None, :]) @ \
        np.swapaxes(u, -1, -2)


class _Adjugate(Function):
    """adj(A) through the SVD, for the gradient of det at (nearly) singular matrices; it has no
    derivative here, so differentiating through it raises."""

    @staticmethod
    def forward(ctx, A):
        return from_np(_adjugate(np64(A)), A)

    @staticmethod
    def backward(ctx, g):
        raise RuntimeError("linalg.det: the second derivative at a singular or nearly singular matrix is not "
                           "supported")


# Note [det gradient]: d det(A) / dA = adj(A)^T, which is det(A) A^-T for an invertible A: written
# that way (det saved from forward, A^-1 through the _Inv Function) it is differentiable again.
# Where some matrix of the batch is singular or nearly so (1-norm reciprocal condition number
# below 1e-6, where det * A^-T would lose accuracy), the adjugate comes from the SVD instead,
# accurate for any matrix but first order only.
_DET_RCOND = 1e-6


class _Det(Function):
    @staticmethod
    def forward(ctx, A, value):
        d = from_np(value, A)
        ctx.save_for_backward(A, d)
        return d

    @staticmethod
    def backward(ctx, g):
        A, d = ctx.saved_tensors
        a = np64(A)
        ainv, info = _inv_np("linalg.det", a, False)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            rcond = 1.0 / (np.abs(a).sum(-2).max(-1) * np.abs(ainv).sum(-2).max(-1)) if a.size else 1.0
        if not np.all(rcond >= _DET_RCOND):  # also catches the NaN inverses of singular matrices
            return g[..., None, None] * mT(_Adjugate.apply(A)), None
        return (g * d)[..., None, None] * mT(_Inv.apply(A, ainv)), None


def det(A):
    """The determinant of a square A (*, n, n)."""
    check_matrix("linalg.det", A, square=True)
    a = np64(A)
    return _Det.apply(A, np.linalg.det(a) if a.size else np.ones(a.shape[:-2]))


class _Slogdet(Function):
    @staticmethod
    def forward(ctx, A, sign, logabs):
        s, la = from_np(sign, A), from_np(logabs, A)
        ctx.mark_non_differentiable(s)
        ctx.save_for_backward(A)
        return s, la

    @staticmethod
    def backward(ctx, g_sign, g):
        (A,) = ctx.saved_tensors
        return g[..., None, None] * mT(_inverse_unchecked(A)), None, None


def slogdet(A):
    """(sign, log|det A|) of a square A (*, n, n); log|det| is -inf for a singular matrix."""
    check_matrix("linalg.slogdet", A, square=True)
    a = np64(A)
    if a.size:
        sign, logabs = np.linalg.slogdet(a)
        sign = np.where(np.isnan(logabs), 0.0, sign)
    else:
        sign, logabs = np.ones(a.shape[:-2]), np.zeros(a.shape[:-2])
    return Slogdet(*_Slogdet.apply(A, sign, logabs))


# ---- Cholesky ----------------------------------------------------------------------------------
def _cholesky_np(a):
    """Lower Cholesky factor of the lower triangle of a, and info (order of the first leading
    minor that is not positive-definite, or 0)."""
    low = np.tril(a) + np.swapaxes(np.tril(a, -1), -1, -2)
    if np.isfinite(low).all():
        try:
            return np.linalg.cholesky(low), np.zeros(a.shape[:-2], np.int64)
        except np.linalg.LinAlgError:
            pass
    n = a.shape[-1]
    flat = low.reshape(int(np.prod(a.shape[:-2], dtype=np.int64)), n, n)
    L = np.zeros_like(flat)
    info = np.zeros(flat.shape[0], np.int64)
    for j in range(n):
        d = flat[:, j, j] - np.einsum("bk,bk->b", L[:, j, :j], L[:, j, :j])
        bad = ~(d > 0)
        info[(info == 0) & bad] = j + 1
        ljj = np.sqrt(np.where(bad, 1.0, d))
        L[:, j, j] = ljj
        L[:, j + 1:, j] = (flat[:, j + 1:, j] - np.einsum("bik,bk->bi", L[:, j + 1:, :j], L[:, j, :j])) / ljj[:, None]
    return L.reshape(a.shape), info.reshape(a.shape[:-2])


def _cholesky(name, A, upper, check):
    check_matrix(name, A, square=True)
    L, info = _cholesky_np(np64(A))
    if check and info.any():
        raise LinAlgError(f"{name}{_batch_label(info)}: The factorization could not be completed because the "
                          f"input is not positive-definite (the leading minor of order {_first_failure(info)} "
                          "is not positive-definite).")
    out = _Cholesky.apply(A, L)
    return (mT(out) if upper else out), info


class _Cholesky(Function):
    """The lower Cholesky factor L of A = L L^T, given its numpy value; the gradient is
    symmetric (A is read as the symmetric matrix its lower triangle defines)."""

    @staticmethod
    def forward(ctx, A, value):
        L = from_np(value, A)
        ctx.save_for_backward(L)
        return L

    @staticmethod
    def backward(ctx, g):
        (L,) = ctx.saved_tensors
        P = mT(L) @ g
        phi = P.tril() - 0.5 * P * dlcore.eye(P.shape[-1], dtype=P.dtype)
        X = solve_triangular(mT(L), phi, upper=True)
        return sym(solve_triangular(L, X, upper=False, left=False)), None


def cholesky_ex(A, *, upper=False, check_errors=False):
    """The Cholesky factor of a symmetric positive-definite A (lower, or upper with upper=True)
    and info (int32: 0, or the order of the first leading minor that is not positive-definite)."""
    L, info = _cholesky("linalg.cholesky_ex", A, upper, check_errors)
    return CholeskyEx(L, from_np_int(info, dlcore.int32))


def cholesky(A, *, upper=False):
    """The Cholesky factor of a symmetric positive-definite A (*, n, n), read from its lower
    triangle; raises LinAlgError when a matrix is not positive-definite."""
    return _cholesky("linalg.cholesky", A, upper, True)[0]

