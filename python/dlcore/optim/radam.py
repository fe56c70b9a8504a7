"""RAdam: Adam with the variance of the adaptive learning rate rectified (Liu et al., 2019)."""
from .._tensor import zeros_like
from .optimizer import Optimizer, _bump_step, _check_range, _grad, _lerp_, _reject_unsupported

__all__ = ["RAdam"]


class RAdam(Optimizer):
    """torch.optim.RAdam. State per parameter: ``step``, ``exp_avg`` and ``exp_avg_sq``. While the
    variance is not tractable (rho_t <= 5) the step is plain bias-corrected momentum.
    ``decoupled_weight_decay`` gives RAdamW. ``foreach`` is accepted and does not change the
    result; ``capturable`` and ``differentiable`` are not supported."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, decoupled_weight_decay=False,
                 *, foreach=None, maximize=False, capturable=False, differentiable=False):
        _check_range("lr", lr, label="learning rate")
        _check_range("eps", eps, label="epsilon value")
        _check_range("betas[0]", betas[0], high=1.0, label="beta parameter at index 0")
        _check_range("betas[1]", betas[1], high=1.0, label="beta parameter at index 1")
        _check_range("weight_decay", weight_decay, label="weight_decay value")
        _reject_unsupported("RAdam", capturable, differentiable)
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, maximize=maximize,
                        foreach=foreach, capturable=False, decoupled_weight_decay=decoupled_weight_decay,
                        differentiable=False)
        super().__init__(params, defaults)

    def _step_group(self, group, params):
        lr, eps, wd = group["lr"], group["eps"], group["weight_decay"]
        beta1, beta2 = group["betas"]
        rho_inf = 2 / (1 - beta2) - 1
        for p in params:
            state = self.state[p]
            if len(state) == 0:
                state["step"] = 0.0
                state["exp_avg"] = zeros_like(p)
                state["exp_avg_sq"] = zeros_like(p)
            step = _bump_step(state)
            grad = _grad(p, group["maximize"])
            if wd != 0:
                if group["decoupled_weight_decay"]:
                    p.mul_(1 - lr * wd)
                else:
                    grad = grad.add(p, alpha=wd)
            exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
            _lerp_(exp_avg, grad, 1 - beta1)
            exp_avg_sq.mul_(beta2).add_(grad * grad, alpha=1 - beta2)
            bias_correction1 = 1 - beta1 ** step
            bias_correction2 = 1 - beta2 ** step
            update = exp_avg / bias_correction1 * lr
            rho_t = rho_inf - 2 * step * (beta2 ** step) / bias_correction2
            if rho_t > 5.0:
                rect = ((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5
                adaptive_lr = bias_correction2 ** 0.5 / (exp_avg_sq.sqrt() + eps)
                update = update * adaptive_lr * rect
            p.add_(update, alpha=-1.0)
