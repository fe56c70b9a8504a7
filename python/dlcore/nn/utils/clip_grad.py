"""Gradient clipping: clip_grad_norm_, clip_grad_value_ and their parts get_total_norm and
clip_grads_with_norm_ (torch.nn.utils' signatures).

Each works on all the gradients at once with the foreach helpers of cpp/src/ops/optim.h: one
pass for the global norm, one in-place scale or clamp.
"""
import math
import warnings

from ... import _C
from ..._C import Tensor
from ...autograd import no_grad

__all__ = ["clip_grad_norm_", "clip_grad_value_", "clip_grad_norm", "clip_grads_with_norm_", "get_total_norm"]


def _grads(parameters):
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p.grad for p in parameters if p.grad is not None]


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """Scales the gradients in place so that their global ``norm_type`` norm is at most
    ``max_norm`` (coefficient max_norm / (norm + 1e-6), capped at 1). Returns the norm before
    clipping as a 0-d tensor."""
    grads = _grads(parameters)
    max_norm, norm_type = float(max_norm), float(norm_type)
    with no_grad():
        total_norm = _C._foreach_norm(grads, norm_type)
        if not grads:
            return total_norm
        total = total_norm.item()
        if error_if_nonfinite and not math.isfinite(total):
            raise RuntimeError(f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, "
                               "so it cannot be clipped. To disable this error and scale the gradients by the "
                               "non-finite norm anyway, set `error_if_nonfinite=False`")
        coef = max_norm / (total + 1e-6)
        if coef > 1.0:
            coef = 1.0
        _C._foreach_scale_(grads, coef)
    return total_norm


def clip_grad_value_(parameters, clip_value, foreach=None):
    """Clamps every gradient in place to [-clip_value, clip_value]."""
    clip_value = float(clip_value)
    with no_grad():
        _C._foreach_clamp_(_grads(parameters), -clip_value, clip_value)


def get_total_norm(tensors, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """The ``norm_type`` norm of all ``tensors`` together (the norm of their norms), a 0-d tensor."""
    if isinstance(tensors, Tensor):
        tensors = [tensors]
    tensors = list(tensors)
    norm_type = float(norm_type)
    with no_grad():
        total_norm = _C._foreach_norm(tensors, norm_type)
    if error_if_nonfinite and tensors and not math.isfinite(total_norm.item()):
        raise RuntimeError(f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, "
                           "so it cannot be clipped. To disable this error and scale the gradients by the "
                           "non-finite norm anyway, set `error_if_nonfinite=False`")
    return total_norm


def clip_grads_with_norm_(parameters, max_norm, total_norm, foreach=None):
    """Scales the gradients in place by min(1, max_norm / (total_norm + 1e-6)), given their
    precomputed ``total_norm`` (from ``get_total_norm``)."""
    grads = _grads(parameters)
    if not grads:
        return
    coef = float(max_norm) / (float(total_norm) + 1e-6)
    with no_grad():
        _C._foreach_scale_(grads, min(coef, 1.0))


def clip_grad_norm(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """Deprecated alias of ``clip_grad_norm_``."""
    warnings.warn("`torch.nn.utils.clip_grad_norm` is now deprecated in favor of `torch.nn.utils.clip_grad_norm_`.",
                  FutureWarning, stacklevel=2)
    return clip_grad_norm_(parameters, max_norm, norm_type, error_if_nonfinite, foreach)
