"""``Variable``: the legacy wrapper, now an alias of Tensor."""
from .. import _C

__all__ = ["Variable"]


class _VariableMeta(type):
    def __instancecheck__(cls, other):
        return isinstance(other, _C.Tensor)


class Variable(metaclass=_VariableMeta):
    """``Variable(t, requires_grad=False)`` returns a tensor sharing ``t``'s data, without history."""

    def __new__(cls, data=None, requires_grad=False, volatile=False):
        if data is None:
            from .._tensor import tensor
            data = tensor([])
        if not isinstance(data, _C.Tensor):
            raise TypeError(f"Variable: data must be a Tensor, got {type(data).__name__}")
        out = data.detach()
        if requires_grad:
            out.requires_grad_(True)
        return out
