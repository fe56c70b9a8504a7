"""``dlcore.nn.functional``: the functional forms of the layers, with torch.nn.functional's names and
signatures. Most are the C++ ops re-exported; the rest are short compositions of them, the margin,
likelihood and CTC losses in ``functional_loss``, the spatial ops (pixel shuffle, unpooling,
power-average and fractional pooling, grid sampling) in ``functional_vision`` and
``multi_head_attention_forward`` in ``functional_attention``, all re-exported here."""
import dlcore

# ---- ops implemented in the core ----------------------------------------------------------------
from dlcore import (  # noqa: F401
    adaptive_avg_pool1d, adaptive_avg_pool2d, adaptive_avg_pool3d, adaptive_max_pool1d, adaptive_max_pool2d,
    adaptive_max_pool3d, avg_pool1d, avg_pool2d, avg_pool3d, batch_norm, binary_cross_entropy,
    binary_cross_entropy_with_logits, conv1d, conv2d, conv3d, conv_transpose1d, conv_transpose2d,
    conv_transpose3d, cross_entropy, elu, embedding as _embedding, gelu, group_norm, interpolate, layer_norm,
    leaky_relu, linear, local_response_norm, log_softmax, max_pool1d, max_pool2d, max_pool3d, nll_loss,
    one_hot, pad, relu, scaled_dot_product_attention, sigmoid, silu, softmax, softplus, tanh,
)

Tensor = dlcore.Tensor

_REDUCTIONS = ("none", "mean", "sum")


def has_torch_function(relevant_args):
    """Always False: dlcore has no ``__torch_function__`` overrides."""
    return False


def has_torch_function_unary(input):
    return False


def has_torch_function_variadic(*args):
    return False


def _reduce(loss, reduction, op):
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(f"{op}: reduction must be one of {_REDUCTIONS}, got '{reduction}'")


def _check_same_shape(input, target, op):
    if tuple(input.shape) != tuple(target.shape):
        raise ValueError(f"{op}: input shape {list(input.shape)} and target shape {list(target.shape)} "
                         "must match")


# ---- activations -------------------------------------------------------------------------------
def relu6(input, inplace=False):
    return dlcore.clamp(input, min=0, max=6)  # int bounds: an int input stays int, as in torch


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    if not input.is_floating_point():  # torch keeps the input's dtype, truncating the bounds
        min_val, max_val = int(min_val), int(max_val)
    return dlcore.clamp(input, min=min_val, max=max_val)


def prelu(input, weight):
    """max(0, x) + weight * min(0, x), ``weight`` of 1 or C (= input.shape[1]) elements."""
    return dlcore.prelu(input, weight)


def logsigmoid(input):
    return -dlcore.softplus(-input)


def hardsigmoid(input, inplace=False):
    return dlcore.clamp(input / 6.0 + 0.5, min=0.0, max=1.0)


def hardswish(input, inplace=False):
    return input * hardsigmoid(input)


def mish(input, inplace=False):
    return input * dlcore.tanh(dlcore.softplus(input))


def softsign(input):
    return input / (dlcore.abs(input) + 1.0)


def tanhshrink(input):
    return input - dlcore.tanh(input)


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def selu(input, inplace=False):
    """scale * elu(x, alpha) with the self-normalising constants of Klambauer et al. (2017)."""
    if inplace:
        return selu_(input)
    return dlcore.elu(input, _SELU_ALPHA) * _SELU_SCALE


def celu(input, alpha=1.0, inplace=False):
    """max(0, x) + min(0, alpha * (exp(x / alpha) - 1))."""
    if alpha == 0:
        raise ValueError("celu: alpha must not be 0 (it divides the input)")
    if inplace:
        return celu_(input, alpha)
    return dlcore.elu(input / alpha, 1.0) * alpha


def threshold(input, threshold, value, inplace=False):
    """x where x > threshold, else ``value``."""
    if inplace:
        return threshold_(input, threshold, value)
    return dlcore.where(input > threshold, input, value)


def softmin(input, dim=None, _stacklevel=3, dtype=None):
    """softmax(-x) along ``dim`` (picked as ``Softmin(dim=None)`` does when None)."""
    if dtype is not None:
        input = input.to(dtype)
    return dlcore.softmax(-input, _softmax_dim(input.dim()) if dim is None else dim)


