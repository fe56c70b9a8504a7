"""NAdam: Adam with Nesterov momentum and a momentum schedule (Dozat, 2016)."""
from .._tensor import zeros_like
from .optimizer import Optimizer, _bump_step, _check_range, _grad, _lerp_, _reject_unsupported

__all__ = ["NAdam"]


class NAdam(Optimizer):
    """torch.optim.NAdam. State per parameter: ``step``, ``mu_product`` (the product of the
    momentum schedule so far), ``exp_avg`` and ``exp_avg_sq``. ``decoupled_weight_decay`` gives
    NAdamW (p *= 1 - lr * weight_decay). ``foreach`` is accepted and does not change the result;
    ``capturable`` and ``differentiable`` are not supported."""

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, momentum_decay=4e-3,
                 decoupled_weight_decay=False, *, foreach=None, maximize=False, capturable=False,
                 differentiable=False):
        _check_range("lr", lr, label="learning rate")
        _check_range("eps", eps, label="epsilon value")
        _check_range("betas[0]", betas[0], high=1.0, label="beta parameter at index 0")
        _check_range("betas[1]", betas[1], high=1.0, label="beta parameter at index 1")
        _check_range("weight_decay", weight_decay, label="weight_decay value")
        _check_range("momentum_decay", momentum_decay, label="momentum_decay value")
        _reject_unsupported("NAdam", capturable, differentiable)
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, momentum_decay=momentum_decay,
                        decoupled_weight_decay=decoupled_weight_decay, maximize=maximize, foreach=foreach,
                        capturable=False, differentiable=False)
        super().__init__(params, defaults)

    def _step_group(self, group, params):
        lr, eps, wd, psi = group["lr"], group["eps"], group["weight_decay"], group["momentum_decay"]
        beta1, beta2 = group["betas"]
        for p in params:
            state = self.state[p]
            if len(state) == 0:
                state["step"] = 0.0
                state["mu_product"] = 1.0
                state["exp_avg"] = zeros_like(p)
                state["exp_avg_sq"] = zeros_like(p)
            step = _bump_step(state)
            grad = _grad(p, group["maximize"])
            if wd != 0:
                if group["decoupled_weight_decay"]:
                    p.mul_(1 - lr * wd)
                else:
                    grad = grad.add(p, alpha=wd)
            mu = beta1 * (1.0 - 0.5 * 0.96 ** (step * psi))
            mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((step + 1) * psi))
            mu_product = state["mu_product"] = float(state["mu_product"]) * mu
            exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
            _lerp_(exp_avg, grad, 1 - beta1)
            exp_avg_sq.mul_(beta2).add_(grad * grad, alpha=1 - beta2)
            denom = (exp_avg_sq / (1 - beta2 ** step)).sqrt().add_(eps)
            p.add_(grad * (-lr * (1.0 - mu) / (1.0 - mu_product)) / denom)
            p.add_(exp_avg * (-lr * mu_next / (1.0 - mu_product * mu_next)) / denom)
