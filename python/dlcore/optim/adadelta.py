"""Adadelta: steps scaled by the ratio of running RMS of updates and of gradients."""
from .._tensor import zeros_like
from .optimizer import Optimizer, _bump_step, _check_range, _grad, _reject_unsupported

__all__ = ["Adadelta"]


class Adadelta(Optimizer):
    """torch.optim.Adadelta. State per parameter: ``step``, ``square_avg`` and ``acc_delta``.
    ``foreach`` is accepted and does not change the result; ``capturable`` and ``differentiable``
    are not supported."""

    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0, foreach=None, *, capturable=False,
                 maximize=False, differentiable=False):
        _check_range("lr", lr, label="learning rate")
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"Invalid rho value: {rho}")
        _check_range("eps", eps, label="epsilon value")
        _check_range("weight_decay", weight_decay, label="weight_decay value")
        _reject_unsupported("Adadelta", capturable, differentiable)
        defaults = dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize, capturable=False,
                        foreach=foreach, differentiable=False)
        super().__init__(params, defaults)

    def _step_group(self, group, params):
        lr, rho, eps, wd = group["lr"], group["rho"], group["eps"], group["weight_decay"]
        for p in params:
            state = self.state[p]
            if len(state) == 0:
                state["step"] = 0.0
                state["square_avg"] = zeros_like(p)
                state["acc_delta"] = zeros_like(p)
            _bump_step(state)
            grad = _grad(p, group["maximize"])
            if wd != 0:
                grad = grad.add(p, alpha=wd)
            square_avg, acc_delta = state["square_avg"], state["acc_delta"]
            square_avg.mul_(rho).add_(grad * grad, alpha=1 - rho)
            std = (square_avg + eps).sqrt()
            delta = (acc_delta + eps).sqrt().div_(std).mul_(grad)
            acc_delta.mul_(rho).add_(delta * delta, alpha=1 - rho)
            p.add_(delta, alpha=-lr)