def _check_lambd(lambd, op):
    if lambd < 0:
        raise ValueError(f"{op}: lambda must be greater or equal to 0, but found to be {lambd}")


def softshrink(input, lambd=0.5):
    """x - lambd above lambd, x + lambd below -lambd, 0 in between."""
    _check_lambd(lambd, "softshrink")
    zero = input * 0.0
    return dlcore.where(input > lambd, input - lambd, dlcore.where(input < -lambd, input + lambd, zero))


def hardshrink(input, lambd=0.5):
    """x where |x| > lambd, else 0."""
    return dlcore.where(dlcore.abs(input) > lambd, input, input * 0.0)


def rrelu(input, lower=1.0 / 8, upper=1.0 / 3, training=False, inplace=False):
    """Leaky ReLU whose negative slope is drawn from U(lower, upper) per element while training and
    is (lower + upper) / 2 otherwise."""
    if not lower <= upper:
        raise ValueError(f"rrelu: lower bound ({lower}) must be <= upper bound ({upper})")
    if inplace:
        return rrelu_(input, lower, upper, training)
    if not training:
        return dlcore.leaky_relu(input, (lower + upper) / 2.0)
    slope = dlcore.rand(*input.shape, dtype=input.dtype, device=input.device) * (upper - lower) + lower
    return dlcore.where(input >= 0, input, input * slope)


# Note [In-place functional activations]
# The ``_`` variants (and ``inplace=True`` of selu, celu, threshold and rrelu) compute the
# activation of a copy of ``input`` and copy the result back: the caller's tensor is mutated and
# returned, as in torch, autograd records the copy (so an in-place op on a leaf that requires grad
# fails, as it does in torch), and the backward reads the saved copy, which the write leaves alone.
def _inplace(input, fn, *args):
    return input.copy_(fn(input.clone(), *args))


def relu_(input):
    return _inplace(input, dlcore.relu)


def elu_(input, alpha=1.0):
    return _inplace(input, dlcore.elu, alpha)


def leaky_relu_(input, negative_slope=0.01):
    return _inplace(input, dlcore.leaky_relu, negative_slope)


def hardtanh_(input, min_val=-1.0, max_val=1.0):
    return _inplace(input, hardtanh, min_val, max_val)


def selu_(input):
    return _inplace(input, selu)


def celu_(input, alpha=1.0):
    return _inplace(input, celu, alpha)


def threshold_(input, threshold, value):
    return _inplace(input, lambda x: dlcore.where(x > threshold, x, value))


def rrelu_(input, lower=1.0 / 8, upper=1.0 / 3, training=False):
    return _inplace(input, lambda x: rrelu(x, lower, upper, training))


def glu(input, dim=-1):
    if input.shape[dim] % 2:
        raise ValueError(f"glu: halving dimension {dim} of shape {list(input.shape)} must be even")
    a, b = dlcore.chunk(input, 2, dim)
    return a * dlcore.sigmoid(b)


# ---- dropout -----------------------------------------------------------------------------------
def _check_p(p, op):
    if p < 0.0 or p > 1.0:
        raise ValueError(f"{op}: dropout probability has to be between 0 and 1, but got {p}")


def dropout(input, p=0.5, training=True, inplace=False):
    _check_p(p, "dropout")
    return dlcore.dropout(input, p, training)


def _feature_dropout(input, p, training, op, batched_dim):
    _check_p(p, op)
    if not training or p == 0.0:
        return input
    if input.dim() not in (batched_dim, batched_dim + 1):
        raise ValueError(f"{op}: expected a {batched_dim}-D or {batched_dim + 1}-D input, got shape "
                         f"{list(input.shape)}")
    if p == 1.0:
        return input * 0.0
    # One keep/drop draw per (sample, channel), broadcast over the feature dims.
    lead = input.dim() - (batched_dim - 1)
    mask_shape = list(input.shape[:lead]) + [1] * (input.dim() - lead)
    keep = dlcore.rand(*mask_shape, dtype=input.dtype, device=input.device) >= p
    return input * (keep.to(input.dtype) * (1.0 / (1.0 - p)))


