"""dlcore.nn.parallel: torch.nn.parallel's names.

``DataParallel`` runs the module on the one device dlcore uses (see its docstring).
``DistributedDataParallel`` needs an initialised process group (dlcore.distributed), which
this build cannot create, so constructing one raises RuntimeError saying so; importing it
works, for scripts that only use it when launched distributed.
"""
from ..modules import DataParallel  # noqa: F401

__all__ = ["DataParallel", "DistributedDataParallel"]


class DistributedDataParallel:
    def __init__(self, module, *args, **kwargs):
        from ... import distributed
        if not distributed.is_initialized():
            raise RuntimeError("DistributedDataParallel: the default process group has not been initialized "
                               "(dlcore.distributed.init_process_group); dlcore.distributed has no communication "
                               "backend in this build")
