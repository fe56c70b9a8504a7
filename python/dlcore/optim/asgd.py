"""ASGD: SGD with an averaged copy of the parameters (Polyak & Juditsky, 1992)."""
from .._tensor import zeros_like
from .optimizer import Optimizer, _bump_step, _check_range, _grad, _reject_unsupported

__all__ = ["ASGD"]


class ASGD(Optimizer):
    """torch.optim.ASGD. State per parameter: ``step``, ``eta`` (the decayed learning rate),
    ``mu`` (the averaging coefficient, 1 until step ``t0``) and ``ax`` (the average of the
    iterates). ``foreach`` is accepted and does not change the result; ``capturable`` and
    ``differentiable`` are not supported."""

    def __init__(self, params, lr=1e-2, lambd=1e-4, alpha=0.75, t0=1e6, weight_decay=0, foreach=None,
                 maximize=False, differentiable=False, capturable=False):
        _check_range("lr", lr, label="learning rate")
        _check_range("weight_decay", weight_decay, label="weight_decay value")
        _reject_unsupported("ASGD", capturable, differentiable)
        defaults = dict(lr=lr, lambd=lambd, alpha=alpha, t0=t0, weight_decay=weight_decay, foreach=foreach,
                        maximize=maximize, differentiable=False, capturable=False)
        super().__init__(params, defaults)

    def _step_group(self, group, params):
        lr, lambd, alpha, t0, wd = group["lr"], group["lambd"], group["alpha"], group["t0"], group["weight_decay"]
        for p in params:
            state = self.state[p]
            if len(state) == 0:
                state["step"] = 0.0
                state["eta"] = float(lr)
                state["mu"] = 1.0
                state["ax"] = zeros_like(p)
            step = _bump_step(state)
            grad = _grad(p, group["maximize"])
            if wd != 0:
                grad = grad.add(p, alpha=wd)
            eta, mu = float(state["eta"]), float(state["mu"])
            p.mul_(1 - lambd * eta)
            p.add_(grad, alpha=-eta)
            if mu != 1:
                state["ax"].add_((p - state["ax"]).mul_(mu))
            else:
                state["ax"].copy_(p)
            state["eta"] = lr / ((1 + lambd * lr * step) ** alpha)
            state["mu"] = 1 / max(1, step - t0)
