"""The LDL^T factorisation of symmetric matrices with Bunch-Kaufman pivoting (LAPACK's sytrf,
lower triangle) and the solve from it. Not differentiable, as in torch: differentiating them
raises."""
import math

import numpy as np

import dlcore

from ._common import LinAlgError, check_matrix, check_same_dtype, check_tensor, from_np, from_np_int, np64
from ._common import not_differentiable, result_type

__all__ = ["ldl_factor", "ldl_factor_ex", "ldl_solve"]

LDLFactor = result_type("linalg_ldl_factor", "LD", "pivots")
LDLFactorEx = result_type("linalg_ldl_factor_ex", "LD", "pivots", "info")

_ALPHA = (1 + math.sqrt(17)) / 8  # the Bunch-Kaufman threshold


def _swap_sym(a, k, kk, kp):
    """Interchanges rows and columns kk and kp (> kk) of the lower triangle of a[k:, k:]."""
    n = a.shape[0]
    if kp + 1 < n:
        a[kp + 1:, [kk, kp]] = a[kp + 1:, [kp, kk]]
    seg = a[kk + 1:kp, kk].copy()
    a[kk + 1:kp, kk] = a[kp, kk + 1:kp]
    a[kp, kk + 1:kp] = seg
    a[kk, kk], a[kp, kp] = a[kp, kp], a[kk, kk]
    if kk > k:  # the 2 x 2 case: the block's off-diagonal entry moves too
        a[k + 1, k], a[kp, k] = a[kp, k], a[k + 1, k]


def _sytf2_lower(a):
    """Factors the lower triangle of a (n x n, float64, overwritten) as LAPACK's dsytf2 with
    uplo='L': returns 1-based pivots (negative for 2 x 2 blocks) and info."""
    n = a.shape[0]
    piv = np.zeros(n, np.int64)
    info = 0
    k = 0
    while k < n:
        kstep = 1
        absakk = abs(a[k, k])
        if k + 1 < n:
            imax = k + 1 + int(np.argmax(np.abs(a[k + 1:, k])))
            colmax = abs(a[imax, k])
        else:
            imax, colmax = k, 0.0
        if max(absakk, colmax) == 0 or math.isnan(absakk):
            info = info or k + 1
            kp = k
        else:
            if absakk >= _ALPHA * colmax:
                kp = k
            else:
                rowmax = np.abs(a[imax, k:imax]).max()
                if imax + 1 < n:
                    rowmax = max(rowmax, np.abs(a[imax + 1:, imax]).max())
                if absakk >= _ALPHA * colmax * (colmax / rowmax):
                    kp = k
                elif abs(a[imax, imax]) >= _ALPHA * rowmax:
                    kp = imax
                else:
                    kp, kstep = imax, 2
            kk = k + kstep - 1
            if kp != kk:
                _swap_sym(a, k, kk, kp)
            if kstep == 1:
                if k + 1 < n:
                    r = 1.0 / a[k, k]
                    x = a[k + 1:, k].copy()
                    a[k + 1:, k + 1:] -= np.tril(r * np.outer(x, x))
                    a[k + 1:, k] = x * r
            elif k + 2 < n:
                d21 = a[k + 1, k]
                d11 = a[k + 1, k + 1] / d21
                d22 = a[k, k] / d21
                t = 1.0 / (d11 * d22 - 1.0)
                d21 = t / d21
                wk = d21 * (d11 * a[k + 2:, k] - a[k + 2:, k + 1])
                wkp1 = d21 * (d22 * a[k + 2:, k + 1] - a[k + 2:, k])
                a[k + 2:, k + 2:] -= np.tril(np.outer(a[k + 2:, k], wk) + np.outer(a[k + 2:, k + 1], wkp1))
                a[k + 2:, k] = wk
                a[k + 2:, k + 1] = wkp1
        if kstep == 1:
            piv[k] = kp + 1
        else:
            piv[k] = piv[k + 1] = -(kp + 1)
        k += kstep
    return piv, info


def _flat(a, core):
    return a.reshape((int(np.prod(a.shape[:a.ndim - core], dtype=np.int64)),) + a.shape[a.ndim - core:])


