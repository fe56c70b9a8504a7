"""The multivariate normal distribution."""
import math

import numpy as np

import dlcore
from dlcore import linalg

from . import constraints
from ._params import LocMeanMode, expand_params
from .distribution import Distribution
from .utils import lazy_property

__all__ = ["MultivariateNormal"]


def _batch_diag(m):
    return (m * dlcore.eye(m.shape[-1], dtype=m.dtype)).sum(-1)


def _batch_mahalanobis(L, x):
    """x^T (L L^T)^{-1} x for lower-triangular L (*, n, n) and x (*, n), batches broadcast."""
    shape = np.broadcast_shapes(tuple(L.shape[:-2]), tuple(x.shape[:-1]))
    y = linalg.solve_triangular(L, x.unsqueeze(-1), upper=False).squeeze(-1)
    return (y * y).sum(-1).expand(*shape) if tuple(y.shape[:-1]) != shape else (y * y).sum(-1)


def _precision_to_scale_tril(P):
    """The lower Cholesky factor of P^{-1}, from the Cholesky factor of P with its rows and
    columns reversed (which is upper triangular after reversing back)."""
    Lf = linalg.cholesky(P.flip(-2, -1))
    L_inv = Lf.flip(-2, -1).transpose(-2, -1)
    eye = dlcore.eye(P.shape[-1], dtype=P.dtype).expand(*P.shape)
    return linalg.solve_triangular(L_inv, eye, upper=False)


def _one_matrix(name, covariance_matrix, precision_matrix, scale_tril):
    """The name and value of the one matrix parameter given; raises unless exactly one is."""
    given = [m for m in (covariance_matrix, precision_matrix, scale_tril) if m is not None]
    if len(given) != 1:
        raise ValueError(f"{name}: exactly one of covariance_matrix or precision_matrix or scale_tril may be "
                         "specified.")
    if scale_tril is not None:
        return "scale_tril", scale_tril
    if covariance_matrix is not None:
        return "covariance_matrix", covariance_matrix
    return "precision_matrix", precision_matrix


def _scale_tril_of(covariance_matrix, precision_matrix, scale_tril):
    """The lower Cholesky factor of the covariance given by the one matrix that is not None."""
    if scale_tril is not None:
        return scale_tril
    if covariance_matrix is not None:
        return linalg.cholesky(covariance_matrix)
    return _precision_to_scale_tril(precision_matrix)


class MultivariateNormal(LocMeanMode, Distribution):
    """MultivariateNormal(loc, covariance_matrix=|precision_matrix=|scale_tril=): mean loc
    (*, n), covariance given by exactly one of a positive-definite covariance or precision
    matrix (*, n, n) or the lower Cholesky factor of the covariance."""

    arg_constraints = {"loc": constraints.real_vector, "covariance_matrix": constraints.positive_definite,
                       "precision_matrix": constraints.positive_definite, "scale_tril": constraints.lower_cholesky}
    support = constraints.real_vector
    has_rsample = True

    def __init__(self, loc, covariance_matrix=None, precision_matrix=None, scale_tril=None, validate_args=None):
        if not isinstance(loc, dlcore.Tensor) or loc.dim() < 1:
            raise ValueError("MultivariateNormal: loc must be at least one-dimensional.")
        name, matrix = _one_matrix("MultivariateNormal", covariance_matrix, precision_matrix, scale_tril)
        if matrix.dim() < 2:
            raise ValueError(f"MultivariateNormal: {name} matrix must be at least two-dimensional, with optional "
                             "leading batch dimensions")
        if matrix.shape[-1] != matrix.shape[-2] or matrix.shape[-1] != loc.shape[-1]:
            raise ValueError(f"MultivariateNormal: {name} of shape {list(matrix.shape)} does not match loc of shape "
                             f"{list(loc.shape)}")
        try:
            batch_shape = np.broadcast_shapes(tuple(matrix.shape[:-2]), tuple(loc.shape[:-1]))
        except ValueError:
            raise ValueError(f"MultivariateNormal: the batch shapes of {name} {list(matrix.shape)} and loc "
                             f"{list(loc.shape)} do not broadcast") from None
        n = loc.shape[-1]
        setattr(self, name, matrix.expand(*batch_shape, n, n))
        self.loc = loc.expand(*batch_shape, n)
        super().__init__(batch_shape, (n,), validate_args=validate_args)
        self._unbroadcasted_scale_tril = _scale_tril_of(covariance_matrix, precision_matrix, scale_tril)

    def expand(self, batch_shape, _instance=None):
        return expand_params(self, MultivariateNormal, batch_shape, _instance,
                             ("loc", "covariance_matrix", "scale_tril", "precision_matrix"),
                             shared=("_unbroadcasted_scale_tril",))

    @lazy_property
    def scale_tril(self):
        return self._unbroadcasted_scale_tril.expand(*self._batch_shape, *self._event_shape, *self._event_shape)

    @lazy_property
    def covariance_matrix(self):
        L = self._unbroadcasted_scale_tril
        return (L @ L.transpose(-2, -1)).expand(*self._batch_shape, *self._event_shape, *self._event_shape)

    @lazy_property
    def precision_matrix(self):
        L = self._unbroadcasted_scale_tril
        return linalg.inv(L @ L.transpose(-2, -1)).expand(*self._batch_shape, *self._event_shape,
                                                           *self._event_shape)

    @property
    def variance(self):
        L = self._unbroadcasted_scale_tril
        return (L * L).sum(-1).expand(*self._batch_shape, *self._event_shape)

    def rsample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        eps = dlcore.randn(shape, dtype=self.loc.dtype)
        return self.loc + (self._unbroadcasted_scale_tril @ eps.unsqueeze(-1)).squeeze(-1)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        diff = value - self.loc
        M = _batch_mahalanobis(self._unbroadcasted_scale_tril, diff)
        half_log_det = dlcore.log(_batch_diag(self._unbroadcasted_scale_tril)).sum(-1)
        return -0.5 * (self._event_shape[0] * math.log(2 * math.pi) + M) - half_log_det

    def entropy(self):
        half_log_det = dlcore.log(_batch_diag(self._unbroadcasted_scale_tril)).sum(-1)
        H = 0.5 * self._event_shape[0] * (1.0 + math.log(2 * math.pi)) + half_log_det
        return H if tuple(H.shape) == self._batch_shape else H.expand(*self._batch_shape)
