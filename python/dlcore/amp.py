"""dlcore.amp: automatic mixed precision, with torch.amp's names and semantics.

``autocast(device_type="cuda", dtype=dlcore.bfloat16 | dlcore.float16)`` is a context manager
and decorator. Inside it, ops called with CUDA float tensors cast their inputs first: the
matrix products, linear, convolutions, attention and RNN layers to ``dtype``; softmax,
log_softmax, layer_norm, group_norm, the losses, exp/log/pow, sum/prod/cumsum/norm and
interpolate to float32; every other op runs in the widest type of its inputs. CPU tensors
(and float64 ones) are never cast. The casts are recorded by autograd, so gradients reach
float32 parameters as float32. The state is thread-local, nests, and is implemented in the
C++ core (Note [Autocast] in cpp/src/core/autocast.h), so every entry point (functions,
Tensor methods and operators, nn modules) goes through it. The backward pass runs without
autocast, as in PyTorch.

``device_type="cpu"`` cannot be enabled: dlcore's CPU kernels compute in float32/float64 only
(bfloat16 and float16 are storage types there), so a CPU region raises RuntimeError instead of
silently running in float32; ``autocast("cpu", enabled=False)`` is accepted. As in PyTorch,
``autocast("cuda")`` on a machine without CUDA warns and is disabled, and a dtype other than
bfloat16/float16 warns and disables the region.

``GradScaler`` multiplies the loss by a scale factor so float16 gradients do not underflow,
unscales the gradients before the optimizer step (skipping the step when any is inf/NaN) and
adapts the scale: ``backoff_factor`` after an overflow, ``growth_factor`` after
``growth_interval`` clean steps. The scale, growth tracker and inf flags live on the device and
are updated by kernels (Note [GradScaler state on the device] in cpp/src/ops/amp.h); the only
host read per iteration is ``step()`` deciding whether to skip.
"""
import collections.abc
import copy
import enum
import functools
import sys
import types
import warnings
from collections import defaultdict

from . import _C
from . import cuda as _cuda
from ._C import Tensor
from ._C import dtype as _dtype
from .autograd import no_grad

__all__ = ["autocast", "GradScaler", "is_autocast_available", "is_autocast_enabled", "set_autocast_enabled",
           "get_autocast_dtype", "set_autocast_dtype", "is_autocast_cache_enabled", "set_autocast_cache_enabled",
           "clear_autocast_cache", "autocast_increment_nesting", "autocast_decrement_nesting"]

_DEVICE_TYPES = ("cuda", "cpu")
_LOWER_DTYPES = (_dtype.bfloat16, _dtype.float16)


# ---- the thread-local state (torch.is_autocast_enabled & co.) -----------------------------------
def is_autocast_available(device_type):
    """Whether ``autocast`` accepts ``device_type`` ("cuda" or "cpu")."""
    return device_type in _DEVICE_TYPES


def is_autocast_enabled(device_type=None):
    """Whether autocast is on in this thread for ``device_type`` (default "cuda")."""
    return _C._is_autocast_enabled("cuda" if device_type is None else device_type)


def set_autocast_enabled(device_type, enabled):
    _C._set_autocast_enabled(device_type, bool(enabled))


def get_autocast_dtype(device_type):
    """The dtype autocast casts to (float16 for "cuda", bfloat16 for "cpu" unless set)."""
    return _C._get_autocast_dtype(device_type)


def set_autocast_dtype(device_type, dtype):
    _C._set_autocast_dtype(device_type, dtype)


def is_autocast_cache_enabled():
    return _C._is_autocast_cache_enabled()


def set_autocast_cache_enabled(enabled):
    _C._set_autocast_cache_enabled(bool(enabled))


def clear_autocast_cache():
    _C._clear_autocast_cache()


def autocast_increment_nesting():
    return _C._autocast_increment_nesting()


def autocast_decrement_nesting():
    return _C._autocast_decrement_nesting()


