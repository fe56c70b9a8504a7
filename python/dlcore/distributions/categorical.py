"""The categorical distribution over {0, ..., K-1}."""
import numpy as np

import dlcore

from . import constraints
from ._params import expand_params, probs_or_logits
from .distribution import Distribution
from .utils import lazy_property, logits_to_probs, probs_to_logits

__all__ = ["Categorical"]


def _min_of(dtype):
    return float(np.finfo(np.float32 if dtype == dlcore.float32 else np.float64).min)


class Categorical(Distribution):
    """Categorical(probs) or Categorical(logits): class i with probability probs[..., i]
    (probs are normalised over the last dimension; logits are unnormalised log-probabilities)."""

    arg_constraints = {"probs": constraints.simplex, "logits": constraints.independent(constraints.real, 1)}
    has_enumerate_support = True

    def __init__(self, probs=None, logits=None, validate_args=None):
        probs_or_logits("Categorical", probs, logits)
        param = probs if probs is not None else logits
        if not isinstance(param, dlcore.Tensor) or param.dim() < 1:
            raise ValueError(f"Categorical: `{'probs' if probs is not None else 'logits'}` parameter must be at least "
                             "one-dimensional.")
        if probs is not None:
            self.probs = probs / probs.sum(-1, keepdim=True)
        else:
            self.logits = logits - logits.logsumexp(-1, keepdim=True)
        self._param = self.probs if probs is not None else self.logits
        self._num_events = self._param.shape[-1]
        super().__init__(tuple(self._param.shape[:-1]), validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = expand_params(self, Categorical, batch_shape, _instance, ("probs", "logits"), shared=("_num_events",))
        new._param = new.logits if "logits" in new.__dict__ else new.probs
        return new

    @constraints.dependent_property(is_discrete=True, event_dim=0)
    def support(self):
        return constraints.integer_interval(0, self._num_events - 1)

    @lazy_property
    def logits(self):
        return probs_to_logits(self.probs)

    @lazy_property
    def probs(self):
        return logits_to_probs(self.logits)

    @property
    def param_shape(self):
        return tuple(self._param.shape)

    @property
    def mean(self):
        return dlcore.full(self._extended_shape(), float("nan"), dtype=self.probs.dtype)

    @property
    def mode(self):
        return self.probs.argmax(-1)

    @property
    def variance(self):
        return dlcore.full(self._extended_shape(), float("nan"), dtype=self.probs.dtype)

    def sample(self, sample_shape=()):
        sample_shape = tuple(sample_shape) if not isinstance(sample_shape, int) else (sample_shape,)
        n = int(np.prod(sample_shape, dtype=np.int64))
        probs_2d = self.probs.detach().reshape(-1, self._num_events)
        with dlcore.no_grad():
            if n == 0 or probs_2d.shape[0] == 0:
                return dlcore.zeros(*self._extended_shape(sample_shape), dtype=dlcore.int64)
            samples_2d = dlcore.multinomial(probs_2d, n, True).transpose(0, 1)
            return samples_2d.reshape(*self._extended_shape(sample_shape))

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        value = value.long()
        shape = np.broadcast_shapes(tuple(value.shape), self.batch_shape)
        index = value.expand(*shape).unsqueeze(-1)
        logits = self.logits.expand(*shape, self._num_events)
        return logits.gather(-1, index).squeeze(-1)

    def entropy(self):
        logits = self.logits.clamp(min=_min_of(self.logits.dtype))
        return -(logits * self.probs).sum(-1)

    def enumerate_support(self, expand=True):
        values = dlcore.arange(self._num_events).reshape(self._num_events, *((1,) * len(self.batch_shape)))
        return values.expand(self._num_events, *self.batch_shape) if expand else values
