"""The torch-namespace names that PyTorch programs reach for besides the ops: the ATen-level
twins of nn.functional (``torch.dropout(x, p, train)``, ``torch.kl_div(x, t, reduction=1)``,
...), the legacy tensor types (``torch.FloatTensor``), ``Size``, memory formats, the
process-wide switches and queries, and a loop-based ``vmap``.

Note [ATen-level functions]
torch exposes some nn.functional operations a second time at the top level with the kernel's
own signature: ``train`` is positional and required, reductions are ints (0 none, 1 mean,
2 sum) instead of strings, ``instance_norm`` takes weight/bias before the running statistics.
These keep torch's signatures and call the functional versions.
"""
import builtins
import warnings

from . import _C
from ._C import Tensor

__all__ = [
    "dropout_", "alpha_dropout", "alpha_dropout_", "feature_dropout", "feature_dropout_", "feature_alpha_dropout",
    "feature_alpha_dropout_", "instance_norm", "kl_div", "ctc_loss", "bilinear", "rrelu", "rrelu_", "threshold",
    "threshold_", "hardshrink", "pixel_shuffle", "pixel_unshuffle", "channel_shuffle", "rms_norm",
    "max_pool1d_with_indices", "poisson_nll_loss", "cosine_embedding_loss", "hinge_embedding_loss",
    "margin_ranking_loss", "triplet_margin_loss", "celu", "celu_", "selu", "selu_", "fill", "fill_",
    "FloatTensor", "DoubleTensor", "LongTensor", "IntTensor", "BoolTensor", "HalfTensor", "BFloat16Tensor",
    "Size", "memory_format", "contiguous_format", "channels_last", "channels_last_3d", "preserve_format",
    "set_warn_always", "is_warn_always_enabled", "set_flush_denormal",
    "get_num_interop_threads", "set_num_interop_threads", "init_num_threads", "has_openmp", "has_mkl",
    "has_lapack", "has_spectral", "get_float32_matmul_precision", "set_float32_matmul_precision",
    "get_deterministic_debug_mode", "set_deterministic_debug_mode", "get_autocast_cpu_dtype",
    "get_autocast_gpu_dtype", "set_autocast_cpu_dtype", "set_autocast_gpu_dtype", "is_autocast_cpu_enabled",
    "set_autocast_cpu_enabled", "GradScaler", "set_default_tensor_type", "vmap",
]

_REDUCTIONS = {0: "none", 1: "mean", 2: "sum"}


def _reduction(value, op):
    if value in _REDUCTIONS:
        return _REDUCTIONS[value]
    raise ValueError(f"{op}: reduction must be 0 (none), 1 (mean) or 2 (sum), got {value!r}")


def _F():
    from .nn import functional
    return functional


def _in_place(t, result):
    """The in-place form: ``result`` (computed from t) written into t; copy_ gives torch's
    in-place rules under autograd (a leaf that requires grad raises)."""
    return t.copy_(result)


# ---- ATen-level twins of nn.functional (Note [ATen-level functions]) ----------------------------
def dropout_(input, p, train):
    return _in_place(input, _F().dropout(input, p, train))


def alpha_dropout(input, p, train):
    return _F().alpha_dropout(input, p, train)


def alpha_dropout_(input, p, train):
    return _in_place(input, _F().alpha_dropout(input, p, train))


def feature_dropout(input, p, train):
    """Zeroes whole channels (dim 1) with probability p, scaling the rest by 1 / (1 - p)."""
    return _F().dropout2d(input, p, train) if input.dim() != 3 else _F().dropout1d(input, p, train)


def feature_dropout_(input, p, train):
    return _in_place(input, feature_dropout(input, p, train))


def feature_alpha_dropout(input, p, train):
    return _F().feature_alpha_dropout(input, p, train)


def feature_alpha_dropout_(input, p, train):
    return _in_place(input, _F().feature_alpha_dropout(input, p, train))


def instance_norm(input, weight, bias, running_mean, running_var, use_input_stats, momentum, eps, cudnn_enabled):
    return _F().instance_norm(input, running_mean, running_var, weight, bias, use_input_stats, momentum, eps)


def kl_div(input, target, reduction=1, *, log_target=False):
    """Note: torch's integer ``reduction`` 1 is an element-wise mean, not F.kl_div's batchmean."""
    return _F().kl_div(input, target, reduction=_reduction(reduction, "kl_div"), log_target=log_target)


def ctc_loss(log_probs, targets, input_lengths, target_lengths, blank=0, reduction=1, zero_infinity=False):
    return _F().ctc_loss(log_probs, targets, input_lengths, target_lengths, blank=blank,
                         reduction=_reduction(reduction, "ctc_loss"), zero_infinity=zero_infinity)


