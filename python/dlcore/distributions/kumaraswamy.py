"""The Kumaraswamy distribution."""
import math

import dlcore

from . import constraints
from .transformed_distribution import TransformedDistribution
from .transforms import AffineTransform, PowerTransform
from .uniform import Uniform
from .utils import broadcast_all, digamma, lgamma

__all__ = ["Kumaraswamy"]

_EULER_GAMMA = 0.57721566490153286061


def _moments(a, b, n):
    """E[X^n] = b B(1 + n / a, b)."""
    arg1 = 1 + n / a
    return b * dlcore.exp(lgamma(arg1) + lgamma(b) - lgamma(arg1 + b))


class Kumaraswamy(TransformedDistribution):
    """Kumaraswamy(concentration1, concentration0): density a b x^(a-1) (1 - x^a)^(b-1) on
    (0, 1), sampled as (1 - U^(1/b))^(1/a)."""

    arg_constraints = {"concentration1": constraints.positive, "concentration0": constraints.positive}
    support = constraints.unit_interval
    has_rsample = True

    def __init__(self, concentration1, concentration0, validate_args=None):
        self.concentration1, self.concentration0 = broadcast_all(concentration1, concentration0)
        base = Uniform(dlcore.zeros_like(self.concentration0), dlcore.ones_like(self.concentration0),
                       validate_args=validate_args)
        transforms = [PowerTransform(exponent=1.0 / self.concentration0), AffineTransform(loc=1.0, scale=-1.0),
                      PowerTransform(exponent=1.0 / self.concentration1)]
        super().__init__(base, transforms, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(Kumaraswamy, _instance)
        batch_shape = tuple(batch_shape)
        Kumaraswamy.__init__(new, self.concentration1.expand(*batch_shape), self.concentration0.expand(*batch_shape),
                             validate_args=False)
        new._validate_args = self._validate_args
        return new

    @property
    def mean(self):
        return _moments(self.concentration1, self.concentration0, 1)

    @property
    def mode(self):
        a, b = self.concentration1, self.concentration0
        log_mode = (dlcore.log(a - 1) - dlcore.log(a * b - 1)) / a
        return dlcore.where((a < 1) | (b < 1), dlcore.full_like(log_mode, math.nan), dlcore.exp(log_mode))

    @property
    def variance(self):
        a, b = self.concentration1, self.concentration0
        return _moments(a, b, 2) - _moments(a, b, 1).pow(2)

    def entropy(self):
        a, b = self.concentration1, self.concentration0
        harmonic_b = digamma(b + 1) + _EULER_GAMMA
        return (1 - 1 / b) + (1 - 1 / a) * harmonic_b - dlcore.log(a) - dlcore.log(b)
