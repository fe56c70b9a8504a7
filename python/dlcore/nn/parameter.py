"""``Parameter``: a Tensor that a Module registers as learnable state."""
import dlcore
from dlcore import _C


class Parameter(_C.Tensor):
    """A tensor that is a module parameter.

    ``Parameter(data, requires_grad=True)`` aliases ``data``'s storage (a detached view, as
    ``Tensor(other)`` does) and is a leaf that requires grad by default. Assigning a Parameter
    as a Module attribute registers it in the module's ``parameters()``.
    """

    def __init__(self, data=None, requires_grad=True):
        if data is None:
            data = dlcore.empty(0)
        if not isinstance(data, _C.Tensor):
            raise TypeError(f"Parameter: data must be a Tensor, got {type(data).__name__}")
        super().__init__(data)
        if requires_grad:
            if not self.is_floating_point():
                raise TypeError(f"Parameter: only floating-point tensors can require gradients, got {self.dtype}")
            self.requires_grad_(True)

    def __repr__(self):
        return "Parameter containing:\n" + _C.Tensor.__repr__(self)

    __str__ = __repr__

    def __reduce_ex__(self, proto):
        return (Parameter, (self.detach(), self.requires_grad))

    def __deepcopy__(self, memo):
        if id(self) in memo:
            return memo[id(self)]
        out = Parameter(self.detach().clone(), self.requires_grad)
        memo[id(self)] = out
        return out


class Buffer(_C.Tensor):
    """A tensor that a Module registers as a buffer when assigned as an attribute
    (``self.running = nn.Buffer(dlcore.zeros(3), persistent=False)``), as
    ``register_buffer(name, tensor, persistent)`` does; the module keeps a plain tensor aliasing
    ``data``'s storage (so state dicts and pickles hold plain tensors, as torch's do). It never
    requires grad."""

    def __init__(self, data=None, *, persistent=True):
        if data is None:
            data = dlcore.empty(0)
        if not isinstance(data, _C.Tensor):
            raise TypeError(f"Buffer: data must be a Tensor, got {type(data).__name__}")
        super().__init__(data.detach())
        self.persistent = bool(persistent)


def is_parameter(obj):
    return isinstance(obj, Parameter)
