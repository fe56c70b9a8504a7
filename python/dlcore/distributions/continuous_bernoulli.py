"""The continuous Bernoulli distribution."""
import math

import dlcore

from . import constraints
from ._params import BinaryProbsLogits, expand_params, set_probs_or_logits
from .exp_family import ExponentialFamily
from .utils import clamp_probs, lazy_property, log1pexp, logits_to_probs

__all__ = ["ContinuousBernoulli"]


class ContinuousBernoulli(BinaryProbsLogits, ExponentialFamily):
    """ContinuousBernoulli(probs) or (logits=...): density C(p) p^x (1 - p)^(1 - x) on [0, 1].
    Near p = 1/2 (inside ``lims``) the normaliser and moments use their Taylor expansions,
    whose closed forms cancel catastrophically there."""

    arg_constraints = {"probs": constraints.unit_interval, "logits": constraints.real}
    support = constraints.unit_interval
    has_rsample = True
    _mean_carrier_measure = 0

    def __init__(self, probs=None, logits=None, lims=(0.499, 0.501), validate_args=None):
        (param,) = set_probs_or_logits(self, "ContinuousBernoulli", probs, logits)
        if probs is not None:
            validate = self._validate_args if validate_args is None else validate_args
            if validate and not bool(constraints.unit_interval.check(param).all()):
                raise ValueError(f"ContinuousBernoulli: expected parameter probs to lie in [0, 1], got {param}")
            param = self.probs = clamp_probs(param)
        self._lims = lims
        super().__init__(tuple(param.shape), validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        return expand_params(self, ContinuousBernoulli, batch_shape, _instance, ("probs", "logits"), shared=("_lims",))

    @lazy_property
    def probs(self):
        return clamp_probs(logits_to_probs(self.logits, is_binary=True))

    def _outside(self):
        return (self.probs <= self._lims[0]) | (self.probs > self._lims[1])

    def _cut_probs(self):
        """probs outside the unstable region; a safe constant inside it (where the Taylor
        branch is used)."""
        return dlcore.where(self._outside(), self.probs, dlcore.full_like(self.probs, self._lims[0]))

    def _cont_bern_log_norm(self):
        cut = self._cut_probs()
        cut_below_half = dlcore.where(cut <= 0.5, cut, dlcore.zeros_like(cut))
        cut_above_half = dlcore.where(cut >= 0.5, cut, dlcore.ones_like(cut))
        log_denominator = dlcore.where(cut <= 0.5, dlcore.log1p(-2.0 * cut_below_half),
                                       dlcore.log(2.0 * cut_above_half - 1.0))
        log_norm = dlcore.log((dlcore.log1p(-cut) - dlcore.log(cut)).abs()) - log_denominator
        x = (self.probs - 0.5).pow(2)
        taylor = math.log(2.0) + (4.0 / 3.0 + 104.0 / 45.0 * x) * x
        return dlcore.where(self._outside(), log_norm, taylor)

    @property
    def mean(self):
        cut = self._cut_probs()
        mus = cut / (2.0 * cut - 1.0) + 1.0 / (dlcore.log1p(-cut) - dlcore.log(cut))
        x = self.probs - 0.5
        taylor = 0.5 + (1.0 / 3.0 + 16.0 / 45.0 * x.pow(2)) * x
        return dlcore.where(self._outside(), mus, taylor)

    @property
    def stddev(self):
        return self.variance.sqrt()

    @property
    def variance(self):
        cut = self._cut_probs()
        vars_ = cut * (cut - 1.0) / (1.0 - 2.0 * cut).pow(2) + 1.0 / (dlcore.log1p(-cut) - dlcore.log(cut)).pow(2)
        x = (self.probs - 0.5).pow(2)
        taylor = 1.0 / 12.0 - (1.0 / 15.0 - 128.0 / 945.0 * x) * x
        return dlcore.where(self._outside(), vars_, taylor)

    def rsample(self, sample_shape=()):
        u = dlcore.rand(self._extended_shape(sample_shape), dtype=self.probs.dtype)
        return self.icdf(u)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        logits = self.logits
        return value * logits - log1pexp(logits) + self._cont_bern_log_norm()

    def cdf(self, value):
        if self._validate_args:
            self._validate_sample(value)
        cut = self._cut_probs()
        cdfs = (cut.pow(value) * (1.0 - cut).pow(1.0 - value) + cut - 1.0) / (2.0 * cut - 1.0)
        unbounded = dlcore.where(self._outside(), cdfs, value * dlcore.ones_like(cdfs))
        return dlcore.where(value <= 0.0, dlcore.zeros_like(unbounded),
                            dlcore.where(value >= 1.0, dlcore.ones_like(unbounded), unbounded))

    def icdf(self, value):
        cut = self._cut_probs()
        icdf = ((dlcore.log1p(-cut + value * (2.0 * cut - 1.0)) - dlcore.log1p(-cut))
                / (dlcore.log(cut) - dlcore.log1p(-cut)))
        return dlcore.where(self._outside(), icdf, value * dlcore.ones_like(icdf))

    def entropy(self):
        log_p0 = dlcore.log1p(-self.probs)
        log_p1 = dlcore.log(self.probs)
        return self.mean * (log_p0 - log_p1) - self._cont_bern_log_norm() - log_p0

    @property
    def _natural_params(self):
        return (self.logits,)

    def _log_normalizer(self, x):
        """The log normaliser as a function of the natural parameter (the logits)."""
        outside = (x.abs() > 1e-3)  # the unstable region around 0, Taylor-expanded
        safe = dlcore.where(outside, x, dlcore.full_like(x, 1e-3))
        closed = dlcore.log((dlcore.exp(safe) - 1.0).abs()) - dlcore.log(safe.abs())
        taylor = 0.5 * x + x.pow(2) / 24.0 - x.pow(4) / 2880.0
        return dlcore.where(outside, closed, taylor)
