"""Adagrad: per-element learning rates from the running sum of squared gradients."""
from .. import _tensor
from .optimizer import Optimizer, _bump_step, _check_range, _grad, _reject_unsupported

__all__ = ["Adagrad"]


class Adagrad(Optimizer):
    """torch.optim.Adagrad. State per parameter (created at construction, as torch does):
    ``step`` and ``sum`` (starting at ``initial_accumulator_value``). ``foreach`` and ``fused``
    are accepted and do not change the result; ``differentiable=True`` is not supported.
    Gradients are dense (dlcore has no sparse tensors)."""

    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10,
                 foreach=None, *, maximize=False, differentiable=False, fused=None):
        _check_range("lr", lr, label="learning rate")
        _check_range("lr_decay", lr_decay, label="lr_decay value")
        _check_range("weight_decay", weight_decay, label="weight_decay value")
        _check_range("initial_accumulator_value", initial_accumulator_value,
                     label="initial_accumulator_value value")
        _check_range("eps", eps, label="epsilon value")
        _reject_unsupported("Adagrad", differentiable=differentiable)
        defaults = dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, foreach=foreach, maximize=maximize,
                        differentiable=False, fused=fused)
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                self._init_state(p, group)

    def _init_state(self, p, group):
        state = self.state[p]
        if len(state) == 0:
            state["step"] = 0.0
            state["sum"] = _tensor.full_like(p.detach(), group["initial_accumulator_value"])
        return state

    def _step_group(self, group, params):
        lr, lr_decay, wd, eps = group["lr"], group["lr_decay"], group["weight_decay"], group["eps"]
        for p in params:
            state = self._init_state(p, group)
            step = _bump_step(state)
            grad = _grad(p, group["maximize"])
            if wd != 0:
                grad = grad.add(p, alpha=wd)
            clr = lr / (1 + (step - 1) * lr_decay)
            state["sum"].add_(grad * grad)
            p.add_(grad * -clr / (state["sum"].sqrt() + eps))
