"""Orthogonal and spectral decompositions: qr, householder_product, eigh, eig, svd.

dlcore has no complex dtype, so eig and eigvals return real tensors and raise when a matrix has
complex eigenvalues (torch returns complex tensors in every case). Each decomposition is an
autograd Function differentiable to any order (Note [Differentiable decompositions])."""
import numpy as np

import dlcore
from dlcore.autograd import Function

from ._common import (
    check_matrix, check_same_dtype, check_tensor, diag_embed, from_np, mT, np64, result_type, svd_np_checked, sym,
)
from ._factor import solve, solve_triangular

__all__ = ["qr", "householder_product", "eigh", "eigvalsh", "eig", "eigvals", "svd", "svdvals"]

QR = result_type("linalg_qr", "Q", "R")
Eigh = result_type("linalg_eigh", "eigenvalues", "eigenvectors")
Eig = result_type("linalg_eig", "eigenvalues", "eigenvectors")
SVD = result_type("linalg_svd", "U", "S", "Vh")


def _gap_matrix(w):
    """F[..., i, j] = 1 / (w_j - w_i) off the diagonal, 0 on it (differentiable in w)."""
    eye = dlcore.eye(w.shape[-1], dtype=w.dtype)
    return (1.0 - eye) / (w.unsqueeze(-2) - w.unsqueeze(-1) + eye)


# ---- QR ----------------------------------------------------------------------------------------
def _qr_vjp(Q, R, gQ, gR):
    """The gradient of the reduced QR A = Q R (m >= n, R square): the adjoint of dR = (C - w) R,
    dQ = Q w + (I - Q Q^T) dA R^-1 with C = Q^T dA R^-1 and w = tril(C, -1) - tril(C, -1)^T."""
    QtgQ = mT(Q) @ gQ
    gRRt = gR @ mT(R)
    gw = QtgQ - gRRt
    gC = gRRt + (gw - mT(gw)).tril(-1)
    gS = gQ + Q @ (gC - QtgQ)
    return solve_triangular(mT(R), gS, upper=False, left=False)


class _QR(Function):
    @staticmethod
    def forward(ctx, A, q, r):
        Q, R = from_np(q, A), from_np(r, A)
        ctx.save_for_backward(Q, R)
        return Q, R

    @staticmethod
    def backward(ctx, gQ, gR):
        Q, R = ctx.saved_tensors
        m, n = Q.shape[-2], R.shape[-1]
        if m >= n:
            return _qr_vjp(Q, R, gQ, gR), None, None
        R2 = R[..., :, m:]  # A = Q [R1, R2] with dR2 = Q^T (dA2 - dQ R2)
        gA2 = Q @ gR[..., :, m:]
        gA1 = _qr_vjp(Q, R[..., :, :m], gQ - gA2 @ mT(R2), gR[..., :, :m])
        return dlcore.cat([gA1, gA2], -1), None, None


def qr(A, mode="reduced"):
    """Q, R with A = Q R for A (*, m, n). mode 'reduced' gives Q (*, m, k), R (*, k, n) with
    k = min(m, n); 'complete' gives Q (*, m, m); 'r' gives R only (Q is an empty tensor)."""
    name = "linalg.qr"
    check_matrix(name, A)
    if mode not in ("reduced", "complete", "r"):
        raise RuntimeError(f"qr received unrecognized mode '{mode}' but expected one of 'reduced' (default), "
                           "'r', or 'complete'")
    a = np64(A)
    m, n = a.shape[-2:]
    k = min(m, n)
    if a.size:
        q, r = np.linalg.qr(a, mode="complete" if mode == "complete" else "reduced")
    else:
        q = np.zeros(a.shape[:-2] + (m, m if mode == "complete" else k))
        r = np.zeros(a.shape[:-2] + (m if mode == "complete" else k, n))
    if mode == "complete" and m > n and dlcore.is_grad_enabled() and A.requires_grad:
        raise RuntimeError(f"{name}: the QR decomposition is not differentiable when mode='complete' and "
                           f"nrows > ncols (got A of shape {list(A.shape)})")
    Q, R = _QR.apply(A, q, r)
    if mode == "r":
        Q = dlcore.empty(0, dtype=A.dtype)
    return QR(Q, R)