def dropout1d(input, p=0.5, training=True, inplace=False):
    """Zeroes whole channels of (N, C, L) or (C, L) inputs with probability p."""
    return _feature_dropout(input, p, training, "dropout1d", 2)


def dropout2d(input, p=0.5, training=True, inplace=False):
    """Zeroes whole channels of (N, C, H, W) or (C, H, W) inputs with probability p."""
    return _feature_dropout(input, p, training, "dropout2d", 3)


def dropout3d(input, p=0.5, training=True, inplace=False):
    """Zeroes whole channels of (N, C, D, H, W) or (C, D, H, W) inputs with probability p."""
    return _feature_dropout(input, p, training, "dropout3d", 4)


# Note [Alpha dropout]
# Alpha dropout keeps SELU's self-normalisation: a dropped unit takes SELU's negative saturation
# value -s (s = scale * alpha = 1.7581) instead of 0, and the result is scaled by a and shifted by b
# so that zero-mean, unit-variance inputs keep their mean and variance:
# a = ((1 - p) (1 + p s^2))^-1/2 and b = a s p, so kept units give a x + a s p and dropped ones
# -a s (1 - p).
_ALPHA_PRIME = _SELU_ALPHA * _SELU_SCALE


def _alpha_dropout(input, p, training, op, feature):
    _check_p(p, op)
    if not training or p == 0.0:
        return input
    if p == 1.0:
        return input * 0.0
    if feature and input.dim() < 2:
        raise ValueError(f"{op}: expected an input of at least 2 dims (N, C, *), got shape {list(input.shape)}")
    shape = list(input.shape[:2]) + [1] * (input.dim() - 2) if feature else list(input.shape)
    keep = (dlcore.rand(*shape, dtype=input.dtype, device=input.device) >= p).to(input.dtype)
    a = 1.0 / ((_ALPHA_PRIME ** 2 * p + 1.0) * (1.0 - p)) ** 0.5
    shift = (keep - 1.0) * (_ALPHA_PRIME * a) + _ALPHA_PRIME * a * p
    return input * (keep * a) + shift


def alpha_dropout(input, p=0.5, training=False, inplace=False):
    """Dropout for SELU networks (see Note [Alpha dropout]); the identity unless ``training``."""
    return _alpha_dropout(input, p, training, "alpha_dropout", False)


def feature_alpha_dropout(input, p=0.5, training=False, inplace=False):
    """Alpha dropout of whole channels of (N, C, *) inputs."""
    return _alpha_dropout(input, p, training, "feature_alpha_dropout", True)


# ---- embedding, normalize ----------------------------------------------------------------------
def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0, scale_grad_by_freq=False,
              sparse=False):
    if max_norm is not None or scale_grad_by_freq or sparse:
        raise NotImplementedError("embedding: max_norm, scale_grad_by_freq and sparse are not supported")
    return _embedding(input, weight, padding_idx)


def normalize(input, p=2.0, dim=1, eps=1e-12):
    """input / max(||input||_p along dim, eps)."""
    denom = dlcore.clamp(dlcore.norm(input, p, dim, True), min=eps)
    return input / denom


# ---- losses ------------------------------------------------------------------------------------
def mse_loss(input, target, reduction="mean"):
    _check_same_shape(input, target, "mse_loss")
    input, target = dlcore._C._autocast_fp32(input, target)  # float32 under autocast
    d = input - target
    return _reduce(d * d, reduction, "mse_loss")


def l1_loss(input, target, reduction="mean"):
    _check_same_shape(input, target, "l1_loss")
    input, target = dlcore._C._autocast_fp32(input, target)  # float32 under autocast
    return _reduce(dlcore.abs(input - target), reduction, "l1_loss")


