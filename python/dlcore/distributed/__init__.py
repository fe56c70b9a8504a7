"""dlcore.distributed: torch.distributed's names.

This build has no communication backend yet: ``is_available()`` is False, no process group
can be initialised (``init_process_group`` raises RuntimeError saying so) and the queries
that need one raise ValueError as torch's do before initialisation. Scripts that only
import the module, or check ``is_available()``/``is_initialized()`` before using it, run.
"""

__all__ = ["is_available", "is_initialized", "init_process_group", "get_rank", "get_world_size",
           "destroy_process_group", "is_mpi_available", "is_nccl_available", "is_gloo_available",
           "is_torchelastic_launched"]


def is_available():
    return False


def is_initialized():
    return False


def is_mpi_available():
    return False


def is_nccl_available():
    return False


def is_gloo_available():
    return False


def is_torchelastic_launched():
    import os
    return os.environ.get("TORCHELASTIC_RUN_ID") is not None


def init_process_group(backend=None, init_method=None, timeout=None, world_size=-1, rank=-1, store=None,
                       group_name="", pg_options=None, device_id=None):
    raise RuntimeError(f"init_process_group: dlcore.distributed has no communication backend in this build "
                       f"(asked for backend={backend!r})")


def _no_group(what):
    raise ValueError(f"{what}: the default process group has not been initialized "
                     "(call dlcore.distributed.init_process_group first)")


def get_rank(group=None):
    _no_group("get_rank")


def get_world_size(group=None):
    _no_group("get_world_size")


def destroy_process_group(group=None):
    _no_group("destroy_process_group")
