"""torch-namespace linear algebra (torch.det, torch.svd, torch.lu_solve, ...) and the Tensor
methods of the same names, built on dlcore.linalg. These keep the older torch signatures: svd
returns V rather than Vh, triangular_solve takes (b, A) and defaults to upper=True."""
import numpy as np

from . import linalg as _la
from ._C import Tensor
from ._tensor import empty, eye, zeros
from .linalg._common import check_matrix, check_tensor, from_np, mT, not_differentiable, np64, result_type
from .linalg._factor import perm_from_pivots, perm_matrix
from .linalg._spectral import apply_householder

__all__ = ["det", "slogdet", "logdet", "inverse", "cholesky", "cholesky_solve", "cholesky_inverse", "qr", "svd",
           "pinverse", "matrix_power", "matrix_exp", "lu", "lu_solve", "lu_unpack", "triangular_solve", "geqrf",
           "orgqr", "ormqr"]

_QR = result_type("qr", "Q", "R")
_SVD = result_type("svd", "U", "S", "V")
_Slogdet = result_type("slogdet", "sign", "logabsdet")
_LUUnpack = result_type("lu_unpack", "P", "L", "U")
_TriangularSolve = result_type("triangular_solve", "solution", "cloned_coefficient")
_Geqrf = result_type("geqrf", "a", "tau")

matrix_power = _la.matrix_power
matrix_exp = _la.matrix_exp
det = _la.det


def slogdet(A):
    """(sign, log|det A|) of a square A, as torch.linalg.slogdet."""
    return _Slogdet(*_la.slogdet(A))


def logdet(A):
    """log(det A) of a square A: nan where the determinant is negative, -inf where it is zero."""
    sign, logabs = _la.slogdet(A)
    nan = from_np(np.where(sign.numpy() < 0, np.nan, 0.0), A)
    return logabs + nan


def inverse(A):
    """The inverse of a square A, as torch.linalg.inv."""
    return _la.inv(A)


def cholesky(A, upper=False):
    """The Cholesky factor of a symmetric positive-definite A (lower unless upper=True)."""
    return _la.cholesky(A, upper=upper)


def _from_factor(name, L, upper):
    check_matrix(name, L, square=True, arg="L")
    return mT(L) @ L if upper else L @ mT(L)


def cholesky_solve(B, L, upper=False):
    """The solution of A X = B given the Cholesky factor L of A (upper factor with upper=True).
    As in torch, gradients treat L as a full matrix (A = L L^T)."""
    return _la.solve(_from_factor("cholesky_solve", L, upper), B)


def cholesky_inverse(L, upper=False):
    """The inverse of A = L L^T (U^T U with upper=True) given its Cholesky factor."""
    return _la.inv(_from_factor("cholesky_inverse", L, upper))


def qr(A, some=True):
    """Q, R with A = Q R: reduced when some=True, complete otherwise."""
    return _QR(*_la.qr(A, mode="reduced" if some else "complete"))


def svd(A, some=True, compute_uv=True):
    """U, S, V with A = U diag(S) V^T (V, not its transpose); reduced when some=True. With
    compute_uv=False, U and V are zero matrices of shape (*, m, m) and (*, n, n)."""
    if not compute_uv:
        S = _la.svdvals(A)
        m, n = A.shape[-2:]
        return _SVD(zeros(*A.shape[:-2], m, m, dtype=A.dtype), S, zeros(*A.shape[:-2], n, n, dtype=A.dtype))
    U, S, Vh = _la.svd(A, full_matrices=not some)
    return _SVD(U, S, mT(Vh))


def pinverse(A, rcond=1e-15):
    """The pseudo-inverse of A, singular values at or below rcond * largest treated as zero."""
    return _la.pinv(A, rtol=rcond)


def lu(A, pivot=True, get_infos=False):
    """(LU, pivots), or (LU, pivots, infos) with get_infos=True: linalg.lu_factor_ex's outputs."""
    LU_, pivots, infos = _la.lu_factor_ex(A, pivot=pivot)
    return (LU_, pivots, infos) if get_infos else (LU_, pivots)


def lu_solve(b, LU_data, LU_pivots):
    """The solution of A x = b from A's packed LU factorisation and pivots."""
    return _la.lu_solve(LU_data, LU_pivots, b)