def smooth_l1_loss(input, target, reduction="mean", beta=1.0):
    """0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta (plain L1 when beta == 0)."""
    _check_same_shape(input, target, "smooth_l1_loss")
    input, target = dlcore._C._autocast_fp32(input, target)  # float32 under autocast
    if beta < 0:
        raise ValueError(f"smooth_l1_loss: beta must be non-negative, got {beta}")
    ad = dlcore.abs(input - target)
    if beta == 0.0:
        return _reduce(ad, reduction, "smooth_l1_loss")
    # The quadratic branch squares min(|d|, beta), not |d|: where |d| is +-inf its (untaken)
    # gradient is then 0 rather than 0 * inf = NaN, and the gradient is sign(d) as in PyTorch.
    small = dlcore.clamp(ad, max=beta)
    loss = dlcore.where(ad < beta, small * small * (0.5 / beta), ad - 0.5 * beta)
    return _reduce(loss, reduction, "smooth_l1_loss")


def huber_loss(input, target, reduction="mean", delta=1.0):
    """0.5 d^2 where |d| < delta, else delta (|d| - 0.5 delta)."""
    _check_same_shape(input, target, "huber_loss")
    input, target = dlcore._C._autocast_fp32(input, target)  # float32 under autocast
    if delta <= 0:
        raise ValueError(f"huber_loss: delta must be positive, got {delta}")
    ad = dlcore.abs(input - target)
    small = dlcore.clamp(ad, max=delta)  # keeps the gradient at |d| = inf finite (see smooth_l1_loss)
    loss = dlcore.where(ad < delta, small * small * 0.5, (ad - 0.5 * delta) * delta)
    return _reduce(loss, reduction, "huber_loss")


def kl_div(input, target, reduction="mean", log_target=False):
    """target * (log target - input) pointwise (input holds log-probabilities)."""
    _check_same_shape(input, target, "kl_div")
    input, target = dlcore._C._autocast_fp32(input, target)  # float32 under autocast
    if log_target:
        loss = dlcore.exp(target) * (target - input)
    else:
        safe = dlcore.where(target > 0, target, 1.0)
        loss = dlcore.where(target > 0, target * (dlcore.log(safe) - input), 0.0 * input)
    if reduction == "batchmean":
        return loss.sum() / input.shape[0] if input.dim() else loss.sum()
    return _reduce(loss, reduction, "kl_div")


def soft_dice_loss(input, target, from_logits=True, squared_denominator=False, smooth=1.0,
                   reduction="mean", multiclass=None):
    """Functional form of :class:`dlcore.nn.DiceLoss` (see its docstring for the formula)."""
    if input.dim() < 2:
        raise ValueError(f"dice_loss: expected input of shape (N, ...) with at least 2 dims, got "
                         f"{list(input.shape)}")
    index_target = not target.is_floating_point() and target.dim() == input.dim() - 1
    if multiclass is None:
        multiclass = index_target
    if index_target and not multiclass:
        raise ValueError(f"dice_loss: a class-index target of shape {list(target.shape)} needs multiclass=True")
    if multiclass:
        if index_target:
            if tuple(target.shape) != (input.shape[0],) + tuple(input.shape[2:]):
                raise ValueError(f"dice_loss: target shape {list(target.shape)} does not match input shape "
                                 f"{list(input.shape)} without its class dim 1")
            g = dlcore.one_hot(target, input.shape[1])
            g = g.permute([0, g.dim() - 1] + list(range(1, g.dim() - 1))).to(input.dtype)
        else:
            _check_same_shape(input, target, "dice_loss")
            g = target.to(input.dtype)
        p = dlcore.softmax(input, 1) if from_logits else input
        dims = list(range(2, input.dim()))
    else:
        _check_same_shape(input, target, "dice_loss")
        g = target.to(input.dtype)
        p = dlcore.sigmoid(input) if from_logits else input
        dims = list(range(1, input.dim()))
    if dims:
        inter = (p * g).sum(dims)
        denom = (p * p).sum(dims) + (g * g).sum(dims) if squared_denominator else p.sum(dims) + g.sum(dims)
    else:
        inter = p * g
        denom = p * p + g * g if squared_denominator else p + g
    loss = 1.0 - (2.0 * inter + smooth) / (denom + smooth)
    return _reduce(loss, reduction, "dice_loss")


dice_loss = soft_dice_loss


# The distances are the torch-namespace functions (torch.nn.functional re-exports them too).
from .._ops_products import cosine_similarity, pairwise_distance, pdist  # noqa: E402,F401


