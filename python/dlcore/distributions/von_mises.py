"""The von Mises distribution on the circle."""
import math

import numpy as np

import dlcore

from . import constraints
from ._params import LocMeanMode, expand_params
from .distribution import Distribution
from .utils import bessel_ratio_i1_i0, broadcast_all, log_bessel_i0, numpy_generator

__all__ = ["VonMises"]


class VonMises(LocMeanMode, Distribution):
    """VonMises(loc, concentration): density exp(kappa cos(x - loc)) / (2 pi I_0(kappa)) on
    [-pi, pi), with circular mean loc. Sampling is not reparameterised (no rsample)."""

    arg_constraints = {"loc": constraints.real, "concentration": constraints.positive}
    support = constraints.real
    has_rsample = False

    def __init__(self, loc, concentration, validate_args=None):
        self.loc, self.concentration = broadcast_all(loc, concentration)
        super().__init__(tuple(self.loc.shape), validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        return expand_params(self, VonMises, batch_shape, _instance, ("loc", "concentration"))

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        log_prob = self.concentration * dlcore.cos(value - self.loc)
        return log_prob - math.log(2 * math.pi) - log_bessel_i0(self.concentration)

    def sample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        loc = np.broadcast_to(self.loc.detach().numpy().astype(np.float64), shape)
        kappa = np.broadcast_to(self.concentration.detach().numpy().astype(np.float64), shape)
        x = numpy_generator().vonmises(loc, kappa)
        x = np.mod(x + math.pi, 2 * math.pi) - math.pi
        return dlcore.tensor(np.asarray(x, np.float64), dtype=self.loc.dtype)

    @property
    def variance(self):
        """The circular variance 1 - I_1(kappa) / I_0(kappa)."""
        return 1 - bessel_ratio_i1_i0(self.concentration)
