"""Student's t distribution."""
import math

import dlcore

from . import constraints
from ._params import expand_params
from .chi2 import Chi2
from .distribution import Distribution
from .utils import broadcast_all, digamma, lgamma

__all__ = ["StudentT"]


class StudentT(Distribution):
    """StudentT(df, loc=0, scale=1): loc + scale * X / sqrt(V / df), X standard normal and V
    chi-squared with df degrees of freedom (rsample differentiable in all three)."""

    arg_constraints = {"df": constraints.positive, "loc": constraints.real, "scale": constraints.positive}
    support = constraints.real
    has_rsample = True

    def __init__(self, df, loc=0.0, scale=1.0, validate_args=None):
        self.df, self.loc, self.scale = broadcast_all(df, loc, scale)
        self._chi2 = Chi2(self.df, validate_args=False)
        super().__init__(tuple(self.df.shape), validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        return expand_params(self, StudentT, batch_shape, _instance, ("df", "loc", "scale"), nested=("_chi2",))

    @property
    def mean(self):
        return dlcore.where(self.df > 1, self.loc, dlcore.full_like(self.loc, math.nan))

    @property
    def mode(self):
        return self.loc

    @property
    def variance(self):
        df = self.df
        finite = self.scale.pow(2) * df / (df - 2)
        infinite = dlcore.full_like(df, math.inf)
        undefined = dlcore.full_like(df, math.nan)
        return dlcore.where(df > 2, finite, dlcore.where(df > 1, infinite, undefined))

    def rsample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        X = dlcore.randn(shape, dtype=self.df.dtype)
        Z = self._chi2.rsample(sample_shape)
        Y = X * dlcore.rsqrt(Z / self.df)
        return self.loc + self.scale * Y

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        y = (value - self.loc) / self.scale
        Z = (dlcore.log(self.scale) + 0.5 * dlcore.log(self.df) + 0.5 * math.log(math.pi)
             + lgamma(0.5 * self.df) - lgamma(0.5 * (self.df + 1.0)))
        return -0.5 * (self.df + 1.0) * dlcore.log1p(y.pow(2) / self.df) - Z

    def entropy(self):
        lbeta = lgamma(0.5 * self.df) + math.lgamma(0.5) - lgamma(0.5 * (self.df + 1))
        return (dlcore.log(self.scale) + 0.5 * (self.df + 1) * (digamma(0.5 * (self.df + 1)) - digamma(0.5 * self.df))
                + 0.5 * dlcore.log(self.df) + lbeta)
