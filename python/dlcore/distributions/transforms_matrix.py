"""Matrix-valued transforms: onto lower Cholesky factors, positive-definite matrices and
Cholesky factors of correlation matrices."""
import math

import numpy as np

import dlcore
from dlcore import linalg

from . import constraints
from .transforms import Transform
from .utils import log1pexp, tril_matrix_to_vec, vec_to_tril_matrix

__all__ = ["CorrCholeskyTransform", "LowerCholeskyTransform", "PositiveDefiniteTransform"]


class LowerCholeskyTransform(Transform):
    """Unconstrained square matrices to lower-triangular ones with a positive diagonal: the
    strictly lower part is kept and the diagonal exponentiated."""

    domain = constraints.independent(constraints.real, 2)
    codomain = constraints.lower_cholesky

    def __eq__(self, other):
        return isinstance(other, LowerCholeskyTransform)

    __hash__ = object.__hash__

    def _call(self, x):
        eye = dlcore.eye(x.shape[-1], dtype=x.dtype)
        return x.tril(-1) + dlcore.exp(x * eye) * eye

    def _inverse(self, y):
        eye = dlcore.eye(y.shape[-1], dtype=y.dtype)
        diag = (y * eye).sum(-1)
        return y.tril(-1) + dlcore.log(diag).unsqueeze(-1) * eye


class PositiveDefiniteTransform(Transform):
    """Unconstrained square matrices to positive-definite ones: L L^T with L from
    LowerCholeskyTransform."""

    domain = constraints.independent(constraints.real, 2)
    codomain = constraints.positive_definite

    def __eq__(self, other):
        return isinstance(other, PositiveDefiniteTransform)

    __hash__ = object.__hash__

    def _call(self, x):
        L = LowerCholeskyTransform()(x)
        return L @ L.transpose(-2, -1)

    def _inverse(self, y):
        return LowerCholeskyTransform().inv(linalg.cholesky(y))


class CorrCholeskyTransform(Transform):
    """Unconstrained vectors of length n (n - 1) / 2 to Cholesky factors of n x n correlation
    matrices (lower triangular, positive diagonal, unit rows): tanh maps each entry into (-1, 1)
    and row by row a stick-breaking rescaling leaves each row's squared norm at 1, the diagonal
    taking the remainder."""

    domain = constraints.real_vector
    codomain = constraints.corr_cholesky
    bijective = True

    def __eq__(self, other):
        return isinstance(other, CorrCholeskyTransform)

    __hash__ = object.__hash__

    def _call(self, x):
        eps = float(np.finfo(np.float32 if x.dtype == dlcore.float32 else np.float64).eps)
        r = vec_to_tril_matrix(dlcore.tanh(x).clamp(min=-1 + eps, max=1 - eps), diag=-1)
        n = r.shape[-1]
        # remaining stick of each row before each column: prod_{j < i} sqrt(1 - r_j^2)
        remaining = dlcore.exp(dlcore.cumsum(0.5 * dlcore.log1p(-r * r), -1))
        ones = dlcore.ones(*r.shape[:-1], 1, dtype=r.dtype)
        shifted = dlcore.cat([ones, remaining[..., :-1]], -1)
        return (r + dlcore.eye(n, dtype=r.dtype)) * shifted

    def _inverse(self, y):
        remaining = 1 - dlcore.cumsum(y * y, -1)
        ones = dlcore.ones(*y.shape[:-1], 1, dtype=y.dtype)
        shifted = dlcore.cat([ones, remaining[..., :-1]], -1)
        t = tril_matrix_to_vec(y, diag=-1) / tril_matrix_to_vec(shifted, diag=-1).sqrt()
        return 0.5 * (dlcore.log1p(t) - dlcore.log1p(-t))

    def log_abs_det_jacobian(self, x, y):
        remaining = 1 - dlcore.cumsum(y * y, -1)
        stick_breaking_logdet = 0.5 * dlcore.log(tril_matrix_to_vec(remaining, diag=-2)).sum(-1)
        tanh_logdet = -2 * (x + log1pexp(-2 * x) - math.log(2.0)).sum(-1)
        return stick_breaking_logdet + tanh_logdet

    def forward_shape(self, shape):
        if len(shape) < 1:
            raise ValueError("CorrCholeskyTransform: too few dimensions on input")
        k = shape[-1]
        n = int(round((0.25 + 2 * k) ** 0.5 + 0.5))
        if n * (n - 1) // 2 != k:
            raise ValueError(f"CorrCholeskyTransform: input size {k} is not a triangular number")
        return tuple(shape[:-1]) + (n, n)

    def inverse_shape(self, shape):
        if len(shape) < 2 or shape[-1] != shape[-2]:
            raise ValueError(f"CorrCholeskyTransform: expected square matrices, got shape {tuple(shape)}")
        n = shape[-1]
        return tuple(shape[:-2]) + (n * (n - 1) // 2,)
