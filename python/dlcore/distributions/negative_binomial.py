"""The negative binomial distribution."""
import numpy as np

import dlcore

from . import constraints
from ._params import BinaryProbsLogits, expand_params, set_probs_or_logits
from .distribution import Distribution
from .gamma import Gamma
from .utils import lgamma, log1pexp, poisson

__all__ = ["NegativeBinomial"]


def _log_sigmoid(x):
    return -log1pexp(-x)


class NegativeBinomial(BinaryProbsLogits, Distribution):
    """NegativeBinomial(total_count, probs|logits): the number of successes (probability probs
    each) before total_count failures; sampled as Poisson(Gamma(total_count, exp(-logits)))."""

    arg_constraints = {"total_count": constraints.greater_than_eq(0), "probs": constraints.half_open_interval(0.0, 1.0),
                       "logits": constraints.real}
    support = constraints.nonnegative_integer

    def __init__(self, total_count, probs=None, logits=None, validate_args=None):
        param, self.total_count = set_probs_or_logits(self, "NegativeBinomial", probs, logits, total_count)
        super().__init__(tuple(param.shape), validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        return expand_params(self, NegativeBinomial, batch_shape, _instance, ("total_count", "probs", "logits"))

    @property
    def mean(self):
        return self.total_count * dlcore.exp(self.logits)

    @property
    def mode(self):
        m = ((self.total_count - 1) * dlcore.exp(self.logits)).detach().numpy()
        return dlcore.tensor(np.floor(m).clip(min=0.0), dtype=self.logits.dtype)

    @property
    def variance(self):
        return self.mean / dlcore.sigmoid(-self.logits)

    def sample(self, sample_shape=()):
        with dlcore.no_grad():
            rate = Gamma(self.total_count, dlcore.exp(-self.logits), validate_args=False).sample(sample_shape)
            return poisson(rate)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        value = value.to(self.logits.dtype)
        r = self.total_count
        log_unnormalized = r * _log_sigmoid(-self.logits) + value * _log_sigmoid(self.logits)
        log_normalization = -lgamma(r + value) + lgamma(1.0 + value) + lgamma(r)
        zero = (r + value) == 0  # the distribution is a point mass at 0 when total_count is 0
        return log_unnormalized - dlcore.where(zero, dlcore.zeros_like(log_normalization), log_normalization)