def bilinear(input1, input2, weight, bias=None):
    return _F().bilinear(input1, input2, weight, bias)


def rrelu(input, lower=1.0 / 8, upper=1.0 / 3, training=False, generator=None):
    return _F().rrelu(input, lower, upper, training)


def rrelu_(input, lower=1.0 / 8, upper=1.0 / 3, training=False, generator=None):
    return _F().rrelu_(input, lower, upper, training)


def threshold(input, threshold, value):
    return _F().threshold(input, threshold, value)


def threshold_(input, threshold, value):
    return _F().threshold_(input, threshold, value)


def hardshrink(input, lambd=0.5):
    return _F().hardshrink(input, lambd)


Tensor.hardshrink = hardshrink


def pixel_shuffle(input, upscale_factor):
    return _F().pixel_shuffle(input, upscale_factor)


def pixel_unshuffle(input, downscale_factor):
    return _F().pixel_unshuffle(input, downscale_factor)


def channel_shuffle(input, groups):
    return _F().channel_shuffle(input, groups)


def rms_norm(input, normalized_shape, weight=None, eps=None):
    return _F().rms_norm(input, normalized_shape, weight, eps)


def max_pool1d_with_indices(input, kernel_size, stride=(), padding=0, dilation=1, ceil_mode=False):
    return _F().max_pool1d_with_indices(input, kernel_size, stride or None, padding, dilation, ceil_mode)


def poisson_nll_loss(input, target, log_input, full, eps, reduction):
    return _F().poisson_nll_loss(input, target, log_input=log_input, full=full, eps=eps,
                                 reduction=_reduction(reduction, "poisson_nll_loss"))


def cosine_embedding_loss(input1, input2, target, margin=0.0, reduction=1):
    return _F().cosine_embedding_loss(input1, input2, target, margin=margin,
                                      reduction=_reduction(reduction, "cosine_embedding_loss"))


def hinge_embedding_loss(input, target, margin=1.0, reduction=1):
    return _F().hinge_embedding_loss(input, target, margin=margin,
                                     reduction=_reduction(reduction, "hinge_embedding_loss"))


def margin_ranking_loss(input1, input2, target, margin=0.0, reduction=1):
    return _F().margin_ranking_loss(input1, input2, target, margin=margin,
                                    reduction=_reduction(reduction, "margin_ranking_loss"))


def triplet_margin_loss(anchor, positive, negative, margin=1.0, p=2.0, eps=1e-6, swap=False, reduction=1):
    return _F().triplet_margin_loss(anchor, positive, negative, margin=margin, p=p, eps=eps, swap=swap,
                                    reduction=_reduction(reduction, "triplet_margin_loss"))


def celu(input, alpha=1.0):
    return _F().celu(input, alpha)


def celu_(input, alpha=1.0):
    return _F().celu_(input, alpha)


def selu(input):
    return _F().selu(input)


def selu_(input):
    return _F().selu_(input)


def fill(input, value):
    """A new tensor like ``input`` filled with ``value`` (a number or a 0-d tensor), differentiable
    with respect to a tensor value."""
    if isinstance(value, Tensor):
        if value.dim() != 0:
            raise RuntimeError(f"fill: value must be a 0-d tensor, got shape {tuple(value.shape)}")
        return value.to(input.dtype).expand(input.shape).clone()
    return _C.full_like(input, value) if hasattr(_C, "full_like") else input.detach().clone().fill_(value)


def fill_(input, value):
    return input.fill_(value.item() if isinstance(value, Tensor) else value)


# ---- legacy tensor types -------------------------------------------------------------------------
class _LegacyTensorMeta(type):
    """isinstance(t, dlcore.FloatTensor) is "t is a float32 tensor", as in torch."""

    def __instancecheck__(cls, obj):
        return isinstance(obj, Tensor) and obj.dtype == cls.dtype

    def __repr__(cls):
        return f"<class 'dlcore.{cls.__name__}'>"


