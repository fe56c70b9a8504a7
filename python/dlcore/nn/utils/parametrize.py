"""Parametrizations of module tensors (torch.nn.utils.parametrize): after
``register_parametrization(module, "weight", P)``, reading ``module.weight`` returns
``P(original)``, where ``original`` is the tensor that was registered, now stored in
``module.parametrizations.weight.original``.

Note [Parametrized classes]
A tensor attribute becomes computed by giving the module its own class: a subclass of its class
named ``Parametrized<Name>`` holding one property per parametrized tensor. The property getter
evaluates the ParametrizationList (or reads the cache inside ``cached()``); the setter calls its
``right_inverse``. Removing the last parametrization restores the original class.
"""
import copy
from contextlib import contextmanager

import dlcore

from ..module import Module
from ..modules.container import ModuleDict, ModuleList
from ..parameter import Parameter

__all__ = ["ParametrizationList", "register_parametrization", "remove_parametrizations", "is_parametrized",
           "cached", "type_before_parametrizations", "transfer_parametrizations_and_params"]

_cache_enabled = 0
_cache = {}


@contextmanager
def cached():
    """Within the context each parametrized tensor is computed once, on first use, and reused."""
    global _cache_enabled
    _cache_enabled += 1
    try:
        yield
    finally:
        _cache_enabled -= 1
        if not _cache_enabled:
            _cache.clear()


def _register_parameter_or_buffer(module, name, value):
    if isinstance(value, Parameter):
        module.register_parameter(name, value)
    else:
        module.register_buffer(name, value)


def _set_original(original, value):
    """Gives ``original`` the values of ``value`` in place, keeping the tensor object (and so any
    optimizer that holds it); its shape and dtype may change."""
    with dlcore.no_grad():
        if tuple(original.shape) == tuple(value.shape) and original.dtype == value.dtype:
            original.copy_(value)
        else:
            original.data = value.detach()


class ParametrizationList(ModuleList):
    """The parametrizations of one tensor, applied in order, and the unparametrized tensor
    (``original``, or ``original0``, ``original1``, ... when the first parametrization's
    ``right_inverse`` returns several tensors)."""

    def __init__(self, modules, original, unsafe=False):
        if len(modules) == 0:
            raise ValueError("ParametrizationList requires one or more modules.")
        super().__init__(modules)
        self.unsafe = unsafe
        original_shape, original_dtype = tuple(original.shape), original.dtype
        with dlcore.no_grad():
            new = original
            for module in reversed(self):
                # a right_inverse that is missing or raises NotImplementedError counts as the identity
                if hasattr(module, "right_inverse"):
                    try:
                        new = module.right_inverse(new)
                    except NotImplementedError:
                        pass
        if not isinstance(new, dlcore.Tensor) and not isinstance(new, (list, tuple)):
            raise ValueError("'right_inverse' must return a Tensor or a Sequence of tensors (list, tuple...). "
                             f"Got {type(new).__name__}")
        self.is_tensor = isinstance(new, dlcore.Tensor)
        self.ntensors = 1 if self.is_tensor else len(new)
        if self.is_tensor:
            if original.dtype != new.dtype:
                raise ValueError("When `right_inverse` outputs one tensor, it may not change the dtype.\n"
                                 f"original.dtype: {original.dtype}\nright_inverse(original).dtype: {new.dtype}")
            _set_original(original, new)
            _register_parameter_or_buffer(self, "original", original)
        else:
            for i, originali in enumerate(new):
                if not isinstance(originali, dlcore.Tensor):
                    raise ValueError("'right_inverse' must return a Tensor or a Sequence of tensors (list, tuple...). "
                                     f"Got element {i} of the sequence with type {type(originali).__name__}.")
                if isinstance(original, Parameter):
                    originali = Parameter(originali.detach(), original.requires_grad)
                else:
                    originali = originali.detach()
                _register_parameter_or_buffer(self, f"original{i}", originali)
        if not self.unsafe:
            z = self()
            if not isinstance(z, dlcore.Tensor):
                raise ValueError(f"A parametrization must return a tensor. Got {type(z).__name__}.")
            if z.dtype != original_dtype:
                raise ValueError("Registering a parametrization may not change the dtype of the tensor, unless "
                                 f"`unsafe` flag is enabled.\nunparametrized dtype: {original_dtype}\n"
                                 f"parametrized dtype: {z.dtype}")
            if tuple(z.shape) != original_shape:
                raise ValueError("Registering a parametrization may not change the shape of the tensor, unless "
                                 f"`unsafe` flag is enabled.\nunparametrized shape: {list(original_shape)}\n"
                                 f"parametrized shape: {list(z.shape)}")

    def right_inverse(self, value):
        """Sets the original tensor(s) so that the parametrized tensor becomes ``value``."""
        with dlcore.no_grad():
            for module in reversed(self):
                if not hasattr(module, "right_inverse"):
                    raise RuntimeError(f"parametrization {type(module).__name__} does not implement right_inverse.")
                value = module.right_inverse(value)
            if self.is_tensor:
                if not isinstance(value, dlcore.Tensor):
                    raise ValueError(f"`right_inverse` should return a tensor. Got {type(value).__name__}")
                if value.dtype != self.original.dtype:
                    raise ValueError(f"The tensor returned by `right_inverse` has dtype {value.dtype} while "
                                     f"`original` has dtype {self.original.dtype}")
                _set_original(self.original, value)
            else:
                if not isinstance(value, (list, tuple)) or len(value) != self.ntensors:
                    raise ValueError(f"'right_inverse' must return a sequence of {self.ntensors} tensors")
                for i, tensor in enumerate(value):
                    _set_original(getattr(self, f"original{i}"), tensor)

    def forward(self):
        if self.is_tensor:
            x = self[0](self.original)
        else:
            x = self[0](*(getattr(self, f"original{i}") for i in range(self.ntensors)))
        for module in list(self)[1:]:
            x = module(x)
        return x

    def __getitem__(self, idx):
        return list(self._modules.values())[idx]


