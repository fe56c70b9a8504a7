"""The binomial distribution."""
import numpy as np

import dlcore

from . import constraints
from ._params import BinaryProbsLogits, expand_params, set_probs_or_logits
from .distribution import Distribution
from .utils import binomial, lgamma, log1pexp

__all__ = ["Binomial"]


class Binomial(BinaryProbsLogits, Distribution):
    """Binomial(total_count, probs|logits): the number of successes in total_count independent
    Bernoulli(probs) trials."""

    arg_constraints = {"total_count": constraints.nonnegative_integer, "probs": constraints.unit_interval,
                       "logits": constraints.real}
    has_enumerate_support = True

    def __init__(self, total_count=1, probs=None, logits=None, validate_args=None):
        param, self.total_count = set_probs_or_logits(self, "Binomial", probs, logits, total_count)
        super().__init__(tuple(param.shape), validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        return expand_params(self, Binomial, batch_shape, _instance, ("total_count", "probs", "logits"))

    @constraints.dependent_property(is_discrete=True, event_dim=0)
    def support(self):
        return constraints.integer_interval(0, self.total_count)

    @property
    def mean(self):
        return self.total_count * self.probs

    @property
    def mode(self):
        mode = np.floor((self.total_count.detach().numpy() + 1) * self.probs.detach().numpy())
        return dlcore.tensor(np.minimum(mode, self.total_count.detach().numpy()), dtype=self.probs.dtype)

    @property
    def variance(self):
        return self.total_count * self.probs * (1 - self.probs)

    def sample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        with dlcore.no_grad():
            return binomial(self.total_count.expand(*shape), self.probs.expand(*shape))

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        n, k = self.total_count, value.to(self.logits.dtype)
        log_factorial_n = lgamma(n + 1)
        log_factorial_k = lgamma(k + 1)
        log_factorial_nmk = lgamma(n - k + 1)
        # log(1 + e^l) scaled by n, written so that logits of either sign stay finite
        normalize_term = n * log1pexp(self.logits) - log_factorial_n
        return k * self.logits - log_factorial_k - log_factorial_nmk - normalize_term

    def entropy(self):
        total_count = int(self.total_count.max().item())
        if not bool((self.total_count == total_count).all()):
            raise NotImplementedError("Inhomogeneous total count not supported by `entropy`.")
        log_prob = self.log_prob(self.enumerate_support(False))
        return -(dlcore.exp(log_prob) * log_prob).sum(0)

    def enumerate_support(self, expand=True):
        total_count = int(self.total_count.max().item())
        if not bool((self.total_count == total_count).all()):
            raise NotImplementedError("Inhomogeneous total count not supported by `enumerate_support`.")
        values = dlcore.arange(1 + total_count, dtype=self._param_dtype())
        values = values.reshape(-1, *((1,) * len(self.batch_shape)))
        return values.expand(-1, *self.batch_shape) if expand else values

    def _param_dtype(self):
        return (self.probs if "probs" in self.__dict__ else self.logits).dtype
