"""The generalized Pareto distribution."""
import math

import dlcore

from . import constraints
from ._params import expand_params
from .distribution import Distribution
from .utils import broadcast_all, expm1

__all__ = ["GeneralizedPareto"]


class GeneralizedPareto(Distribution):
    """GeneralizedPareto(loc, scale, concentration): cdf 1 - (1 + xi z)^(-1 / xi) of
    z = (x - loc) / scale (1 - exp(-z) for xi = 0); the support is bounded above by
    loc - scale / xi when xi < 0."""

    arg_constraints = {"loc": constraints.real, "scale": constraints.positive, "concentration": constraints.real}
    has_rsample = True

    def __init__(self, loc, scale, concentration, validate_args=None):
        self.loc, self.scale, self.concentration = broadcast_all(loc, scale, concentration)
        super().__init__(tuple(self.loc.shape), validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        return expand_params(self, GeneralizedPareto, batch_shape, _instance, ("loc", "scale", "concentration"))

    def _is_zero(self):
        return self.concentration.abs() <= 1e-8

    def _safe_concentration(self):
        return dlcore.where(self._is_zero(), dlcore.ones_like(self.concentration), self.concentration)

    @constraints.dependent_property(is_discrete=False, event_dim=0)
    def support(self):
        xi = self._safe_concentration()
        upper = dlcore.where(self.concentration < 0, self.loc - self.scale / xi, dlcore.full_like(self.loc, math.inf))
        return constraints.interval(self.loc, upper)

    def rsample(self, sample_shape=()):
        u = dlcore.rand(self._extended_shape(sample_shape), dtype=self.loc.dtype)
        return self.icdf(u)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        z = (value - self.loc) / self.scale
        xi = self._safe_concentration()
        general = (1 / xi + 1) * dlcore.log1p(xi * z)
        return -dlcore.log(self.scale) - dlcore.where(self._is_zero(), z, general)

    def cdf(self, value):
        if self._validate_args:
            self._validate_sample(value)
        z = (value - self.loc) / self.scale
        xi = self._safe_concentration()
        general = -dlcore.log1p(xi * z) / xi
        return 1 - dlcore.exp(dlcore.where(self._is_zero(), -z, general))

    def icdf(self, value):
        xi = self._safe_concentration()
        log1m = dlcore.log1p(-value)
        z = dlcore.where(self._is_zero(), -log1m, expm1(-xi * log1m) / xi)
        return self.loc + self.scale * z

    @property
    def mean(self):
        xi = self.concentration
        mean = self.loc + self.scale / (1 - xi)
        return dlcore.where(xi < 1, mean, dlcore.full_like(mean, math.inf))

    @property
    def mode(self):
        return self.loc

    @property
    def variance(self):
        xi = self.concentration
        var = self.scale.pow(2) / ((1 - xi).pow(2) * (1 - 2 * xi))
        return dlcore.where(xi < 0.5, var, dlcore.full_like(var, math.inf))

    def entropy(self):
        return dlcore.log(self.scale) + self.concentration + 1
