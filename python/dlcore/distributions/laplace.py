"""The Laplace (double exponential) distribution."""
import math

import numpy as np

import dlcore

from . import constraints
from ._params import LocMeanMode, expand_params
from .distribution import Distribution
from .utils import broadcast_all, expm1

__all__ = ["Laplace"]


class Laplace(LocMeanMode, Distribution):
    """Laplace(loc, scale): density exp(-|x - loc| / scale) / (2 scale)."""

    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
    support = constraints.real
    has_rsample = True

    def __init__(self, loc, scale, validate_args=None):
        self.loc, self.scale = broadcast_all(loc, scale)
        super().__init__(tuple(self.loc.shape), validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        return expand_params(self, Laplace, batch_shape, _instance, ("loc", "scale"))

    @property
    def variance(self):
        return 2 * self.scale.pow(2)

    @property
    def stddev(self):
        return math.sqrt(2) * self.scale

    def rsample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        eps = float(np.finfo(np.float32 if self.loc.dtype == dlcore.float32 else np.float64).eps)
        u = dlcore.rand(shape, dtype=self.loc.dtype) * (2 - eps) + (eps - 1)  # in (-1, 1)
        return self.loc - self.scale * u.sign() * dlcore.log1p(-u.abs())

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return -dlcore.log(2 * self.scale) - (value - self.loc).abs() / self.scale

    def cdf(self, value):
        if self._validate_args:
            self._validate_sample(value)
        z = value - self.loc
        return 0.5 - 0.5 * z.sign() * expm1(-z.abs() / self.scale)

    def icdf(self, value):
        term = value - 0.5
        return self.loc - self.scale * term.sign() * dlcore.log1p(-2 * term.abs())

    def entropy(self):
        return 1 + dlcore.log(2 * self.scale)