# ---- normalisation -------------------------------------------------------------------------
def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None, use_input_stats=True,
                  momentum=0.1, eps=1e-5):
    """Normalises each (sample, channel) plane of an (N, C, *) input over its spatial dims; with
    ``use_input_stats`` the running statistics (C,) are updated with the batch-averaged plane statistics."""
    if input.dim() < 3:
        raise ValueError(f"instance_norm: expected an input (N, C, *) with at least 3 dims, got {list(input.shape)}")
    n, c = input.shape[0], input.shape[1]
    if use_input_stats and input.numel() and input.numel() // (n * c) <= 1:
        raise ValueError(f"instance_norm: expected more than 1 spatial element per channel, got input of shape "
                         f"{list(input.shape)}")
    if not use_input_stats and (running_mean is None or running_var is None):
        raise RuntimeError("instance_norm: expected running_mean and running_var to be defined when use_input_stats "
                           "is false")
    for t, name in ((running_mean, "running_mean"), (running_var, "running_var"), (weight, "weight"),
                    (bias, "bias")):
        if t is not None and tuple(t.shape) != (c,):
            raise ValueError(f"instance_norm: {name} of shape {list(t.shape)} must have the {c} channels of input "
                             f"{list(input.shape)}")
    # The N * C planes as the channels of one batch-norm sample; the running statistics are
    # tracked per plane and averaged back over the batch.
    x = input.reshape([1, n * c] + list(input.shape[2:]))
    rm = running_mean.repeat(n) if running_mean is not None else None
    rv = running_var.repeat(n) if running_var is not None else None
    w = weight.repeat(n) if weight is not None else None
    b = bias.repeat(n) if bias is not None else None
    out = dlcore.batch_norm(x, rm, rv, w, b, use_input_stats, momentum, eps)
    if use_input_stats:
        with dlcore.no_grad():
            if running_mean is not None:
                running_mean.copy_(rm.reshape(n, c).mean(0))
            if running_var is not None:
                running_var.copy_(rv.reshape(n, c).mean(0))
    return out.reshape(list(input.shape))


def rms_norm(input, normalized_shape, weight=None, eps=None):
    """x / sqrt(mean(x^2 over the trailing ``normalized_shape`` dims) + eps) * weight; eps defaults
    to the machine epsilon of input's dtype."""
    if isinstance(normalized_shape, int):
        normalized_shape = (normalized_shape,)
    normalized_shape = tuple(int(s) for s in normalized_shape)
    k = len(normalized_shape)
    if k == 0 or k > input.dim() or tuple(input.shape[input.dim() - k:]) != normalized_shape:
        raise ValueError(f"rms_norm: normalized_shape {list(normalized_shape)} must match the trailing dims of "
                         f"input {list(input.shape)}")
    if weight is not None and tuple(weight.shape) != normalized_shape:
        raise ValueError(f"rms_norm: weight of shape {list(weight.shape)} must have normalized_shape "
                         f"{list(normalized_shape)}")
    if eps is None:
        eps = dlcore.finfo(input.dtype).eps
    dims = list(range(input.dim() - k, input.dim()))
    out = input * dlcore.rsqrt((input * input).mean(dims, True) + eps)
    return out * weight if weight is not None else out


# ---- bilinear, embedding_bag -----------------------------------------------------------------
def bilinear(input1, input2, weight, bias=None):
    """y_k = x1^T A_k x2 + b_k, with ``weight`` A (out, in1, in2) and inputs (*, in1), (*, in2)."""
    if weight.dim() != 3:
        raise ValueError(f"bilinear: weight must be 3-D (out, in1, in2), got shape {list(weight.shape)}")
    out_f, in1, in2 = weight.shape
    if input1.shape[-1] != in1 or input2.shape[-1] != in2 or tuple(input1.shape[:-1]) != tuple(input2.shape[:-1]):
        raise ValueError(f"bilinear: inputs {list(input1.shape)} and {list(input2.shape)} must be (*, {in1}) and "
                         f"(*, {in2}) with the same leading dims for weight {list(weight.shape)}")
    if bias is not None and tuple(bias.shape) != (out_f,):
        raise ValueError(f"bilinear: bias of shape {list(bias.shape)} must be ({out_f},)")
    t = dlcore.matmul(input1, weight.permute(1, 0, 2).reshape(in1, out_f * in2))
    t = t.reshape(list(input1.shape[:-1]) + [out_f, in2])
    out = (t * input2.unsqueeze(-2)).sum(-1)
    return out + bias if bias is not None else out


