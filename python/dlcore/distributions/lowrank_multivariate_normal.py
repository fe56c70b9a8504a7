"""The multivariate normal with a low-rank-plus-diagonal covariance."""
import math

import numpy as np

import dlcore
from dlcore import linalg

from . import constraints
from ._params import LocMeanMode, expand_params
from .distribution import Distribution
from .multivariate_normal import _batch_diag, _batch_mahalanobis
from .utils import lazy_property

__all__ = ["LowRankMultivariateNormal"]


class LowRankMultivariateNormal(LocMeanMode, Distribution):
    """LowRankMultivariateNormal(loc, cov_factor, cov_diag): covariance
    cov_factor @ cov_factor^T + diag(cov_diag), with cov_factor (*, n, r) and cov_diag (*, n)
    positive. Log-densities use the Woodbury identity and the r x r capacitance matrix."""

    arg_constraints = {"loc": constraints.real_vector,
                       "cov_factor": constraints.independent(constraints.real, 2),
                       "cov_diag": constraints.independent(constraints.positive, 1)}
    support = constraints.real_vector
    has_rsample = True

    def __init__(self, loc, cov_factor, cov_diag, validate_args=None):
        if loc.dim() < 1:
            raise ValueError("LowRankMultivariateNormal: loc must be at least one-dimensional.")
        n = loc.shape[-1]
        if cov_factor.dim() < 2:
            raise ValueError("LowRankMultivariateNormal: cov_factor must be at least two-dimensional, with optional "
                             "leading batch dimensions")
        if cov_factor.shape[-2] != n:
            raise ValueError(f"LowRankMultivariateNormal: cov_factor must be a batch of matrices with shape {n} x m, "
                             f"got {list(cov_factor.shape)}")
        if tuple(cov_diag.shape[-1:]) != (n,):
            raise ValueError(f"LowRankMultivariateNormal: cov_diag must be a batch of vectors with shape ({n},), got "
                             f"{list(cov_diag.shape)}")
        try:
            batch_shape = np.broadcast_shapes(tuple(loc.shape[:-1]), tuple(cov_factor.shape[:-2]),
                                              tuple(cov_diag.shape[:-1]))
        except ValueError:
            raise ValueError(f"LowRankMultivariateNormal: incompatible batch shapes: loc {list(loc.shape)}, cov_factor "
                             f"{list(cov_factor.shape)}, cov_diag {list(cov_diag.shape)}") from None
        r = cov_factor.shape[-1]
        self.loc = loc.expand(*batch_shape, n)
        self.cov_factor = cov_factor.expand(*batch_shape, n, r)
        self.cov_diag = cov_diag.expand(*batch_shape, n)
        self._unbroadcasted_cov_factor = cov_factor
        self._unbroadcasted_cov_diag = cov_diag
        self._capacitance_tril = self._capacitance(cov_factor, cov_diag)
        super().__init__(batch_shape, (n,), validate_args=validate_args)

    @staticmethod
    def _capacitance(W, D):
        """The Cholesky factor of I + W^T D^{-1} W."""
        Wt_Dinv = W.transpose(-2, -1) / D.unsqueeze(-2)
        K = Wt_Dinv @ W + dlcore.eye(W.shape[-1], dtype=W.dtype)
        return linalg.cholesky(K)

    def expand(self, batch_shape, _instance=None):
        return expand_params(self, LowRankMultivariateNormal, batch_shape, _instance, ("loc", "cov_diag", "cov_factor"),
                             shared=("_unbroadcasted_cov_factor", "_unbroadcasted_cov_diag", "_capacitance_tril"))

    @lazy_property
    def variance(self):
        W = self._unbroadcasted_cov_factor
        return ((W * W).sum(-1) + self._unbroadcasted_cov_diag).expand(*self._batch_shape, *self._event_shape)

    @lazy_property
    def covariance_matrix(self):
        W = self._unbroadcasted_cov_factor
        cov = W @ W.transpose(-2, -1) + self._unbroadcasted_cov_diag.unsqueeze(-1) * dlcore.eye(
            W.shape[-2], dtype=W.dtype)
        return cov.expand(*self._batch_shape, *self._event_shape, *self._event_shape)

    @lazy_property
    def scale_tril(self):
        return linalg.cholesky(self.covariance_matrix)

    @lazy_property
    def precision_matrix(self):
        return linalg.inv(self.covariance_matrix)

    def rsample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        r = self._unbroadcasted_cov_factor.shape[-1]
        eps_W = dlcore.randn(shape[:-1] + (r,), dtype=self.loc.dtype)
        eps_D = dlcore.randn(shape, dtype=self.loc.dtype)
        return (self.loc + (self._unbroadcasted_cov_factor @ eps_W.unsqueeze(-1)).squeeze(-1)
                + self._unbroadcasted_cov_diag.sqrt() * eps_D)

    def _log_det(self):
        """log det(W W^T + D) = 2 sum log diag(capacitance_tril) + sum log D."""
        return (2 * dlcore.log(_batch_diag(self._capacitance_tril)).sum(-1)
                + dlcore.log(self._unbroadcasted_cov_diag).sum(-1))

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        diff = value - self.loc
        W, D = self._unbroadcasted_cov_factor, self._unbroadcasted_cov_diag
        Wt_Dinv_x = ((W / D.unsqueeze(-1)) * diff.unsqueeze(-1)).sum(-2)
        M = (diff * diff / D).sum(-1) - _batch_mahalanobis(self._capacitance_tril, Wt_Dinv_x)
        return -0.5 * (self._event_shape[0] * math.log(2 * math.pi) + self._log_det() + M)

    def entropy(self):
        H = 0.5 * (self._event_shape[0] * (1.0 + math.log(2 * math.pi)) + self._log_det())
        return H if tuple(H.shape) == self._batch_shape else H.expand(*self._batch_shape)
