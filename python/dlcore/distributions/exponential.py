"""The exponential distribution."""
import dlcore

from . import constraints
from ._params import expand_params
from .exp_family import ExponentialFamily
from .utils import broadcast_all

__all__ = ["Exponential"]


class Exponential(ExponentialFamily):
    """Exponential(rate): density rate * exp(-rate * x) on x >= 0."""

    arg_constraints = {"rate": constraints.positive}
    support = constraints.nonnegative
    has_rsample = True
    _mean_carrier_measure = 0

    def __init__(self, rate, validate_args=None):
        (self.rate,) = broadcast_all(rate)
        super().__init__(tuple(self.rate.shape), validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        return expand_params(self, Exponential, batch_shape, _instance, ("rate",))

    @property
    def mean(self):
        return 1.0 / self.rate

    @property
    def mode(self):
        return dlcore.zeros_like(self.rate)

    @property
    def stddev(self):
        return 1.0 / self.rate

    @property
    def variance(self):
        return self.rate.pow(-2)

    def rsample(self, sample_shape=()):
        u = dlcore.rand(self._extended_shape(sample_shape), dtype=self.rate.dtype)
        return -dlcore.log1p(-u) / self.rate

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return dlcore.log(self.rate) - self.rate * value

    def cdf(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return 1 - dlcore.exp(-self.rate * value)

    def icdf(self, value):
        return -dlcore.log1p(-value) / self.rate

    def entropy(self):
        return 1.0 - dlcore.log(self.rate)

    @property
    def _natural_params(self):
        return (-self.rate,)

    def _log_normalizer(self, x):
        return -dlcore.log(-x)
