"""ExponentialFamily: distributions with densities exp(<t(x), theta> - F(theta) + k(x))."""
import dlcore

from .distribution import Distribution

__all__ = ["ExponentialFamily"]


class ExponentialFamily(Distribution):
    """Base of the exponential-family distributions. Subclasses give ``_natural_params`` (the
    theta tensors), ``_log_normalizer(*theta)`` (F) and ``_mean_carrier_measure`` (E[k(x)]),
    from which the entropy (and the Bregman-divergence KL between two members) follow."""

    @property
    def _natural_params(self):
        raise NotImplementedError

    def _log_normalizer(self, *natural_params):
        raise NotImplementedError

    @property
    def _mean_carrier_measure(self):
        raise NotImplementedError

    def entropy(self):
        """F(theta) - <theta, grad F(theta)> - E[k(x)], with grad F from autograd."""
        result = -self._mean_carrier_measure
        nparams = [p.detach().requires_grad_() for p in self._natural_params]
        lg_normal = self._log_normalizer(*nparams)
        gradients = dlcore.autograd.grad(lg_normal.sum(), nparams, create_graph=True)
        result = result + lg_normal
        for theta, g in zip(nparams, gradients):
            term = theta * g
            for _ in range(len(self.event_shape)):
                term = term.sum(-1)
            result = result - term
        return result
