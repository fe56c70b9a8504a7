"""The relaxed (concrete) Bernoulli distributions."""
import numpy as np

import dlcore

from . import constraints
from ._derived import RelaxedDistribution
from ._params import BinaryProbsLogits, expand_params, set_probs_or_logits
from .distribution import Distribution
from .transforms import SigmoidTransform
from .utils import broadcast_all, clamp_probs, log1pexp

__all__ = ["LogitRelaxedBernoulli", "RelaxedBernoulli"]


class LogitRelaxedBernoulli(BinaryProbsLogits, Distribution):
    """The logit of a RelaxedBernoulli sample: (logits + logistic noise) / temperature."""

    arg_constraints = {"probs": constraints.unit_interval, "logits": constraints.real}
    support = constraints.real

    def __init__(self, temperature, probs=None, logits=None, validate_args=None):
        self.temperature = temperature
        (param,) = set_probs_or_logits(self, "LogitRelaxedBernoulli", probs, logits)
        super().__init__(tuple(param.shape), validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        return expand_params(self, LogitRelaxedBernoulli, batch_shape, _instance, ("probs", "logits"),
                             shared=("temperature",))

    has_rsample = True

    def rsample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        probs = clamp_probs(self.probs.expand(*shape))
        info = np.finfo(np.float32 if probs.dtype == dlcore.float32 else np.float64)
        u = dlcore.rand(shape, dtype=probs.dtype).clamp(min=float(info.tiny), max=1 - float(info.eps))
        return (dlcore.log(probs) - dlcore.log1p(-probs) + dlcore.log(u) - dlcore.log1p(-u)) / self.temperature

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        logits, value = broadcast_all(self.logits, value)
        diff = logits - value * self.temperature
        return dlcore.log(self.temperature if isinstance(self.temperature, dlcore.Tensor)
                          else dlcore.tensor(float(self.temperature), dtype=diff.dtype)) + diff - 2 * log1pexp(diff)


class RelaxedBernoulli(RelaxedDistribution):
    """RelaxedBernoulli(temperature, probs|logits): a continuous relaxation of Bernoulli on (0, 1),
    reparameterisable; samples approach 0/1 as the temperature goes to 0."""

    arg_constraints = {"probs": constraints.unit_interval, "logits": constraints.real}
    support = constraints.unit_interval
    _base_class = LogitRelaxedBernoulli
    _transform_class = SigmoidTransform

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(RelaxedBernoulli, _instance)
        return super().expand(batch_shape, _instance=new)