def householder_product(A, tau):
    """The first n columns of H_1 ... H_k for A (*, m, n) holding the Householder vectors below
    its diagonal (as geqrf stores them) and tau (*, k), k <= n <= m: H_i = I - tau_i v_i v_i^T.
    Composed of dlcore ops, so differentiable in A and tau."""
    name = "linalg.householder_product"
    check_matrix(name, A)
    check_tensor(name, "tau", tau)
    check_same_dtype(name, A, tau)
    m, n = A.shape[-2:]
    k = tau.shape[-1] if tau.dim() else -1
    if not (m >= n >= k >= 0) or tuple(tau.shape[:-1]) != tuple(A.shape[:-2]):
        raise RuntimeError(f"{name}: expected A (*, m, n) and tau (*, k) with m >= n >= k and the same batch "
                         f"shape, got A {list(A.shape)} and tau {list(tau.shape)}")
    return apply_householder(A, tau, dlcore.eye(m, n, dtype=A.dtype).expand(*A.shape[:-2], m, n))


def apply_householder(A, tau, C):
    """H_1 ... H_k @ C with the reflectors stored in A and tau."""
    m = A.shape[-2]
    k = tau.shape[-1]
    V = A[..., :, :k].tril(-1) + dlcore.eye(m, k, dtype=A.dtype)
    for i in range(k - 1, -1, -1):
        v = V[..., :, i:i + 1]
        C = C - tau[..., i:i + 1].unsqueeze(-1) * (v @ (mT(v) @ C))
    return C


# ---- symmetric eigendecomposition ---------------------------------------------------------------
def _check_uplo(UPLO):
    if UPLO not in ("L", "U"):
        raise RuntimeError(f"Expected UPLO argument to be 'L' or 'U', but got {UPLO}")


def _eigh(name, A, UPLO):
    check_matrix(name, A, square=True)
    _check_uplo(UPLO)
    a = np64(A)
    if a.size:
        w, v = np.linalg.eigh(a, UPLO=UPLO)
    else:
        w, v = np.zeros(a.shape[:-1]), np.zeros(a.shape)
    return _Eigh.apply(A, w, v)


class _EigenFunction(Function):
    """(w, V) computed in numpy, saved for a backward that assembles G = diag(gw) +
    gap(w) * (V^T gV) (``_spectral_grad``) and maps it back to A."""

    @staticmethod
    def forward(ctx, A, w_np, v_np):
        w, V = from_np(w_np, A), from_np(v_np, A)
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(w, V)
        return w, V


def _spectral_grad(w, V, gw, gV):
    """diag(gw) + gap(w) * (V^T gV), the parts that got a gradient; None when neither did."""
    G = None if gw is None else diag_embed(gw)
    if gV is not None:
        J = _gap_matrix(w) * (mT(V) @ gV)
        G = J if G is None else G + J
    return G


class _Eigh(_EigenFunction):
    """(w, V) of a symmetric A = V diag(w) V^T; the gradient is symmetric. The eigenvectors'
    part is formed only when they get a gradient (the gap matrix is infinite for repeated
    eigenvalues, which then still have a gradient of their own)."""

    @staticmethod
    def backward(ctx, gw, gV):
        w, V = ctx.saved_tensors
        G = _spectral_grad(w, V, gw, gV)
        if G is None:
            return None, None, None
        return sym(V @ G @ mT(V)), None, None


def eigh(A, UPLO="L"):
    """Eigenvalues (ascending) and orthonormal eigenvectors (columns) of a symmetric A, read from
    the triangle UPLO names. Eigenvectors are unique up to sign; gradients through them are
    defined where eigenvalues are distinct."""
    return Eigh(*_eigh("linalg.eigh", A, UPLO))


def eigvalsh(A, UPLO="L"):
    """The eigenvalues (ascending) of a symmetric A, read from the triangle UPLO names."""
    return _eigh("linalg.eigvalsh", A, UPLO)[0]


# ---- general eigendecomposition (real spectra only) ---------------------------------------------
def _eig(name, A):
    check_matrix(name, A, square=True)
    a = np64(A)
    if a.size:
        w, v = np.linalg.eig(a)
    else:
        w, v = np.zeros(a.shape[:-1]), np.zeros(a.shape)
    if np.iscomplexobj(w):
        raise RuntimeError(f"{name}: the input {list(A.shape)} has complex eigenvalues, and dlcore has no complex "
                           "dtype; only matrices with a real spectrum are supported")
    return _Eig.apply(A, w, v)


