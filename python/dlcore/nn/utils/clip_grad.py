"""Gradient clipping: clip_grad_norm_ and clip_grad_value_ (torch.nn.utils' signatures).

Both work on all gradients in one C++ call each (the foreach helpers in cpp/src/ops/optim.h):
one pass for the global norm, one in-place scale or clamp.
"""
import math

from ... import _C
from ..._C import Tensor
from ...autograd import no_grad

__all__ = ["clip_grad_norm_", "clip_grad_value_"]


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
