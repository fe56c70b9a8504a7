"""The Wishart distribution over positive-definite matrices."""
import math

import numpy as np

import dlcore
from dlcore import linalg

from . import constraints
from .chi2 import Chi2
from .distribution import Distribution
from .lkj_cholesky import _mvlgamma
from .multivariate_normal import _batch_diag, _one_matrix, _scale_tril_of
from .utils import digamma, lazy_property

__all__ = ["Wishart"]

_LOG_2 = math.log(2)


def _mvdigamma(a, p):
    """The multivariate digamma function of order p (the derivative of _mvlgamma)."""
    return sum(digamma(a - 0.5 * j) for j in range(p))


class Wishart(Distribution):
    """Wishart(df, covariance_matrix=|precision_matrix=|scale_tril=): the distribution of
    sum_k x_k x_k^T for df normal vectors x_k ~ N(0, covariance) (df > p - 1 real). rsample uses
    the Bartlett decomposition, differentiable in the scale and (through the chi-squared
    diagonal) in df."""

    arg_constraints = {"covariance_matrix": constraints.positive_definite,
                       "precision_matrix": constraints.positive_definite,
                       "scale_tril": constraints.lower_cholesky, "df": constraints.greater_than(0)}
    support = constraints.positive_definite
    has_rsample = True

    def __init__(self, df, covariance_matrix=None, precision_matrix=None, scale_tril=None, validate_args=None):
        name, param = _one_matrix("Wishart", covariance_matrix, precision_matrix, scale_tril)
        if param.dim() < 2 or param.shape[-1] != param.shape[-2]:
            raise ValueError(f"Wishart: the scale parameter must be a batch of square matrices, got shape "
                             f"{list(param.shape)}")
        p = param.shape[-1]
        df = df if isinstance(df, dlcore.Tensor) else dlcore.tensor(float(df), dtype=param.dtype)
        batch_shape = np.broadcast_shapes(tuple(param.shape[:-2]), tuple(df.shape))
        self.df = df.expand(*batch_shape)
        self.arg_constraints = dict(Wishart.arg_constraints, df=constraints.greater_than(p - 1))
        setattr(self, name, param.expand(*batch_shape, p, p))
        self._unbroadcasted_scale_tril = _scale_tril_of(covariance_matrix, precision_matrix, scale_tril)
        # the diagonal of the Bartlett factor: sqrt(chi2(df - i)), i = 0 .. p - 1
        offsets = dlcore.tensor(np.arange(p, dtype=np.float64), dtype=param.dtype)
        self._dist_chi2 = Chi2(self.df.unsqueeze(-1) - offsets, validate_args=False)
        super().__init__(batch_shape, (p, p), validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(Wishart, _instance)
        batch_shape = tuple(batch_shape)
        Wishart.__init__(new, self.df.expand(*batch_shape),
                         scale_tril=self._unbroadcasted_scale_tril.expand(*batch_shape, *self.event_shape),
                         validate_args=False)
        new._validate_args = self._validate_args
        return new

    @lazy_property
    def scale_tril(self):
        return self._unbroadcasted_scale_tril.expand(*self._batch_shape, *self._event_shape)

    @lazy_property
    def covariance_matrix(self):
        L = self._unbroadcasted_scale_tril
        return (L @ L.transpose(-2, -1)).expand(*self._batch_shape, *self._event_shape)

    @lazy_property
    def precision_matrix(self):
        L = self._unbroadcasted_scale_tril
        return linalg.inv(L @ L.transpose(-2, -1)).expand(*self._batch_shape, *self._event_shape)

    def _df(self):
        return self.df.reshape(*self.df.shape, 1, 1)

    @property
    def mean(self):
        return self._df() * self.covariance_matrix

    @property
    def mode(self):
        factor = self._df() - self._event_shape[-1] - 1
        factor = dlcore.where(factor <= 0, dlcore.full_like(factor, math.nan), factor)
        return factor * self.covariance_matrix

    @property
    def variance(self):
        V = self.covariance_matrix
        diag_V = _batch_diag(V)
        return self._df() * (V.pow(2) + diag_V.unsqueeze(-1) * diag_V.unsqueeze(-2))

    def rsample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        p = self._event_shape[-1]
        noise = dlcore.randn(shape, dtype=self.df.dtype).tril(-1)
        diag = self._dist_chi2.rsample(sample_shape).sqrt()
        A = noise + diag.unsqueeze(-1) * dlcore.eye(p, dtype=noise.dtype)
        LA = self._unbroadcasted_scale_tril @ A
        return LA @ LA.transpose(-2, -1)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        nu = self.df
        p = self._event_shape[-1]
        L = self._unbroadcasted_scale_tril
        half_log_det_scale = dlcore.log(_batch_diag(L)).sum(-1)
        # tr((L L^T)^{-1} value), differentiated (as torch's cholesky_solve) with L a full matrix
        trace = _batch_diag(linalg.solve(L @ L.transpose(-2, -1), value)).sum(-1)
        return (-nu * (p * _LOG_2 / 2 + half_log_det_scale) - _mvlgamma(nu / 2, p)
                + (nu - p - 1) / 2 * linalg.slogdet(value).logabsdet - trace / 2)

    def entropy(self):
        nu = self.df
        p = self._event_shape[-1]
        half_log_det_scale = dlcore.log(_batch_diag(self._unbroadcasted_scale_tril)).sum(-1)
        return ((p + 1) * (p * _LOG_2 / 2 + half_log_det_scale) + _mvlgamma(nu / 2, p)
                - (nu - p - 1) / 2 * _mvdigamma(nu / 2, p) + nu * p / 2)