def _parametrized_property(tensor_name):
    def get_parametrized(self):
        parametrization = self.parametrizations[tensor_name]
        if not _cache_enabled:
            return parametrization()
        key = (id(self), tensor_name)
        tensor = _cache.get(key)
        if tensor is None:
            tensor = _cache[key] = parametrization()
        return tensor

    def set_original(self, value):
        self.parametrizations[tensor_name].right_inverse(value)
    return property(get_parametrized, set_original)


def _inject_new_class(module):
    cls = module.__class__

    def __setattr__(self, name, value):
        if isinstance(getattr(type(self), name, None), property):
            object.__setattr__(self, name, value)
        else:
            cls.__setattr__(self, name, value)

    def __getstate__(self):
        raise RuntimeError("Serialization of parametrized modules is only supported through state_dict().")

    def __deepcopy__(self, memo):
        # the copy gets a parametrized class of its own, so removing a parametrization from one
        # of them leaves the other intact
        replica = memo.get(id(self))
        if replica is None:
            replica = memo[id(self)] = cls.__new__(cls)
            replica.__dict__.update(copy.deepcopy(self.__dict__, memo))
            _inject_new_class(replica)
            for name in replica.parametrizations:
                setattr(type(replica), name, _parametrized_property(name))
        return replica

    module.__class__ = type(f"Parametrized{cls.__name__}", (cls,),
                            {"__setattr__": __setattr__, "__getstate__": __getstate__, "__deepcopy__": __deepcopy__})