def embedding_bag(input, weight, offsets=None, max_norm=None, norm_type=2, scale_grad_by_freq=False, mode="mean",
                  sparse=False, per_sample_weights=None, include_last_offset=False, padding_idx=None):
    """Sums, averages or maxes the ``weight`` rows of each bag of indices: the rows of a 2-D ``input``
    (B, L), or the slices of a 1-D ``input`` starting at ``offsets`` (B,). Empty bags give zeros;
    indices equal to ``padding_idx`` are left out of their bag. ``per_sample_weights`` (like input)
    scale the rows in 'sum' mode."""
    import numpy as np

    if max_norm is not None or scale_grad_by_freq or sparse:
        raise NotImplementedError("embedding_bag: max_norm, scale_grad_by_freq and sparse are not supported")
    if mode not in ("sum", "mean", "max"):
        raise ValueError(f"embedding_bag: mode must be 'sum', 'mean' or 'max', got '{mode}'")
    if weight.dim() != 2:
        raise ValueError(f"embedding_bag: weight must be 2-D (num_embeddings, embedding_dim), got {list(weight.shape)}")
    if input.is_floating_point() or input.dtype == dlcore.bool:
        raise TypeError(f"embedding_bag: input must hold integer indices, got {input.dtype}")
    if per_sample_weights is not None:
        if mode != "sum":
            raise NotImplementedError(f"embedding_bag: per_sample_weights is only supported for mode='sum' (got "
                                      f"mode='{mode}')")
        if tuple(per_sample_weights.shape) != tuple(input.shape):
            raise ValueError(f"embedding_bag: per_sample_weights of shape {list(per_sample_weights.shape)} must "
                             f"have input's shape {list(input.shape)}")
    num, dim = weight.shape
    idx = input.cpu().numpy().astype(np.int64)
    if idx.size and (idx.min() < 0 or idx.max() >= num):
        raise IndexError(f"embedding_bag: index out of range [0, {num}) in input of shape {list(input.shape)}")
    if padding_idx is not None:
        if not -num <= padding_idx < num:
            raise ValueError(f"embedding_bag: padding_idx {padding_idx} must be within num_embeddings {num}")
        padding_idx %= num
    if input.dim() == 2:
        if offsets is not None:
            raise ValueError("embedding_bag: offsets must be None when input is 2-D (each row is a bag)")
        bags, length = idx.shape
        starts = np.arange(bags) * length
        ends = starts + length
    elif input.dim() == 1:
        if offsets is None or offsets.dim() != 1:
            raise ValueError("embedding_bag: a 1-D input needs 1-D offsets (the start of each bag)")
        off = offsets.cpu().numpy().astype(np.int64)
        if include_last_offset:
            if off.size < 1:
                raise ValueError("embedding_bag: include_last_offset needs at least one offset")
            starts, ends = off[:-1], off[1:]
        else:
            starts, ends = off, np.append(off[1:], idx.size)
        if starts.size and (starts[0] != 0 or np.any(ends < starts) or ends[-1] > idx.size):
            raise ValueError(f"embedding_bag: offsets {off.tolist()} must start at 0 and be non-decreasing within "
                             f"the input's {idx.size} indices")
        bags = starts.size
    else:
        raise ValueError(f"embedding_bag: input must be 1-D (with offsets) or 2-D, got shape {list(input.shape)}")
    # Note [embedding_bag as a padded gather]: every bag is laid out as a row of a (B, Lmax)
    # index table; unused slots (and padding_idx entries) are masked, so one differentiable
    # index_select plus a reduction over the row serves all three modes.
    flat = idx.reshape(-1)
    lmax = int((ends - starts).max()) if bags else 0
    pos = starts[:, None] + np.arange(lmax)[None, :]
    valid = pos < ends[:, None]
    src = np.where(valid, pos, 0)
    table = flat[src] if flat.size else np.zeros_like(src)
    if padding_idx is not None:
        valid &= table != padding_idx
    dev = weight.device
    rows = weight.index_select(0, dlcore.tensor(table.reshape(-1), device=dev)).reshape(bags, lmax, dim)
    mask = dlcore.tensor(valid, device=dev).unsqueeze(-1)
    if per_sample_weights is not None:
        psw = per_sample_weights.reshape(-1).index_select(0, dlcore.tensor(src.reshape(-1), device=dev))
        rows = rows * psw.reshape(bags, lmax, 1)
    if lmax == 0:  # no bag holds an index: zeros, still connected to weight
        return rows.sum(1)
    if mode == "max":
        best = rows.masked_fill(dlcore.logical_not(mask), float("-inf")).max(1).values
        nonempty = dlcore.tensor(valid.any(1), device=dev).unsqueeze(-1)
        return dlcore.where(nonempty, best, 0.0)
    total = (rows * mask.to(rows.dtype)).sum(1)
    if mode == "sum":
        return total
    count = dlcore.tensor(np.maximum(valid.sum(1), 1).astype(np.float64), dtype=rows.dtype, device=dev)
    return total / count.unsqueeze(-1)