def _legacy_type(name, dtype):
    def __new__(cls, *args, device=None):
        """dlcore.FloatTensor(2, 3) is an uninitialised 2x3 tensor; FloatTensor([1, 2]) holds the
        data; FloatTensor() is empty."""
        from ._tensor import empty, tensor
        if len(args) == 1 and not isinstance(args[0], int):
            data = args[0]
            if isinstance(data, Tensor):
                return data.to(dtype)
            if isinstance(data, (tuple, list)) or hasattr(data, "__array__"):
                return tensor(data, dtype=dtype, device=device)
            raise TypeError(f"{name}(): expected sizes or data, got {type(data).__name__}")
        if not builtins.all(isinstance(a, int) for a in args):
            raise TypeError(f"{name}(): expected int sizes, got {[type(a).__name__ for a in args]}")
        return empty(*args, dtype=dtype, device=device) if args else empty(0, dtype=dtype, device=device)

    return _LegacyTensorMeta(name, (), {"__new__": __new__, "dtype": dtype, "__doc__": f"Legacy {dtype} type."})


FloatTensor = _legacy_type("FloatTensor", _C.dtype.float32)
DoubleTensor = _legacy_type("DoubleTensor", _C.dtype.float64)
HalfTensor = _legacy_type("HalfTensor", _C.dtype.float16)
BFloat16Tensor = _legacy_type("BFloat16Tensor", _C.dtype.bfloat16)
LongTensor = _legacy_type("LongTensor", _C.dtype.int64)
IntTensor = _legacy_type("IntTensor", _C.dtype.int32)
BoolTensor = _legacy_type("BoolTensor", _C.dtype.bool)
_LEGACY_BY_NAME = {c.__name__: c for c in (FloatTensor, DoubleTensor, HalfTensor, BFloat16Tensor, LongTensor,
                                           IntTensor, BoolTensor)}


def _tensor_type(self, dtype=None, non_blocking=False, **kwargs):
    """Tensor.type(): the legacy type name ("dlcore.FloatTensor") with no argument; otherwise a
    conversion to a dtype, a legacy type or its name ("torch.cuda.FloatTensor" moves to CUDA)."""
    if dtype is None:
        for cls in _LEGACY_BY_NAME.values():
            if cls.dtype == self.dtype:
                prefix = "dlcore.cuda." if self.device.type == "cuda" else "dlcore."
                return prefix + cls.__name__
        return f"dlcore.{self.dtype.name}"
    if isinstance(dtype, str):
        parts = dtype.split(".")
        cls = _LEGACY_BY_NAME.get(parts[-1])
        if cls is None or parts[0] not in ("torch", "dlcore"):
            raise ValueError(f"Tensor.type: invalid type {dtype!r}")
        device = "cuda" if parts[1:2] == ["cuda"] else "cpu"
        return self.to(device=device, dtype=cls.dtype)
    if isinstance(dtype, _LegacyTensorMeta):
        return self.to(dtype.dtype)
    return self.to(dtype)


Tensor.type = _tensor_type


class Size(tuple):
    """A shape: a tuple of ints with ``numel()``. (``Tensor.shape`` returns a plain tuple, which
    compares equal to a Size of the same ints.)"""

    def __new__(cls, sizes=()):
        values = tuple(sizes)
        for v in values:
            if not isinstance(v, int) and not (hasattr(v, "__index__") and not isinstance(v, float)):
                raise TypeError(f"Size: expected a sequence of ints, got an element of type {type(v).__name__}")
        return super().__new__(cls, (int(v) for v in values))

    def numel(self):
        n = 1
        for v in self:
            n *= v
        return n

    def __repr__(self):
        return f"dlcore.Size({list(self)})"

    def __getitem__(self, key):
        out = super().__getitem__(key)
        return Size(out) if isinstance(key, slice) else out

    def __add__(self, other):
        return Size(tuple(self) + tuple(other))


class memory_format:
    """A memory layout request. dlcore tensors are strided; every layout request gives the
    values unchanged (``channels_last`` is accepted and keeps the tensor's current strides)."""

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return f"dlcore.{self.name}"

    def __reduce__(self):
        return self.name


contiguous_format = memory_format("contiguous_format")
channels_last = memory_format("channels_last")
channels_last_3d = memory_format("channels_last_3d")
preserve_format = memory_format("preserve_format")


# ---- switches and queries -----------------------------------------------------------------------
_warn_always = False


def set_warn_always(b):
    """torch emits some warnings once per process unless this is set; dlcore's warnings go
    through Python's warnings module, whose filters decide (the flag is recorded)."""
    global _warn_always
    _warn_always = bool(b)


def is_warn_always_enabled():
    return _warn_always


def set_flush_denormal(mode):
    """Returns False: dlcore does not switch the CPU's denormal flushing (torch returns False
    where it cannot either)."""
    return False


def get_num_interop_threads():
    """1: dlcore runs independent ops one after another (its parallelism is inside each op)."""
    return 1


def set_num_interop_threads(num):
    if int(num) < 1:
        raise ValueError(f"set_num_interop_threads: expected a positive number, got {num}")


