"""The gamma distribution."""
import dlcore

from . import constraints
from ._params import expand_params
from .exp_family import ExponentialFamily
from .utils import broadcast_all, digamma, gammainc, lgamma, standard_gamma_rsample, xlogy

__all__ = ["Gamma"]


class Gamma(ExponentialFamily):
    """Gamma(concentration, rate): density rate^a x^(a-1) exp(-rate x) / Gamma(a) on x >= 0.
    rsample is differentiable in both parameters (implicit reparameterisation for the
    concentration)."""

    arg_constraints = {"concentration": constraints.positive, "rate": constraints.positive}
    support = constraints.nonnegative
    has_rsample = True
    _mean_carrier_measure = 0

    def __init__(self, concentration, rate, validate_args=None):
        self.concentration, self.rate = broadcast_all(concentration, rate)
        super().__init__(tuple(self.concentration.shape), validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        return expand_params(self, Gamma, batch_shape, _instance, ("concentration", "rate"))

    @property
    def mean(self):
        return self.concentration / self.rate

    @property
    def mode(self):
        return ((self.concentration - 1) / self.rate).clamp(min=0)

    @property
    def variance(self):
        return self.concentration / self.rate.pow(2)

    def rsample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        value = standard_gamma_rsample(self.concentration.expand(*shape)) / self.rate.expand(*shape)
        tiny = float(dlcore.finfo(value.dtype).tiny)
        return dlcore.maximum(value, dlcore.full((), tiny, dtype=value.dtype))

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        a, b = self.concentration, self.rate
        return xlogy(a, b) + xlogy(a - 1, value) - b * value - lgamma(a)

    def entropy(self):
        a = self.concentration
        return a - dlcore.log(self.rate) + lgamma(a) + (1.0 - a) * digamma(a)

    def cdf(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return gammainc(self.concentration, self.rate * value)

    @property
    def _natural_params(self):
        return self.concentration - 1, -self.rate

    def _log_normalizer(self, x, y):
        return lgamma(x + 1) + (x + 1) * dlcore.log(-1.0 / y)
