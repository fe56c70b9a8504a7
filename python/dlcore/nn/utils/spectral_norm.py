"""Spectral normalisation (Miyato et al., 2018) with torch's legacy hook-based API:
``spectral_norm`` divides a weight by its largest singular value, estimated by power iteration."""
import dlcore

from ..parameter import Parameter

__all__ = ["spectral_norm", "remove_spectral_norm"]


def _normalize(x, eps):
    return x / max(float((x * x).sum().sqrt()), eps)


def _default_dim(module):
    from ..modules.conv import ConvTranspose1d, ConvTranspose2d, ConvTranspose3d
    return 1 if isinstance(module, (ConvTranspose1d, ConvTranspose2d, ConvTranspose3d)) else 0


def _as_matrix(weight, dim):
    """The weight as a matrix whose rows run along ``dim``."""
    if dim != 0:
        weight = weight.permute([dim] + [d for d in range(weight.dim()) if d != dim])
    return weight.reshape(weight.shape[0], -1)


class SpectralNorm:
    """The forward pre-hook that sets ``module.<name>`` to ``<name>_orig / sigma``. In training
    mode each call first runs ``n_power_iterations`` steps of power iteration, updating the
    buffers ``<name>_u`` and ``<name>_v`` in place; in eval mode they are used as they are."""

    def __init__(self, name="weight", n_power_iterations=1, dim=0, eps=1e-12):
        if n_power_iterations <= 0:
            raise ValueError("Expected n_power_iterations to be positive, but got "
                             f"n_power_iterations={n_power_iterations}")
        self.name = name
        self.dim = dim
        self.n_power_iterations = n_power_iterations
        self.eps = eps

    def compute_weight(self, module, do_power_iteration):
        weight = getattr(module, self.name + "_orig")
        u = getattr(module, self.name + "_u")
        v = getattr(module, self.name + "_v")
        weight_mat = _as_matrix(weight, self.dim)
        if do_power_iteration:
            with dlcore.no_grad():
                w = weight_mat.detach()
                for _ in range(self.n_power_iterations):
                    v.copy_(_normalize(w.t().matmul(u), self.eps))
                    u.copy_(_normalize(w.matmul(v), self.eps))
        u, v = u.clone(), v.clone()
        sigma = (u * weight_mat.matmul(v)).sum()
        return weight / sigma

    @staticmethod
    def apply(module, name, n_power_iterations, dim, eps):
        for hook in module._forward_pre_hooks.values():
            if isinstance(hook, SpectralNorm) and hook.name == name:
                raise RuntimeError(f"Cannot register two spectral_norm hooks on the same parameter {name}")
        weight = module._parameters.get(name)
        if not isinstance(weight, Parameter):
            raise ValueError(f"spectral_norm: module {type(module).__name__} has no parameter named '{name}'")
        if weight.dim() == 0:
            raise ValueError(f"spectral_norm: the parameter '{name}' must have at least one dimension")
        if not -weight.dim() <= dim < weight.dim():
            raise IndexError(f"spectral_norm: dim {dim} is out of range for a weight of shape {list(weight.shape)}")
        fn = SpectralNorm(name, n_power_iterations, dim % weight.dim(), eps)
        with dlcore.no_grad():
            h, w = _as_matrix(weight.detach(), fn.dim).shape
            u = _normalize(dlcore.randn(h, dtype=weight.dtype, device=weight.device), eps)
            v = _normalize(dlcore.randn(w, dtype=weight.dtype, device=weight.device), eps)
        del module._parameters[name]
        module.register_parameter(name + "_orig", weight)
        setattr(module, name, weight.detach())
        module.register_buffer(name + "_u", u)
        module.register_buffer(name + "_v", v)
        module.register_forward_pre_hook(fn)
        return fn

    def remove(self, module):
        with dlcore.no_grad():
            weight = self.compute_weight(module, do_power_iteration=False)
        delattr(module, self.name)
        del module._buffers[self.name + "_u"]
        del module._buffers[self.name + "_v"]
        del module._parameters[self.name + "_orig"]
        module.register_parameter(self.name, Parameter(weight.detach()))

    def __call__(self, module, inputs):
        setattr(module, self.name, self.compute_weight(module, do_power_iteration=module.training))


def spectral_norm(module, name="weight", n_power_iterations=1, eps=1e-12, dim=None):
    """Replaces ``module.<name>`` by ``<name>_orig / sigma(<name>_orig)``, sigma the spectral
    norm of the weight viewed as a matrix with rows along ``dim`` (default 0; 1 for
    ConvTranspose). Adds the parameter ``<name>_orig`` and the buffers ``<name>_u`` and
    ``<name>_v`` (the singular vector estimates). Returns the module."""
    SpectralNorm.apply(module, name, n_power_iterations, _default_dim(module) if dim is None else dim, eps)
    return module


def remove_spectral_norm(module, name="weight"):
    """Folds the spectral normalisation of ``module.<name>`` back into one plain parameter."""
    for key, hook in list(module._forward_pre_hooks.items()):
        if isinstance(hook, SpectralNorm) and hook.name == name:
            hook.remove(module)
            del module._forward_pre_hooks[key]
            return module
    raise ValueError(f"spectral_norm of '{name}' not found in {module}")
