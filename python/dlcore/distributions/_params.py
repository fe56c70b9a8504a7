"""Parameter handling shared by the distributions: probs-or-logits parameters, the lazy
probs/logits pair, expansion of named parameters to a new batch shape, the parameter views of a
wrapped Categorical, and the mean and mode of a location family."""
from .utils import broadcast_all, lazy_property, logits_to_probs, probs_to_logits


def probs_or_logits(name, probs, logits):
    """Raises unless exactly one of probs and logits is given."""
    if (probs is None) == (logits is None):
        raise ValueError(f"{name}: either `probs` or `logits` must be specified, but not both.")


def set_probs_or_logits(dist, name, probs, logits, *others):
    """Sets dist.probs or dist.logits, whichever is given (exactly one must be), broadcast with
    ``others``; returns that parameter followed by ``others`` as tensors of its shape and dtype."""
    probs_or_logits(name, probs, logits)
    key, value = ("probs", probs) if probs is not None else ("logits", logits)
    *others, param = broadcast_all(*others, value)
    setattr(dist, key, param)
    return (param, *(other.to(param.dtype) for other in others))


def expand_params(dist, cls, batch_shape, _instance=None, params=(), shared=(), nested=()):
    """``cls.expand``: a new instance (or _instance) holding each tensor in ``params`` that dist
    holds (lazy ones it has not computed stay lazy) expanded to batch_shape followed by its own
    trailing dimensions, the attributes in ``shared`` as they are, and the distributions in
    ``nested`` expanded to batch_shape."""
    new = dist._get_checked_instance(cls, _instance)
    batch_shape = tuple(batch_shape)
    batch_dims = len(dist.batch_shape)
    for name in params:
        if name in dist.__dict__:
            value = dist.__dict__[name]
            setattr(new, name, value.expand(*batch_shape, *value.shape[batch_dims:]))
    for name in shared:
        setattr(new, name, getattr(dist, name))
    for name in nested:
        setattr(new, name, getattr(dist, name).expand(batch_shape))
    super(cls, new).__init__(batch_shape, dist.event_shape, validate_args=False)
    new._validate_args = dist._validate_args
    return new


class BinaryProbsLogits:
    """The probability and log-odds of a binary event, each computed lazily from the other."""

    @lazy_property
    def logits(self):
        return probs_to_logits(self.probs, is_binary=True)

    @lazy_property
    def probs(self):
        return logits_to_probs(self.logits, is_binary=True)


class CategoricalParams:
    """probs, logits and param_shape read from the wrapped Categorical ``_categorical``."""

    @property
    def logits(self):
        return self._categorical.logits

    @property
    def probs(self):
        return self._categorical.probs

    @property
    def param_shape(self):
        return self._categorical.param_shape


class LocMeanMode:
    """mean and mode both equal to the location parameter ``loc``."""

    @property
    def mean(self):
        return self.loc

    @property
    def mode(self):
        return self.loc
