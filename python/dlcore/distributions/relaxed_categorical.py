"""The relaxed (concrete / Gumbel-softmax) categorical distributions."""
import math

import numpy as np

import dlcore

from . import constraints
from ._derived import RelaxedDistribution
from ._params import CategoricalParams, expand_params
from .categorical import Categorical
from .distribution import Distribution
from .transforms import ExpTransform

__all__ = ["ExpRelaxedCategorical", "RelaxedOneHotCategorical"]


class ExpRelaxedCategorical(CategoricalParams, Distribution):
    """The log of a RelaxedOneHotCategorical sample: log_softmax((logits + Gumbel noise) /
    temperature)."""

    arg_constraints = {"probs": constraints.simplex, "logits": constraints.real_vector}
    support = constraints.real_vector
    has_rsample = True

    def __init__(self, temperature, probs=None, logits=None, validate_args=None):
        self._categorical = Categorical(probs, logits)
        self.temperature = temperature
        batch_shape = self._categorical.batch_shape
        event_shape = tuple(self._categorical.param_shape[-1:])
        super().__init__(batch_shape, event_shape, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        return expand_params(self, ExpRelaxedCategorical, batch_shape, _instance, shared=("temperature",),
                             nested=("_categorical",))

    def rsample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        info = np.finfo(np.float32 if self.logits.dtype == dlcore.float32 else np.float64)
        u = dlcore.rand(shape, dtype=self.logits.dtype).clamp(min=float(info.tiny), max=1 - float(info.eps))
        gumbels = -dlcore.log(-dlcore.log(u))
        scores = (self.logits + gumbels) / self.temperature
        return scores - scores.logsumexp(-1, keepdim=True)

    def log_prob(self, value):
        k = self._categorical._num_events
        if self._validate_args:
            self._validate_sample(value)
        temperature = (self.temperature if isinstance(self.temperature, dlcore.Tensor)
                       else dlcore.tensor(float(self.temperature), dtype=self.logits.dtype))
        log_scale = math.lgamma(k) + (k - 1) * dlcore.log(temperature)
        score = self.logits - value * temperature
        score = (score - score.logsumexp(-1, keepdim=True)).sum(-1)
        return score + log_scale


class RelaxedOneHotCategorical(RelaxedDistribution):
    """RelaxedOneHotCategorical(temperature, probs|logits): a continuous relaxation of
    OneHotCategorical on the simplex, reparameterisable."""

    arg_constraints = {"probs": constraints.simplex, "logits": constraints.real_vector}
    support = constraints.simplex
    _base_class = ExpRelaxedCategorical
    _transform_class = ExpTransform

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(RelaxedOneHotCategorical, _instance)
        return super().expand(batch_shape, _instance=new)
