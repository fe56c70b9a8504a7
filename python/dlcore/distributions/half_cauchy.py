"""The half-Cauchy distribution."""
import math

import dlcore

from ._derived import HalfDistribution
from .cauchy import Cauchy

__all__ = ["HalfCauchy"]


class HalfCauchy(HalfDistribution):
    """HalfCauchy(scale): |X| for X ~ Cauchy(0, scale)."""

    _base_class = Cauchy

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(HalfCauchy, _instance)
        return super().expand(batch_shape, _instance=new)

    @property
    def mean(self):
        return dlcore.full(self._extended_shape(), math.inf, dtype=self.scale.dtype)

    @property
    def variance(self):
        return self.base_dist.variance