def init_num_threads():
    """Nothing to do: dlcore's OpenMP pool starts on first use."""


has_openmp = True
has_mkl = False
has_lapack = True  # dlcore.linalg's factorizations
has_spectral = False


def get_float32_matmul_precision():
    """"highest" unless float32 CUDA matmuls may use TF32 ("high")."""
    from . import backends
    return "high" if backends.cuda.matmul.allow_tf32 else "highest"


def set_float32_matmul_precision(precision):
    """"highest": full float32; "high" and "medium": TF32 tensor cores for float32 CUDA matmuls
    (dlcore has no bfloat16-internal float32 matmul, so "medium" means TF32 too). The CPU
    kernels always compute in float32."""
    from . import backends
    if precision not in ("highest", "high", "medium"):
        raise ValueError(f"set_float32_matmul_precision: expected 'highest', 'high' or 'medium', got {precision!r}")
    backends.cuda.matmul.allow_tf32 = precision != "highest"


def get_deterministic_debug_mode():
    """0 (off), 1 (warn) or 2 (error): use_deterministic_algorithms as a number."""
    from . import _determinism
    if not _determinism.are_deterministic_algorithms_enabled():
        return 0
    return 1 if _determinism.is_deterministic_algorithms_warn_only_enabled() else 2


def set_deterministic_debug_mode(debug_mode):
    from . import _determinism
    modes = {"default": 0, "warn": 1, "error": 2}
    mode = modes.get(debug_mode, debug_mode)
    if mode not in (0, 1, 2):
        raise RuntimeError(f"set_deterministic_debug_mode: invalid mode {debug_mode!r} (0/'default', 1/'warn', "
                           f"2/'error')")
    _determinism.use_deterministic_algorithms(mode != 0, warn_only=mode == 1)


def get_autocast_cpu_dtype():
    from . import amp
    return amp.get_autocast_dtype("cpu")


def get_autocast_gpu_dtype():
    from . import amp
    return amp.get_autocast_dtype("cuda")


def set_autocast_cpu_dtype(dtype):
    from . import amp
    amp.set_autocast_dtype("cpu", dtype)


def set_autocast_gpu_dtype(dtype):
    from . import amp
    amp.set_autocast_dtype("cuda", dtype)


def is_autocast_cpu_enabled():
    from . import amp
    return amp.is_autocast_enabled("cpu")


def set_autocast_cpu_enabled(enabled):
    from . import amp
    amp.set_autocast_enabled("cpu", enabled)


from .amp import GradScaler  # noqa: E402


def set_default_tensor_type(t):
    """Deprecated in torch: sets the default floating dtype from a legacy type or its name."""
    warnings.warn("set_default_tensor_type is deprecated; use set_default_dtype", UserWarning, stacklevel=2)
    from . import set_default_dtype
    if isinstance(t, str):
        t = _LEGACY_BY_NAME.get(t.split(".")[-1])
    if not isinstance(t, _LegacyTensorMeta) or not t.dtype.is_floating_point:
        raise TypeError(f"set_default_tensor_type: expected a floating legacy tensor type, got {t!r}")
    set_default_dtype(t.dtype)


# ---- vmap ---------------------------------------------------------------------------------------
def vmap(func, in_dims=0, out_dims=0, randomness="error", *, chunk_size=None):
    """torch.vmap's semantics by a loop: ``func`` runs once per index of the mapped dims and the
    results are stacked along ``out_dims`` (differentiable; as fast as the loop, not batched)."""
    def mapped(*args):
        dims = in_dims if isinstance(in_dims, (tuple, list)) else (in_dims,) * len(args)
        if len(dims) != len(args):
            raise ValueError(f"vmap: in_dims has {len(dims)} entries for {len(args)} inputs")
        sizes = {a.shape[d] for a, d in zip(args, dims) if d is not None and isinstance(a, Tensor)}
        if len(sizes) != 1:
            raise ValueError(f"vmap: the mapped dims must have one size, got sizes {sorted(sizes)} "
                             f"(in_dims={in_dims})")
        n = sizes.pop()
        results = []
        for i in range(n):
            call = [a.select(d, i) if d is not None and isinstance(a, Tensor) else a for a, d in zip(args, dims)]
            results.append(func(*call))
        if isinstance(results[0], Tensor):
            return _C.stack(results, out_dims)
        outs = out_dims if isinstance(out_dims, (tuple, list)) else (out_dims,) * len(results[0])
        return tuple(_C.stack([r[k] for r in results], outs[k]) for k in range(len(results[0])))

    return mapped
