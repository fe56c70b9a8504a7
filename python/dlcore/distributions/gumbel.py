"""The Gumbel (type I extreme value) distribution."""
import math

import numpy as np

import dlcore

from . import constraints
from .transformed_distribution import TransformedDistribution
from .transforms import AffineTransform, ExpTransform
from .uniform import Uniform
from .utils import broadcast_all

__all__ = ["Gumbel"]

_EULER_GAMMA = 0.57721566490153286061


class Gumbel(TransformedDistribution):
    """Gumbel(loc, scale): loc - scale * log(-log U) for U ~ Uniform(0, 1)."""

    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
    support = constraints.real

    def __init__(self, loc, scale, validate_args=None):
        self.loc, self.scale = broadcast_all(loc, scale)
        info = np.finfo(np.float32 if self.loc.dtype == dlcore.float32 else np.float64)
        base = Uniform(dlcore.full_like(self.loc, float(info.tiny)), dlcore.full_like(self.loc, 1 - float(info.eps)),
                       validate_args=validate_args)
        transforms = [ExpTransform().inv, AffineTransform(loc=0, scale=-dlcore.ones_like(self.scale)),
                      ExpTransform().inv, AffineTransform(loc=self.loc, scale=-self.scale)]
        super().__init__(base, transforms, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(Gumbel, _instance)
        batch_shape = tuple(batch_shape)
        Gumbel.__init__(new, self.loc.expand(*batch_shape), self.scale.expand(*batch_shape), validate_args=False)
        new._validate_args = self._validate_args
        return new

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        z = (self.loc - value) / self.scale
        return (z - dlcore.exp(z)) - dlcore.log(self.scale)

    def cdf(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return dlcore.exp(-dlcore.exp(-(value - self.loc) / self.scale))

    def icdf(self, value):
        return self.loc - self.scale * dlcore.log(-dlcore.log(value))

    @property
    def mean(self):
        return self.loc + self.scale * _EULER_GAMMA

    @property
    def mode(self):
        return self.loc

    @property
    def stddev(self):
        return (math.pi / math.sqrt(6)) * self.scale

    @property
    def variance(self):
        return self.stddev.pow(2)

    def entropy(self):
        return dlcore.log(self.scale) + (1 + _EULER_GAMMA)