def lu_unpack(LU_data, LU_pivots, unpack_data=True, unpack_pivots=True):
    """P, L, U of a packed LU factorisation (A = P L U); the parts not unpacked are empty."""
    name = "lu_unpack"
    check_matrix(name, LU_data, arg="LU_data")
    check_tensor(name, "LU_pivots", LU_pivots)
    m, n = LU_data.shape[-2:]
    k = min(m, n)
    if unpack_data:
        L = LU_data[..., :, :k].tril(-1) + eye(m, k, dtype=LU_data.dtype)
        U = LU_data[..., :k, :].triu()
    else:
        L = U = empty(0, dtype=LU_data.dtype)
    if unpack_pivots:
        piv = np.asarray(LU_pivots.numpy(), np.int64)
        if piv.shape != tuple(LU_data.shape[:-2]) + (k,) or (piv.size and (piv.min() < 1 or piv.max() > m)):
            raise RuntimeError(f"{name}: LU_pivots {list(LU_pivots.shape)} must have shape "
                             f"{list(LU_data.shape[:-2]) + [k]} and values in [1, {m}]")
        P = from_np(perm_matrix(perm_from_pivots(piv, m)), LU_data)
    else:
        P = empty(0, dtype=LU_data.dtype)
    return _LUUnpack(P, L, U)


def triangular_solve(b, A, upper=True, transpose=False, unitriangular=False):
    """(X, A.clone()) with X the solution of op(A) X = b, op(A) = A^T when transpose=True."""
    check_matrix("triangular_solve", A)
    coeff = mT(A) if transpose else A
    X = _la.solve_triangular(coeff, b, upper=upper != transpose, unitriangular=unitriangular)
    return _TriangularSolve(X, A.clone())


def geqrf(input):
    """LAPACK's geqrf: R above the diagonal, the Householder vectors below it, and their
    scales tau (*, min(m, n)). Not differentiable (differentiating it raises, as in torch)."""
    check_matrix("geqrf", input, arg="input")
    a = np64(input)
    m, n = a.shape[-2:]
    flat = a.reshape(int(np.prod(a.shape[:-2], dtype=np.int64)), m, n)
    hs, taus = [], []
    for mat in flat:
        if mat.size:
            h, tau = np.linalg.qr(mat, mode="raw")
            hs.append(h.T)
            taus.append(tau)
        else:
            hs.append(mat)
            taus.append(np.zeros(0))
    h = np.stack(hs).reshape(a.shape) if hs else a
    tau = np.stack(taus).reshape(a.shape[:-2] + (min(m, n),)) if taus else np.zeros(a.shape[:-2] + (min(m, n),))
    return _Geqrf(*not_differentiable("geqrf", lambda: (from_np(h, input), from_np(tau, input)), input))


def orgqr(input, tau):
    """The first n columns of the product of geqrf's Householder reflectors."""
    return _la.householder_product(input, tau)


def ormqr(input, tau, other, left=True, transpose=False):
    """Q @ other (other @ Q with left=False; Q^T with transpose=True), Q the full m x m product
    of the Householder reflectors in (input, tau) from geqrf."""
    name = "ormqr"
    check_matrix(name, input, arg="input")
    check_matrix(name, other, arg="other")
    m = input.shape[-2]
    if (other.shape[-2] if left else other.shape[-1]) != m:
        raise RuntimeError(f"{name}: input {list(input.shape)} and other {list(other.shape)} have incompatible "
                           "shapes")
    Q = apply_householder(input, tau, eye(m, dtype=input.dtype).expand(*input.shape[:-2], m, m))
    if transpose:
        Q = mT(Q)
    return Q @ other if left else other @ Q


def _install_methods():
    methods = {
        "det": det, "slogdet": slogdet, "logdet": logdet, "inverse": inverse, "cholesky": cholesky,
        "cholesky_solve": cholesky_solve, "cholesky_inverse": cholesky_inverse, "qr": qr, "svd": svd,
        "pinverse": pinverse, "matrix_power": matrix_power, "matrix_exp": matrix_exp, "lu": lu, "lu_solve": lu_solve,
        "triangular_solve": triangular_solve, "geqrf": geqrf, "orgqr": orgqr, "ormqr": ormqr,
    }
    for name, fn in methods.items():
        setattr(Tensor, name, fn)


_install_methods()