class _Eig(_EigenFunction):
    """(w, V) of A = V diag(w) V^-1 (real spectrum), V's columns of unit norm."""

    @staticmethod
    def backward(ctx, gw, gV):
        w, V = ctx.saved_tensors
        if gV is not None:
            gV = gV - V * (V * gV).sum(-2, keepdim=True)  # the adjoint of keeping the columns' unit norm
        G = _spectral_grad(w, V, gw, gV)
        if G is None:
            return None, None, None
        return solve(mT(V), G @ mT(V)), None, None


def eig(A):
    """Eigenvalues and unit-norm eigenvectors (columns) of a square A with a real spectrum, as
    real tensors; raises RuntimeError for complex eigenvalues."""
    return Eig(*_eig("linalg.eig", A))


def eigvals(A):
    """The eigenvalues of a square A with a real spectrum (a real tensor); raises RuntimeError for
    complex eigenvalues."""
    return _eig("linalg.eigvals", A)[0]


# ---- SVD ---------------------------------------------------------------------------------------
def svd_np(a, full_matrices):
    m, n = a.shape[-2:]
    k = min(m, n)
    if a.size:
        return svd_np_checked("linalg.svd", a, full_matrices=full_matrices)
    batch = a.shape[:-2]
    u = np.zeros(batch + (m, m if full_matrices else k))
    vh = np.zeros(batch + (n if full_matrices else k, n))
    u[..., :, :] = np.eye(*u.shape[-2:]) if full_matrices else 0.0
    vh[..., :, :] = np.eye(*vh.shape[-2:]) if full_matrices else 0.0
    return u, np.zeros(batch + (k,)), vh


def _svd(name, A, full_matrices):
    check_matrix(name, A)
    u, s, vh = svd_np(np64(A), full_matrices)
    return _SVD.apply(A, u, s, vh)


class _SVD(Function):
    """(U, S, Vh) of A = U diag(S) Vh. Only the first k = min(m, n) singular vectors are
    determined by A: the others (full_matrices) get no gradient. The vectors' part is formed
    only when they get a gradient (as for _Eigh)."""

    @staticmethod
    def forward(ctx, A, u, s, vh):
        U, S, Vh = from_np(u, A), from_np(s, A), from_np(vh, A)
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(U, S, Vh)
        return U, S, Vh

    @staticmethod
    def backward(ctx, gU, gS, gVh):
        U, S, Vh = ctx.saved_tensors
        m, n = U.shape[-2], Vh.shape[-1]
        k = S.shape[-1]
        U, V = U[..., :, :k], mT(Vh[..., :k, :])
        if gU is None and gVh is None:
            if gS is None:
                return None, None, None, None
            return (U * gS.unsqueeze(-2)) @ mT(V), None, None, None
        # the adjoint of dP = U^T dA V, dS = diag(dP), dU = U (F o (dP S + S dP^T)) + (I - U U^T) dA V S^-1,
        # dV = V (F o (S dP + dP^T S)) + (I - V V^T) dA^T U S^-1, F the gap matrix of S^2
        F = _gap_matrix(S * S)
        sc, sr = S.unsqueeze(-1), S.unsqueeze(-2)
        gP = 0.0 if gS is None else diag_embed(gS)
        gA = 0.0
        if gU is not None:
            gU = gU[..., :, :k]
            Ju = F * (mT(U) @ gU)
            gP = gP + Ju * sr + mT(Ju * sc)
            if m > k:
                Gu = gU / sr
                gA = gA + Gu @ mT(V)
                gP = gP - mT(U) @ Gu
        if gVh is not None:
            gV = mT(gVh[..., :k, :])
            Jv = F * (mT(V) @ gV)
            gP = gP + Jv * sc + mT(Jv * sr)
            if n > k:
                Gv = gV / sr
                gA = gA + U @ mT(Gv)
                gP = gP - mT(Gv) @ V
        return gA + U @ gP @ mT(V), None, None, None


def svd(A, full_matrices=True):
    """U, S, Vh with A = U diag(S) Vh for A (*, m, n), singular values descending. Singular
    vectors are unique up to sign; gradients through them are defined for distinct nonzero
    singular values."""
    return SVD(*_svd("linalg.svd", A, full_matrices))


def svdvals(A):
    """The singular values of A (*, m, n), descending."""
    return _svd("linalg.svdvals", A, False)[1]
