"""The geometric distribution (failures before the first success)."""
import numpy as np

import dlcore

from . import constraints
from ._params import BinaryProbsLogits, expand_params, set_probs_or_logits
from .distribution import Distribution
from .utils import broadcast_all, log1pexp

__all__ = ["Geometric"]


class Geometric(BinaryProbsLogits, Distribution):
    """Geometric(probs) or (logits=...): the number k >= 0 of failures before the first success
    of Bernoulli(probs) trials, probability (1 - p)^k p."""

    arg_constraints = {"probs": constraints.unit_interval, "logits": constraints.real}
    support = constraints.nonnegative_integer

    def __init__(self, probs=None, logits=None, validate_args=None):
        (param,) = set_probs_or_logits(self, "Geometric", probs, logits)
        super().__init__(tuple(param.shape), validate_args=validate_args)
        if self._validate_args and probs is not None and not bool((self.probs > 0).all()):
            raise ValueError(f"Geometric: expected parameter probs to be in (0, 1], got {self.probs}")

    def expand(self, batch_shape, _instance=None):
        return expand_params(self, Geometric, batch_shape, _instance, ("probs", "logits"))

    @property
    def mean(self):
        return 1.0 / self.probs - 1.0

    @property
    def mode(self):
        return dlcore.zeros_like(self.probs)

    @property
    def variance(self):
        return (1.0 / self.probs - 1.0) / self.probs

    def sample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        tiny = float(np.finfo(np.float32 if self.probs.dtype == dlcore.float32 else np.float64).tiny)
        with dlcore.no_grad():
            u = dlcore.rand(shape, dtype=self.probs.dtype).clamp(min=tiny)
            ratio = (dlcore.log(u) / dlcore.log1p(-self.probs.expand(*shape))).numpy()
            return dlcore.tensor(np.floor(ratio), dtype=self.probs.dtype)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        value, probs = broadcast_all(value.to(self.probs.dtype), self.probs)
        # 0 * log(0) is 0 for probs == 1 and value == 0
        failures = dlcore.where((probs == 1) & (value == 0), dlcore.zeros_like(value), value * dlcore.log1p(-probs))
        return failures + dlcore.log(probs)

    def entropy(self):
        return (log1pexp(self.logits) - self.probs * self.logits) / self.probs
