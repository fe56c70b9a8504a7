"""torch-namespace functions and Tensor methods built from dlcore's ops: products, shapes and
indexing, reductions, statistics, searching and sets.

Each _ops_* module lists its torch-level functions in ``__all__``, the Tensor methods that
call them with the tensor first in ``_METHODS``, the in-place methods that write such a call's
result into the tensor in ``_INPLACE`` and ready-made methods and properties in
``_ATTRIBUTES``; this module exports the functions and installs the rest on Tensor.
"""
from . import _ops_index, _ops_products, _ops_reduce, _ops_search, _ops_shape, _ops_stats, _ops_tensor
from ._ops_common import Tensor, inplace, method

_MODULES = (_ops_products, _ops_shape, _ops_index, _ops_reduce, _ops_stats, _ops_search, _ops_tensor)

__all__ = [name for mod in _MODULES for name in mod.__all__]
globals().update({name: getattr(mod, name) for mod in _MODULES for name in mod.__all__})


def _install_methods():
    for mod in _MODULES:
        for name, fn in getattr(mod, "_METHODS", {}).items():
            setattr(Tensor, name, method(fn))
        for name, fn in getattr(mod, "_INPLACE", {}).items():
            setattr(Tensor, name, inplace(fn, name))
        for name, value in getattr(mod, "_ATTRIBUTES", {}).items():
            setattr(Tensor, name, value)


_install_methods()