def register_parametrization(module, tensor_name, parametrization, *, unsafe=False):
    """Makes ``module.<tensor_name>`` (a parameter or buffer) the output of the module
    ``parametrization`` applied to the registered tensor; several registrations on one tensor
    apply in order. If ``parametrization`` has ``right_inverse(X)``, it maps the current value
    to the new original (and makes ``module.<tensor_name> = X`` work). Unless ``unsafe``, the
    parametrized tensor must keep the shape and dtype. Returns the module."""
    if not isinstance(parametrization, Module):
        raise TypeError(f"register_parametrization: parametrization must be a dlcore.nn.Module, got "
                        f"{type(parametrization).__name__}")
    parametrization.train(module.training)
    if is_parametrized(module, tensor_name):
        if not unsafe:
            y = getattr(module, tensor_name)
            x = parametrization(y)
            if not isinstance(x, dlcore.Tensor):
                raise ValueError(f"A parametrization must return a tensor. Got {type(x).__name__}.")
            if x.dtype != y.dtype or tuple(x.shape) != tuple(y.shape):
                raise ValueError("Registering a parametrization may not change the shape or dtype of the tensor, "
                                 f"unless `unsafe` flag is enabled: {list(y.shape)} {y.dtype} became "
                                 f"{list(x.shape)} {x.dtype}")
            if hasattr(parametrization, "right_inverse"):
                z = parametrization.right_inverse(x)
                if not isinstance(z, dlcore.Tensor) or z.dtype != y.dtype or tuple(z.shape) != tuple(y.shape):
                    raise ValueError("parametrization.right_inverse must return a tensor of the same shape and dtype "
                                     "as its input")
        module.parametrizations[tensor_name].append(parametrization)
        module.parametrizations[tensor_name].unsafe |= unsafe
        return module
    if tensor_name in module._parameters:
        original = module._parameters[tensor_name]
    elif tensor_name in module._buffers:
        original = module._buffers[tensor_name]
    else:
        raise ValueError(f"Module '{module}' does not have a parameter, a buffer, or a parametrized element with "
                         f"name '{tensor_name}'")
    if original is None:
        raise ValueError(f"register_parametrization: module.{tensor_name} is None")
    parametrizations = ParametrizationList([parametrization], original, unsafe=unsafe)
    delattr(module, tensor_name)
    if not is_parametrized(module):
        _inject_new_class(module)
        module.parametrizations = ModuleDict()
    module.parametrizations[tensor_name] = parametrizations
    setattr(module.__class__, tensor_name, _parametrized_property(tensor_name))
    return module


def is_parametrized(module, tensor_name=None):
    """Whether ``module`` has any parametrization, or one on ``tensor_name``."""
    parametrizations = module._modules.get("parametrizations")
    if not isinstance(parametrizations, ModuleDict):
        return False
    if tensor_name is None:
        return len(parametrizations) > 0
    return tensor_name in parametrizations


def remove_parametrizations(module, tensor_name, leave_parametrized=True):
    """Removes the parametrizations on ``module.<tensor_name>``. With ``leave_parametrized`` the
    tensor keeps its current (parametrized) value, else it goes back to the original tensor.
    The original tensor object stays registered, so optimizers keep working. Returns the module."""
    if not is_parametrized(module, tensor_name):
        raise ValueError(f"Module {module} does not have a parametrization on {tensor_name}")
    parametrizations = module.parametrizations[tensor_name]
    if parametrizations.is_tensor:
        original = parametrizations.original
        if leave_parametrized:
            with dlcore.no_grad():
                _set_original(original, getattr(module, tensor_name))
    else:
        if not leave_parametrized:
            raise ValueError("Cannot leave unparametrized (`leave_parametrized=False`) a tensor that is "
                             "parametrized in terms of a sequence of tensors.")
        with dlcore.no_grad():
            t = getattr(module, tensor_name).detach()
        original0 = parametrizations.original0
        original = Parameter(t, original0.requires_grad) if isinstance(original0, Parameter) else t
    delattr(module.__class__, tensor_name)
    del module.parametrizations[tensor_name]
    _register_parameter_or_buffer(module, tensor_name, original)
    if not is_parametrized(module):
        del module._modules["parametrizations"]
        module.__class__ = module.__class__.__bases__[0]
    return module


def type_before_parametrizations(module):
    """The module's class before any parametrization was registered."""
    return module.__class__.__bases__[0] if is_parametrized(module) else type(module)


def transfer_parametrizations_and_params(from_module, to_module, tensor_name=None):
    """Registers ``from_module``'s parametrizations (all, or those of ``tensor_name``) on
    ``to_module`` with the same original tensors' values. Returns ``to_module``."""
    if not is_parametrized(from_module):
        return to_module
    names = list(from_module.parametrizations) if tensor_name is None else [tensor_name]
    for name in names:
        source = from_module.parametrizations[name]
        if not hasattr(to_module, name):
            setattr(to_module, name, Parameter(getattr(from_module, name).detach().clone()))
        for p in source:
            register_parametrization(to_module, name, p, unsafe=True)
        target = to_module.parametrizations[name]
        with dlcore.no_grad():
            if source.is_tensor:
                _set_original(target.original, source.original)
            else:
                for i in range(source.ntensors):
                    _set_original(getattr(target, f"original{i}"), getattr(source, f"original{i}"))
    return to_module