def ldl_factor_ex(A, *, hermitian=False, check_errors=False):
    """The compact LDL^T factorisation of a symmetric A (*, n, n) read from its lower triangle:
    LD holds L (unit lower, below the diagonal) and the 1 x 1 / 2 x 2 diagonal blocks of D;
    pivots are LAPACK's (1-based, negative for 2 x 2 blocks); info is nonzero where D is
    singular."""
    name = "torch.linalg.ldl_factor_ex" if not check_errors else "torch.linalg.ldl_factor"
    check_matrix(name, A, square=True)
    a = np64(A)
    flat = _flat(a, 2).copy()
    pivots = np.zeros(flat.shape[:2], np.int64)
    infos = np.zeros(flat.shape[0], np.int64)
    for i in range(flat.shape[0]):
        pivots[i], infos[i] = _sytf2_lower(flat[i])
    LD = np.tril(flat).reshape(a.shape)
    info = infos.reshape(a.shape[:-2])
    if check_errors and info.any():
        raise LinAlgError(f"{name}: The factorization could not be completed because the input matrix is singular "
                          f"(D[{int(info.reshape(-1)[np.flatnonzero(info)[0]])}] is zero)")
    return LDLFactorEx(*not_differentiable(name, lambda: (
        from_np(LD, A), from_np_int(pivots.reshape(a.shape[:-1]), dlcore.int32), from_np_int(info, dlcore.int32)), A))


def ldl_factor(A, *, hermitian=False):
    """The compact LDL^T factorisation of a symmetric A and its pivots (see ldl_factor_ex);
    raises LinAlgError when D is singular."""
    LD, pivots, _ = ldl_factor_ex(A, hermitian=hermitian, check_errors=True)
    return LDLFactor(LD, pivots)


def _sytrs_lower(ld, piv, b):
    """Solves A X = B from dsytf2's lower factorisation (LAPACK's dsytrs), b overwritten."""
    n = ld.shape[0]
    k = 0
    while k < n:  # L D Y = P^T B
        if piv[k] > 0:
            kp = piv[k] - 1
            b[[k, kp]] = b[[kp, k]]
            b[k + 1:] -= np.outer(ld[k + 1:, k], b[k])
            b[k] /= ld[k, k]
            k += 1
        else:
            kp = -piv[k] - 1
            b[[k + 1, kp]] = b[[kp, k + 1]]
            b[k + 2:] -= np.outer(ld[k + 2:, k], b[k]) + np.outer(ld[k + 2:, k + 1], b[k + 1])
            akm1k = ld[k + 1, k]
            akm1 = ld[k, k] / akm1k
            ak = ld[k + 1, k + 1] / akm1k
            denom = akm1 * ak - 1.0
            bkm1, bk = b[k] / akm1k, b[k + 1] / akm1k
            b[k], b[k + 1] = (ak * bkm1 - bk) / denom, (akm1 * bk - bkm1) / denom
            k += 2
    k = n - 1
    while k >= 0:  # L^T P^T X = Y
        if piv[k] > 0:
            b[k] -= ld[k + 1:, k] @ b[k + 1:]
            kp = piv[k] - 1
            b[[k, kp]] = b[[kp, k]]
            k -= 1
        else:
            b[k] -= ld[k + 1:, k] @ b[k + 1:]
            b[k - 1] -= ld[k + 1:, k - 1] @ b[k + 1:]
            kp = -piv[k] - 1
            b[[k, kp]] = b[[kp, k]]
            k -= 2
    return b


def ldl_solve(LD, pivots, B, *, hermitian=False):
    """The solution of A X = B from ldl_factor's LD and pivots (batches broadcast)."""
    name = "torch.linalg.ldl_solve"
    check_matrix(name, LD, square=True, arg="LD")
    check_matrix(name, B, arg="B")
    check_tensor(name, "pivots", pivots)
    check_same_dtype(name, LD, B)
    n = LD.shape[-1]
    piv = np.asarray(pivots.numpy(), np.int64)
    if piv.shape != tuple(LD.shape[:-1]) or (piv.size and (np.abs(piv).min() < 1 or np.abs(piv).max() > n)):
        raise RuntimeError(f"{name}: pivots {list(pivots.shape)} must have shape {list(LD.shape[:-1])} and values in "
                         f"[-{n}, -1] or [1, {n}]")
    if B.shape[-2] != n:
        raise RuntimeError(f"{name}: incompatible shapes of LD {list(LD.shape)} and B {list(B.shape)}")
    try:
        batch = np.broadcast_shapes(tuple(LD.shape[:-2]), tuple(B.shape[:-2]))
    except ValueError:
        raise RuntimeError(f"{name}: the batch dimensions of LD {list(LD.shape)} and B {list(B.shape)} do not "
                         "broadcast") from None
    ld = _flat(np.broadcast_to(np64(LD), batch + (n, n)), 2)
    pv = _flat(np.broadcast_to(piv, batch + (n,)), 1)
    b = _flat(np.array(np.broadcast_to(np64(B), batch + tuple(B.shape[-2:]))), 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        for i in range(b.shape[0]):
            _sytrs_lower(ld[i], pv[i], b[i])
    return not_differentiable(name, lambda: (from_np(b.reshape(batch + tuple(B.shape[-2:])), LD),), LD, B)[0]
