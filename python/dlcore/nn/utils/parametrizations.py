"""Orthogonal, weight-normalised and spectral-normalised tensors as parametrizations
(torch.nn.utils.parametrizations): the module's tensor becomes ``module.parametrizations.<name>``
applied to its originals, and the state dict holds ``parametrizations.<name>.original`` (with
``parametrizations.<name>.0.base`` for orthogonal, ``.0._u``/``.0._v`` for spectral norm) or
``parametrizations.<name>.original0``/``original1`` (weight norm: g, v)."""
import numpy as np

import dlcore

from ..module import Module
from . import parametrize
from .spectral_norm import _as_matrix, _default_dim, _normalize
from .weight_norm import _check_dim, _norm_except_dim, _weight_norm

__all__ = ["orthogonal", "weight_norm", "spectral_norm"]


_ORTHOGONAL_MAPS = ("matrix_exp", "cayley", "householder")


def _host(t):
    return t.detach().cpu().numpy().astype(np.float64)


def _like(values, t):
    return dlcore.tensor(np.ascontiguousarray(values), dtype=t.dtype, device=t.device)


def _orthonormal_columns(a):
    """The Q of a = QR (a tall, stacked matrices) with diag(R) >= 0."""
    q, r = np.linalg.qr(a)
    return q * np.sign(np.diagonal(r, axis1=-2, axis2=-1))[..., None, :]


class _Orthogonal(Module):
    """Maps a matrix (or a batch) to an orthogonal one (orthonormal columns, or rows when wide).

    Note [Orthogonal maps]
    "matrix_exp" and "cayley" read the strictly lower triangle of the (tall) input as a
    skew-symmetric A and return exp(A) or (I - A/2)^-1 (I + A/2), keeping the first columns;
    "householder" reads the columns below the diagonal as Householder vectors and multiplies the
    reflections, the signs of the input's diagonal fixing the signs of the columns. With
    ``use_trivialization`` the result is further multiplied by the orthogonal buffer ``base``
    that ``right_inverse`` sets to the assigned matrix (completed to a square one), the original
    becoming the point that maps to the identity; optimising the original then moves around
    ``base``."""

    def __init__(self, weight, orthogonal_map, use_trivialization=True):
        super().__init__()
        self.shape = tuple(weight.shape)
        self.orthogonal_map = orthogonal_map
        self.use_trivialization = use_trivialization
        if use_trivialization:
            self.register_buffer("base", None)

    def forward(self, x):
        n, k = x.shape[-2], x.shape[-1]
        transposed = n < k
        if transposed:
            x, n, k = x.mT, k, n
        if self.orthogonal_map == "householder":
            vectors = x.tril(-1)
            tau = 2.0 / (1.0 + (vectors * vectors).sum(dim=-2))
            q = dlcore.linalg.householder_product(vectors, tau)
            signs = x.diagonal(dim1=-2, dim2=-1).detach().int().to(x.dtype)
            q = q * signs.unsqueeze(-2)
        else:
            x = x.tril()
            if n != k:
                x = dlcore.cat([x, dlcore.zeros(list(x.shape[:-2]) + [n, n - k], dtype=x.dtype, device=x.device)], -1)
            a = x - x.mT
            if self.orthogonal_map == "matrix_exp":
                q = dlcore.linalg.matrix_exp(a)
            else:
                eye = dlcore.eye(n, dtype=a.dtype, device=a.device)
                q = dlcore.linalg.solve(eye - 0.5 * a, eye + 0.5 * a)
            if n != k:
                q = q[..., :k]
        if self.use_trivialization:
            q = self.base.matmul(q)
        return q.mT if transposed else q

    def right_inverse(self, q):
        if tuple(q.shape) != self.shape:
            raise ValueError(f"Expected a matrix or batch of matrices of shape {list(self.shape)}. Got a tensor of "
                             f"shape {list(q.shape)}.")
        n, k = q.shape[-2], q.shape[-1]
        transposed = n < k
        m = _host(q)
        if transposed:
            m, n, k = np.swapaxes(m, -1, -2), k, n
        if not self.use_trivialization:
            if self.orthogonal_map != "householder":
                raise NotImplementedError("It is not possible to assign to the matrix exponential or the Cayley "
                                          "parametrizations when use_trivialization=False.")
            # the Householder vectors of m's QR factorisation, with the signs of diag(R) on the diagonal
            flat = m.reshape(-1, n, k)
            out = np.empty_like(flat)
            for i, mat in enumerate(flat):
                h, tau = np.linalg.qr(mat, mode="raw")
                h = h.T.copy()
                diag = np.sign(np.diagonal(h)).copy()
                diag[tau == 0] *= -1
                np.fill_diagonal(h, diag)
                out[i] = h
            out = out.reshape(m.shape)
            return _like(np.swapaxes(out, -1, -2) if transposed else out, q)
        if n == k:
            gram = np.swapaxes(m, -1, -2) @ m
            tol = 10.0 * n * np.finfo(np.float32 if q.dtype == dlcore.float32 else np.float64).eps
            if not np.allclose(gram, np.eye(k), rtol=1e-5, atol=tol):
                m = _orthonormal_columns(m)
        else:
            completion = dlcore.randn(*(list(m.shape[:-2]) + [n, n - k]), dtype=q.dtype, device=q.device)
            m = _orthonormal_columns(np.concatenate([m, _host(completion)], -1))
        self.base = _like(m, q)
        # the original that maps to base itself: -I (householder reads its diagonal as signs)
        neg_eye = -np.broadcast_to(np.eye(q.shape[-2], q.shape[-1]), tuple(q.shape))
        return _like(neg_eye, q)


