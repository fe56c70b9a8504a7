"""Rprop: sign-based steps with per-element step sizes grown or shrunk by the gradient's sign."""
from .. import _C
from .._tensor import full_like, ones_like, zeros_like
from .optimizer import Optimizer, _bump_step, _check_range, _grad, _reject_unsupported

__all__ = ["Rprop"]


class Rprop(Optimizer):
    """torch.optim.Rprop. State per parameter: ``step``, ``prev`` (the previous gradient, zeroed
    where its sign flipped) and ``step_size`` (starting at ``lr``, kept in ``step_sizes``).
    ``foreach`` is accepted and does not change the result; ``capturable`` and
    ``differentiable`` are not supported."""

    def __init__(self, params, lr=1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50), *, capturable=False, foreach=None,
                 maximize=False, differentiable=False):
        _check_range("lr", lr, label="learning rate")
        if not 0.0 < etas[0] < 1.0 < etas[1]:
            raise ValueError(f"Invalid eta values: {etas[0]}, {etas[1]}")
        _reject_unsupported("Rprop", capturable, differentiable)
        defaults = dict(lr=lr, etas=tuple(etas), step_sizes=tuple(step_sizes), foreach=foreach, maximize=maximize,
                        differentiable=False, capturable=False)
        super().__init__(params, defaults)

    def _step_group(self, group, params):
        etaminus, etaplus = group["etas"]
        step_size_min, step_size_max = group["step_sizes"]
        for p in params:
            state = self.state[p]
            if len(state) == 0:
                state["step"] = 0.0
                state["prev"] = zeros_like(p)
                state["step_size"] = full_like(p.detach(), group["lr"])
            _bump_step(state)
            grad = _grad(p, group["maximize"])
            prev, step_size = state["prev"], state["step_size"]
            agreement = grad * prev
            flipped = agreement < 0
            factor = _C.where(agreement > 0, full_like(step_size, etaplus),
                              _C.where(flipped, full_like(step_size, etaminus), ones_like(step_size)))
            step_size.copy_(_C.clamp(step_size * factor, step_size_min, step_size_max))
            grad = _C.where(flipped, zeros_like(grad), grad)
            p.add_(grad.sign() * step_size, alpha=-1.0)
            prev.copy_(grad)