# ---- autocast ---------------------------------------------------------------------------------
class autocast:  # noqa: N801 - torch's name
    """Mixed-precision region: ``with dlcore.autocast("cuda", dtype=dlcore.bfloat16): ...`` or
    ``@dlcore.autocast("cuda")`` on a function. ``cache_enabled`` keeps the lower-precision
    copies of parameters for the whole region (default: the current setting, True)."""

    def __init__(self, device_type="cuda", dtype=None, enabled=True, cache_enabled=None):
        if not isinstance(device_type, str):
            raise ValueError(f"Expected `device_type` of type `str`, got: `{type(device_type)}`")
        if not is_autocast_available(device_type):
            raise RuntimeError(f"User specified an unsupported autocast device_type '{device_type}' "
                               f"(dlcore supports {', '.join(map(repr, _DEVICE_TYPES))})")
        if dtype is not None and not isinstance(dtype, _dtype):
            raise TypeError(f"autocast: dtype must be a dlcore.dtype, got {type(dtype).__name__}")
        self.device = device_type
        self.fast_dtype = get_autocast_dtype(device_type) if dtype is None else dtype
        self._cache_enabled = is_autocast_cache_enabled() if cache_enabled is None else bool(cache_enabled)
        enabled = bool(enabled)
        if enabled:
            name = device_type.upper()
            if self.fast_dtype not in _LOWER_DTYPES:
                warnings.warn(f"In {name} autocast, but the target dtype is not supported. Disabling autocast.\n"
                              f"{name} Autocast only supports dtypes of dlcore.bfloat16, dlcore.float16 currently.",
                              stacklevel=2)
                enabled = False
            elif device_type == "cpu":
                # Raises: the CPU kernels do not compute in 16-bit floats (see the module docstring).
                _C._set_autocast_enabled("cpu", True)
            elif not _cuda.is_available():
                warnings.warn("CUDA is not available. Disabling autocast.", stacklevel=2)
                enabled = False
        self._enabled = enabled

    def __enter__(self):
        self.prev_cache_enabled = is_autocast_cache_enabled()
        self.prev = is_autocast_enabled(self.device)
        self.prev_fastdtype = get_autocast_dtype(self.device)
        _C._set_autocast_enabled(self.device, self._enabled)
        if self.fast_dtype in _LOWER_DTYPES:
            _C._set_autocast_dtype(self.device, self.fast_dtype)
        _C._autocast_increment_nesting()
        _C._set_autocast_cache_enabled(self._cache_enabled)
        return self

    def __exit__(self, exc_type, exc_val, exc_tb):
        # The weight cache is dropped when the outermost region exits.
        if _C._autocast_decrement_nesting() == 0:
            _C._clear_autocast_cache()
        _C._set_autocast_enabled(self.device, self.prev)
        _C._set_autocast_dtype(self.device, self.prev_fastdtype)
        _C._set_autocast_cache_enabled(self.prev_cache_enabled)
        return False

    def __call__(self, func):
        if not callable(func):
            raise TypeError(f"autocast()(func) requires a callable, but got {type(func).__name__}. Did you mean "
                            "to use autocast as a context manager? For example:\n"
                            "    with dlcore.autocast(device_type=...):\n"
                            "        output = model(input)")

        @functools.wraps(func)
        def decorate_autocast(*args, **kwargs):
            # A copy per call, so recursive or concurrent calls keep their own saved state.
            with copy.copy(self):
                return func(*args, **kwargs)

        return decorate_autocast


# ---- GradScaler ------------------------------------------------------------------------------
class OptState(enum.Enum):
    READY = 0
    UNSCALED = 1
    STEPPED = 2


def _refresh_per_optimizer_state():
    return {"stage": OptState.READY, "found_inf_per_device": {}}


