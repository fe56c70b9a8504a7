"""Adamax: Adam with the infinity norm of past gradients in place of the second moment."""
from .. import _C
from .._tensor import zeros_like
from .optimizer import Optimizer, _bump_step, _check_range, _grad, _lerp_, _reject_unsupported

__all__ = ["Adamax"]


class Adamax(Optimizer):
    """torch.optim.Adamax. State per parameter: ``step``, ``exp_avg`` and ``exp_inf``.
    ``foreach`` is accepted and does not change the result; ``capturable`` and ``differentiable``
    are not supported."""

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, foreach=None, *,
                 maximize=False, differentiable=False, capturable=False):
        _check_range("lr", lr, label="learning rate")
        _check_range("eps", eps, label="epsilon value")
        _check_range("betas[0]", betas[0], high=1.0, label="beta parameter at index 0")
        _check_range("betas[1]", betas[1], high=1.0, label="beta parameter at index 1")
        _check_range("weight_decay", weight_decay, label="weight_decay value")
        _reject_unsupported("Adamax", capturable, differentiable)
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, foreach=foreach,
                        maximize=maximize, differentiable=False, capturable=False)
        super().__init__(params, defaults)

    def _step_group(self, group, params):
        lr, eps, wd = group["lr"], group["eps"], group["weight_decay"]
        beta1, beta2 = group["betas"]
        for p in params:
            state = self.state[p]
            if len(state) == 0:
                state["step"] = 0.0
                state["exp_avg"] = zeros_like(p)
                state["exp_inf"] = zeros_like(p)
            step = _bump_step(state)
            grad = _grad(p, group["maximize"])
            if wd != 0:
                grad = grad.add(p, alpha=wd)
            exp_avg, exp_inf = state["exp_avg"], state["exp_inf"]
            _lerp_(exp_avg, grad, 1 - beta1)
            exp_inf.copy_(_C.maximum(exp_inf.mul_(beta2), grad.abs() + eps))
            clr = lr / (1 - beta1 ** step)
            p.add_(exp_avg * -clr / exp_inf)
