"""The Distribution base class: shapes, argument and sample validation, and the interface every
distribution implements."""
import warnings

import numpy as np

import dlcore

from . import constraints
from .utils import lazy_property

__all__ = ["Distribution"]


def _shape(size):
    if isinstance(size, int):
        return (size,)
    return tuple(int(s) for s in size)


class Distribution:
    """A parameterised probability distribution over events of shape ``event_shape``, with a
    ``batch_shape`` of independent (not identically distributed) copies.

    Subclasses set ``arg_constraints`` (parameter name -> Constraint) and ``support``, and
    implement what they can of sample/rsample, log_prob, cdf, icdf, entropy and the moments.
    With validation on (the default, as torch outside ``python -O``), bad parameters raise
    ValueError at construction and values outside the support raise in log_prob."""

    has_rsample = False
    has_enumerate_support = False
    _validate_args = __debug__

    @staticmethod
    def set_default_validate_args(value):
        """Turns argument validation on or off for distributions built afterwards."""
        if value not in (True, False):
            raise ValueError(f"set_default_validate_args: expected True or False, got {value!r}")
        Distribution._validate_args = value

    def __init__(self, batch_shape=(), event_shape=(), validate_args=None):
        self._batch_shape = _shape(batch_shape)
        self._event_shape = _shape(event_shape)
        if validate_args is not None:
            self._validate_args = validate_args
        if self._validate_args:
            try:
                arg_constraints = self.arg_constraints
            except NotImplementedError:
                arg_constraints = {}
                warnings.warn(f"{self.__class__} does not define `arg_constraints`. Please set "
                              "`arg_constraints = {}` or initialize the distribution with `validate_args=False` to "
                              "turn off validation.")
            for param, constraint in arg_constraints.items():
                if constraints.is_dependent(constraint):
                    continue
                if param not in self.__dict__ and isinstance(getattr(type(self), param), lazy_property):
                    continue  # the parameter was not given (e.g. logits when probs was)
                value = getattr(self, param)
                valid = constraint.check(value)
                if not bool(valid.all()):
                    raise ValueError(
                        f"{type(self).__name__}: expected parameter {param} (Tensor of shape {tuple(value.shape)}) "
                        f"to satisfy the constraint {constraint!r}, but found invalid values:\n{value}")

    def expand(self, batch_shape, _instance=None):
        """A new distribution with the parameters expanded to ``batch_shape`` (no data copied)."""
        raise NotImplementedError

    @property
    def batch_shape(self):
        return self._batch_shape

    @property
    def event_shape(self):
        return self._event_shape

    @property
    def arg_constraints(self):
        """Parameter name -> the Constraint it must satisfy."""
        raise NotImplementedError

    @property
    def support(self):
        """The Constraint describing where the distribution has mass."""
        raise NotImplementedError

    @property
    def mean(self):
        raise NotImplementedError

    @property
    def mode(self):
        raise NotImplementedError(f"{self.__class__} does not implement mode")

    @property
    def variance(self):
        raise NotImplementedError

    @property
    def stddev(self):
        return self.variance.sqrt()

    def sample(self, sample_shape=()):
        """A sample of shape sample_shape + batch_shape + event_shape, outside the graph."""
        with dlcore.no_grad():
            return self.rsample(sample_shape)

    def rsample(self, sample_shape=()):
        """A reparameterised sample: differentiable with respect to the parameters."""
        raise NotImplementedError

    def sample_n(self, n):
        warnings.warn("sample_n will be deprecated. Use .sample((n,)) instead", UserWarning)
        return self.sample((n,))

    def log_prob(self, value):
        raise NotImplementedError

    def cdf(self, value):
        raise NotImplementedError

    def icdf(self, value):
        raise NotImplementedError

    def enumerate_support(self, expand=True):
        raise NotImplementedError

    def entropy(self):
        raise NotImplementedError

    def perplexity(self):
        return dlcore.exp(self.entropy())

    def _extended_shape(self, sample_shape=()):
        return _shape(sample_shape) + self._batch_shape + self._event_shape

    def _validate_sample(self, value):
        """Raises unless value is a tensor whose shape fits the distribution and that lies in the
        support."""
        if not isinstance(value, dlcore.Tensor):
            raise ValueError(f"{type(self).__name__}: the value argument must be a Tensor, got "
                             f"{type(value).__name__}")
        event_dim = len(self._event_shape)
        if tuple(value.shape[value.dim() - event_dim:]) != self._event_shape or value.dim() < event_dim:
            raise ValueError(f"{type(self).__name__}: the rightmost dimensions of value {list(value.shape)} must "
                             f"equal the event shape {list(self._event_shape)}")
        try:
            np.broadcast_shapes(tuple(value.shape), self._batch_shape + self._event_shape)
        except ValueError:
            raise ValueError(f"{type(self).__name__}: value of shape {list(value.shape)} is not broadcastable with "
                             f"batch_shape + event_shape {list(self._batch_shape + self._event_shape)}") from None
        try:
            support = self.support
        except NotImplementedError:
            warnings.warn(f"{self.__class__} does not define `support` to enable sample validation. Please "
                          "initialize the distribution with `validate_args=False` to turn off validation.")
            return
        if support is None:
            return
        valid = support.check(value)
        if not bool(valid.all()):
            raise ValueError(f"{type(self).__name__}: expected value argument (Tensor of shape {tuple(value.shape)}) "
                             f"to be within the support ({support!r}) of the distribution, but found invalid "
                             f"values:\n{value}")

    def _get_checked_instance(self, cls, _instance=None):
        if _instance is None and type(self).__init__ != cls.__init__:
            raise NotImplementedError(f"Subclass {self.__class__.__name__} of {cls.__name__} that defines a custom "
                                      "__init__ method must also define a custom .expand() method.")
        return self.__new__(type(self)) if _instance is None else _instance

    def __repr__(self):
        params = [(k, self.__dict__[k]) for k in self.arg_constraints if k in self.__dict__]
        args = ", ".join(f"{k}: {v.item() if v.numel() == 1 else tuple(v.shape)}" for k, v in params)
        return f"{self.__class__.__name__}({args})"
