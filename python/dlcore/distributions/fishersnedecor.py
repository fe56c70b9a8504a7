"""The Fisher-Snedecor (F) distribution."""
import math

import numpy as np

import dlcore

from . import constraints
from ._params import expand_params
from .distribution import Distribution
from .gamma import Gamma
from .utils import broadcast_all, lgamma

__all__ = ["FisherSnedecor"]


class FisherSnedecor(Distribution):
    """FisherSnedecor(df1, df2): the ratio of two scaled chi-squared variables, (V1 / df1) /
    (V2 / df2)."""

    arg_constraints = {"df1": constraints.positive, "df2": constraints.positive}
    support = constraints.positive
    has_rsample = True

    def __init__(self, df1, df2, validate_args=None):
        self.df1, self.df2 = broadcast_all(df1, df2)
        self._gamma1 = Gamma(self.df1 * 0.5, self.df1 * 0.5, validate_args=False)
        self._gamma2 = Gamma(self.df2 * 0.5, self.df2 * 0.5, validate_args=False)
        super().__init__(tuple(self.df1.shape), validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        return expand_params(self, FisherSnedecor, batch_shape, _instance,
                             ("df1", "df2"), nested=("_gamma1", "_gamma2"))

    @property
    def mean(self):
        df2 = self.df2
        return dlcore.where(df2 > 2, df2 / (df2 - 2), dlcore.full_like(df2, math.nan))

    @property
    def mode(self):
        df1, df2 = self.df1, self.df2
        mode = (df1 - 2) / df1 * df2 / (df2 + 2)
        return dlcore.where(df1 > 2, mode, dlcore.full_like(mode, math.nan))

    @property
    def variance(self):
        df1, df2 = self.df1, self.df2
        var = 2 * df2.pow(2) * (df1 + df2 - 2) / (df1 * (df2 - 2).pow(2) * (df2 - 4))
        return dlcore.where(df2 > 4, var, dlcore.full_like(var, math.nan))

    def rsample(self, sample_shape=()):
        # Gamma(df / 2, rate df / 2) is chi2(df) / df, so the ratio of the two is F(df1, df2)
        X1 = self._gamma1.rsample(sample_shape)
        X2 = self._gamma2.rsample(sample_shape)
        tiny = float(np.finfo(np.float32 if X1.dtype == dlcore.float32 else np.float64).tiny)
        return (X1 / X2.clamp(min=tiny)).clamp(min=tiny)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        ct1 = self.df1 * 0.5
        ct2 = self.df2 * 0.5
        ct3 = self.df1 / self.df2
        t1 = lgamma(ct1 + ct2) - lgamma(ct1) - lgamma(ct2)
        t2 = ct1 * dlcore.log(ct3) + (ct1 - 1) * dlcore.log(value)
        t3 = (ct1 + ct2) * dlcore.log1p(ct3 * value)
        return t1 + t2 - t3