# ---- upsampling aliases --------------------------------------------------------------------
def upsample(input, size=None, scale_factor=None, mode="nearest", align_corners=None):
    """Deprecated alias of :func:`interpolate`."""
    return dlcore.interpolate(input, size, scale_factor, mode, align_corners)


def upsample_nearest(input, size=None, scale_factor=None):
    """Deprecated alias of ``interpolate(mode='nearest')``."""
    return dlcore.interpolate(input, size, scale_factor, "nearest")


def upsample_bilinear(input, size=None, scale_factor=None):
    """Deprecated alias of ``interpolate(mode='bilinear', align_corners=True)``."""
    return dlcore.interpolate(input, size, scale_factor, "bilinear", True)


def gumbel_softmax(logits, tau=1.0, hard=False, eps=1e-10, dim=-1):
    """softmax((logits + g) / tau) with g ~ Gumbel(0, 1) i.i.d.; with ``hard`` the forward value is
    the one-hot argmax while the gradient is that of the soft sample (straight-through)."""
    u = dlcore.rand(*logits.shape, dtype=logits.dtype, device=logits.device)
    gumbels = -dlcore.log(-dlcore.log(dlcore.clamp(u, min=eps)))
    y_soft = dlcore.softmax((logits + gumbels) / tau, dim)
    if not hard:
        return y_soft
    index = y_soft.argmax(dim, True)
    y_hard = dlcore.zeros_like(y_soft).scatter(dim, index, 1.0)
    return y_hard - y_soft.detach() + y_soft


def _softmax_dim(ndim):
    """The dim torch picks when ``Softmax(dim=None)``: 0 for 0-, 1- and 3-D inputs, else 1."""
    return 0 if ndim in (0, 1, 3) else 1


