"""dlcore: tensors, autograd and neural-network building blocks on a C++ core.

The heavy lifting (tensors, ops, the autograd engine, kernels) is in the extension module
``dlcore._C``; this package re-exports it with PyTorch's names and adds the Python-only
conveniences (printing, creation helpers, context managers).
"""
import builtins as _builtins
import os as _os

# Note [Threads on shared cores]: idle OpenMP workers spin only briefly before sleeping,
# since the cores are shared with other processes. Read when the OpenMP runtime starts.
_os.environ.setdefault("GOMP_SPINCOUNT", "20000")

if _os.environ.get("DLCORE_EXT_DIR"):
    # A development build outside the package (tools/devbuild.sh).
    import glob as _glob
    import importlib.util as _util
    import sys as _sys

    _path = _glob.glob(_os.path.join(_os.environ["DLCORE_EXT_DIR"], "_C*.so"))[0]
    _spec = _util.spec_from_file_location("dlcore._C", _path)
    _C = _util.module_from_spec(_spec)
    _sys.modules["dlcore._C"] = _C
    _spec.loader.exec_module(_C)
else:
    from . import _C

from ._C import Tensor, dtype, device  # noqa: E402

# dtypes, with PyTorch's aliases
float32 = float = dtype.float32
float64 = double = dtype.float64
float16 = half = dtype.float16
bfloat16 = dtype.bfloat16
int64 = long = dtype.int64
int32 = int = dtype.int32
bool = dtype.bool  # noqa: A001  (shadows the builtin inside this namespace only, as torch does)


def _export_c_functions():
    g = globals()
    for name in dir(_C):
        if name.startswith("_") or name in g:
            continue
        g[name] = getattr(_C, name)


_export_c_functions()


def manual_seed(seed):
    """Seeds dlcore's global random generator. As in PyTorch, any integer in [-2**63, 2**64) is
    accepted; a negative seed is taken modulo 2**64 (manual_seed(-1) == manual_seed(2**64 - 1))."""
    if isinstance(seed, (str, bytes)) or not hasattr(seed, "__int__"):
        raise TypeError(f"manual_seed: seed must be an integer, got {type(seed).__name__}")
    value = _builtins.int(seed)
    if not -2**63 <= value < 2**64:
        raise ValueError(f"manual_seed: seed must be in [-2**63, 2**64), got {value}")
    _C.manual_seed(value % 2**64)

from . import autograd  # noqa: E402
from ._tensor import (  # noqa: E402
    arange, empty, empty_like, eye, full, full_like, linspace, ones, ones_like, rand, rand_like, randint,
    randn, randn_like, randperm, tensor, zeros, zeros_like, as_tensor, is_tensor, numel, get_default_dtype,
    set_default_dtype, set_printoptions,
)
from .autograd import (  # noqa: E402
    enable_grad, inference_mode, is_grad_enabled, is_inference_mode_enabled, no_grad, set_grad_enabled,
)
from .autograd.anomaly_mode import (  # noqa: E402,F401
    is_anomaly_check_nan_enabled, is_anomaly_enabled, set_anomaly_enabled,
)

try:
    from ._interop import from_dlpack, from_numpy  # noqa: E402,F401
except ImportError:  # pragma: no cover - present in every build
    pass
from . import cuda  # noqa: E402,F401
from . import backends  # noqa: E402,F401
from . import amp  # noqa: E402,F401
from .amp import (  # noqa: E402,F401
    autocast, autocast_decrement_nesting, autocast_increment_nesting, clear_autocast_cache, get_autocast_dtype,
    is_autocast_available, is_autocast_cache_enabled, is_autocast_enabled, set_autocast_cache_enabled,
    set_autocast_dtype, set_autocast_enabled,
)
from . import data  # noqa: E402,F401
from . import nn  # noqa: E402,F401
from . import optim  # noqa: E402,F401
from . import models  # noqa: E402,F401
from ._summary import summary  # noqa: E402,F401
from ._dtypeinfo import finfo, iinfo  # noqa: E402,F401
from .serialization import load, save  # noqa: E402,F401
from . import metrics  # noqa: E402,F401
from . import ops  # noqa: E402,F401
from ._generator import *  # noqa: E402,F401,F403
from ._elementwise import *  # noqa: E402,F401,F403
from ._torch_ops import *  # noqa: E402,F401,F403
from ._linalg_torch import *  # noqa: E402,F401,F403
from ._torch_compat import *  # noqa: E402,F401,F403
from . import linalg  # noqa: E402,F401
from . import distributions  # noqa: E402,F401
from . import utils  # noqa: E402,F401
from . import accelerator  # noqa: E402,F401
from ._determinism import *  # noqa: E402,F401,F403

__version__ = "0.1.0"