class GradScaler:
    """Loss scaling for mixed-precision training (torch.amp.GradScaler)::

        scaler = dlcore.amp.GradScaler()
        for x, y in loader:
            optimizer.zero_grad()
            with dlcore.autocast("cuda", dtype=dlcore.float16):
                loss = loss_fn(model(x), y)
            scaler.scale(loss).backward()
            scaler.step(optimizer)      # unscales, skips the step on inf/NaN gradients
            scaler.update()

    ``device="cpu"`` works too (float32 scaling, same logic). With ``device="cuda"`` and no CUDA
    available, the scaler warns and is disabled (every method is then a pass-through).
    """

    def __init__(self, device="cuda", init_scale=2.0**16, growth_factor=2.0, backoff_factor=0.5,
                 growth_interval=2000, enabled=True):
        self._device = str(device)
        self._enabled = bool(enabled)
        if self._device == "cuda" and self._enabled and not _cuda.is_available():
            warnings.warn("dlcore.amp.GradScaler is enabled, but CUDA is not available.  Disabling.", stacklevel=2)
            self._enabled = False
        if self._enabled:
            if not growth_factor > 1.0:
                raise ValueError(f"GradScaler: the growth factor must be > 1.0, got {growth_factor}")
            if not backoff_factor < 1.0:
                raise ValueError(f"GradScaler: the backoff factor must be < 1.0, got {backoff_factor}")
            if int(growth_interval) != growth_interval or growth_interval <= 0:
                raise ValueError(f"GradScaler: growth_interval must be a positive integer, got {growth_interval}")
            self._init_scale = float(init_scale)
            self._scale = None
            self._growth_factor = float(growth_factor)
            self._backoff_factor = float(backoff_factor)
            self._growth_interval = int(growth_interval)
            self._init_growth_tracker = 0
            self._growth_tracker = None
            self._per_optimizer_states = defaultdict(_refresh_per_optimizer_state)

    def _check_scale_growth_tracker(self, funcname):
        if self._scale is None:
            raise RuntimeError(f"Attempted {funcname} but _scale is None.  This may indicate your script did not "
                               "use scaler.scale(loss or outputs) earlier in the iteration.")
        return self._scale, self._growth_tracker

    def _lazy_init_scale_growth_tracker(self, dev):
        from . import full, float32, int32
        self._scale = full((), self._init_scale, dtype=float32, device=dev)
        self._growth_tracker = full((), self._init_growth_tracker, dtype=int32, device=dev)

    def scale(self, outputs):
        """Multiplies a tensor, or every tensor of a (nested) list/tuple/iterable, by the scale."""
        if not self._enabled:
            return outputs
        if isinstance(outputs, Tensor):
            if self._scale is None:
                self._lazy_init_scale_growth_tracker(outputs.device)
            return outputs * self._scale.to(device=outputs.device)

        def apply_scale(val):
            if isinstance(val, Tensor):
                if self._scale is None:
                    self._lazy_init_scale_growth_tracker(val.device)
                return val * self._scale.to(device=val.device)
            if isinstance(val, collections.abc.Iterable):
                iterable = map(apply_scale, val)
                if isinstance(val, (list, tuple)):
                    return type(val)(iterable)
                return iterable
            raise ValueError("outputs must be a Tensor or an iterable of Tensors")

        return apply_scale(outputs)

    def _unscale_grads_(self, optimizer, inv_scale, found_inf, allow_fp16):
        per_device = {}
        for group in optimizer.param_groups:
            for p in group["params"]:
                g = p.grad
                if g is None:
                    continue
                if not allow_fp16 and g.dtype == _dtype.float16:
                    raise ValueError("Attempting to unscale FP16 gradients.")
                per_device.setdefault(str(g.device), []).append(g)
        found_inf_per_device = {}
        with no_grad():
            for dev, grads in per_device.items():
                fi = found_inf if str(found_inf.device) == dev else found_inf.to(device=dev)
                _C._amp_foreach_non_finite_check_and_unscale_(grads, fi, inv_scale.to(device=dev))
                found_inf_per_device[dev] = fi
        return found_inf_per_device

    def unscale_(self, optimizer):
        """Divides the optimizer's gradients by the scale (in place) and records whether any is
        inf/NaN. Optional: step() calls it when it was not called since the last update()."""
        if not self._enabled:
            return
        self._check_scale_growth_tracker("unscale_")
        optimizer_state = self._per_optimizer_states[id(optimizer)]
        if optimizer_state["stage"] is OptState.UNSCALED:
            raise RuntimeError("unscale_() has already been called on this optimizer since the last update().")
        if optimizer_state["stage"] is OptState.STEPPED:
            raise RuntimeError("unscale_() is being called after step().")
        from . import float32, zeros
        # 1/scale in float64, then rounded: exact for the powers of two the scale normally is.
        inv_scale = (1.0 / self._scale.double()).float()
        found_inf = zeros((), dtype=float32, device=self._scale.device)
        optimizer_state["found_inf_per_device"] = self._unscale_grads_(optimizer, inv_scale, found_inf, False)
        optimizer_state["stage"] = OptState.UNSCALED

    def step(self, optimizer, *args, **kwargs):
        """optimizer.step(*args, **kwargs) unless the unscaled gradients hold inf/NaN; returns its
        result (None when skipped)."""
        if not self._enabled:
            return optimizer.step(*args, **kwargs)
        if "closure" in kwargs:
            raise RuntimeError("Closure use is not currently supported if GradScaler is enabled.")
        self._check_scale_growth_tracker("step")
        optimizer_state = self._per_optimizer_states[id(optimizer)]
        if optimizer_state["stage"] is OptState.STEPPED:
            raise RuntimeError("step() has already been called since the last update().")
        if optimizer_state["stage"] is OptState.READY:
            self.unscale_(optimizer)
        if len(optimizer_state["found_inf_per_device"]) == 0:
            raise RuntimeError("No inf checks were recorded for this optimizer.")
        retval = None
        if not sum(v.item() for v in optimizer_state["found_inf_per_device"].values()):
            retval = optimizer.step(*args, **kwargs)
        optimizer_state["stage"] = OptState.STEPPED
        return retval

    def update(self, new_scale=None):
        """Backs the scale off if any step of this iteration saw inf/NaN, else counts a clean
        step and grows it every growth_interval clean steps; or sets it to ``new_scale``."""
        if not self._enabled:
            return
        _scale, _growth_tracker = self._check_scale_growth_tracker("update")
        if new_scale is not None:
            if isinstance(new_scale, (int, float)) and not isinstance(new_scale, bool):
                self._scale.fill_(float(new_scale))
            else:
                reason = ("new_scale should be a float or a 1-element dlcore.Tensor on the scaler's device with "
                          "requires_grad=False.")
                if (not isinstance(new_scale, Tensor) or new_scale.numel() != 1 or new_scale.requires_grad
                        or new_scale.device.type != _scale.device.type):
                    raise ValueError(reason)
                with no_grad():
                    self._scale.copy_(new_scale.reshape(()))
        else:
            found_infs = [fi.to(device=_scale.device) for state in self._per_optimizer_states.values()
                          for fi in state["found_inf_per_device"].values()]
            if len(found_infs) == 0:
                raise RuntimeError("No inf checks were recorded prior to update.")
            found_inf_combined = found_infs[0]
            for fi in found_infs[1:]:
                found_inf_combined = found_inf_combined + fi
            _C._amp_update_scale_(_scale, _growth_tracker, found_inf_combined, self._growth_factor,
                                  self._backoff_factor, self._growth_interval)
        self._per_optimizer_states = defaultdict(_refresh_per_optimizer_state)

    # ---- accessors and state
    def get_scale(self):
        """The current scale as a Python float (reads the device), 1.0 when disabled."""
        if not self._enabled:
            return 1.0
        return self._init_scale if self._scale is None else self._scale.item()

    def get_growth_factor(self):
        return self._growth_factor

    def set_growth_factor(self, new_factor):
        self._growth_factor = float(new_factor)

    def get_backoff_factor(self):
        return self._backoff_factor

    def set_backoff_factor(self, new_factor):
        self._backoff_factor = float(new_factor)

    def get_growth_interval(self):
        return self._growth_interval

    def set_growth_interval(self, new_interval):
        self._growth_interval = int(new_interval)

    def _get_growth_tracker(self):
        if not self._enabled:
            return 0
        return self._init_growth_tracker if self._growth_tracker is None else int(self._growth_tracker.item())

    def is_enabled(self):
        return self._enabled

    def state_dict(self):
        """scale, growth_factor, backoff_factor, growth_interval and _growth_tracker ({} when
        disabled), as in PyTorch."""
        if not self._enabled:
            return {}
        return {"scale": self.get_scale(), "growth_factor": self._growth_factor,
                "backoff_factor": self._backoff_factor, "growth_interval": self._growth_interval,
                "_growth_tracker": self._get_growth_tracker()}

    def load_state_dict(self, state_dict):
        if not self._enabled:
            return
        if len(state_dict) == 0:
            raise RuntimeError("The source state dict is empty, possibly because it was saved from a disabled "
                               "instance of GradScaler.")
        self._init_scale = float(state_dict["scale"])
        if self._scale is not None:
            self._scale.fill_(self._init_scale)
        self._growth_factor = float(state_dict["growth_factor"])
        self._backoff_factor = float(state_dict["backoff_factor"])
        self._growth_interval = int(state_dict["growth_interval"])
        self._init_growth_tracker = int(state_dict["_growth_tracker"])
        if self._growth_tracker is not None:
            self._growth_tracker.fill_(self._init_growth_tracker)

    def __getstate__(self):
        state = self.__dict__.copy()
        if self._enabled:
            if len(self._per_optimizer_states) != 0:
                raise RuntimeError("A GradScaler instance may only be pickled at the beginning of an iteration, "
                                   "or at the end after scaler.update().")
            state["_init_scale"] = self.get_scale()
            state["_init_growth_tracker"] = self._get_growth_tracker()
            state["_scale"] = None
            state["_growth_tracker"] = None
            state["_per_optimizer_states"] = None
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        if self._enabled:
            self._per_optimizer_states = defaultdict(_refresh_per_optimizer_state)