def channel_shuffle(input, groups):
    """Rearranges the channels of ``input`` [N, C, *] from ``groups`` groups of C/groups into C/groups
    groups of ``groups`` (ShuffleNet's shuffle): channel ``g * (C // groups) + k`` moves to
    ``k * groups + g``."""
    if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1:
        raise ValueError(f"channel_shuffle: groups must be a positive integer, got {groups!r}")
    if input.dim() < 3:
        raise ValueError(f"channel_shuffle: expected input [N, C, *] with at least 3 dims, got {list(input.shape)}")
    n, c = input.shape[0], input.shape[1]
    if c % groups:
        raise ValueError(f"channel_shuffle: the {c} channels of input {list(input.shape)} are not divisible by "
                         f"groups={groups}")
    rest = list(input.shape[2:])
    return input.reshape([n, groups, c // groups] + rest).transpose(1, 2).reshape([n, c] + rest)


def _pair(v, name, op, minimum):
    vals = (v, v) if isinstance(v, int) and not isinstance(v, bool) else tuple(v)
    if len(vals) != 2 or any(isinstance(a, bool) or not isinstance(a, int) or a < minimum for a in vals):
        raise ValueError(f"{op}: {name} must be an int or a pair of ints >= {minimum}, got {v!r}")
    return vals


def _patch_index(op, spatial, kernel_size, dilation, padding, stride):
    """(padded size (Hp, Wp), blocks (oh, ow), int64 index [kh*kw*L] into the padded plane, row-major
    over (kernel row, kernel column, block))."""
    import numpy as np

    kh, kw = _pair(kernel_size, "kernel_size", op, 1)
    dh, dw = _pair(dilation, "dilation", op, 1)
    ph, pw = _pair(padding, "padding", op, 0)
    sh, sw = _pair(stride, "stride", op, 1)
    hp, wp = spatial[0] + 2 * ph, spatial[1] + 2 * pw
    oh, ow = (hp - dh * (kh - 1) - 1) // sh + 1, (wp - dw * (kw - 1) - 1) // sw + 1
    if oh < 1 or ow < 1:
        raise ValueError(f"{op}: a {kh}x{kw} kernel (dilation {dh}x{dw}) does not fit the padded input "
                         f"{hp}x{wp} of spatial size {spatial[0]}x{spatial[1]} (padding {ph}x{pw})")
    rows = (np.arange(kh)[:, None, None, None] * dh + np.arange(oh)[None, None, :, None] * sh)
    cols = (np.arange(kw)[None, :, None, None] * dw + np.arange(ow)[None, None, None, :] * sw)
    index = (rows * wp + cols).reshape(-1)
    return (hp, wp), (oh, ow), (ph, pw), dlcore.tensor(index.astype(np.int64))


def unfold(input, kernel_size, dilation=1, padding=0, stride=1):
    """Sliding blocks of a batched image [N, C, H, W] (or [C, H, W]) as columns: [N, C*kh*kw, L],
    the rows ordered (channel, kernel row, kernel column), the L blocks row-major (torch's im2col)."""
    if input.dim() not in (3, 4):
        raise ValueError(f"unfold: expected input [N, C, H, W] or [C, H, W], got {list(input.shape)}")
    batched = input.dim() == 4
    x = input if batched else input.unsqueeze(0)
    n, c, h, w = x.shape
    (hp, wp), (oh, ow), (ph, pw), index = _patch_index("unfold", (h, w), kernel_size, dilation, padding, stride)
    if ph or pw:
        x = pad(x, (pw, pw, ph, ph))
    k = index.shape[0] // (oh * ow)
    cols = x.reshape(n, c, hp * wp).index_select(2, index.to(x.device)).reshape(n, c * k, oh * ow)
    return cols if batched else cols.squeeze(0)


def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """The adjoint of :func:`unfold`: columns [N, C*kh*kw, L] (or [C*kh*kw, L]) summed back into an
    image [N, C, H, W] of ``output_size`` (H, W); overlapping blocks add up."""
    if input.dim() not in (2, 3):
        raise ValueError(f"fold: expected input [N, C*kh*kw, L] or [C*kh*kw, L], got {list(input.shape)}")
    batched = input.dim() == 3
    x = input if batched else input.unsqueeze(0)
    h, w = _pair(output_size, "output_size", "fold", 1)
    (hp, wp), (oh, ow), (ph, pw), index = _patch_index("fold", (h, w), kernel_size, dilation, padding, stride)
    k = index.shape[0] // (oh * ow)
    n, ck, length = x.shape
    if ck % k or length != oh * ow:
        raise ValueError(f"fold: input {list(input.shape)} does not hold C*{k} rows of {oh * ow} blocks for "
                         f"output_size {h}x{w}, kernel_size {kernel_size!r}, dilation {dilation!r}, padding "
                         f"{padding!r}, stride {stride!r}")
    c = ck // k
    idx = index.to(x.device).view(1, 1, -1).expand(n, c, k * length)
    out = dlcore.zeros(n, c, hp * wp, dtype=x.dtype, device=x.device).scatter_add(2, idx, x.reshape(n, c, k * length))
    out = out.reshape(n, c, hp, wp)[:, :, ph:ph + h, pw:pw + w]
    return out if batched else out.squeeze(0)


from .functional_loss import *  # noqa: E402,F401,F403
from .functional_vision import *  # noqa: E402,F401,F403
from .functional_attention import multi_head_attention_forward  # noqa: E402,F401
