"""The LKJ distribution over Cholesky factors of correlation matrices."""
import math

import numpy as np

import dlcore

from . import constraints
from .beta import Beta
from .distribution import Distribution
from .utils import broadcast_all, lgamma

__all__ = ["LKJCholesky"]


def _mvlgamma(a, p):
    """The log multivariate gamma function of order p."""
    return p * (p - 1) / 4 * math.log(math.pi) + sum(lgamma(a - 0.5 * j) for j in range(p))


class LKJCholesky(Distribution):
    """LKJCholesky(dim, concentration=1): the lower Cholesky factor L of a dim x dim correlation
    matrix L L^T with density proportional to det(L L^T)^(concentration - 1). Sampled by the
    onion method: row i is sqrt(y_i) times a uniform direction in its first i coordinates, y_i
    from a Beta distribution, with the diagonal completing the unit norm."""

    arg_constraints = {"concentration": constraints.positive}
    support = constraints.corr_cholesky

    def __init__(self, dim, concentration=1.0, validate_args=None):
        if not isinstance(dim, int) or dim < 2:
            raise ValueError(f"Expected dim to be an integer greater than or equal to 2. Found dim={dim}.")
        self.dim = dim
        (self.concentration,) = broadcast_all(concentration)
        batch_shape = tuple(self.concentration.shape)
        event_shape = (dim, dim)
        # the Beta parameters of the squared norm of each row's off-diagonal part
        marginal_conc = self.concentration + 0.5 * (self.dim - 2)
        offset = dlcore.tensor(np.concatenate([[0.0], np.arange(dim - 1)]), dtype=self.concentration.dtype)
        beta_conc1 = offset + 0.5
        beta_conc0 = marginal_conc.unsqueeze(-1) - 0.5 * offset
        self._beta = Beta(beta_conc1.expand(*beta_conc0.shape), beta_conc0, validate_args=False)
        super().__init__(batch_shape, event_shape, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(LKJCholesky, _instance)
        batch_shape = tuple(batch_shape)
        LKJCholesky.__init__(new, self.dim, self.concentration.expand(*batch_shape), validate_args=False)
        new._validate_args = self._validate_args
        return new

    def sample(self, sample_shape=()):
        with dlcore.no_grad():
            y = self._beta.sample(sample_shape).unsqueeze(-1)
            shape = self._extended_shape(sample_shape)
            u = dlcore.randn(shape, dtype=y.dtype).tril(-1)
            norm = dlcore.norm(u, 2.0, dim=-1, keepdim=True)
            first_row = dlcore.tensor(np.arange(self.dim) == 0).unsqueeze(-1)
            u_sphere = dlcore.where(first_row, dlcore.zeros_like(u), u / dlcore.where(first_row, dlcore.ones_like(norm),
                                                                                        norm))
            w = y.sqrt() * u_sphere
            tiny = float(np.finfo(np.float32 if w.dtype == dlcore.float32 else np.float64).tiny)
            diag = (1 - (w * w).sum(-1)).clamp(min=tiny).sqrt()
            return w + diag.unsqueeze(-1) * dlcore.eye(self.dim, dtype=w.dtype)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        diag = (value * dlcore.eye(self.dim, dtype=value.dtype)).sum(-1)[..., 1:]
        order = dlcore.tensor(np.arange(2, self.dim + 1, dtype=np.float64), dtype=value.dtype)
        order = 2 * (self.concentration - 1).unsqueeze(-1) + self.dim - order
        unnormalized = (order * dlcore.log(diag)).sum(-1)
        dm1 = self.dim - 1
        alpha = self.concentration + 0.5 * dm1
        normalize = 0.5 * dm1 * math.log(math.pi) + _mvlgamma(alpha - 0.5, dm1) - lgamma(alpha) * dm1
        return unnormalized - normalize