def orthogonal(module, name="weight", orthogonal_map=None, *, use_trivialization=True):
    """Constrains ``module.<name>`` (a matrix or batch of matrices) to be orthogonal: orthonormal
    columns if tall, rows if wide. ``orthogonal_map`` is "matrix_exp" (default for square
    matrices), "cayley" or "householder" (default otherwise); see Note [Orthogonal maps].
    Returns the module."""
    weight = getattr(module, name, None)
    if not isinstance(weight, dlcore.Tensor):
        raise ValueError(f"Module '{module}' has no parameter or buffer with name '{name}'")
    if weight.dim() < 2:
        raise ValueError(f"Expected a matrix or batch of matrices. Got a tensor of {weight.dim()} dimensions.")
    if orthogonal_map is None:
        orthogonal_map = "matrix_exp" if weight.shape[-2] == weight.shape[-1] else "householder"
    if orthogonal_map not in _ORTHOGONAL_MAPS:
        raise ValueError(f'orthogonal_map has to be one of "matrix_exp", "cayley", "householder". '
                         f"Got: {orthogonal_map}")
    parametrize.register_parametrization(module, name,
                                         _Orthogonal(weight, orthogonal_map, use_trivialization=use_trivialization),
                                         unsafe=True)
    return module


class _WeightNorm(Module):
    def __init__(self, dim=0):
        super().__init__()
        self.dim = -1 if dim is None else dim

    def forward(self, weight_g, weight_v):
        return _weight_norm(weight_v, weight_g, self.dim)

    def right_inverse(self, weight):
        return _norm_except_dim(weight, self.dim), weight


def weight_norm(module, name="weight", dim=0):
    """Reparametrises ``module.<name>`` as g * v / ||v|| (the norm over every dimension except
    ``dim``; over the whole tensor for dim=None): ``original0`` is g, ``original1`` is v.
    Returns the module."""
    weight = getattr(module, name, None)
    if not isinstance(weight, dlcore.Tensor):
        raise ValueError(f"Module '{module}' has no parameter or buffer with name '{name}'")
    parametrize.register_parametrization(module, name, _WeightNorm(_check_dim(dim, weight.dim(), "weight_norm")),
                                         unsafe=True)
    return module


class _SpectralNorm(Module):
    """weight / sigma(weight), sigma estimated by power iteration on the buffers ``_u`` and
    ``_v`` (updated in place in training mode, 15 iterations at registration); a 1-D weight is
    just normalised."""

    def __init__(self, weight, n_power_iterations=1, dim=0, eps=1e-12):
        super().__init__()
        ndim = weight.dim()
        if not -ndim <= dim < ndim:
            raise IndexError(f"Dimension out of range (expected to be in range of [-{ndim}, {ndim - 1}] but got "
                             f"{dim})")
        if n_power_iterations <= 0:
            raise ValueError("Expected n_power_iterations to be positive, but got "
                             f"n_power_iterations={n_power_iterations}")
        self.dim = dim % ndim
        self.eps = eps
        if ndim > 1:
            self.n_power_iterations = n_power_iterations
            with dlcore.no_grad():
                weight_mat = _as_matrix(weight.detach(), self.dim)
                h, w = weight_mat.shape
                self.register_buffer("_u", _normalize(dlcore.randn(h, dtype=weight.dtype, device=weight.device), eps))
                self.register_buffer("_v", _normalize(dlcore.randn(w, dtype=weight.dtype, device=weight.device), eps))
            self._power_method(weight_mat, 15)

    def _power_method(self, weight_mat, n_power_iterations):
        with dlcore.no_grad():
            w = weight_mat.detach()
            for _ in range(n_power_iterations):
                self._u.copy_(_normalize(w.matmul(self._v), self.eps))
                self._v.copy_(_normalize(w.t().matmul(self._u), self.eps))

    def forward(self, weight):
        if weight.dim() == 1:
            return weight / (weight * weight).sum().sqrt().clamp(min=self.eps)
        weight_mat = _as_matrix(weight, self.dim)
        if self.training:
            self._power_method(weight_mat, self.n_power_iterations)
        u, v = self._u.clone(), self._v.clone()
        sigma = (u * weight_mat.matmul(v)).sum()
        return weight / sigma

    def right_inverse(self, value):
        return value


def spectral_norm(module, name="weight", n_power_iterations=1, eps=1e-12, dim=None):
    """Registers the spectral normalisation of ``module.<name>`` as a parametrization (rows of
    the matrix along ``dim``: default 0, 1 for ConvTranspose). Returns the module."""
    weight = getattr(module, name, None)
    if not isinstance(weight, dlcore.Tensor):
        raise ValueError(f"Module '{module}' has no parameter or buffer with name '{name}'")
    if dim is None:
        dim = _default_dim(module)
    parametrize.register_parametrization(module, name, _SpectralNorm(weight, n_power_iterations, dim, eps))
    return module
