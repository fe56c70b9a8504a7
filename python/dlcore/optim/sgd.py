"""Stochastic gradient descent with momentum, dampening, Nesterov and weight decay."""
from .. import _C
from .._tensor import zeros_like
from .optimizer import Optimizer

__all__ = ["SGD"]


class SGD(Optimizer):
    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, *,
                 maximize=False, foreach=None, differentiable=False, fused=None):
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        if differentiable:
            raise NotImplementedError("SGD: differentiable=True is not supported")
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=maximize, foreach=foreach, differentiable=False, fused=fused)
        super().__init__(params, defaults)

    def _step_group(self, group, params):
        bufs, is_new = [], []
        if group["momentum"] != 0:
            for p in params:
                state = self.state[p]
                buf = state.get("momentum_buffer")
                is_new.append(buf is None)
                if buf is None:
                    buf = state["momentum_buffer"] = zeros_like(p)
                bufs.append(buf)
        _C._sgd_step(params, [p.grad for p in params], bufs, is_new, lr=group["lr"], momentum=group["momentum"],
                     dampening=group["dampening"], weight_decay=group["weight_decay"], nesterov=group["nesterov"],
                     maximize=group["maximize"])