# ---- dlcore.cuda.amp: torch.cuda.amp's device-bound spellings ----------------------------------
class _CudaAutocast(autocast):
    """``dlcore.cuda.amp.autocast(enabled=True, dtype=dlcore.float16, cache_enabled=True)``."""

    def __init__(self, enabled=True, dtype=_dtype.float16, cache_enabled=True):
        super().__init__("cuda", dtype=dtype, enabled=enabled, cache_enabled=cache_enabled)


class _CudaGradScaler(GradScaler):
    """``dlcore.cuda.amp.GradScaler(init_scale=2.**16, ...)``: a GradScaler on "cuda"."""

    def __init__(self, init_scale=2.0**16, growth_factor=2.0, backoff_factor=0.5, growth_interval=2000,
                 enabled=True):
        super().__init__("cuda", init_scale, growth_factor, backoff_factor, growth_interval, enabled)


_CudaAutocast.__name__ = _CudaAutocast.__qualname__ = "autocast"
_CudaGradScaler.__name__ = _CudaGradScaler.__qualname__ = "GradScaler"

cuda_amp = types.ModuleType("dlcore.cuda.amp", "torch.cuda.amp's names: autocast and GradScaler bound to CUDA.")
cuda_amp.autocast = _CudaAutocast
cuda_amp.GradScaler = _CudaGradScaler
_cuda.amp = cuda_amp
sys.modules.setdefault("dlcore.cuda.amp", cuda_amp)
