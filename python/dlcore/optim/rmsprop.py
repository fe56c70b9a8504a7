"""RMSprop with momentum, centering and weight decay."""
from .. import _C
from .._tensor import zeros_like
from .optimizer import Optimizer

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    """torch.optim.RMSprop. State per parameter: ``step``, ``square_avg``, and
    ``momentum_buffer`` (momentum > 0) and ``grad_avg`` (centered)."""

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False,
                 capturable=False, foreach=None, maximize=False, differentiable=False):
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= momentum:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= alpha:
            raise ValueError(f"Invalid alpha value: {alpha}")
        if capturable or differentiable:
            raise NotImplementedError("RMSprop: capturable and differentiable are not supported")
        defaults = dict(lr=lr, momentum=momentum, alpha=alpha, eps=eps, centered=centered,
                        weight_decay=weight_decay, capturable=False, foreach=foreach, maximize=maximize,
                        differentiable=False)
        super().__init__(params, defaults)

    def _step_group(self, group, params):
        momentum, centered = group["momentum"], group["centered"]
        square_avgs, grad_avgs, bufs = [], [], []
        for p in params:
            state = self.state[p]
            if len(state) == 0:
                state["step"] = 0.0
                state["square_avg"] = zeros_like(p)
                if momentum > 0:
                    state["momentum_buffer"] = zeros_like(p)
                if centered:
                    state["grad_avg"] = zeros_like(p)
            state["step"] = float(state["step"]) + 1.0
            square_avgs.append(state["square_avg"])
            if momentum > 0:
                bufs.append(state["momentum_buffer"])
            if centered:
                grad_avgs.append(state["grad_avg"])
        _C._rmsprop_step(params, [p.grad for p in params], square_avgs, grad_avgs, bufs, lr=group["lr"],
                         alpha=group["alpha"], eps=group["eps"], weight_decay=group["weight_decay"],
                         momentum=momentum, centered=centered, maximize=group["maximize"])
