"""Bases of the distributions defined through a transformed base distribution: the half
distributions |X| and the relaxed (concrete) discrete distributions."""
import math

import dlcore

from . import constraints
from .transformed_distribution import TransformedDistribution
from .transforms import AbsTransform


class HalfDistribution(TransformedDistribution):
    """|X| for X ~ base(0, scale), ``_base_class`` a symmetric location-scale class set by
    subclasses."""

    arg_constraints = {"scale": constraints.positive}
    support = constraints.nonnegative
    has_rsample = True

    def __init__(self, scale, validate_args=None):
        base = self._base_class(0, scale, validate_args=False)
        super().__init__(base, AbsTransform(), validate_args=validate_args)

    @property
    def scale(self):
        return self.base_dist.scale

    @property
    def mode(self):
        return dlcore.zeros_like(self.scale)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        log_prob = self.base_dist.log_prob(value) + math.log(2)
        return dlcore.where(value >= 0, log_prob, dlcore.full_like(log_prob, -math.inf))

    def cdf(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return 2 * self.base_dist.cdf(value) - 1

    def icdf(self, prob):
        return self.base_dist.icdf((prob + 1) / 2)

    def entropy(self):
        return self.base_dist.entropy() - math.log(2)


class RelaxedDistribution(TransformedDistribution):
    """``_transform_class()`` of ``_base_class(temperature, probs|logits)``, both set by
    subclasses, with the base's temperature, logits and probs."""

    has_rsample = True

    def __init__(self, temperature, probs=None, logits=None, validate_args=None):
        base = self._base_class(temperature, probs, logits, validate_args=validate_args)
        super().__init__(base, self._transform_class(), validate_args=validate_args)

    @property
    def temperature(self):
        return self.base_dist.temperature

    @property
    def logits(self):
        return self.base_dist.logits

    @property
    def probs(self):
        return self.base_dist.probs
