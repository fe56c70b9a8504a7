"""``dlcore.nn``: modules, parameters, initialisers and the functional API, named as in torch.nn."""
from . import attention_masks, functional, init, utils  # noqa: F401
from .module import Module  # noqa: F401
from .modules import *  # noqa: F401,F403
from . import modules as _modules
from . import parallel  # noqa: F401
from .modules.lazy import UninitializedBuffer, UninitializedParameter  # noqa: F401
from .parameter import Buffer, Parameter  # noqa: F401

__all__ = ["Buffer", "Module", "Parameter", "UninitializedBuffer", "UninitializedParameter", "functional", "init",
           "utils"] + sorted(
    k for k, v in vars(_modules).items() if isinstance(v, type) and issubclass(v, Module))
