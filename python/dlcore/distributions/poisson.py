"""The Poisson distribution."""
import numpy as np

import dlcore

from . import constraints
from ._params import expand_params
from .exp_family import ExponentialFamily
from .utils import broadcast_all, lgamma, poisson, xlogy

__all__ = ["Poisson"]


class Poisson(ExponentialFamily):
    """Poisson(rate): counts k = 0, 1, ... with probability rate^k exp(-rate) / k!."""

    arg_constraints = {"rate": constraints.nonnegative}
    support = constraints.nonnegative_integer

    def __init__(self, rate, validate_args=None):
        (self.rate,) = broadcast_all(rate)
        super().__init__(tuple(self.rate.shape), validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        return expand_params(self, Poisson, batch_shape, _instance, ("rate",))

    @property
    def mean(self):
        return self.rate

    @property
    def mode(self):
        return dlcore.tensor(np.floor(self.rate.detach().numpy()), dtype=self.rate.dtype)

    @property
    def variance(self):
        return self.rate

    def sample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        with dlcore.no_grad():
            return poisson(self.rate.expand(*shape))

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        rate, value = broadcast_all(self.rate, value.to(self.rate.dtype))
        return xlogy(value, rate) - rate - lgamma(value + 1)

    @property
    def _natural_params(self):
        return (dlcore.log(self.rate),)

    def _log_normalizer(self, x):
        return dlcore.exp(x)
