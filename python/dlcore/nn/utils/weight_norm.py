"""Weight normalisation (Salimans & Kingma, 2016) with torch's legacy hook-based API:
``weight_norm`` replaces a parameter w by w = g * v / ||v|| and ``remove_weight_norm`` undoes it.
The parametrization-based ``parametrizations.weight_norm`` is the current form."""
import warnings

import dlcore

from ..parameter import Parameter

__all__ = ["weight_norm", "remove_weight_norm"]


def _check_dim(dim, ndim, fn):
    """The dimension kept by the norm: None and -1 mean none (one norm over the whole tensor),
    as in torch; other negative values count from the end."""
    if dim is None or dim == -1:
        return -1
    if not -ndim <= dim < ndim:
        raise IndexError(f"{fn}: dim {dim} is out of range for a weight with {ndim} dimensions")
    return dim % ndim


def _norm_except_dim(v, dim):
    """The 2-norm of v over every dimension except ``dim`` (kept, the others reduced to size 1);
    a 0-d tensor for dim == -1."""
    if dim == -1:
        return (v * v).sum().sqrt()
    dims = [d for d in range(v.dim()) if d != dim]
    if not dims:
        return v.abs()
    return (v * v).sum(dim=dims, keepdim=True).sqrt()


def _weight_norm(v, g, dim):
    """v * (g / ||v||), the norm taken over every dimension except ``dim``."""
    return v * (g / _norm_except_dim(v, dim))


class WeightNorm:
    """The forward pre-hook that recomputes ``module.<name>`` from ``<name>_g`` and ``<name>_v``."""

    def __init__(self, name, dim):
        self.name = name
        self.dim = dim

    def compute_weight(self, module):
        g = getattr(module, self.name + "_g")
        v = getattr(module, self.name + "_v")
        return _weight_norm(v, g, self.dim)

    @staticmethod
    def apply(module, name, dim):
        for hook in module._forward_pre_hooks.values():
            if isinstance(hook, WeightNorm) and hook.name == name:
                raise RuntimeError(f"Cannot register two weight_norm hooks on the same parameter {name}")
        weight = module._parameters.get(name)
        if not isinstance(weight, Parameter):
            raise ValueError(f"weight_norm: module {type(module).__name__} has no parameter named '{name}'")
        fn = WeightNorm(name, _check_dim(dim, weight.dim(), "weight_norm"))
        del module._parameters[name]
        with dlcore.no_grad():
            module.register_parameter(name + "_g", Parameter(_norm_except_dim(weight.detach(), fn.dim)))
            module.register_parameter(name + "_v", Parameter(weight.detach()))
        setattr(module, name, fn.compute_weight(module))
        module.register_forward_pre_hook(fn)
        return fn

    def remove(self, module):
        with dlcore.no_grad():
            weight = self.compute_weight(module)
        delattr(module, self.name)
        del module._parameters[self.name + "_g"]
        del module._parameters[self.name + "_v"]
        module.register_parameter(self.name, Parameter(weight.detach()))

    def __call__(self, module, inputs):
        setattr(module, self.name, self.compute_weight(module))


def weight_norm(module, name="weight", dim=0):
    """Reparametrises ``module.<name>`` as ``<name>_g * <name>_v / ||<name>_v||``: the parameter
    is replaced by the parameters ``<name>_g`` (the norms, one per index of ``dim``; one scalar
    for dim=None) and ``<name>_v`` (the direction), and a forward pre-hook recomputes the
    weight before every call. Deprecated in favour of ``parametrizations.weight_norm`` (it warns,
    as torch's does). Returns the module."""
    warnings.warn("`torch.nn.utils.weight_norm` is deprecated in favor of "
                  "`torch.nn.utils.parametrizations.weight_norm`.", FutureWarning, stacklevel=2)
    WeightNorm.apply(module, name, dim)
    return module


def remove_weight_norm(module, name="weight"):
    """Folds the weight normalisation of ``module.<name>`` back into one plain parameter."""
    for key, hook in list(module._forward_pre_hooks.items()):
        if isinstance(hook, WeightNorm) and hook.name == name:
            hook.remove(module)
            del module._forward_pre_hooks[key]
            return module
    raise ValueError(f"weight_norm of '{name}' not found in {module}")
