"""Adam (with amsgrad; L2 or decoupled weight decay) and the shared fused step."""
from .. import _C
from .._tensor import zeros_like
from .optimizer import Optimizer

__all__ = ["Adam"]


def _check_adam_args(lr, betas, eps, weight_decay, capturable, differentiable, name):
    if not 0.0 <= lr:
        raise ValueError(f"Invalid learning rate: {lr}")
    if not 0.0 <= eps:
        raise ValueError(f"Invalid epsilon value: {eps}")
    if not 0.0 <= betas[0] < 1.0:
        raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
    if not 0.0 <= betas[1] < 1.0:
        raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")
    if not 0.0 <= weight_decay:
        raise ValueError(f"Invalid weight_decay value: {weight_decay}")
    if capturable or differentiable:
        raise NotImplementedError(f"{name}: capturable and differentiable are not supported")


class Adam(Optimizer):
    """torch.optim.Adam. State per parameter: ``step`` (a float, like torch's 0-d step tensor),
    ``exp_avg``, ``exp_avg_sq`` and, with amsgrad, ``max_exp_avg_sq``."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False, *,
                 foreach=None, maximize=False, capturable=False, differentiable=False, fused=None,
                 decoupled_weight_decay=False):
        _check_adam_args(lr, betas, eps, weight_decay, capturable, differentiable, type(self).__name__)
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                        maximize=maximize, foreach=foreach, capturable=False, differentiable=False, fused=fused,
                        decoupled_weight_decay=decoupled_weight_decay)
        super().__init__(params, defaults)

    def _step_group(self, group, params):
        amsgrad = group["amsgrad"]
        exp_avgs, exp_avg_sqs, max_sqs, steps = [], [], [], []
        for p in params:
            state = self.state[p]
            if len(state) == 0:
                state["step"] = 0.0
                state["exp_avg"] = zeros_like(p)
                state["exp_avg_sq"] = zeros_like(p)
                if amsgrad:
                    state["max_exp_avg_sq"] = zeros_like(p)
            state["step"] = float(state["step"]) + 1.0
            exp_avgs.append(state["exp_avg"])
            exp_avg_sqs.append(state["exp_avg_sq"])
            if amsgrad:
                max_sqs.append(state["max_exp_avg_sq"])
            steps.append(state["step"])
        beta1, beta2 = group["betas"]
        _C._adam_step(params, [p.grad for p in params], exp_avgs, exp_avg_sqs, max_sqs, steps, lr=group["lr"],
                      beta1=beta1, beta2=beta2, eps=group["eps"], weight_decay=group["weight_decay"],
                      amsgrad=amsgrad, maximize=group["maximize"], decoupled=group["decoupled_weight_decay"])
