"""The Bernoulli distribution."""
import dlcore

from . import constraints
from ._params import BinaryProbsLogits, expand_params, set_probs_or_logits
from .exp_family import ExponentialFamily
from .utils import log1pexp

__all__ = ["Bernoulli"]


class Bernoulli(BinaryProbsLogits, ExponentialFamily):
    """Bernoulli(probs) or Bernoulli(logits=log-odds): 1 with probability probs, else 0."""

    arg_constraints = {"probs": constraints.unit_interval, "logits": constraints.real}
    support = constraints.boolean
    has_enumerate_support = True
    _mean_carrier_measure = 0

    def __init__(self, probs=None, logits=None, validate_args=None):
        (self._param,) = set_probs_or_logits(self, "Bernoulli", probs, logits)
        super().__init__(tuple(self._param.shape), validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = expand_params(self, Bernoulli, batch_shape, _instance, ("probs", "logits"))
        new._param = new.logits if "logits" in new.__dict__ else new.probs
        return new

    @property
    def mean(self):
        return self.probs

    @property
    def mode(self):
        mode = (self.probs >= 0.5).to(self.probs.dtype)
        return dlcore.where(self.probs == 0.5, mode * float("nan"), mode)

    @property
    def variance(self):
        return self.probs * (1 - self.probs)

    @property
    def param_shape(self):
        return tuple(self._param.shape)

    def sample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        with dlcore.no_grad():
            return (dlcore.rand(shape, dtype=self.probs.dtype) < self.probs.expand(*shape)).to(self.probs.dtype)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return value * self.logits - log1pexp(self.logits)

    def entropy(self):
        return log1pexp(self.logits) - self.probs * self.logits

    def enumerate_support(self, expand=True):
        values = dlcore.arange(2, dtype=self._param.dtype).reshape(2, *((1,) * len(self.batch_shape)))
        return values.expand(2, *self.batch_shape) if expand else values

    @property
    def _natural_params(self):
        return (dlcore.log(self.probs / (1 - self.probs)),)

    def _log_normalizer(self, x):
        return log1pexp(x)
